"""Weight sources: a folder of Keras files, the Keras cache, and every way they fail; and the
models built from the files they give, against Keras' own ImageNet builds."""

import hashlib
import os
import shutil
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path
from unittest import mock

import archkit
import h5py
import keras
import numpy as np
import pytest
import weightkit
from keras.src.applications import efficientnet
from keras.src.legacy.saving import legacy_h5_format
from keras.src.utils import file_utils
from sitekit import quick_build_options

from generator import registry, weights
from generator.weights import Verified, WeightsUnavailable

# The project's shared folder beside the checkout (../shared/weights), where development
# machines keep real weight files; the tests that need one skip where it is absent.
SHARED = Path(__file__).resolve().parents[2] / "shared" / "weights"
MOBILENET_FILE = "mobilenet_2_5_224_tf_no_top.h5"
MOBILENET_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/" + MOBILENET_FILE
)
# The file above belongs to this configuration of MobileNet (Keras gives no hash for it).
MOBILENET_025_NO_TOP = {"include_top": False, "alpha": 0.25}
MOBILENET_025 = weights.WeightFile(MOBILENET_FILE, MOBILENET_URL)

needs_real_file = pytest.mark.skipif(
    not (SHARED / MOBILENET_FILE).is_file(), reason=f"{SHARED / MOBILENET_FILE} not present"
)


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mtime, to prove a folder was left untouched."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _assert_matches_h5(model: keras.Model, path: Path) -> None:
    """Each layer's weights equal the arrays stored for it in the Keras HDF5 file."""
    with h5py.File(path, "r") as f:
        layer_names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["layer_names"]]
        checked = 0
        for layer_name in layer_names:
            group = f[layer_name]
            names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
            if not names:  # input, activation and padding layers hold no weights
                continue
            stored = [np.asarray(group[n]) for n in names]
            actual = model.get_layer(layer_name).get_weights()
            assert len(actual) == len(stored), layer_name
            for a, s in zip(actual, stored):
                np.testing.assert_array_equal(a, s, err_msg=layer_name)
                checked += 1
    assert checked > 50  # the whole network, not one layer


def _never_download(*args, **kwargs):
    raise AssertionError("a download was attempted")


def _mobilenet_025(source) -> keras.Model:
    """MobileNet 0.25 without its top, as the build makes a model: find the file, then load it."""
    found = weights.resolve_weights("MobileNet", source, MOBILENET_025)
    return registry.build_model(registry.get_spec("MobileNet"), found, **MOBILENET_025_NO_TOP)


