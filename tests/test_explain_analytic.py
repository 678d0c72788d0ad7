"""Explanation methods on tiny hand-weighted models, checked against independent numpy maths.

The networks are chains of 1x1 convolutions, global average pooling and dense layers, so every
gradient rule can be written out in a few lines of numpy (float64) without TensorFlow.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from explainkit import grad_cam, input_gradients
from keras import layers
from scipy.special import erf

from generator import api
from generator.methods.backward_rules import RewiredModel
from generator.methods.explain import Explainer
from generator.methods.gradient.deconvnet import DeConvNet
from generator.methods.gradient.guided_backprop import GuidedBackprop
from generator.methods.gradient.saliency import Saliency
from generator.methods.projections import LayerProjections


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# name -> (f, f'), written out by hand.
ACTIVATIONS = {
    "relu": (lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(float)),
    "relu6": (lambda x: np.clip(x, 0, 6), lambda x: ((x > 0) & (x < 6)).astype(float)),
    "swish": (
        lambda x: x * _sigmoid(x),
        lambda x: _sigmoid(x) * (1 + x * (1 - _sigmoid(x))),
    ),
    "gelu": (
        lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2))),
        lambda x: 0.5 * (1 + erf(x / np.sqrt(2))) + x * np.exp(-0.5 * x**2) / np.sqrt(2 * np.pi),
    ),
    "hard_swish": (
        lambda x: x * np.clip(x + 3, 0, 6) / 6,
        lambda x: np.clip(x + 3, 0, 6) / 6 + x * ((x > -3) & (x < 3)) / 6,
    ),
}


def _activation_layer(name: str):
    """A separate Keras layer computing activation `name` (ReLU6 the way MobileNet builds it)."""
    if name == "relu6":
        return layers.ReLU(6.0)
    return layers.Activation(name)


def _chain_model(activation: str, fused: bool, rng: np.random.Generator, size: int = 6):
    """conv1x1 -> act -> conv1x1 (stride 2) -> act -> GAP -> dense -> act -> dense (logits).

    Returns the model and the weights as numpy arrays for the reference.
    """
    convs = [
        (rng.normal(0, 1.5, (3, 4)), rng.normal(0, 0.5, 4), 1),
        (rng.normal(0, 1.0, (4, 3)), rng.normal(0, 0.5, 3), 2),
    ]
    denses = [
        (rng.normal(0, 1.0, (3, 4)), rng.normal(0, 0.5, 4), activation),
        (rng.normal(0, 1.0, (4, 3)), rng.normal(0, 0.5, 3), None),
    ]
    inputs = keras.Input((size, size, 3))
    x = inputs
    for i, (kernel, bias, stride) in enumerate(convs):
        conv = layers.Conv2D(
            kernel.shape[1],
            1,
            strides=stride,
            activation=activation if fused else None,
            name=f"conv{i}",
        )
        x = conv(x)
        conv.set_weights([kernel[None, None].astype("float32"), bias.astype("float32")])
        if not fused:
            x = _activation_layer(activation)(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    for i, (weight, bias, act) in enumerate(denses):
        dense = layers.Dense(weight.shape[1], activation=act if fused else None, name=f"dense{i}")
        x = dense(x)
        dense.set_weights([weight.astype("float32"), bias.astype("float32")])
        if act is not None and not fused:
            x = _activation_layer(act)(x)
    return keras.Model(inputs, x), convs, denses


def _reference(x, convs, denses, activation, rule):
    """(logits (C,), input gradient of every class (C, H, W, 3)) under `rule`, in numpy."""
    f, fprime = ACTIVATIONS[activation]

    def backward_through(dy, pre):
        if rule == "plain":
            return fprime(pre) * dy
        if rule == "guided":
            return np.maximum(fprime(pre), 0) * np.maximum(dy, 0)
        return np.maximum(dy, 0)  # deconvnet

    h, conv_cache = x.astype(float), []
    for kernel, bias, stride in convs:
        shape = h.shape
        pre = h[::stride, ::stride] @ kernel + bias
        conv_cache.append((pre, shape, stride, kernel))
        h = f(pre)
    g, dense_cache = h.mean(axis=(0, 1)), []
    for weight, bias, act in denses:
        pre = g @ weight + bias
        dense_cache.append((pre, weight, act))
        g = f(pre) if act else pre
    logits = g
    gradients = []
    for c in range(len(logits)):
        dy = np.eye(len(logits))[c]
        for pre, weight, act in reversed(dense_cache):
            if act:
                dy = backward_through(dy, pre)
            dy = dy @ weight.T
        fh, fw = conv_cache[-1][0].shape[:2]
        dh = np.broadcast_to(dy / (fh * fw), (fh, fw, len(dy)))
        for pre, shape, stride, kernel in reversed(conv_cache):
            dpre = backward_through(dh, pre)
            dh = np.zeros(shape)
            dh[::stride, ::stride] = dpre @ kernel.T
        gradients.append(dh)
    return logits, np.stack(gradients)


def _tf_plain_gradient(model, images, c):
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = model(x)[:, c]
    return tape.gradient(y, x).numpy()


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "layer"])
def test_rules_match_numpy_reference(activation, fused):
    rng = np.random.default_rng(7)
    model, convs, denses = _chain_model(activation, fused, rng)
    images = rng.uniform(-3, 3, (2, 6, 6, 3)).astype("float32")
    classes = np.array([[0, 1, 2], [2, 0, 1]])
    explainer = Explainer(model)
    assert explainer.target_layer == ("conv1" if fused else model.layers[4].name)
    got = {
        rule: input_gradients(explainer, images, classes, rule) for rule in ("guided", "deconvnet")
    }
    kind = {"relu": "ReLU", "relu6": "ReLU6"}.get(activation, activation)
    assert explainer.report.count(kind).found == 3
    assert explainer.report.count(kind).modified == 3
    for n in range(2):
        logits, plain = _reference(images[n], convs, denses, activation, "plain")
        np.testing.assert_allclose(
            model(images[n : n + 1]).numpy()[0], logits, rtol=1e-4, atol=1e-4
        )
        for k, c in enumerate(classes[n]):
            # The numpy reference agrees with TensorFlow's own gradient of the untouched model ...
            tf_plain = _tf_plain_gradient(model, images[n : n + 1], c)[0]
            np.testing.assert_allclose(tf_plain, plain[c], rtol=1e-3, atol=1e-5)
            for rule in ("guided", "deconvnet"):
                _, expected = _reference(images[n], convs, denses, activation, rule)
                scale = np.abs(expected[c]).max()
                np.testing.assert_allclose(
                    got[rule][n, k], expected[c], rtol=1e-3, atol=1e-4 * scale
                )
    # ... and guided really is a different quantity from the plain gradient on these weights.
    _, guided_ref = _reference(images[0], convs, denses, activation, "guided")
    _, plain_ref = _reference(images[0], convs, denses, activation, "plain")
    assert np.abs(guided_ref - plain_ref).max() > 0.1 * np.abs(plain_ref).max()
    if activation == "relu6":  # the 0 < x < 6 gate was exercised on both sides
        first_pre = images[0].astype(float) @ convs[0][0] + convs[0][1]
        assert (first_pre > 6).any() and (first_pre < 0).any()


def test_numpy_reference_matches_finite_differences():
    """The reference's plain gradient is itself right, checked without TensorFlow."""
    rng = np.random.default_rng(3)
    _, convs, denses = _chain_model("swish", True, rng)
    x = rng.uniform(-3, 3, (6, 6, 3))
    _, gradient = _reference(x, convs, denses, "swish", "plain")
    eps = 1e-6
    for index in [(0, 0, 0), (2, 4, 1), (5, 5, 2), (3, 1, 0)]:
        bumped_up, bumped_down = x.copy(), x.copy()
        bumped_up[index] += eps
        bumped_down[index] -= eps
        up, _ = _reference(bumped_up, convs, denses, "swish", "plain")
        down, _ = _reference(bumped_down, convs, denses, "swish", "plain")
        np.testing.assert_allclose(
            (up - down) / (2 * eps), gradient[(slice(None), *index)], atol=1e-6
        )


