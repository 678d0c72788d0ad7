"""Your own model: a saved Keras file gets the zoo's pages (`--model-file`).

Each build here is one or two small models in the test process (`isolate=False`), so the whole
file costs well under a minute: a transfer model on a random `keras.applications` base, the
synthetic-shapes classifier trained in the test (`shapes.py`), and files the gallery must refuse
one by one while the build goes on.
"""

from __future__ import annotations

import dataclasses
import json
import re
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
import shapes
from PIL import Image
from sitekit import REPO, mkdocs_build
from test_filters_feature_maps import _roughness

from generator import api
from generator.build import build
from generator.cli import main
from generator.methods.filters import first_layer_filters
from generator.options import BuildOptions
from generator.own_models import (
    OwnModelError,
    OwnModelFile,
    input_side,
    own_model_files,
    parse_preprocessing,
    read_class_names,
)
from generator.registry import build_model, own_spec

SHARED_WEIGHTS = REPO.parent / "shared/weights/mobilenet_2_5_224_tf_no_top.h5"
BASE_SIDE = 64


def _own(path: Path, **fields) -> OwnModelFile:
    (own,) = own_model_files([path])
    return dataclasses.replace(own, **fields)


def _options(out: Path, images: Path, *owns: OwnModelFile, **overrides) -> BuildOptions:
    options = BuildOptions(
        specs=tuple(own_spec(own) for own in owns),
        images=images,
        out=out,
        weights="random",
        top=2,
        methods=("grad-cam", "guided-backprop", "saliency"),
        evaluate=False,
    )
    return dataclasses.replace(options, **overrides)