@pytest.fixture
def no_network(monkeypatch):
    """Make every download fail the way urllib does without DNS, on any machine."""

    def refuse(url, *args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(file_utils, "urlretrieve", refuse)


@pytest.fixture
def keras_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "keras_home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def _free_models():
    yield
    keras.backend.clear_session()


@needs_real_file
def test_folder_loads_exactly_the_files_weights():
    before = _snapshot(SHARED)
    model = _mobilenet_025(SHARED)
    _assert_matches_h5(model, SHARED / MOBILENET_FILE)
    assert _snapshot(SHARED) == before


@needs_real_file
def test_folder_given_as_string_works_and_never_downloads(tmp_path, monkeypatch):
    shutil.copy(SHARED / MOBILENET_FILE, tmp_path / MOBILENET_FILE)
    monkeypatch.setattr(file_utils, "urlretrieve", _never_download)
    monkeypatch.setattr(urllib.request, "urlopen", _never_download)
    model = _mobilenet_025(str(tmp_path))
    _assert_matches_h5(model, tmp_path / MOBILENET_FILE)


def test_missing_file_names_the_file_url_and_fix(tmp_path):
    with pytest.raises(WeightsUnavailable) as info:
        _mobilenet_025(tmp_path)
    message = str(info.value)
    assert "MobileNet" in message
    assert f"'{MOBILENET_FILE}' was not found in {tmp_path}" in message
    assert f"download {MOBILENET_URL} and put it in {tmp_path / MOBILENET_FILE}" in message
    assert "--weights random" in message
    assert info.value.fname == MOBILENET_FILE
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_reported(tmp_path):
    folder = tmp_path / "nowhere"
    with pytest.raises(WeightsUnavailable, match="does not exist"):
        _mobilenet_025(folder)
    assert not folder.exists()


@needs_real_file
def test_truncated_file_is_a_clear_error_and_left_alone(tmp_path):
    (tmp_path / MOBILENET_FILE).write_bytes((SHARED / MOBILENET_FILE).read_bytes()[:1000])
    before = _snapshot(tmp_path)
    with pytest.raises(WeightsUnavailable) as info:
        _mobilenet_025(tmp_path)
    message = str(info.value)
    assert f"'{MOBILENET_FILE}' at {tmp_path / MOBILENET_FILE} could not be loaded" in message
    assert "truncated" in message
    assert MOBILENET_URL in message
    assert info.value.__cause__ is not None  # the h5py/Keras error is kept for debugging
    assert _snapshot(tmp_path) == before


def test_wrong_hash_is_reported_with_both_hashes_and_left_alone(tmp_path):
    file = weights.weight_file("MobileNetV3Small")  # Keras checks a hash for this file
    fname, url = file.fname, file.origin
    content = b"not the MobileNetV3Small weights" * 100
    (tmp_path / fname).write_bytes(content)
    before = _snapshot(tmp_path)
    with pytest.raises(WeightsUnavailable) as info:
        weights.resolve_weights("MobileNetV3Small", tmp_path)
    message = str(info.value)
    assert "corrupt or wrong file" in message
    expected = message.split(" expected ")[1].split(",")[0]
    algorithm = "sha256" if len(expected) == 64 else "md5"
    actual = hashlib.new(algorithm, content).hexdigest()
    assert f"actual {actual}" in message
    assert expected != actual
    assert url in message
    assert _snapshot(tmp_path) == before


def test_the_table_and_kerass_own_request_name_the_same_file_without_downloading(monkeypatch):
    original = file_utils.get_file
    monkeypatch.setattr(file_utils, "urlretrieve", _never_download)
    mobilenet = registry.get_spec("MobileNet")
    assert weightkit.imagenet_request(mobilenet, **MOBILENET_025_NO_TOP)[0] == MOBILENET_025
    resnet = weights.weight_file("ResNet50")
    assert weightkit.imagenet_request(registry.get_spec("ResNet50"))[0] == resnet
    assert resnet.fname == "resnet50_weights_tf_dim_ordering_tf_kernels.h5"
    assert resnet.origin.startswith("https://storage.googleapis.com/")
    assert resnet.origin.endswith("/" + resnet.fname) and len(resnet.file_hash) in (32, 64)
    assert file_utils.get_file is original  # patch undone


def test_imagenet_without_network_names_file_and_cache_folder(keras_home, no_network):
    file = weights.weight_file("MobileNetV3Small")
    fname, url = file.fname, file.origin
    with pytest.raises(WeightsUnavailable) as info:
        weights.resolve_weights("MobileNetV3Small", "imagenet")
    message = str(info.value)
    cache = keras_home / "models"
    assert f"'{fname}' is not in {cache} and its download from {url} failed" in message
    assert "Name or service not known" in message
    assert f"put it in {cache / fname}" in message
    assert info.value.network
    assert not (cache / fname).exists() and not list(cache.glob("*"))  # no partial file


def test_imagenet_uses_a_file_already_in_the_keras_cache(keras_home, no_network):
    if not (SHARED / MOBILENET_FILE).is_file():
        pytest.skip("real weight file not present")
    (keras_home / "models").mkdir()
    shutil.copy(SHARED / MOBILENET_FILE, keras_home / "models" / MOBILENET_FILE)
    model = _mobilenet_025("imagenet")
    _assert_matches_h5(model, SHARED / MOBILENET_FILE)


def test_imagenet_corrupt_cached_file_says_so(keras_home, no_network):
    fname = weights.weight_file("MobileNetV3Small").fname
    (keras_home / "models").mkdir()
    (keras_home / "models" / fname).write_bytes(b"junk")
    with pytest.raises(WeightsUnavailable) as info:
        weights.resolve_weights("MobileNetV3Small", "imagenet")
    message = str(info.value)
    assert f"is in {keras_home / 'models'} but does not match its expected hash" in message
    assert "and its download from" in message and "failed" in message
    assert (keras_home / "models" / fname).read_bytes() == b"junk"  # not removed behind our back


def test_imagenet_download_that_hangs_times_out(keras_home, monkeypatch):
    """A server that accepts the connection but never answers must not hang the build."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    connected, release = threading.Event(), threading.Event()

    def accept_and_stay_silent():
        conn, _ = server.accept()
        connected.set()
        release.wait(30)  # keep the connection open, silent, until the test ends
        conn.close()

    threading.Thread(target=accept_and_stay_silent, daemon=True).start()
    real_urlopen = urllib.request.urlopen

    def silent_server(url, *args, **kwargs):
        return real_urlopen(f"http://127.0.0.1:{port}/w.h5", *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", silent_server)
    monkeypatch.setattr(weights, "DOWNLOAD_SOCKET_TIMEOUT", 0.5)
    try:
        with pytest.raises(WeightsUnavailable, match="timed out"):
            weights.resolve_weights("MobileNetV3Small", "imagenet")
    finally:
        release.set()
        server.close()
    assert connected.is_set()  # really reached the network code
    assert not list((keras_home / "models").glob("*"))  # nothing half-written stays


def test_a_model_is_built_from_its_file_with_no_keras_function_replaced(tmp_path, monkeypatch):
    """The file is loaded into a model built with weights=None: Keras' download function is
    never called, and no generator module replaces any of Keras' code to get there."""
    monkeypatch.setattr(file_utils, "get_file", _never_download)
    spec = registry.get_spec("MobileNetV3Small")
    source = registry.build_model(spec, "random")
    path = tmp_path / weights.weight_file(spec.name).fname
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, source)
    model = registry.build_model(spec, Verified(path, "https://example.invalid/w.h5"))
    for a, b in zip(model.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for module in Path(weights.__file__).parent.rglob("*.py"):  # the generator's code
        text = module.read_text(encoding="utf-8")
        assert "unittest" not in text and "keras.src.utils" not in text, module


def test_random_weights_need_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "known_weight_files", _never_download)
    assert weights.resolve_weights("MobileNet", "random") == "random"
    found = Verified(tmp_path / "w.h5", "https://example.invalid/w.h5")
    assert weights.resolve_weights("MobileNet", found) is found  # already checked: as it is