def _pixel_model(dense_weights, activation=None):
    """Input (2, 2, 3) -> conv 1x1 taking the red channel, ReLU -> GAP -> Dense."""
    inputs = keras.Input((2, 2, 3))
    conv = layers.Conv2D(1, 1, activation="relu", name="red")
    x = conv(inputs)
    conv.set_weights(
        [np.array([1.0, 0.0, 0.0], "float32").reshape(1, 1, 3, 1), np.zeros(1, "float32")]
    )
    x = layers.GlobalAveragePooling2D()(x)
    dense = layers.Dense(2, activation=activation, name="logits")
    outputs = dense(x)
    dense.set_weights([np.array([dense_weights], "float32"), np.zeros(2, "float32")])
    return keras.Model(inputs, outputs)


def _red_image(red):
    image = np.zeros((1, 2, 2, 3), "float32")
    image[0, :, :, 0] = red
    image[0, :, :, 1] = 5.0  # ignored by the network: must not leak into the maps
    return image


def test_grad_cam_by_hand_and_zero_evidence():
    """A = relu(red) = [[1, 2], [0, 0]]; alpha_0 = 2/4, alpha_1 = -1/4.

    Class 0: relu(0.5 * A) / max = [[0.5, 1], [0, 0]]. Class 1: relu(-0.25 * A) = 0 everywhere,
    i.e. no positive evidence: all zeros and the flag, never NaN.
    """
    model = _pixel_model([2.0, -1.0])
    image = _red_image([[1.0, 2.0], [0.0, -1.0]])
    explainer = Explainer(model)
    assert explainer.target_layer == "red"
    maps, evidence = grad_cam(explainer, image, np.array([[0, 1]]))
    np.testing.assert_allclose(maps[0, 0], [[0.5, 1.0], [0.0, 0.0]], atol=1e-6)
    np.testing.assert_array_equal(maps[0, 1], np.zeros((2, 2)))
    assert evidence.tolist() == [[True, False]]
    explanations = explainer.explain(image, top=2)
    assert not np.isnan(explanations.methods["grad-cam"].maps).any()
    assert not np.isnan(explanations.methods["guided-grad-cam"].maps).any()
    guided_gradcam = explanations.methods["guided-grad-cam"].maps
    np.testing.assert_array_equal(guided_gradcam[0, 1], 0.0)  # class 1 is second
    assert explanations.classes.tolist() == [[0, 1]]  # logits 1.5 and -0.75


