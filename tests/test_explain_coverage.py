"""Every keras.applications constructor: every catalog method runs, the rewiring report is right,
and Grad-CAM's target and the stage outputs dominate the classifier.

The report's counts are compared with an independent count read off the layers' configs and
names (not the graph patterns `backward_rules` uses); the target and stages are checked by an
independent walk of Keras' graph links (`graph_checks`). Seven representative models run by
default on a small input; the other constructors are marked slow. Each architecture is checked in
a process of its own (see archkit.py), so this test's memory does not grow with every model.
"""

import dataclasses
from collections import Counter

import archkit
import keras
import numpy as np
import pytest
import tensorflow as tf
from graph_checks import check_dominates, check_gradcam_target, check_reaches_logits

from generator.methods.backward_rules import INSIDE_HELD_GATE, TRUE_GRADIENT
from generator.methods.base import Method
from generator.methods.catalog import METHODS
from generator.methods.explain import Explainer
from generator.methods.layers import TensorGraph, gradcam_target, iter_layers, stage_outputs
from generator.methods.projections import LayerProjections
from generator.registry import build_model, discover

FAST = {
    "VGG16",
    "ResNet50",
    "MobileNetV2",
    "MobileNetV3Small",
    "EfficientNetB0",
    "ConvNeXtTiny",
    "DenseNet121",
}
FAST_SIZE = 64
# Inception-style stems need at least 75 (Xception 71); everything else takes 96 with weights=None.
# At 75 the Inception models end on a 1x1 grid, which leaves no spatial tensor after their last
# reduction for the Grad-CAM target check; 107 is the smallest size that ends on 2x2.
MINIMUM_SIZE = {"InceptionV3": 107, "InceptionResNetV2": 107, "Xception": 75}
ACTIVATION_KINDS = {
    "relu": "ReLU",
    "silu": "swish",
    "swish": "swish",
    "gelu": "gelu",
    "hard_silu": "hard_swish",
}


def _size(name: str) -> int:
    return FAST_SIZE if name in FAST else MINIMUM_SIZE.get(name, 96)


def _cheap(method: Method) -> Method:
    """The method with every count option (steps, samples, channels...) at most 4: the test is
    about running on every architecture, not about the quality of the maps."""
    counts = {
        field.name: min(value, 4)
        for field in dataclasses.fields(method)
        if isinstance(value := getattr(method, field.name), int) and not isinstance(value, bool)
    }
    return dataclasses.replace(method, **counts)


# The shape of one class's map, after (N, K), for each display kind.
_MAP_SHAPES = {
    "heatmap": lambda size, stages: (size, size),
    "magnitude": lambda size, stages: (size, size),
    "signed": lambda size, stages: (size, size),
    "gradient": lambda size, stages: (size, size, 3),
    "heatmaps by layer": lambda size, stages: (stages, size, size),
}


def _independent_counts(model: keras.Model) -> Counter:
    """Nonlinearities by kind, counted from each layer's config and the names Keras gives SE blocks.

    In keras.applications every Multiply is a squeeze-and-excitation product: EfficientNet's
    (`*se_excite`) is gated by a Conv2D with a sigmoid, MobileNetV3's (`*squeeze_excite_mul`) by
    a hard_sigmoid built around a ReLU(6.), so that many ReLU6 layers are gates, not ReLU6 kinds.
    The rectifier of each gate's squeeze (`*se_reduce`, `*squeeze_excite_relu`) sits inside
    the held gate and is counted apart; LayerNormalization and max pooling keep their true
    gradient.
    """
    counts: Counter = Counter()
    products = 0
    for layer in iter_layers(model):
        config = layer.get_config()
        in_gate = layer.name.endswith(("se_reduce", "squeeze_excite_relu"))
        if isinstance(layer, (keras.layers.LayerNormalization, keras.layers.MaxPooling2D)):
            counts[type(layer).__name__] += 1
        elif isinstance(layer, keras.layers.ReLU):
            kind = "ReLU6" if config["max_value"] == 6 else "ReLU"
            counts[kind + (" (inside SE gates)" if in_gate else "")] += 1
        elif config.get("activation") not in (None, "linear"):
            activation = config["activation"]
            kind = "sigmoid (SE gate)" if activation == "sigmoid" else ACTIVATION_KINDS[activation]
            counts[kind + (" (inside SE gates)" if in_gate else "")] += 1
        elif isinstance(layer, keras.layers.Multiply):
            products += 1
            if layer.name.endswith("squeeze_excite_mul"):
                counts["hard_sigmoid (SE gate)"] += 1
    assert counts["ReLU6"] >= counts["hard_sigmoid (SE gate)"]
    counts["ReLU6"] -= counts["hard_sigmoid (SE gate)"]
    assert products == counts["sigmoid (SE gate)"] + counts["hard_sigmoid (SE gate)"]
    return Counter({kind: n for kind, n in counts.items() if n > 0})