def test_a_model_the_table_does_not_name_fails_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "known_weight_files", dict)
    spec = registry.get_spec("MobileNetV3Small")
    for mode in ("imagenet", tmp_path):
        error = weights.prepare_weights([spec], mode)[spec.name]
        assert isinstance(error, WeightsUnavailable)
        message = str(error)
        assert message.startswith("MobileNetV3Small: weight file is not known: ")
        assert "generator/data/weight_files.json" in message
        assert "python tests/weightkit.py" in message and "--weights random" in message
    assert list(tmp_path.iterdir()) == []


def test_efficientnet_loaded_from_its_file_computes_what_kerass_imagenet_build_does(tmp_path):
    """Keras builds EfficientNet for weights="imagenet" with one more layer than for a file
    (a Rescaling after the stem's Normalization); the registry folds its scale in instead."""
    spec = registry.get_spec("EfficientNetB0")
    assert registry.IMAGENET_STEM_SCALE["efficientnet"] == tuple(efficientnet.IMAGENET_STDDEV_RGB)
    trained = registry.build_model(spec, "random")
    (normalization,) = [
        layer for layer in trained.layers if isinstance(layer, keras.layers.Normalization)
    ]
    count = normalization.get_weights()[2]
    mean, stddev = [0.485, 0.456, 0.406], efficientnet.IMAGENET_STDDEV_RGB
    normalization.set_weights([np.float32(mean), np.float32(stddev) ** 2, count])
    path = tmp_path / weights.weight_file(spec.name).fname
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, trained)

    ours = registry.build_model(spec, Verified(path, "https://example.invalid/b0.h5"))
    with mock.patch.object(file_utils, "get_file", lambda *args, **kwargs: str(path)):
        kerass = spec.constructor(weights="imagenet", **registry.constructor_arguments(spec))
    plain = spec.constructor(weights=str(path), **registry.constructor_arguments(spec))

    pixels = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(kerass(pixels))
    scale = np.abs(expected).max()
    assert np.abs(keras.ops.convert_to_numpy(ours(pixels)) - expected).max() < 1e-4 * scale
    # Without the fold the file's own model is far off: the fold is what makes them agree.
    assert np.abs(keras.ops.convert_to_numpy(plain(pixels)) - expected).max() > 0.1 * scale