def test_grad_cam_uses_logits_not_saturated_softmax():
    """With logits (75, -37.5) softmax is exactly (1, 0) in float32: its gradient vanishes."""
    model = _pixel_model([100.0, -50.0], activation="softmax")
    image = _red_image([[1.0, 2.0], [0.0, -1.0]])
    x = tf.constant(image)
    with tf.GradientTape() as tape:
        tape.watch(x)
        probability = model(x)[:, 0]
    assert float(probability[0]) == 1.0
    assert np.abs(tape.gradient(probability, x).numpy()).max() == 0.0  # what softmax would give
    explainer = Explainer(model)
    explanations = explainer.explain(image, top=1)
    np.testing.assert_allclose(
        explanations.methods["grad-cam"].maps[0, 0], [[0.5, 1.0], [0.0, 0.0]], atol=1e-6
    )
    np.testing.assert_allclose(explanations.logits, [[75.0, -37.5]], rtol=1e-6)
    np.testing.assert_allclose(explanations.probabilities, model(x).numpy(), atol=1e-7)
    assert np.abs(explanations.methods["guided-backprop"].maps).max() > 0
    assert explainer.report.count("softmax").found == 1
    assert "bypassed" in explainer.report.summary()


def _bilinear(image, height, width):
    """Bilinear resize with half-pixel centres (as TensorFlow's), edges clamped."""

    def axis_weights(n_in, n_out):
        source = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        low = np.floor(source).astype(int)
        high = np.minimum(low + 1, n_in - 1)
        matrix = np.zeros((n_out, n_in))
        matrix[np.arange(n_out), low] += 1 - (source - low)
        matrix[np.arange(n_out), high] += source - low
        return matrix

    return axis_weights(image.shape[0], height) @ image @ axis_weights(image.shape[1], width).T