def _photos(folder: Path, count: int = 2) -> Path:
    """Small photo-like pictures (smooth colour gradients with a bright square)."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(count):
        pixels = np.zeros((80, 80, 3), np.uint8)
        pixels[...] = rng.integers(0, 255, 3)
        pixels[20 + 10 * index : 50, 20:50] = 255
        Image.fromarray(pixels).save(folder / f"photo-{index}.png")
    return folder


def _transfer_models(folder: Path) -> dict[str, Path]:
    """A random MobileNetV3Small base with a new 3-class head, nested in a Sequential and in a
    functional model ending in a softmax, saved as files."""
    keras.utils.set_random_seed(0)

    def base() -> keras.Model:
        return keras.applications.MobileNetV3Small(
            input_shape=(BASE_SIDE, BASE_SIDE, 3), include_top=False, weights=None
        )

    sequential = keras.Sequential(
        [
            keras.Input((BASE_SIDE, BASE_SIDE, 3)),
            base(),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ]
    )
    inputs = keras.Input((BASE_SIDE, BASE_SIDE, 3))
    x = keras.layers.GlobalAveragePooling2D()(base()(inputs))
    functional = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    paths = {"sequential": folder / "transfer-seq.keras", "functional": folder / "transfer.keras"}
    sequential.save(paths["sequential"])
    functional.save(paths["functional"])
    return paths


def _page(out: Path, stem: str) -> str:
    return (out / "your-models" / f"{stem}.md").read_text(encoding="utf-8")


# --- the command line's side (no model is loaded) ----------------------------------------------


def test_preprocessing_is_read_in_every_form_and_a_wrong_one_names_the_accepted_ones():
    assert parse_preprocessing("none") == "none"
    assert parse_preprocessing("MobileNet_V2") == "keras.applications.mobilenet_v2.preprocess_input"
    assert float(parse_preprocessing("scale:1/255")[6:]) == pytest.approx(1 / 255)
    mean_std = parse_preprocessing("mean-std:123.7,116.3,103.5/58.4,57.1,57.4")
    assert mean_std == "mean-std:123.7,116.3,103.5/58.4,57.1,57.4"
    for wrong in ("scale:0", "scale:x", "mean-std:1,2/3,4,5", "mean-std:1,2,3/0,1,1", "vgg"):
        with pytest.raises(OwnModelError, match="scale:F") as refused:
            parse_preprocessing(wrong)
        assert repr(wrong) in str(refused.value)


def test_class_names_are_read_from_lines_or_a_json_list(tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("daisy\n\nrose \n tulip\n", encoding="utf-8")
    assert read_class_names(lines) == ("daisy", "rose", "tulip")
    listed = tmp_path / "names.json"
    listed.write_text(json.dumps(["a b", "c"]), encoding="utf-8")
    assert read_class_names(listed) == ("a b", "c")
    broken = tmp_path / "broken.json"
    broken.write_text('["a", ', encoding="utf-8")
    with pytest.raises(OwnModelError, match="broken.json.*not valid JSON"):
        read_class_names(broken)


def test_options_pair_with_files_once_for_all_or_once_each(tmp_path):
    files = [tmp_path / "a.keras", tmp_path / "b.keras"]
    for path in files:
        path.write_bytes(b"")
    one = own_model_files(files, preprocess=["scale:1/255"])
    assert [own.preprocessing for own in one] == [one[0].preprocessing] * 2
    each = own_model_files(files, preprocess=["none", "vgg16"], target_layers=["x", "base/y"])
    assert [own.target_layer for own in each] == ["x", "base/y"]
    assert each[1].preprocessing == "keras.applications.vgg16.preprocess_input"
    with pytest.raises(OwnModelError, match="given 3 times for 2 --model-file"):
        own_model_files(files, preprocess=["none"] * 3)


def test_two_files_with_one_address_are_refused_before_tensorflow_naming_both(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = tmp_path / "a" / "My Model.keras", tmp_path / "b" / "my-model.h5"
    first.write_bytes(b"")
    second.write_bytes(b"")
    code = main(["build", "--model-file", str(first), "--model-file", str(second),
                 "--out", str(tmp_path / "site")])  # fmt: skip
    error = capsys.readouterr().err
    assert code == 2
    assert "My Model.keras" in error and "my-model.h5" in error
    assert "your-models/my-model/" in error and "rename one" in error
    assert not (tmp_path / "site").exists()


def test_own_model_options_without_a_model_file_and_missing_files_are_usage_errors(
    tmp_path, capsys
):
    assert main(["build", "--class-names", "x.txt"]) == 2
    assert "--class-names goes with --model-file" in capsys.readouterr().err
    assert main(["build", "--model-file", str(tmp_path / "gone.keras")]) == 2
    assert "gone.keras does not exist" in capsys.readouterr().err
    (tmp_path / "weights.npz").write_bytes(b"")
    assert main(["build", "--model-file", str(tmp_path / "weights.npz")]) == 2
    assert "model.save('name.keras')" in capsys.readouterr().err


# --- pages of own models ----------------------------------------------------------------------


def test_a_transfer_model_gets_pages_that_reach_inside_its_base(tmp_path):
    """Nested in a Sequential and in a functional model, a keras.applications base is opened:
    Grad-CAM reads inside it, the guided rule changes its inner layers, and the page says the
    softmax was read before."""
    paths = _transfer_models(tmp_path)
    assert input_side(paths["sequential"]) == input_side(paths["functional"]) == (64, 64)
    inner = "MobileNetV3Small/expanded_conv_10_add"  # a path given by hand, for the second
    owns = [_own(paths["sequential"]), _own(paths["functional"], target_layer=inner)]
    out = tmp_path / "site"
    report = build(_options(out, _photos(tmp_path / "photos", count=1), *owns))
    assert report.ok, report.failed
    for own, stem in zip(owns, ("transfer-seq", "transfer")):
        page = _page(out, stem)
        target = re.search(r"Grad-CAM target \| <code>([^<]+)</code>", page)
        assert target and "&#47;" in target.group(1), "the target lies inside the nested base"
        assert "of 9 ReLU modified" in page or "hard&#95;swish modified" in page
        model = build_model(own_spec(own), "random")
        images = own_spec(own).preprocess(np.full((2, 64, 64, 3), 120, np.uint8))
        images[1, 10:40, 10:40] = 250
        guided = api.maps(model, images, np.array([0, 1]), "guided-backprop")
        plain = api.maps(model, images, np.array([0, 1]), "saliency")
        magnitude = [np.abs(m).reshape(*m.shape[:3], -1).sum(-1).ravel() for m in (guided, plain)]
        assert np.corrcoef(*magnitude)[0, 1] < 0.95
    assert "expanded&#95;conv&#95;10&#95;add</code>, 2×2×96" in _page(out, "transfer")
    assert "the explanations read the logits before it" in _page(out, "transfer")
    assert "taken as logits (it ends in no softmax)" in _page(out, "transfer-seq")
    home = (out / "index.md").read_text(encoding="utf-8")
    assert "## Your models" in home and "(your-models/transfer.md)" in home
    assert "transfer" not in (out / "compare" / "index.md").read_text(encoding="utf-8")
    (tmp_path / "work").mkdir()
    result = mkdocs_build(out, tmp_path / "work")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "work" / "site" / "your-models" / "transfer-seq" / "index.html").exists()


@pytest.fixture(scope="module")
def shapes_file(tmp_path_factory) -> tuple[Path, Path, Path, np.ndarray, np.ndarray]:
    """The synthetic-shapes classifier trained here, saved; its class names; photos of scenes
    with one object each, with their labels and object corners."""
    folder = tmp_path_factory.mktemp("shapes")
    model, images, labels, corners, _, _ = shapes.train()
    path = folder / "shapes.keras"
    model.save(path)
    names = folder / "names.txt"
    names.write_text("square\ncross\n", encoding="utf-8")
    photos = folder / "photos"
    photos.mkdir()
    for index in range(6):
        pixels = np.round(images[index] * 255).astype(np.uint8)
        Image.fromarray(pixels).save(photos / f"scene-{index}.png")
    return path, names, photos, labels[:6], corners[:6]


def test_a_trained_model_with_class_names_predicts_named_classes_and_grad_cam_finds_them(
    tmp_path, shapes_file
):
    path, names, photos, labels, corners = shapes_file
    (own,) = own_model_files([path], class_names=[str(names)], preprocess=["scale:1/255"])
    out = tmp_path / "site"
    report = build(_options(out, photos, own, methods=("grad-cam",)))
    assert report.ok, report.failed
    page = _page(out, "shapes")
    assert "named by <code>names&#46;txt</code>" in page
    for index, label in enumerate(labels):
        block = page.split(f"#scene-{index}--predictions")[1]
        first = re.search(r"\| 1 \| [^|]+ \| \[([a-z]+)\]", block)  # rank, probability, class
        assert first and first.group(1) == ("square", "cross")[label]
    spec = own_spec(own)
    pixels = np.stack([np.asarray(Image.open(p)) for p in sorted(photos.glob("*.png"))])
    maps = api.maps(build_model(spec, "random"), spec.preprocess(pixels), labels, "grad-cam")
    inside = [shapes.peak_inside(m, c[label]) for m, c, label in zip(maps, corners, labels)]
    assert sum(inside) >= 5, inside


def test_without_class_names_classes_are_shown_by_index_and_said_so(tmp_path, shapes_file):
    path, _, photos, _, _ = shapes_file
    out = tmp_path / "site"
    own = _own(path, preprocessing=parse_preprocessing("scale:1/255"))
    assert build(_options(out, photos, own, methods=("grad-cam",), top=5)).ok
    page = _page(out, "shapes")
    assert "**shown by index**" in page and "| Class index |" in page
    assert re.search(r"\| 1 \| [^|]+ \| \[class [01]\]", page)  # rank, probability, class
    assert "| 3 |" not in page.split("#scene-0--predictions")[1].split("####")[0], (
        "--top is cut to the model's two classes"
    )


def test_a_retrained_file_is_recomputed_and_an_unchanged_one_is_not(tmp_path, shapes_file):
    path, _, photos, _, _ = shapes_file
    mine = tmp_path / "mine.keras"
    mine.write_bytes(path.read_bytes())
    out = tmp_path / "site"
    options = _options(out, photos, _own(mine), methods=("grad-cam",))
    assert build(options).computed["mine.keras"]
    again = build(dataclasses.replace(options, specs=(own_spec(_own(mine)),)))
    assert again.cached == ["mine.keras"]
    model = keras.saving.load_model(mine)
    model.get_layer("logits").bias.assign([5.0, -5.0])
    model.save(mine)
    retrained = build(dataclasses.replace(options, specs=(own_spec(_own(mine)),)))
    assert retrained.cached == [] and retrained.computed["mine.keras"]
    assert "class 0" in _page(out, "mine")


def test_bad_files_fail_alone_with_what_to_do_and_unexplainable_models_keep_a_page(
    tmp_path, shapes_file
):
    good, _, photos, _, _ = shapes_file
    corrupt = tmp_path / "corrupt.keras"
    with zipfile.ZipFile(corrupt, "w") as archive:
        archive.writestr("config.json", "{not json")
    foreign = tmp_path / "foreign.h5"
    foreign.write_bytes(b"\x89HDF\r\n not really")

    @keras.saving.register_keras_serializable(package="test_own_models")
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return 2 * x

    custom = tmp_path / "custom.keras"
    keras.Sequential([keras.Input((16, 16, 3)), Doubler(), keras.layers.Conv2D(2, 3),
                      keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)]).save(custom)  # fmt: skip
    keras.saving.get_custom_objects().clear()  # as in a new process: the class is unknown
    image, extra = keras.Input((16, 16, 3)), keras.Input((4,))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(image))
    joined = keras.layers.Concatenate()([x, extra])
    two_inputs = tmp_path / "two-inputs.keras"
    keras.Model([image, extra], keras.layers.Dense(2)(joined)).save(two_inputs)
    legacy = tmp_path / "legacy.h5"
    keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                      keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)]).save(legacy)  # fmt: skip
    flat = tmp_path / "flat.keras"
    keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(),
                      keras.layers.Dense(2)]).save(flat)  # fmt: skip
    typo = tmp_path / "typo.keras"
    typo.write_bytes(good.read_bytes())
    files = [corrupt, foreign, custom, two_inputs, flat, legacy, good]
    owns = [*(_own(path) for path in files), _own(typo, target_layer="top_conf")]
    out = tmp_path / "site"
    report = build(_options(out, photos, *owns))
    assert set(report.failed) == {"corrupt.keras", "foreign.h5", "custom.keras", "typo.keras"}
    assert "--target-layer top_conf" in report.failed["typo.keras"]
    assert "closest: top_conv" in report.failed["typo.keras"]
    assert "corrupt or not a saved Keras model" in report.failed["corrupt.keras"]
    assert "corrupt or not a saved Keras model" in report.failed["foreign.h5"]
    assert "custom layer" in report.failed["custom.keras"]
    assert all(name in reason for name, reason in report.failed.items())
    assert "shapes.keras" in report.built and "legacy.h5" in report.built
    two = _page(out, "two-inputs")
    assert "Not drawn for this model" in two and "has 2 inputs" in two
    assert "## Filters" in two or "filters" in two.lower()
    assert "no spatial layer" in _page(out, "flat")
    home = (out / "index.md").read_text(encoding="utf-8")
    assert "**failed**: custom&#46;keras cannot be loaded" in home


@pytest.mark.skipif(not SHARED_WEIGHTS.exists(), reason="shared ImageNet MobileNet weights absent")
def test_real_imagenet_weights_in_a_users_model_file_give_smooth_filters(tmp_path):
    """The real MobileNet weights of ../shared in a user-style transfer model, saved and read
    back as an own model: its first-layer filters are smooth colour and edge detectors."""
    base = keras.applications.MobileNet(
        alpha=0.25, include_top=False, input_shape=(128, 128, 3), weights=str(SHARED_WEIGHTS)
    )
    model = keras.Sequential([keras.Input((128, 128, 3)), base,
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(5)])  # fmt: skip
    path = tmp_path / "mine.keras"
    model.save(path)
    loaded = build_model(own_spec(_own(path)), "random")
    kernels = first_layer_filters(loaded).kernels
    np.testing.assert_array_equal(kernels, first_layer_filters(base).kernels)
    keras.utils.set_random_seed(0)
    untrained = keras.applications.MobileNet(
        alpha=0.25, include_top=False, input_shape=(128, 128, 3), weights=None
    )
    roughness = _roughness(kernels)
    assert roughness < 0.75 * _roughness(first_layer_filters(untrained).kernels)
