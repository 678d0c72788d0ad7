"""Transfer models: a base nested in a Sequential or functional model with a new head.

The graph opens the base, so every choice, method, backward rule and layer projection reaches
its layers. The reference is the same layers built as one flat functional model with the same
weights: a nested model's maps must equal the flat model's, for every method of the catalog
(a guided rule that stopped at the base's boundary, the classic tf-keras-vis bug, would not).
"""

from __future__ import annotations

import dataclasses
import functools

import keras
import numpy as np
import pytest
from keras import layers

from generator import api
from generator.methods import catalog, filters
from generator.methods.base import Method
from generator.methods.explain import Explainer, Explanations
from generator.methods.layers import TensorGraph, gradcam_target, iter_layers, stage_outputs
from generator.methods.memory import MemoryProfile
from generator.methods.projections import LayerProjections
from generator.methods.receptive_field import receptive_fields
from generator.methods.trust.randomization import cascade

SIZE = 32
CLASSES = 5


def _tower(x: keras.KerasTensor) -> keras.KerasTensor:
    """The base's layers: a stem, a residual block (a bare `+`, a fused swish), an SE gate,
    max pooling and a rectified top convolution."""
    x = layers.Conv2D(8, 3, strides=2, padding="same", name="stem")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    branch = layers.Conv2D(8, 3, padding="same", activation="swish", name="block_conv")(x)
    x = x + branch
    gate = layers.GlobalAveragePooling2D(keepdims=True, name="squeeze")(x)
    gate = layers.Conv2D(4, 1, activation="relu", name="reduce")(gate)
    gate = layers.Conv2D(8, 1, activation="sigmoid", name="excite")(gate)
    x = layers.Multiply(name="gated")([x, gate])
    x = layers.MaxPooling2D(name="pool")(x)
    x = layers.Conv2D(12, 3, padding="same", name="top_conv")(x)
    return layers.Activation("relu", name="top_relu")(x)


def _head(x: keras.KerasTensor, activation: str | None = None) -> keras.KerasTensor:
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return layers.Dense(CLASSES, activation=activation, name="logits")(x)


def _copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Every weighted layer of `target` (nested ones included) takes its namesake's weights."""
    by_name = {layer.name: layer for layer in iter_layers(source)}
    for layer in iter_layers(target):
        if layer.weights:
            layer.set_weights(by_name[layer.name].get_weights())


@functools.cache
def _models() -> dict[str, keras.Model]:
    """The flat reference and its nested twins, with the same weights."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    flat = keras.Model(inputs, _head(_tower(inputs)), name="flat")
    # Trained-looking statistics, so that batch normalisation is not the identity.
    flat.get_layer("stem_bn").set_weights(
        [np.full(8, 1.5), np.full(8, 0.1), np.linspace(-0.2, 0.2, 8), np.full(8, 0.8)]
    )

    def base() -> keras.Model:
        base_inputs = keras.Input((SIZE, SIZE, 3))
        return keras.Model(base_inputs, _tower(base_inputs), name="base")

    sequential = keras.Sequential(
        [keras.Input((SIZE, SIZE, 3)), base(), *_head_layers()], name="sequential"
    )
    inputs = keras.Input((SIZE, SIZE, 3))
    functional = keras.Model(inputs, _head(base()(inputs), "softmax"), name="functional")
    middle_inputs = keras.Input((SIZE, SIZE, 3))
    middle = keras.Model(middle_inputs, base()(middle_inputs), name="middle")
    inputs = keras.Input((SIZE, SIZE, 3))
    head = keras.Sequential([*_head_layers(), layers.Softmax(name="softmax")], name="head")
    two_levels = keras.Model(inputs, head(middle(inputs)), name="two_levels")
    models = {"flat": flat, "sequential": sequential, "functional": functional}
    models["two levels"] = two_levels
    for model in models.values():
        _copy_weights(flat, model)
    return models


def _head_layers() -> list[layers.Layer]:
    return [layers.GlobalAveragePooling2D(name="gap"), layers.Dense(CLASSES, name="logits")]


# The path of the base's tensors in each model.
PREFIX = {"flat": "", "sequential": "base/", "functional": "base/", "two levels": "middle/base/"}


def _images() -> np.ndarray:
    return np.random.default_rng(1).uniform(-1, 1, (2, SIZE, SIZE, 3)).astype("float32")


def _cheap(method: Method) -> Method:
    """The method with every count option (steps, samples, channels...) at most 4."""
    counts = {
        field.name: min(value, 4)
        for field in dataclasses.fields(method)
        if isinstance(value := getattr(method, field.name), int) and not isinstance(value, bool)
    }
    return dataclasses.replace(method, **counts)


def _explainer(name: str) -> Explainer:
    model = _models()[name]
    stages = [stage.name for stage in stage_outputs(model)]
    methods = [_cheap(method) for method in catalog.select(catalog.SLUGS)]
    return Explainer(model, stage_layers=stages, methods=methods)


@functools.cache
def _explained(name: str) -> tuple[Explainer, Explanations]:
    explainer = _explainer(name)
    return explainer, explainer.explain(_images(), top=3, many_passes_top=2)


def test_the_graph_opens_the_base_and_chooses_inside_it():
    """Target and stages are the flat model's, at their path inside the base; the nested model's
    own name still reads its output; memory and receptive fields are the flat model's."""
    flat = _models()["flat"]
    flat_graph = TensorGraph(flat)
    target = gradcam_target(flat)
    stages = stage_outputs(flat)
    assert target.name == "top_relu" and [s.name for s in stages] == ["gated", "top_relu"]
    fields = receptive_fields(flat, [s.name for s in stages])
    for name in ("sequential", "functional", "two levels"):
        model, prefix = _models()[name], PREFIX[name]
        graph = TensorGraph(model)
        head = "head/" if name == "two levels" else ""
        assert graph.names()[1:] == [
            head + n if n in ("gap", "logits") else prefix + n for n in flat_graph.names()[1:]
        ] + ([head + "softmax"] if head else [])
        nested_target = gradcam_target(model, graph)
        assert (nested_target.name, nested_target.shape) == (prefix + "top_relu", target.shape)
        nested_stages = stage_outputs(model, graph)
        assert [s.name for s in nested_stages] == [prefix + s.name for s in stages]
        assert graph.tensor(prefix.removesuffix("/")) is graph.tensor(prefix + "top_relu")
        nested_fields = receptive_fields(model, [s.name for s in nested_stages], graph)
        assert list(nested_fields.values()) == list(fields.values())
        memory = MemoryProfile.of(model, graph)
        flat_memory = MemoryProfile.of(flat, flat_graph)
        extra = 1 if name == "two levels" else 0  # the softmax's tensor
        assert memory.weight_bytes == flat_memory.weight_bytes
        assert memory.tensors == flat_memory.tensors + extra
        assert [s.layers for s in cascade(model, [s.name for s in nested_stages], graph)] == [
            s.layers for s in cascade(flat, [s.name for s in stages], flat_graph)
        ]