@pytest.mark.per_architecture
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=[] if name in FAST else [pytest.mark.slow])
        for name in archkit.architectures()
    ],
)
def test_every_model_explains_and_reports_its_nonlinearities(name):
    archkit.assert_check_passed(name, check_explains_and_reports_nonlinearities)


def check_explains_and_reports_nonlinearities(name: str) -> None:
    """Run in the architecture's own process by archkit."""
    spec = discover()[name]
    size = _size(name)
    model = build_model(spec, "random", input_shape=(size, size, 3))
    graph, target, stages = TensorGraph(model), gradcam_target(model), stage_outputs(model)
    check_gradcam_target(model, graph.tensor(target.name))
    for stage in stages:
        check_reaches_logits(model, graph.tensor(stage.name))
        # NASNet's cells each read the two cells before them: no single tensor carries every
        # path at a resolution, so its stage outputs are the least-bypassed ones instead.
        if not name.startswith("NASNet"):
            check_dominates(model, graph.tensor(stage.name))
    sides = [stage.shape[0] for stage in stages]
    assert sides == sorted(sides, reverse=True) and len(set(sides)) == len(sides), sides
    methods = [_cheap(method) for method in METHODS]
    explainer = Explainer(
        model,
        stage_layers=[stage.name for stage in stages],
        methods=methods,
        preprocess=spec.preprocess,
    )

    report = explainer.report
    reported = Counter({entry.kind: entry.found for entry in report.counts})
    assert reported == _independent_counts(model), report.summary()
    for entry in report.counts:
        unchanged = entry.treatment in (INSIDE_HELD_GATE, TRUE_GRADIENT)
        assert entry.modified == (0 if unchanged else entry.found), report.summary()
    assert report.unmodified == () and "left unmodified" not in report.summary()

    pixels = np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    result = explainer.explain(spec.preprocess(pixels), top=2, many_passes_top=2)
    assert np.isfinite(result.logits).all()
    for method in methods:
        maps = result.methods[method.slug].maps
        assert maps.shape == (1, 2, *_MAP_SHAPES[method.display](size, len(stages))), method.slug
        assert np.isfinite(maps).all(), method.slug
        if method.display in ("heatmap", "heatmaps by layer"):
            assert 0.0 <= maps.min() and maps.max() <= 1.0, method.slug
        if method.display == "magnitude":
            assert maps.min() >= 0.0, method.slug
    for slug in ("guided-backprop", "deconvnet"):
        assert np.abs(result.methods[slug].maps).max() > 0, slug
    gradcam = result.methods["grad-cam"]
    evidence = gradcam.notes["has_evidence"]
    np.testing.assert_array_equal(gradcam.maps[~evidence], 0.0)
    np.testing.assert_allclose(gradcam.maps.max(axis=(2, 3))[evidence], 1.0, rtol=1e-5)
    # The untouched model, run eagerly (tracing it too would cost seconds per architecture).
    expected = model(tf.constant(spec.preprocess(pixels)), training=False).numpy()
    np.testing.assert_allclose(result.logits, expected, rtol=1e-4, atol=1e-4)


def test_layer_projections_on_a_real_architecture():
    spec = discover()["MobileNetV2"]
    model = build_model(spec, "random", input_shape=(FAST_SIZE, FAST_SIZE, 3))
    stages = [stage.name for stage in stage_outputs(model)]
    explainer = Explainer(model, stage_layers=stages)
    images = spec.preprocess(
        np.random.default_rng(1).integers(0, 256, (2, FAST_SIZE, FAST_SIZE, 3), dtype=np.uint8)
    )
    projections = LayerProjections(explainer).project(
        images, {stages[0]: [0, 5, 7], stages[-1]: [3]}
    )
    assert set(projections) == {stages[0], stages[-1]}
    for layer, count in ((stages[0], 3), (stages[-1], 1)):
        guided, deconv = projections[layer]
        assert guided.shape == deconv.shape == (2, count, FAST_SIZE, FAST_SIZE, 3)
        assert np.isfinite(guided).all() and np.isfinite(deconv).all()

    # An early layer's strongest activation sees a small patch of the image, a late one more.
    def support(gradient):
        return (np.abs(gradient).sum(axis=-1) > 0).mean()

    guided_early, _ = projections[stages[0]]
    guided_late, _ = projections[stages[-1]]
    assert 0 < support(guided_early[0, 0]) < support(guided_late[0, 0])
