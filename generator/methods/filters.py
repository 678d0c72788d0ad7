"""Learned convolution kernels as arrays, chosen and arranged for display.

The first convolution sees RGB pixels, so its kernels can be shown as colour images. Deeper
kernels mix many channels: a few of them are shown per input channel. Depthwise kernels have one
spatial filter per channel; 1x1 (pointwise) kernels have no spatial pattern at all, only a
channel-mixing matrix, so they are returned as that matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import keras
import numpy as np

from generator.methods.layers import iter_layers

FilterKind = Literal["rgb", "spatial", "depthwise", "pointwise"]


@dataclass(frozen=True)
class FilterSet:
    """Kernels of one layer, in the layout its `kind` implies.

    rgb:       (out, kh, kw, 3)          one colour tile per output channel
    spatial:   (out, in, kh, kw)         a few outputs x a few input channels
    depthwise: (channels, kh, kw)        one spatial tile per channel
    pointwise: (out, in)                 the 1x1 channel-mixing matrix
    """

    layer: str
    kind: FilterKind
    kernels: np.ndarray
    kernel_shape: tuple[int, ...]  # the layer's full kernel shape, for captions


def _conv_kernel(layer: keras.layers.Layer) -> np.ndarray | None:
    """The spatial kernel (kh, kw, in, out-or-multiplier) of a convolution layer, else None."""
    if isinstance(layer, keras.layers.SeparableConv2D):
        return np.asarray(layer.depthwise_kernel)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return np.asarray(layer.kernel)
    if isinstance(layer, keras.layers.Conv2D):
        return np.asarray(layer.kernel)
    return None


def _kernel(layer: keras.layers.Layer) -> np.ndarray:
    """The kernel of a layer `conv_layers` returned (it returns only layers that have one)."""
    kernel = _conv_kernel(layer)
    assert kernel is not None, f"{layer.name} is not one of `conv_layers`"
    return kernel


def _is_depthwise(layer: keras.layers.Layer) -> bool:
    return isinstance(layer, (keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D))


def conv_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """All 2-D convolution layers (regular, depthwise, separable), in graph order."""
    return [layer for layer in iter_layers(model) if _conv_kernel(layer) is not None]


def first_layer_filters(model: keras.Model) -> FilterSet:
    """The kernels of the first convolution that reads the 3 colour channels."""
    for layer in conv_layers(model):
        kernel = _kernel(layer)
        if kernel.shape[2] == 3 and not _is_depthwise(layer):
            return FilterSet(
                layer.name, "rgb", np.transpose(kernel, (3, 0, 1, 2)), tuple(kernel.shape)
            )
    raise ValueError(f"model {model.name!r} has no convolution over the 3 input colour channels")


def layer_filters(
    layer: keras.layers.Layer, max_outputs: int = 8, max_inputs: int = 8, max_channels: int = 64
) -> FilterSet:
    """The kernels of a deeper convolution, cut to what a page can show."""
    kernel = _conv_kernel(layer)
    if kernel is None:
        raise ValueError(f"layer {layer.name!r} is not a 2-D convolution")
    shape = tuple(kernel.shape)
    height, width, _, _ = shape
    if _is_depthwise(layer):
        # (kh, kw, channels, multiplier): the first filter of each channel.
        tiles = np.transpose(kernel[:, :, :max_channels, 0], (2, 0, 1))
        return FilterSet(layer.name, "depthwise", tiles, shape)
    if height == 1 and width == 1:
        return FilterSet(layer.name, "pointwise", kernel[0, 0].T, shape)
    tiles = np.transpose(kernel[:, :, :max_inputs, :max_outputs], (3, 2, 0, 1))
    return FilterSet(layer.name, "spatial", tiles, shape)


def deeper_filter_layers(model: keras.Model, count: int = 3) -> list[keras.layers.Layer]:
    """`count` convolutions spread evenly through the network after the first, the last included.

    Layers with spatial kernels (larger than 1x1) are preferred, since they show a pattern;
    a network with too few of them is filled with 1x1 layers.
    """
    layers = conv_layers(model)[1:]
    spatial = [layer for layer in layers if _kernel(layer).shape[:2] != (1, 1)]
    pool = spatial if len(spatial) >= count else layers
    if len(pool) <= count:
        return pool
    positions = np.linspace(0, len(pool) - 1, count + 1)[1:]
    return [pool[round(p)] for p in positions]