def test_grad_cam_matches_numpy_on_strided_conv():
    """Grad-CAM: normalised bilinear upsampling of relu(sum_k alpha_k A_k), alpha = mean grad."""
    rng = np.random.default_rng(11)
    kernel = rng.normal(size=(3, 3))
    bias = rng.normal(0, 0.2, 3)
    dense = rng.normal(size=(3, 4))
    inputs = keras.Input((8, 8, 3))
    conv = layers.Conv2D(3, 1, strides=2, activation="relu", name="features")
    x = conv(inputs)
    conv.set_weights([kernel[None, None].astype("float32"), bias.astype("float32")])
    head = layers.Dense(4)
    outputs = head(layers.GlobalAveragePooling2D()(x))
    head.set_weights([dense.astype("float32"), np.zeros(4, "float32")])
    model = keras.Model(inputs, outputs)
    images = rng.uniform(-1, 1, (3, 8, 8, 3)).astype("float32")
    classes = np.array([[0, 1, 2, 3]] * 3)
    maps, evidence = grad_cam(Explainer(model), images, classes)
    for n in range(3):
        activation = np.maximum(images[n, ::2, ::2].astype(float) @ kernel + bias, 0)
        for c in range(4):
            cam = np.maximum(activation @ (dense[:, c] / 16), 0)
            upsampled = _bilinear(cam, 8, 8)
            assert evidence[n, c] == (upsampled.max() > 0)
            expected = upsampled / upsampled.max() if upsampled.max() > 0 else upsampled
            np.testing.assert_allclose(maps[n, c], expected, atol=1e-5)
    assert evidence.any() and maps.max() == pytest.approx(1.0)
    np.testing.assert_allclose(
        api.maps(model, images, classes[:, 1], "grad-cam"), maps[:, 1], atol=1e-6
    )


def test_explain_outputs_are_consistent():
    rng = np.random.default_rng(5)
    model, _, _ = _chain_model("relu", True, rng)
    images = rng.uniform(-3, 3, (2, 6, 6, 3)).astype("float32")
    explainer = Explainer(model, stage_layers=["conv0", "conv1"])
    assert explainer.target_layer == "conv1"
    result = explainer.explain(images, top=2)
    logits = model(images).numpy()
    np.testing.assert_allclose(result.logits, logits, rtol=1e-5)
    np.testing.assert_allclose(result.probabilities, tf.nn.softmax(logits).numpy(), rtol=1e-5)
    np.testing.assert_array_equal(result.classes, np.argsort(-logits, axis=1)[:, :2])
    np.testing.assert_allclose(
        result.methods["guided-grad-cam"].maps,
        result.methods["guided-backprop"].maps * result.methods["grad-cam"].maps[..., None],
    )
    for name in ("conv0", "conv1"):
        expected = keras.Model(model.inputs[0], model.get_layer(name).output)(images).numpy()
        np.testing.assert_allclose(result.stage_activations[name], expected, rtol=1e-5)
    # The public API gives the same numbers as the Explainer.
    top1 = result.classes[:, 0]
    for slug in ("guided-backprop", "deconvnet", "guided-grad-cam"):
        expected = result.methods[slug].maps[:, 0]
        np.testing.assert_allclose(api.maps(model, images, top1, slug), expected, rtol=1e-5)
    assert set(api.explain(model, images, api.methods(), top=2).methods) == set(api.methods())


def _snapshot(model):
    return (
        [layer for layer in model.layers],
        [np.array(w) for w in model.get_weights()],
        [getattr(layer, "activation", None) for layer in model.layers],
        [(len(layer._inbound_nodes), len(layer._outbound_nodes)) for layer in model.layers],
    )


def test_model_is_unchanged_after_explaining():
    rng = np.random.default_rng(2)
    model, _, _ = _chain_model("relu", True, rng)
    images = rng.uniform(-3, 3, (1, 6, 6, 3)).astype("float32")
    before, outputs_before = _snapshot(model), model(images).numpy()
    explainer = Explainer(model, stage_layers=["conv0"])
    explainer.explain(images, top=3)
    LayerProjections(explainer).project(images, {"conv0": [0, 1]})
    after = _snapshot(model)
    assert after[0] == before[0]
    assert all(np.array_equal(a, b) for a, b in zip(after[1], before[1]))
    assert all(a is b for a, b in zip(after[2], before[2]))
    assert after[3] == before[3]
    assert model.get_layer("conv0").activation is keras.activations.relu
    np.testing.assert_array_equal(model(images).numpy(), outputs_before)


