"""How alike two explanation maps are, and the one importance map each display kind reduces to.

numpy only (no TensorFlow, no scipy: scipy is a test dependency of the project), so pages and
tests can compare stored maps without a model framework. Both measures compare absolute values,
as Adebayo et al. (2018) do: a map whose sign flips under randomization still shows the same
places.
"""

from __future__ import annotations

import numpy as np

# Wang et al. (2004): an 11x11 Gaussian window of standard deviation 1.5, K1 = 0.01, K2 = 0.03.
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
_K1, _K2 = 0.01, 0.03


def importance(maps: np.ndarray, display: str) -> np.ndarray:
    """(..., H, W) importance of a method's maps, read by their display kind
    (`display.Display`): leading axes are kept.

    "heatmap", "magnitude" and "signed" are already one map per class ("signed" keeps its
    sign: positive is evidence for the class, removed first); "gradient" (..., H, W, 3) is the
    sum of absolute values over the colour axis; "heatmaps by layer" (..., L, H, W) is the mean
    over layers, the fused map.
    """
    maps = np.asarray(maps, dtype=np.float32)
    if display in ("heatmap", "magnitude", "signed"):
        return maps
    if display == "gradient":
        return np.abs(maps).sum(axis=-1)
    if display == "heatmaps by layer":
        return maps.mean(axis=-3)
    raise ValueError(f"unknown display kind {display!r}")


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of |a| and |b| (flattened), ties given their average rank.
    A constant map ranks nothing: 0.0, not NaN."""
    x, y = _ranks(np.abs(a).ravel()), _ranks(np.abs(b).ravel())
    if x.shape != y.shape:
        raise ValueError(f"maps differ in size: {np.shape(a)} and {np.shape(b)}")
    x, y = x - x.mean(), y - y.mean()
    spread = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / spread) if spread > 0 else 0.0


def _ranks(values: np.ndarray) -> np.ndarray:
    """0-based ranks of `values`, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sizes = np.diff(np.r_[starts, len(values)])
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(starts + (sizes - 1) / 2, sizes)
    return ranks


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004) of two (H, W) maps' absolute values, each scaled
    to [0, 1] by its own maximum (an all-zero map stays zero), data range 1.

    The Gaussian window is 11x11 with standard deviation 1.5, as in the paper, clipped to the
    largest odd size that fits the map; statistics are taken over full windows only (the
    paper's "valid" filtering) and the SSIM map is averaged.
    """
    if np.ndim(a) != 2 or np.shape(a) != np.shape(b):
        raise ValueError(f"ssim compares two (H, W) maps, got {np.shape(a)} and {np.shape(b)}")
    x, y = _unit(a), _unit(b)
    size = min(SSIM_WINDOW, *((side - 1) | 1 for side in x.shape))
    offsets = np.arange(size) - (size - 1) / 2
    window = np.exp(-0.5 * (offsets / SSIM_SIGMA) ** 2)
    window /= window.sum()

    def local_mean(values: np.ndarray) -> np.ndarray:
        rows = np.lib.stride_tricks.sliding_window_view(values, size, axis=0) @ window
        return np.lib.stride_tricks.sliding_window_view(rows, size, axis=1) @ window

    mean_x, mean_y = local_mean(x), local_mean(y)
    var_x = local_mean(x * x) - mean_x**2
    var_y = local_mean(y * y) - mean_y**2
    covariance = local_mean(x * y) - mean_x * mean_y
    c1, c2 = _K1**2, _K2**2
    similarity = ((2 * mean_x * mean_y + c1) * (2 * covariance + c2)) / (
        (mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2)
    )
    return float(similarity.mean())


def _unit(values: np.ndarray) -> np.ndarray:
    """|values| scaled so that the largest is 1; all zeros stay zeros."""
    magnitude = np.abs(np.asarray(values, dtype=np.float64))
    peak = magnitude.max()
    return magnitude / peak if peak > 0 else magnitude
