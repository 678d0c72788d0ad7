"""Filter extraction and feature-map selection on small models with known weights."""

from pathlib import Path

import keras
import numpy as np
import pytest

from generator.methods.feature_maps import strongest_channels
from generator.methods.filters import deeper_filter_layers, first_layer_filters, layer_filters

SHARED_WEIGHTS = (
    Path(__file__).resolve().parents[2] / "shared/weights/mobilenet_2_5_224_tf_no_top.h5"
)


def _model_with_known_kernels():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, name="first")(inputs)
    x = keras.layers.DepthwiseConv2D(3, name="dw")(x)
    x = keras.layers.Conv2D(5, 1, name="pw")(x)
    x = keras.layers.Conv2D(6, 3, name="deep")(x)
    model = keras.Model(inputs, x)
    rng = np.random.default_rng(0)
    for layer in model.layers[1:]:
        layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()])
    return model


def test_first_layer_filters_are_the_rgb_kernels_per_output():
    model = _model_with_known_kernels()
    filters = first_layer_filters(model)
    kernel = model.get_layer("first").kernel.numpy()  # (3, 3, 3, 4)
    assert filters.kind == "rgb" and filters.layer == "first"
    assert filters.kernels.shape == (4, 3, 3, 3)
    for out in range(4):
        np.testing.assert_array_equal(filters.kernels[out], kernel[:, :, :, out])


def test_depthwise_pointwise_and_spatial_layouts():
    model = _model_with_known_kernels()
    dw = layer_filters(model.get_layer("dw"))
    kernel = model.get_layer("dw").kernel.numpy()  # (3, 3, 4, 1)
    assert dw.kind == "depthwise"
    np.testing.assert_array_equal(dw.kernels[2], kernel[:, :, 2, 0])

    pw = layer_filters(model.get_layer("pw"))
    matrix = model.get_layer("pw").kernel.numpy()[0, 0]  # (in 4, out 5)
    assert pw.kind == "pointwise" and pw.kernels.shape == (5, 4)
    assert pw.kernels[3, 1] == matrix[1, 3]

    deep = layer_filters(model.get_layer("deep"), max_outputs=2, max_inputs=3)
    kernel = model.get_layer("deep").kernel.numpy()  # (3, 3, 5, 6)
    assert deep.kind == "spatial" and deep.kernels.shape == (2, 3, 3, 3)
    np.testing.assert_array_equal(deep.kernels[1, 2], kernel[:, :, 2, 1])


def test_deeper_filter_layers_prefer_spatial_kernels_and_include_the_last():
    model = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3))
    chosen = deeper_filter_layers(model, count=3)
    assert len(chosen) == 3
    assert all(layer.kernel_size != (1, 1) for layer in chosen)
    assert chosen[-1].name == "block_16_depthwise"


def test_strongest_channels_ranks_by_mean_and_shares_one_scale():
    activation = np.zeros((4, 4, 6), dtype=np.float32)
    activation[..., 4] = 3.0
    activation[0, 0, 1] = 40.0  # mean 2.5: second
    activation[..., 2] = 1.0
    maps = strongest_channels(activation, "layer", count=3)
    assert list(maps.channels) == [4, 1, 2]
    np.testing.assert_allclose(maps.mean_activation, [3.0, 2.5, 1.0])
    np.testing.assert_array_equal(maps.maps[1], activation[..., 1])
    assert maps.scale == (0.0, 40.0)


def _roughness(kernels: np.ndarray) -> float:
    """Mean neighbour difference over the kernels' own spread: low for smooth filters."""
    kernels = kernels / (kernels.std(axis=(1, 2, 3), keepdims=True) + 1e-8)
    dx = np.abs(np.diff(kernels, axis=1)).mean()
    dy = np.abs(np.diff(kernels, axis=2)).mean()
    return float((dx + dy) / 2)


@pytest.mark.skipif(not SHARED_WEIGHTS.exists(), reason="shared ImageNet MobileNet weights absent")
def test_real_imagenet_first_layer_filters_are_smoother_than_random():
    """Learned first-layer filters are smooth colour/edge detectors; random ones are noise."""
    real = keras.applications.MobileNet(
        alpha=0.25, include_top=False, input_shape=(224, 224, 3), weights=str(SHARED_WEIGHTS)
    )
    real_filters = first_layer_filters(real).kernels
    keras.utils.set_random_seed(0)
    random = keras.applications.MobileNet(
        alpha=0.25, include_top=False, input_shape=(224, 224, 3), weights=None
    )
    random_filters = first_layer_filters(random).kernels
    assert real_filters.shape == random_filters.shape == (8, 3, 3, 3)
    assert _roughness(real_filters) < 0.75 * _roughness(random_filters)
