"""The registry against the real keras.applications."""

import inspect

import archkit
import keras
import numpy as np
import pytest
from keras.src.applications import imagenet_utils

from generator import registry
from generator.model_facts import MODEL_FACTS

# Models whose constructor accepts any input size (no fixed default_size in Keras).
FLEXIBLE_INPUT = {"MobileNetV3Small", "MobileNetV3Large"}


def _introspected_names() -> set[str]:
    """Independent count: upper-case functions exported by keras.applications."""
    return {
        name
        for name in dir(keras.applications)
        if name[0].isupper() and inspect.isfunction(getattr(keras.applications, name))
    }


def TinyNet(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="tinynet",
):
    """A stand-in for a constructor a future Keras might add.

    Args:
        input_shape: only to be specified if `include_top` is False (otherwise the input
            shape has to be `(64, 64, 3)`).
    """
    inputs = keras.Input(shape=input_shape or (64, 64, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    if include_top:
        x = keras.layers.GlobalAveragePooling2D()(x)
        x = keras.layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, x, name=name)


def test_every_constructor_is_discovered_once_sorted():
    specs = registry.discover()
    assert set(specs) == _introspected_names()
    assert len(specs) == len(_introspected_names())
    assert list(specs) == sorted(specs)
    assert list(registry.discover()) == list(specs)  # deterministic


def test_all_known_models_are_known_with_facts():
    specs = registry.discover()
    assert len(MODEL_FACTS) == 40
    for name in MODEL_FACTS:
        spec = specs[name]
        assert spec.known, name
        assert spec.family and spec.paper and spec.paper_url.startswith("https://arxiv.org/abs/")
        assert spec.preprocessing == spec.module + ".preprocess_input"
    assert specs["ResNet50"].slug == "resnet50"
    assert specs["EfficientNetV2B0"].slug == "efficientnetv2b0"


def test_year_is_the_arxiv_year_of_the_paper():
    for spec in registry.discover().values():
        arxiv_id = spec.paper_url.rsplit("/", 1)[1]
        assert spec.year == 2000 + int(arxiv_id[:2]), spec.name


def test_preprocessing_module_is_the_constructors_own_module():
    for spec in registry.discover().values():
        source = spec.constructor.__module__  # e.g. keras.src.applications.resnet
        assert source.replace("keras.src.", "keras.") == spec.module, spec.name


def test_facts_input_size_matches_keras_default_size(monkeypatch):
    """Keras passes each model's fixed default size to obtain_input_shape; catch it there."""

    class Seen(Exception):
        pass

    def record(input_shape, default_size, *args, **kwargs):
        raise Seen(default_size)

    monkeypatch.setattr(imagenet_utils, "obtain_input_shape", record)
    for spec in registry.discover().values():
        if spec.name in FLEXIBLE_INPUT:
            continue
        with pytest.raises(Seen) as seen:
            spec.constructor(weights=None)
        assert spec.input_size == (seen.value.args[0],) * 2, spec.name


@pytest.mark.parametrize(
    "name, size", [("InceptionV3", 299), ("NASNetLarge", 331), ("EfficientNetB3", 300)]
)
def test_input_size_matches_built_default_model(name, size):
    spec = registry.get_spec(name)
    default_model = spec.constructor(weights=None)  # Keras' own default, not ours
    assert default_model.input_shape[1:3] == (size, size)
    assert spec.input_size == (size, size)
    keras.backend.clear_session()


def test_mobilenet_v3_input_is_flexible_so_224_is_used():
    spec = registry.get_spec("MobileNetV3Small")
    assert spec.constructor(weights=None).input_shape[1:3] == (None, None)
    assert spec.input_size == (224, 224)
    assert registry.build_model(spec, "random").input_shape[1:3] == (224, 224)


def _pixels() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(2, 8, 8, 3), dtype=np.uint8)


def test_preprocess_matches_keras_function_on_copy_and_keeps_input():
    images = _pixels()
    original = images.copy()
    for spec in registry.discover().values():
        expected = keras.applications.__dict__[spec.module.rsplit(".", 1)[1]].preprocess_input(
            images.astype(np.float32)
        )
        out = spec.preprocess(images)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, expected, rtol=1e-6, err_msg=spec.name)
        np.testing.assert_array_equal(images, original)