def test_layer_projection_is_the_strongest_activation_only():
    """For a 1x1 ReLU conv, the strongest activation of channel k at pixel p* projects back to
    the kernel column K[:, k] at p* and nothing elsewhere, under both rules."""
    rng = np.random.default_rng(4)
    kernel = rng.normal(size=(3, 2))
    inputs = keras.Input((5, 5, 3))
    conv = layers.Conv2D(2, 1, activation="relu", name="stage")
    x = conv(inputs)
    conv.set_weights([kernel[None, None].astype("float32"), np.zeros(2, "float32")])
    model = keras.Model(inputs, layers.Dense(3)(layers.GlobalAveragePooling2D()(x)))
    images = rng.uniform(-1, 1, (2, 5, 5, 3)).astype("float32")
    projections = LayerProjections(Explainer(model, stage_layers=["stage"])).project(
        images, {"stage": [1, 0]}
    )
    guided, deconv = projections["stage"]
    assert guided.shape == deconv.shape == (2, 2, 5, 5, 3)
    for n in range(2):
        activation = np.maximum(images[n].astype(float) @ kernel, 0)
        for p, k in enumerate([1, 0]):
            expected = np.zeros((5, 5, 3))
            i, j = np.unravel_index(np.argmax(activation[..., k]), (5, 5))
            expected[i, j] = kernel[:, k]
            np.testing.assert_allclose(guided[n, p], expected, atol=1e-6)
            np.testing.assert_allclose(deconv[n, p], expected, atol=1e-6)


def _se_model(gate: str):
    """conv(ReLU) features scaled by a squeeze-and-excitation gate, then GAP and a Dense head."""
    rng = np.random.default_rng(9)
    inputs = keras.Input((4, 4, 3))
    features = layers.Conv2D(4, 1, activation="relu", name="features")(inputs)
    squeeze = layers.GlobalAveragePooling2D(keepdims=True)(features)
    squeeze = layers.Conv2D(2, 1, activation="relu", name="reduce")(squeeze)
    if gate == "sigmoid":
        excite = layers.Conv2D(4, 1, activation="sigmoid", name="expand")(squeeze)
    else:  # MobileNetV3's hard_sigmoid
        excite = layers.Conv2D(4, 1, name="expand")(squeeze)
        excite = layers.ReLU(6.0)(excite + 3.0) * (1.0 / 6.0)
    x = layers.Multiply(name="excite")([features, excite])
    x = layers.ReLU(6.0, name="after")(x)
    model = keras.Model(inputs, layers.Dense(3, name="logits")(layers.GlobalAveragePooling2D()(x)))
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(
                [rng.normal(0, 1, w.shape).astype("float32") for w in layer.get_weights()]
            )
    return model


@pytest.mark.parametrize("gate", ["sigmoid", "hard_sigmoid"])
def test_se_gate_is_held_constant(gate):
    model = _se_model(gate)
    report = RewiredModel(model).report
    assert report.count(f"{gate} (SE gate)").found == 1
    # "features" acts on the image-to-class path; "reduce" sits inside the held gate's branch,
    # where no gradient reaches it, and is counted apart.
    assert report.count("ReLU").found == report.count("ReLU").modified == 1
    assert report.count("ReLU (inside SE gates)").found == 1
    assert report.count("ReLU (inside SE gates)").modified == 0
    assert report.count("ReLU6").found == 1  # "after"; the hard_sigmoid's ReLU6 is the gate
    assert report.lines()[:2] == [
        "Image-to-class path: 1 of 1 ReLU modified, 1 of 1 ReLU6 modified",
        (
            f"1 SE gates ({gate}) held constant; inside their branches, without effect since "
            "no gradient reaches them: 1 ReLU"
        ),
    ]
    assert not report.unmodified
    images = np.random.default_rng(1).uniform(-1, 1, (1, 4, 4, 3)).astype("float32")
    got = input_gradients(
        Explainer(model, target_layer="excite"), images, np.array([[0, 2]]), "guided"
    )
    # Reference: the gate g is a constant; the path is conv -> relu -> *g -> relu6 -> GAP -> dense.
    kernel, bias = model.get_layer("features").get_weights()
    gate_model = keras.Model(model.inputs[0], model.get_layer("excite").input[1])
    g = gate_model(images).numpy()[0, 0, 0].astype(float)
    dense = model.get_layer("logits").get_weights()[0].astype(float)
    pre = images[0].astype(float) @ kernel[0, 0] + bias
    scaled = np.maximum(pre, 0) * g
    for k, c in enumerate([0, 2]):
        upstream = np.maximum(dense[:, c] / 16, 0) * ((scaled > 0) & (scaled < 6))
        through_gate = upstream * g  # d(a * g)/da = g, with no term through g
        expected = (np.maximum(through_gate, 0) * (pre > 0)) @ kernel[0, 0].T
        np.testing.assert_allclose(got[0, k], expected, rtol=1e-4, atol=1e-6)


