"""Weight sources: a folder of Keras files, the Keras cache, and every way they fail."""

import hashlib
import os
import shutil
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from keras.src.utils import file_utils

from generator import registry, weights
from generator.weights import WeightsUnavailable

SHARED = Path("/work/shared/weights")
MOBILENET_FILE = "mobilenet_2_5_224_tf_no_top.h5"
MOBILENET_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/" + MOBILENET_FILE
)
# The file above belongs to this configuration of MobileNet.
MOBILENET_025_NO_TOP = {"include_top": False, "alpha": 0.25}

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


@pytest.fixture
def no_network(monkeypatch):
    """Make Keras' download fail the way urllib does without DNS, on any machine."""

    def refuse(url, filename, reporthook=None):
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

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
    spec = registry.get_spec("MobileNet")
    model = registry.build_model(spec, SHARED, **MOBILENET_025_NO_TOP)
    _assert_matches_h5(model, SHARED / MOBILENET_FILE)
    assert _snapshot(SHARED) == before


@needs_real_file
def test_folder_given_as_string_works_and_never_downloads(tmp_path, monkeypatch):
    shutil.copy(SHARED / MOBILENET_FILE, tmp_path / MOBILENET_FILE)
    monkeypatch.setattr(file_utils, "urlretrieve", _never_download)
    model = registry.build_model(
        registry.get_spec("mobilenet"), str(tmp_path), **MOBILENET_025_NO_TOP
    )
    _assert_matches_h5(model, tmp_path / MOBILENET_FILE)


def test_missing_file_names_the_file_url_and_fix(tmp_path):
    with pytest.raises(WeightsUnavailable) as info:
        registry.build_model(registry.get_spec("MobileNet"), tmp_path, **MOBILENET_025_NO_TOP)
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
        registry.build_model(registry.get_spec("MobileNet"), folder, **MOBILENET_025_NO_TOP)
    assert not folder.exists()


@needs_real_file
def test_truncated_file_is_a_clear_error_and_left_alone(tmp_path):
    (tmp_path / MOBILENET_FILE).write_bytes((SHARED / MOBILENET_FILE).read_bytes()[:1000])
    before = _snapshot(tmp_path)
    with pytest.raises(WeightsUnavailable) as info:
        registry.build_model(registry.get_spec("MobileNet"), tmp_path, **MOBILENET_025_NO_TOP)
    message = str(info.value)
    assert f"'{MOBILENET_FILE}' at {tmp_path / MOBILENET_FILE} could not be loaded" in message
    assert "truncated" in message
    assert MOBILENET_URL in message
    assert info.value.__cause__ is not None  # the h5py/Keras error is kept for debugging
    assert _snapshot(tmp_path) == before


def test_wrong_hash_is_reported_with_both_hashes_and_left_alone(tmp_path):
    spec = registry.get_spec("MobileNetV3Small")  # Keras checks a hash for this file
    [(fname, url)] = weights.expected_weight_files(spec)
    content = b"not the MobileNetV3Small weights" * 100
    (tmp_path / fname).write_bytes(content)
    before = _snapshot(tmp_path)
    with pytest.raises(WeightsUnavailable) as info:
        registry.build_model(spec, tmp_path)
    message = str(info.value)
    assert "corrupt or wrong file" in message
    expected = message.split(" expected ")[1].split(",")[0]
    algorithm = "sha256" if len(expected) == 64 else "md5"
    actual = hashlib.new(algorithm, content).hexdigest()
    assert f"actual {actual}" in message
    assert expected != actual
    assert url in message
    assert _snapshot(tmp_path) == before


def test_expected_weight_files_names_file_and_url_without_downloading(monkeypatch):
    original = file_utils.get_file
    monkeypatch.setattr(file_utils, "urlretrieve", _never_download)
    mobilenet = registry.get_spec("MobileNet")
    assert weights.expected_weight_files(mobilenet, **MOBILENET_025_NO_TOP) == [
        (MOBILENET_FILE, MOBILENET_URL)
    ]
    [(fname, url)] = weights.expected_weight_files(registry.get_spec("ResNet50"))
    assert fname == "resnet50_weights_tf_dim_ordering_tf_kernels.h5"
    assert url.startswith("https://storage.googleapis.com/") and url.endswith("/" + fname)
    assert file_utils.get_file is original  # patch undone


def test_imagenet_without_network_names_file_and_cache_folder(keras_home, no_network):
    spec = registry.get_spec("MobileNetV3Small")
    [(fname, url)] = weights.expected_weight_files(spec)
    with pytest.raises(WeightsUnavailable) as info:
        registry.build_model(spec, "imagenet")
    message = str(info.value)
    cache = keras_home / "models"
    assert f"'{fname}' is not in {cache} and its download from {url} failed" in message
    assert "Name or service not known" in message
    assert f"put it in {cache / fname}" in message
    assert not (cache / fname).exists()


def test_imagenet_uses_a_file_already_in_the_keras_cache(keras_home, no_network):
    if not (SHARED / MOBILENET_FILE).is_file():
        pytest.skip("real weight file not present")
    (keras_home / "models").mkdir()
    shutil.copy(SHARED / MOBILENET_FILE, keras_home / "models" / MOBILENET_FILE)
    model = registry.build_model(registry.get_spec("MobileNet"), "imagenet", **MOBILENET_025_NO_TOP)
    _assert_matches_h5(model, SHARED / MOBILENET_FILE)


def test_imagenet_corrupt_cached_file_says_so(keras_home, no_network):
    spec = registry.get_spec("MobileNetV3Small")
    [(fname, _)] = weights.expected_weight_files(spec)
    (keras_home / "models").mkdir()
    (keras_home / "models" / fname).write_bytes(b"junk")
    with pytest.raises(WeightsUnavailable, match="did not match its expected hash"):
        registry.build_model(spec, "imagenet")


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

    def silent_download(url, filename, reporthook=None):
        return urllib.request.urlretrieve(f"http://127.0.0.1:{port}/w.h5", filename, reporthook)

    monkeypatch.setattr(file_utils, "urlretrieve", silent_download)
    monkeypatch.setattr(weights, "DOWNLOAD_SOCKET_TIMEOUT", 0.5)
    previous = socket.getdefaulttimeout()
    try:
        with pytest.raises(WeightsUnavailable, match="timed out"):
            registry.build_model(registry.get_spec("MobileNetV3Small"), "imagenet")
    finally:
        release.set()
        server.close()
    assert connected.is_set()  # really reached the network code
    assert socket.getdefaulttimeout() == previous


def test_interceptor_is_removed_after_errors(tmp_path):
    original = file_utils.get_file
    with pytest.raises(WeightsUnavailable):
        registry.build_model(registry.get_spec("MobileNet"), tmp_path, **MOBILENET_025_NO_TOP)
    assert file_utils.get_file is original


def test_random_weights_need_no_source():
    with pytest.raises(ValueError):
        with weights.weights_source("random"):
            pass


def test_keras_cache_dir_follows_keras_home_at_call_time(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert weights.keras_cache_dir() == tmp_path / "models"
    monkeypatch.delenv("KERAS_HOME")
    assert weights.keras_cache_dir() == Path(os.path.expanduser("~")) / ".keras" / "models"