def test_preprocess_uses_the_scheme_each_family_was_trained_with():
    images = _pixels()
    x = images.astype(np.float32)
    caffe = x[..., ::-1] - np.array([103.939, 116.779, 123.68], np.float32)
    tf_mode = x / 127.5 - 1.0
    torch = (x / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    cases = {
        "ResNet50": caffe,
        "VGG16": caffe,
        "InceptionV3": tf_mode,
        "MobileNetV2": tf_mode,
        "ResNet50V2": tf_mode,
        "DenseNet121": torch,
        "EfficientNetB0": x,  # rescaling is inside these models
        "ConvNeXtTiny": x,
        "MobileNetV3Small": x,
    }
    for name, expected in cases.items():
        np.testing.assert_allclose(
            registry.get_spec(name).preprocess(images),
            expected,
            rtol=1e-5,
            atol=1e-4,
            err_msg=name,
        )
    single = registry.get_spec("InceptionV3").preprocess(images[0])
    np.testing.assert_allclose(single, tf_mode[0], atol=1e-6)


def test_preprocess_rejects_non_uint8():
    with pytest.raises(ValueError, match="uint8"):
        registry.get_spec("ResNet50").preprocess(np.zeros((8, 8, 3), np.float32))


def test_random_build_outputs_logits_and_is_reproducible():
    spec = registry.get_spec("MobileNetV2")
    model = registry.build_model(spec, "random")
    assert model.name == spec.constructor(weights=None).name  # name unchanged
    assert model.input_shape == (None, 224, 224, 3)
    assert model.layers[-1].activation is keras.activations.linear
    logits = model.predict(spec.preprocess(_pixels().repeat(28, 1).repeat(28, 2)), verbose=0)
    assert logits.shape == (2, 1000)
    assert (logits < 0).any()  # softmax outputs would all be positive
    assert not np.allclose(logits.sum(axis=1), 1.0)
    again = registry.build_model(spec, "random")
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    keras.backend.clear_session()


def test_fake_constructor_appears_unknown_and_builds(monkeypatch):
    before = registry.discover()
    monkeypatch.setattr(keras.applications, "TinyNet", TinyNet, raising=False)
    specs = registry.discover()
    assert set(specs) == set(before) | {"TinyNet"}
    spec = specs["TinyNet"]
    assert not spec.known
    assert (spec.family, spec.year, spec.top1, spec.top5, spec.params) == (None,) * 5
    assert spec.input_size == (64, 64)  # from the docstring
    assert spec.preprocessing is None
    with pytest.raises(ValueError, match="TinyNet"):
        spec.preprocess(_pixels())
    assert registry.get_spec("tinynet") == spec
    model = registry.build_model(spec, "random")
    assert model.input_shape == (None, 64, 64, 3)
    assert model.layers[-1].activation is keras.activations.linear
    table = registry.format_table(specs.values())
    tiny_row = next(line for line in table.splitlines() if line.startswith("TinyNet"))
    assert tiny_row.split()[1:] == ["*", "?", "?", "64x64", "?", "?", "?"]


def test_fake_constructor_without_size_hint_gets_224(monkeypatch):
    def NoHintNet(include_top=True, weights=None, input_shape=None):
        raise AssertionError("discovery must not build models")

    monkeypatch.setattr(keras.applications, "NoHintNet", NoHintNet, raising=False)
    assert registry.discover()["NoHintNet"].input_size == (224, 224)


def test_get_spec_accepts_any_case_and_slug():
    assert registry.get_spec("resnet50").name == "ResNet50"
    assert registry.get_spec("RESNET50").name == "ResNet50"
    assert registry.get_spec("efficientnetv2s").name == "EfficientNetV2S"
    assert registry.get_spec("NASNetLarge").slug == "nasnetlarge"


def test_get_spec_unknown_name_lists_names_and_suggests():
    with pytest.raises(KeyError) as info:
        registry.get_spec("resnet5")
    assert isinstance(info.value, registry.UnknownModelError)
    message = str(info.value)
    assert "Did you mean 'ResNet50'?" in message
    for name in MODEL_FACTS:
        assert name in message


def test_format_table_shows_every_model_and_unknown_facts():
    specs = registry.discover()
    lines = registry.format_table(specs.values()).splitlines()
    assert lines[0].split() == ["name", "family", "year", "input", "params", "top-1", "top-5"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert set(rows) == set(specs)
    assert rows["InceptionV3"] == ["Inception", "2015", "299x299", "23.9M", "77.9%", "93.7%"]
    assert rows["MobileNetV3Large"][3:] == ["?", "?", "?"]
    assert rows["ConvNeXtTiny"][-1] == "?"


@pytest.mark.per_architecture
@pytest.mark.slow
@pytest.mark.parametrize("name", archkit.architectures())
def test_documented_parameter_count_and_logits_of_the_built_model(name):
    archkit.assert_check_passed(name, check_parameter_count_and_logits)


def check_parameter_count_and_logits(name: str) -> None:
    """Checks the transcription of the keras.io table against the real architecture, and that
    the built model ends in logits (run in the architecture's own process by archkit).

    The table rounds to 0.1M, and not always to nearest (ConvNeXtBase: 88.59M shown 88.5M).
    """
    spec = registry.discover()[name]
    model = archkit.full_size_model(name)
    assert model.layers[-1].activation is keras.activations.linear, spec.name
    if spec.params is not None:
        assert model.count_params() / 1e6 == pytest.approx(spec.params, abs=0.1), spec.name