def test_nested_model_is_rewired_like_a_flat_one():
    rng = np.random.default_rng(6)
    weights = [
        rng.normal(size=(1, 1, 3, 4)),
        rng.normal(size=4),
        rng.normal(size=(4, 2)),
        rng.normal(size=2),
    ]
    weights = [w.astype("float32") for w in weights]

    def build(nested):
        inputs = keras.Input((3, 3, 3))
        conv, relu = layers.Conv2D(4, 1, name="conv"), layers.ReLU(name="relu")
        if nested:
            x = keras.Sequential([keras.Input((3, 3, 3)), conv, relu], name="stem")(inputs)
        else:
            x = relu(conv(inputs))
        head = layers.Dense(2, name="head")
        model = keras.Model(inputs, head(layers.GlobalAveragePooling2D()(x)))
        conv.set_weights(weights[:2])
        head.set_weights(weights[2:])
        return model

    images = rng.uniform(-1, 1, (2, 3, 3, 3)).astype("float32")
    classes = np.array([[0, 1], [1, 0]])
    results = []
    for nested in (False, True):
        model = build(nested)
        explainer = Explainer(model, target_layer="stem" if nested else "relu")
        assert explainer.report.count("ReLU").found == 1
        results.append(
            {
                rule: input_gradients(explainer, images, classes, rule)
                for rule in ("guided", "deconvnet")
            }
        )
    plain = np.stack([_tf_plain_gradient(build(True), images, c) for c in (0, 1)], axis=1)
    for rule in ("guided", "deconvnet"):
        np.testing.assert_allclose(results[1][rule], results[0][rule], rtol=1e-5, atol=1e-7)
    assert np.abs(results[1]["guided"][:, 0] - plain[:, 0]).max() > 1e-3


def test_unknown_nonlinearities_are_reported_not_hidden():
    inputs = keras.Input((4, 4, 3))
    x = layers.Conv2D(4, 1, activation="relu", name="conv")(inputs)
    x = layers.PReLU(name="learned_slope")(x)
    x = layers.Softmax(axis=-1, name="channel_softmax")(x)
    model = keras.Model(inputs, layers.Dense(2)(layers.GlobalAveragePooling2D()(x)))
    report = RewiredModel(model).report
    assert report.count("ReLU").modified == 1
    assert set(report.unmodified) == {"learned_slope (PReLU)", "channel_softmax (softmax)"}
    assert report.count("PReLU").found == 1 and report.count("PReLU").modified == 0
    assert "2 left unmodified" in report.summary()