def test_blocks_without_activations_and_models_called_twice_stay_one_operation():
    """As ConvNeXt's stem: a nested convolution and LayerNorm is one step, named as a layer; a
    nested model called twice is two calls of one operation (its insides would be two
    tensors each). The rewired pass still runs their insides."""
    block = keras.Sequential(
        [layers.Conv2D(4, 2, strides=2, name="down_conv"), layers.LayerNormalization()],
        name="down",
    )
    shared = keras.Sequential(
        [layers.Conv2D(4, 3, padding="same", activation="relu", name="shared_conv")],
        name="shared",
    )
    inputs = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(inputs, _head(shared(shared(block(inputs)))))
    graph = TensorGraph(model)
    assert graph.names()[1:] == ["down", "shared", "shared@1", "gap", "logits"]
    assert gradcam_target(model, graph).name == "shared@1"
    explainer = Explainer(model, methods=catalog.select(["guided-backprop"]))
    assert explainer.report.count("ReLU").modified == 1
    maps = explainer.explain(_images(), top=1).methods["guided-backprop"].maps
    assert np.abs(maps).max() > 0


def test_filters_are_found_inside_the_base():
    flat, nested = _models()["flat"], _models()["sequential"]
    first = filters.first_layer_filters(nested)
    assert first.layer == "stem"
    np.testing.assert_array_equal(first.kernels, filters.first_layer_filters(flat).kernels)
    deeper = [layer.name for layer in filters.deeper_filter_layers(nested)]
    assert deeper == [layer.name for layer in filters.deeper_filter_layers(flat)]
    assert "top_conv" in deeper


