"""Grad-CAM++, LayerCAM and Score-CAM against straightforward computations written out here:
one plain `tf.GradientTape` (or one model call) per class and per mask, and numpy for the rest,
on a tiny model with known random weights; and where their maps point on the learned
synthetic-shapes model (`shapes`)."""

import dataclasses

import keras
import numpy as np
import pytest
import shapes
import tensorflow as tf
from keras import layers
from shapes import peak_inside
from test_explain_analytic import _bilinear

from generator.methods.cam.grad_cam import GradCAM
from generator.methods.cam.grad_cam_plus_plus import GradCAMPlusPlus
from generator.methods.cam.layer_cam import LayerCAM
from generator.methods.cam.score_cam import ScoreCAM
from generator.methods.explain import Explainer
from generator.methods.layers import stage_outputs

SIZE = 6


def _tiny_model():
    """6x6 input -> 1x1 conv (stride 2, ReLU) "features" -> 3x3 conv (swish) "mix" -> GAP ->
    Dense(3): the class gradient at "features" varies from position to position."""
    rng = np.random.default_rng(21)
    features = layers.Conv2D(4, 1, strides=2, activation="relu", name="features")
    mix = layers.Conv2D(3, 3, padding="same", activation="swish", name="mix")
    gap = layers.GlobalAveragePooling2D()
    dense = layers.Dense(3, name="logits")
    inputs = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(inputs, dense(gap(mix(features(inputs)))))
    for layer in (features, mix, dense):
        layer.set_weights([rng.normal(0, 1, w.shape).astype("float32") for w in layer.weights])
    return model, features, lambda a: dense(gap(mix(a))), lambda a: dense(gap(a)), mix


def _images():
    return np.random.default_rng(5).uniform(-1, 1, (2, SIZE, SIZE, 3)).astype("float32")


def _gradient(head, value, c):
    """(h, w, c) gradient of class c's logit w.r.t. `value`, one plain tape for one class."""
    value = tf.constant(value[None])
    with tf.GradientTape() as tape:
        tape.watch(value)
        logit = head(value)[0, c]
    return tape.gradient(logit, value).numpy()[0].astype(float)


def _unit(cam):
    upsampled = _bilinear(np.maximum(cam, 0), SIZE, SIZE)
    return upsampled / upsampled.max() if upsampled.max() > 0 else upsampled


def _explain(model, method, classes, **explainer_options):
    explainer = Explainer(model, methods=(method,), **explainer_options)
    result = explainer.explain(_images(), classes=classes, many_passes_top=classes.shape[1])
    return result.methods[method.slug]


CLASSES = np.array([[0, 1, 2], [2, 0, 1]])


def test_grad_cam_plus_plus_matches_the_closed_form():
    model, features, head, _, _ = _tiny_model()
    got = _explain(model, GradCAMPlusPlus(), CLASSES, target_layer="features")
    grad_cam = _explain(model, GradCAM(), CLASSES, target_layer="features").maps
    for n, image in enumerate(_images()):
        activations = features(image[None]).numpy()[0].astype(float)  # (3, 3, 4)
        for k, c in enumerate(CLASSES[n]):
            g = _gradient(head, activations.astype("float32"), c)
            alpha = np.zeros_like(g)
            for index in np.ndindex(*g.shape):
                if g[index] != 0:
                    channel_sum = activations[..., index[2]].sum()
                    alpha[index] = g[index] ** 2 / (2 * g[index] ** 2 + channel_sum * g[index] ** 3)
            weights = (alpha * np.maximum(g, 0)).sum(axis=(0, 1))
            expected = _unit(activations @ weights)
            np.testing.assert_allclose(got.maps[n, k], expected, atol=1e-5)
            assert got.notes["has_evidence"][n, k] == (expected.max() > 0)
    # Position-dependent gradients make Grad-CAM++ a different map from Grad-CAM here.
    assert np.abs(got.maps - grad_cam).max() > 0.05


def test_layer_cam_matches_each_stage():
    model, features, head, after_mix, mix = _tiny_model()
    got = _explain(model, LayerCAM(), CLASSES, stage_layers=["features", "mix"])
    assert got.maps.shape == (2, 3, 2, SIZE, SIZE)
    for n, image in enumerate(_images()):
        first = features(image[None])
        second = mix(first)
        for k, c in enumerate(CLASSES[n]):
            for layer, (value, rest) in enumerate(((first, head), (second, after_mix))):
                value = value.numpy()[0]
                g = _gradient(rest, value, c)
                expected = _unit((np.maximum(g, 0) * value).sum(axis=-1))
                np.testing.assert_allclose(got.maps[n, k, layer], expected, atol=1e-5)
    # Without stages, LayerCAM reads Grad-CAM's target tensor ("mix", the last spatial one).
    alone = _explain(model, LayerCAM(), CLASSES)
    np.testing.assert_allclose(alone.maps[:, :, 0], got.maps[:, :, 1], atol=1e-6)


def test_score_cam_matches_masked_passes():
    model, features, _, _, _ = _tiny_model()

    def preprocess(photo):  # black is -1 in model space
        return photo / 127.5 - 1.0

    method = dataclasses.replace(ScoreCAM(), channels=3)
    got = _explain(model, method, CLASSES, target_layer="features", preprocess=preprocess)
    black = -np.ones((SIZE, SIZE, 3))
    for n, image in enumerate(_images()):
        activations = features(image[None]).numpy()[0].astype(float)
        used = np.argsort(-activations.mean(axis=(0, 1)))[:3]  # the cap: 3 of 4 channels
        masked = []
        for channel in used:
            mask = _bilinear(activations[..., channel], SIZE, SIZE)
            mask = (mask - mask.min()) / (mask.max() - mask.min())
            masked.append(black + mask[..., None] * (image - black))
        logits = model(np.array(masked, "float32")).numpy().astype(float)  # (3 masks, 3 classes)
        for k, c in enumerate(CLASSES[n]):
            weights = np.exp(logits[:, c] - logits[:, c].max())
            weights /= weights.sum()
            expected = _unit(activations[..., used] @ weights)
            np.testing.assert_allclose(got.maps[n, k], expected, atol=1e-5)
    # The default explains the top-1 class only (many passes), with at most 64 channels.
    assert ScoreCAM().many_passes and ScoreCAM().channels == 64


@pytest.fixture(scope="module")
def trained():
    return shapes.train()


def _hit_rate(maps, corners, labels):
    return np.mean([peak_inside(maps[i], corners[i, labels[i]]) for i in range(len(maps))])


def test_score_cam_peaks_inside_the_object(trained):
    model, images, labels, corners, _, _ = trained
    explainer = Explainer(model, methods=(ScoreCAM(),))
    assert explainer.target_layer == "top_conv"
    maps = explainer.explain(images, classes=labels[:, None]).methods["score-cam"].maps
    assert _hit_rate(maps[:, 0], corners, labels) >= 0.9


def test_layer_cam_peaks_inside_the_object_at_every_stage(trained):
    model, images, labels, corners, _, _ = trained
    stages = [stage.name for stage in stage_outputs(model)]
    assert len(stages) == 3  # 32x32, 16x16 and 8x8
    explainer = Explainer(model, stage_layers=stages, methods=(LayerCAM(),))
    maps = explainer.explain(images, classes=labels[:, None]).methods["layer-cam"].maps
    for layer in range(len(stages)):
        assert _hit_rate(maps[:, 0, layer], corners, labels) >= 0.9, stages[layer]