def test_layer_normalization_keeps_its_true_gradient_and_is_reported():
    """LayerNormalization is nonlinear at inference (it divides by its input's own spread) but
    is no rectifier: both rules leave its gradient as it is, and the report says so."""
    rng = np.random.default_rng(11)
    inputs = keras.Input((3, 3, 3))
    x = layers.LayerNormalization(name="norm")(inputs)
    model = keras.Model(inputs, layers.Dense(2, name="head")(layers.GlobalAveragePooling2D()(x)))
    head = [rng.normal(size=(3, 2)).astype("float32"), np.zeros(2, "float32")]
    model.get_layer("head").set_weights(head)
    report = RewiredModel(model).report
    entry = report.count("LayerNormalization")
    assert (entry.found, entry.modified) == (1, 0)
    assert report.lines() == [f"True gradient kept: 1 LayerNormalization ({entry.why})"]
    assert "spread" in entry.why and not report.unmodified
    images = rng.uniform(-1, 1, (2, 3, 3, 3)).astype("float32")
    classes = np.array([[0, 1], [1, 0]])
    plain = np.stack([_tf_plain_gradient(model, images, c) for c in (0, 1)], axis=1)
    plain[1] = plain[1, ::-1]  # image 1 asks for classes (1, 0)
    explainer = Explainer(model, target_layer="norm")
    for rule in ("guided", "deconvnet"):
        got = input_gradients(explainer, images, classes, rule)
        np.testing.assert_allclose(got, plain, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("groups", [4, 2], ids=["depthwise", "two-groups"])
def test_grouped_convolution_explains_like_its_ungrouped_twin(groups):
    """ConvNeXt's depthwise 7x7 is a Conv2D with groups = channels, whose input gradient
    TensorFlow does not give on CPU: the explainer must still give the same maps as the
    same network built without grouped convolutions (DepthwiseConv2D, or one Conv2D per group
    on a slice of the channels)."""
    rng = np.random.default_rng(12)
    kernel = rng.normal(size=(3, 3, 4 // groups, 4)).astype("float32")  # Keras' grouped layout
    head = [rng.normal(size=(4, 3)).astype("float32"), np.zeros(3, "float32")]

    def build(grouped):
        inputs = keras.Input((6, 6, 3))
        x = layers.Conv2D(4, 1, use_bias=False, name="expand")(inputs)
        if grouped:
            conv = layers.Conv2D(4, 3, padding="same", groups=groups, use_bias=False)
            x = conv(x)
            conv.set_weights([kernel])
        elif groups == 4:
            conv = layers.DepthwiseConv2D(3, padding="same", use_bias=False)
            x = conv(x)
            conv.set_weights([kernel.transpose(0, 1, 3, 2)])  # (3, 3, channels, 1)
        else:
            halves = []
            for g in range(2):
                conv = layers.Conv2D(2, 3, padding="same", use_bias=False)
                halves.append(conv(x[..., 2 * g : 2 * g + 2]))
                conv.set_weights([kernel[..., 2 * g : 2 * g + 2]])
            x = layers.Concatenate()(halves)
        x = layers.ReLU(name="relu")(x)
        logits = layers.Dense(3, name="head")(layers.GlobalAveragePooling2D()(x))
        model = keras.Model(inputs, logits)
        model.get_layer("expand").set_weights([np.ones((1, 1, 3, 4), "float32")])
        model.get_layer("head").set_weights(head)
        return model

    images = rng.uniform(-1, 1, (2, 6, 6, 3)).astype("float32")
    classes = np.array([[0, 2], [1, 0]])
    grouped = Explainer(build(True), stage_layers=["relu"])
    twin = Explainer(build(False), stage_layers=["relu"])
    for rule in ("guided", "deconvnet"):
        got = input_gradients(grouped, images, classes, rule)
        expected = input_gradients(twin, images, classes, rule)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        assert np.abs(got).max() > 0
    got = LayerProjections(grouped).project(images, {"relu": [0, 3]})["relu"]
    expected = LayerProjections(twin).project(images, {"relu": [0, 3]})["relu"]
    for mine, theirs in zip(got, expected):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("gate", ["sigmoid", "hard_sigmoid"])
def test_plain_gradients_beside_guided_ones_run_through_se_gates(gate):
    """Saliency, Guided Backprop and DeConvNet in one call (plain and modified passes side by
    side): the plain gradient must still run through the SE gate (held constant only for the
    modified rules), and each method must equal itself computed alone."""
    model = _se_model(gate)
    images = np.random.default_rng(2).uniform(-1, 1, (2, 4, 4, 3)).astype("float32")
    classes = np.array([[0, 2], [1, 0]])
    expected = np.stack([_tf_plain_gradient(model, images, c) for c in range(3)], axis=1)
    expected = np.take_along_axis(expected, classes[:, :, None, None, None], axis=1)
    methods = (Saliency(), GuidedBackprop(), DeConvNet())
    explainer = Explainer(model, target_layer="excite")
    together = explainer.explain(images, classes=classes, methods=methods)
    alone = {m.slug: explainer.explain(images, classes=classes, methods=(m,)) for m in methods}
    for method in methods:
        np.testing.assert_allclose(
            together.methods[method.slug].maps,
            alone[method.slug].methods[method.slug].maps,
            rtol=1e-5,
            atol=1e-7,
        )
    np.testing.assert_allclose(
        together.methods["saliency"].maps, np.abs(expected).max(axis=-1), rtol=1e-4, atol=1e-6
    )
    # The gate matters here: holding it would change the plain gradient.
    held = together.methods["guided-backprop"].maps
    assert not np.allclose(np.abs(expected).max(axis=-1), np.abs(held).max(axis=-1))
