"""Arrays to pixels: values to uint8, to grey around zero, to a colour map, over a photo.

The conversions every figure shares, so a value means the same colour in every picture; nothing
here lays out or writes text.
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps

HEATMAP_COLORMAP = "inferno"  # perceptually uniform, readable in grayscale print
DIVERGING_COLORMAP = "RdBu_r"
# Gradients of random deep networks can be ~1e-13: only an exact zero range counts as constant.
TINY = float(np.finfo(np.float32).tiny)


def to_uint8(unit: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to uint8, clipping anything outside."""
    return np.round(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)


def minmax_unit(array: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] by the array's own range; a constant array becomes mid-grey."""
    array = np.asarray(array, dtype=np.float32)
    low, high = float(array.min()), float(array.max())
    if not high - low > TINY:
        return np.full_like(array, 0.5)
    return (array - low) / (high - low)


def symmetric_unit(array: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Map to [0, 1] with zero at 0.5, so sign stays visible (0 = most negative)."""
    array = np.asarray(array, dtype=np.float32)
    scale = float(np.abs(array).max()) if scale is None else scale
    if not scale > TINY:
        return np.full_like(array, 0.5)
    return 0.5 + 0.5 * array / scale


def gradient_image(gradient: np.ndarray) -> np.ndarray:
    """Display an input-space gradient (H, W, 3): centred on grey, scaled by its 99.5th percentile.

    The percentile (not the max) keeps a few extreme pixels from washing the rest out.
    """
    gradient = np.asarray(gradient, dtype=np.float32)
    scale = float(np.percentile(np.abs(gradient), 99.5))
    return to_uint8(symmetric_unit(gradient, scale if scale > TINY else None))


def colormap_rgb(unit: np.ndarray, name: str = HEATMAP_COLORMAP) -> np.ndarray:
    """Apply a matplotlib colormap to values in [0, 1]; returns uint8 RGB."""
    rgba = colormaps[name](np.clip(unit, 0.0, 1.0))
    return to_uint8(rgba[..., :3])


def heatmap_overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a [0, 1] heat map (H, W) over a uint8 RGB image of the same size."""
    coloured = colormap_rgb(heat).astype(np.float32)
    blended = (1.0 - alpha) * image.astype(np.float32) + alpha * coloured
    return np.round(blended).astype(np.uint8)
