"""The model card's figures: learned filters and feature maps.

First-layer kernels in colour, deeper kernels in grey around zero (spatial, depthwise), 1x1
channel-mixing matrices, and activations on one shared scale: what a layer has learned and what
it responds to, each with its scale drawn in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from generator.render.layout import colour_legend, labelled_grid, stack
from generator.render.pixels import (
    DIVERGING_COLORMAP,
    TINY,
    colormap_rgb,
    minmax_unit,
    symmetric_unit,
    to_uint8,
)

FEATURE_COLORMAP = "viridis"


def feature_scale(low: float, high: float) -> str:
    """The caption's words for a feature-map grid's shared colour scale."""
    return f"one colour scale for all tiles, viridis: dark blue = {low:.3g}, yellow = {high:.3g}"


def rgb_filter_grid(kernels: np.ndarray, columns: int = 16, tile_size: int = 28) -> Image.Image:
    """First-layer kernels (out, kh, kw, 3) as colour tiles, each min-max scaled on its own."""
    tiles = [to_uint8(minmax_unit(kernel)) for kernel in kernels]
    return labelled_grid(tiles, columns=min(columns, len(tiles)), tile_size=tile_size)


def _weight_legend(colormap: str, width: int) -> Image.Image:
    """The scale of a filter picture whose zero is the middle colour."""
    return colour_legend(
        "negative", "positive", colormap, max(160, min(256, width)), "weight", middle_label="0"
    )


def spatial_filter_grid(kernels: np.ndarray, tile_size: int = 32) -> Image.Image:
    """Deeper kernels (out, in, kh, kw): one row per output filter, one column per input channel
    (numbered above), with the grey scale below.

    Grayscale, symmetric around zero (mid-grey = 0) on one scale per output filter, so the
    relative weight of each input channel stays readable.
    """
    outputs, inputs = kernels.shape[:2]
    tiles: list[np.ndarray] = []
    for kernel in kernels:
        scale = float(np.abs(kernel).max())
        tiles.extend(to_uint8(symmetric_unit(k, scale if scale > 0 else None)) for k in kernel)
    grid = labelled_grid(
        tiles,
        columns=inputs,
        tile_size=tile_size,
        row_labels=[f"filter {i}" for i in range(outputs)],
        column_labels=[str(i) for i in range(inputs)],
        row_label_width=80,
    )
    return stack([grid, _weight_legend("gray", grid.width - 16)], gap=4, margin=2)


def depthwise_filter_grid(
    kernels: np.ndarray, columns: int = 16, tile_size: int = 28
) -> Image.Image:
    """Depthwise kernels (channels, kh, kw), one grayscale tile per channel, zero at mid-grey,
    with the grey scale below."""
    tiles = [to_uint8(symmetric_unit(k)) for k in kernels]
    labels = [str(i) for i in range(len(tiles))]
    grid = labelled_grid(
        tiles, columns=min(columns, len(tiles)), labels=labels, tile_size=tile_size
    )
    return stack([grid, _weight_legend("gray", grid.width - 16)], gap=4, margin=2)


def pointwise_matrix(matrix: np.ndarray, max_size: int = 64, cell: int = 6) -> Image.Image:
    """A 1x1 convolution's (out, in) channel-mixing matrix, blue negative / red positive, with
    that scale below."""
    shown = matrix[:max_size, :max_size]
    pixels = colormap_rgb(symmetric_unit(shown), DIVERGING_COLORMAP)
    picture = Image.fromarray(pixels).resize(
        (shown.shape[1] * cell, shown.shape[0] * cell), Image.Resampling.NEAREST
    )
    legend = _weight_legend(DIVERGING_COLORMAP, picture.width)
    return stack([picture, legend], gap=6, margin=2)


def feature_map_grid(
    maps: np.ndarray,
    channels: Sequence[int] | np.ndarray,
    scale: tuple[float, float],
    columns: int = 4,
) -> Image.Image:
    """(n, h, w) activations on ONE shared colour scale, each tile labelled with its channel,
    with that scale drawn below. Four columns keep the labels readable on a phone."""
    low, high = scale
    span = high - low if high - low > TINY else 1.0
    tiles = [colormap_rgb((m - low) / span, FEATURE_COLORMAP) for m in maps]
    size = max(96, min(128, maps.shape[1] * 4))
    labels = [f"ch {c}" for c in channels]
    grid = labelled_grid(tiles, columns=min(columns, len(tiles)), labels=labels, tile_size=size)
    legend = colour_legend(
        f"{low:.3g}",
        f"{high:.3g}",
        FEATURE_COLORMAP,
        width=min(320, grid.width - 12),
        title="activation, one scale for all tiles",
    )
    return stack([grid, legend], gap=4, margin=2)