def test_keras_cache_dir_follows_keras_home_at_call_time(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert weights.keras_cache_dir() == tmp_path / "models"
    monkeypatch.delenv("KERAS_HOME")
    assert weights.keras_cache_dir() == Path(os.path.expanduser("~")) / ".keras" / "models"


# --- resolved in the build process: cache, read-only cache, downloads -------------------------

PAYLOAD = b"weights of a test model " * 4096


@pytest.fixture
def server():
    """A local HTTP server: /good (the payload), /short (closes half-way), /missing (404)."""
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/missing":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD if self.path == "/good" else PAYLOAD[:1000])

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _file(origin: str, content: bytes = PAYLOAD) -> weights.WeightFile:
    return weights.WeightFile("test_model.h5", origin, hashlib.sha256(content).hexdigest())


def _only_model(monkeypatch, file: weights.WeightFile):
    """Make the weight-file table name `file` for MobileNetV3Small; returns its spec."""
    spec = registry.get_spec("MobileNetV3Small")
    monkeypatch.setattr(weights, "known_weight_files", lambda: {spec.name: file})
    return spec


class _Bar:
    def __init__(self, total, desc):
        self.total, self.desc, self.count, self.closed = total, desc, 0, False

    def update(self, n):
        self.count += n

    def close(self):
        self.closed = True


def test_download_shows_its_size_checks_the_hash_and_lands_whole(keras_home, server, monkeypatch):
    spec = _only_model(monkeypatch, _file(f"{server}/good"))
    bars = []
    sources = weights.prepare_weights(
        [spec], "imagenet", progress=lambda **kw: bars.append(_Bar(**kw)) or bars[-1]
    )
    target = keras_home / "models" / "test_model.h5"
    assert sources[spec.name] == weights.Verified(target, f"{server}/good")
    assert target.read_bytes() == PAYLOAD
    assert [(b.total, b.desc, b.count, b.closed) for b in bars] == [
        (len(PAYLOAD), "test_model.h5", len(PAYLOAD), True)
    ]
    assert sorted(p.name for p in target.parent.iterdir()) == ["test_model.h5"]


@pytest.mark.parametrize("path, problem", [("short", "hash is wrong"), ("missing", "HTTP 404")])
def test_a_bad_download_fails_its_model_and_leaves_nothing(
    keras_home, server, monkeypatch, path, problem
):
    spec = _only_model(monkeypatch, _file(f"{server}/{path}"))
    sources = weights.prepare_weights([spec], "imagenet")
    error = sources[spec.name]
    assert isinstance(error, WeightsUnavailable) and not error.network
    assert problem in str(error) and f"{server}/{path}" in str(error)
    assert list((keras_home / "models").iterdir()) == []


def test_a_valid_file_in_a_read_only_cache_is_used_as_it_is(keras_home, no_network, monkeypatch):
    cache = keras_home / "models"
    cache.mkdir()
    (cache / "test_model.h5").write_bytes(PAYLOAD)
    before = _snapshot(cache)
    cache.chmod(0o555)
    keras_home.chmod(0o555)
    real_access = os.access  # root may write anyway: report what a normal user would see
    monkeypatch.setattr(
        os,
        "access",
        lambda p, mode, **kw: (
            False
            if Path(p) in (cache, keras_home) and mode & os.W_OK
            else real_access(p, mode, **kw)
        ),
    )
    try:
        spec = _only_model(monkeypatch, _file("https://example.invalid/test_model.h5"))
        sources = weights.prepare_weights([spec], "imagenet")
    finally:
        cache.chmod(0o755)
        keras_home.chmod(0o755)
    assert sources[spec.name] == weights.Verified(
        cache / "test_model.h5", "https://example.invalid/test_model.h5"
    )
    assert _snapshot(cache) == before


def test_offline_build_message_states_each_files_own_problem(keras_home, no_network, monkeypatch):
    cache = keras_home / "models"
    cache.mkdir()
    (cache / "test_model.h5").write_bytes(b"an old, damaged copy")
    spec = _only_model(monkeypatch, _file("https://example.invalid/test_model.h5"))
    with pytest.raises(weights.NoNetwork) as info:
        weights.prepare_weights([spec], "imagenet")
    message = str(info.value)
    assert message.startswith("1 model(s) need ImageNet weight files that must be downloaded")
    assert "Name or service not known" in message
    assert f"test_model.h5 is in {cache} but does not match its expected hash" in message
    assert "is not in" not in message and "removed" not in message
    assert f"put them in {cache}" in message and "--weights random" in message
    assert (cache / "test_model.h5").read_bytes() == b"an old, damaged copy"


def test_a_no_op_rebuild_needs_no_weights_and_no_network(tmp_path, keras_home, monkeypatch):
    """The first build computes with stand-in weights; the rebuild, offline, only reads the cache."""
    import generator.model_builds as model_builds_module
    import generator.model_work as model_work_module
    from generator.build import build

    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(Path(__file__).parent.parent / "sample_images" / "cat.jpg", images / "cat.jpg")
    options = quick_build_options(images, tmp_path / "site", top=1, weights="imagenet")
    with monkeypatch.context() as first:
        real_build = model_work_module.build_model
        first.setattr(model_builds_module, "prepare_weights", lambda specs, mode, progress: {})
        first.setattr(model_work_module, "build_model", lambda spec, _: real_build(spec, "random"))
        assert build(options).ok
    asked = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: asked.append(a) or 1 / 0)
    monkeypatch.setattr(model_work_module, "build_model", _never_download)
    report = build(options)
    assert report.ok and report.cached == ["MobileNetV3Small"], report.summary()
    assert asked == []


def check_weight_file_table(name: str) -> None:
    """weight_files.json names the file the installed Keras asks for, and the model the registry
    loads that file into is the one Keras builds for ImageNet weights (run by archkit)."""
    spec = registry.discover()[name]
    file, kerass = weightkit.imagenet_request(spec)
    assert file == weights.known_weight_files().get(name), name
    expected = weightkit.operations(kerass)
    scale = registry.IMAGENET_STEM_SCALE.get(spec.constructor.__module__.rsplit(".", 1)[-1])
    if scale is not None:  # Keras' extra Rescaling after the Normalization, folded in by ours
        after = next(i for i, (kind, _) in enumerate(expected) if kind == "Normalization") + 1
        kind, config = expected.pop(after)
        assert kind == "Rescaling" and config["offset"] == 0, (kind, config)
        np.testing.assert_allclose(config["scale"], 1 / np.sqrt(scale), rtol=1e-6)
    assert weightkit.operations(archkit.full_size_model(name)) == expected, name


@pytest.mark.per_architecture
@pytest.mark.slow
@pytest.mark.parametrize("name", archkit.architectures())
def test_weight_file_table_matches_what_each_constructor_asks_for(name):
    archkit.assert_check_passed(name, check_weight_file_table)