@pytest.mark.parametrize("name", ["sequential", "functional", "two levels"])
def test_every_method_maps_a_nested_model_as_its_flat_twin(name):
    """Maps, logits and stage activations of the nested model equal the flat model's, for every
    method of the catalog; the report counts the base's nonlinearities; a final softmax (of the
    Dense, or a layer of a nested head) is bypassed, so the logits are the flat model's."""
    flat_explainer, flat = _explained("flat")
    explainer, nested = _explained(name)
    assert explainer.target_layer == PREFIX[name] + "top_relu"
    assert explainer.softmax_bypassed == (name != "sequential")
    assert not flat_explainer.softmax_bypassed
    counts = [c for c in explainer.report.counts if c.kind != "softmax"]
    assert counts == list(flat_explainer.report.counts)
    assert explainer.report.count("ReLU").modified == 2  # stem_relu and top_relu, in the base
    np.testing.assert_allclose(nested.logits, flat.logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(nested.classes, flat.classes)
    for stage, values in flat.stage_activations.items():
        np.testing.assert_allclose(
            nested.stage_activations[PREFIX[name] + stage], values, rtol=1e-5, atol=1e-6
        )
    assert set(nested.methods) == set(catalog.SLUGS)
    for slug, maps in flat.methods.items():
        scale = max(float(np.abs(maps.maps).max()), 1e-12)
        np.testing.assert_allclose(
            nested.methods[slug].maps, maps.maps, rtol=1e-4, atol=1e-5 * scale, err_msg=slug
        )
        for note, values in maps.notes.items():
            np.testing.assert_allclose(
                nested.methods[slug].notes[note], values, rtol=1e-4, atol=1e-5, err_msg=slug
            )
    # The guided rule reached the base's rectifiers: guided backprop is not the plain gradient.
    guided, plain = nested.methods["guided-backprop"].maps, nested.methods["saliency"].maps
    assert np.abs(np.abs(guided).sum(-1) - plain).max() > 1e-3 * np.abs(plain).max()


def test_layer_projections_reach_inside_the_base():
    flat_explainer, _ = _explained("flat")
    explainer, _ = _explained("sequential")
    channels = {"gated": [0, 3], "top_relu": [5]}
    flat = LayerProjections(flat_explainer).project(_images(), channels)
    nested = LayerProjections(explainer).project(
        _images(), {"base/" + layer: ids for layer, ids in channels.items()}
    )
    for layer, (guided, deconv) in flat.items():
        nested_guided, nested_deconv = nested["base/" + layer]
        np.testing.assert_allclose(nested_guided, guided, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(nested_deconv, deconv, rtol=1e-4, atol=1e-6)
        assert np.abs(guided).max() > 0


def test_target_layer_takes_a_path_and_an_unknown_name_lists_close_ones():
    model = _models()["functional"]
    grad_cam = api.maps(model, _images(), np.array([1, 2]), "grad-cam", target_layer="base/pool")
    flat = api.maps(_models()["flat"], _images(), np.array([1, 2]), "grad-cam", target_layer="pool")
    np.testing.assert_allclose(grad_cam, flat, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"no layer .* named 'top_relu'.*closest: base/top_relu"):
        Explainer(model, target_layer="top_relu")


def test_softmax_is_read_before_whatever_form_it_takes():
    """A Dense's softmax, an Activation or a Softmax layer, or `keras.ops.softmax`: bypassed;
    a model giving logits is read as it is."""
    flat = _models()["flat"]
    images = _images()
    logits = flat(images).numpy()
    inputs = keras.Input((SIZE, SIZE, 3))
    features = keras.Model(flat.inputs, flat.get_layer("gap").output)
    endings = {
        "activation": lambda x: layers.Activation("softmax")(x),
        "layer": lambda x: layers.Softmax()(x),
        "operation": lambda x: keras.ops.softmax(x),
        "none": lambda x: x,
    }
    for ending, finish in endings.items():
        head = layers.Dense(CLASSES)
        outputs = finish(head(features(inputs)))
        model = keras.Model(inputs, outputs)
        head.set_weights(flat.get_layer("logits").get_weights())
        explainer = Explainer(model, methods=catalog.select(["grad-cam"]))
        assert explainer.softmax_bypassed == (ending != "none"), ending
        result = explainer.explain(images, top=1)
        np.testing.assert_allclose(result.logits, logits, rtol=1e-5, atol=1e-5, err_msg=ending)


def test_models_the_explainer_cannot_read_are_refused_with_what_is_wrong():
    image = keras.Input((SIZE, SIZE, 3))
    other = keras.Input((SIZE, SIZE, 3))
    pooled = layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3)(image))
    cases = {
        "2 inputs": keras.Model(
            [image, other], layers.Dense(CLASSES)(layers.Flatten()(layers.Add()([image, other])))
        ),
        "2 outputs": keras.Model(image, [layers.Dense(2)(pooled), layers.Dense(3)(pooled)]),
        "no spatial layer": keras.Model(image, layers.Dense(CLASSES)(layers.Flatten()(image))),
        r"an image input \(batch, height, width, 3\)": keras.Sequential(
            [keras.Input((10,)), layers.Dense(CLASSES)]
        ),
    }
    for message, model in cases.items():
        with pytest.raises(ValueError, match=message):
            api.explain(model, np.zeros((1, SIZE, SIZE, 3), "float32"))


def test_a_keras_applications_base_runs_every_method_through_the_api():
    """MobileNetV2 (alpha 0.35, 96 px) under a new head: Grad-CAM at the base's last spatial
    tensor, every method finite, the inner ReLU6 rectifiers rewired."""
    keras.utils.set_random_seed(2)
    base = keras.applications.MobileNetV2(
        weights=None, include_top=False, alpha=0.35, input_shape=(96, 96, 3)
    )
    model = keras.Sequential(
        [
            keras.Input((96, 96, 3)),
            base,
            layers.GlobalAveragePooling2D(),
            layers.Dense(CLASSES, activation="softmax"),
        ]
    )
    assert gradcam_target(model).name == f"{base.name}/out_relu"
    images = np.random.default_rng(3).uniform(-1, 1, (1, 96, 96, 3)).astype("float32")
    result = api.explain(model, images, catalog.SLUGS, top=2)
    assert set(result.methods) == set(catalog.SLUGS)
    for slug, maps in result.methods.items():
        assert maps.maps.shape[0] == 1 and np.isfinite(maps.maps).all(), slug
    assert np.abs(result.methods["guided-backprop"].maps).max() > 0
    report = Explainer(model, methods=()).report
    assert report.count("ReLU6").modified == report.count("ReLU6").found > 30
    assert report.softmax_bypassed
