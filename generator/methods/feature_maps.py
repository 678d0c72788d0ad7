"""Which channels of a layer's activation to show, and on what scale.

The activations themselves come from the explainer's single forward pass (nothing is computed
twice); this module only selects from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FeatureMaps:
    """The strongest channels of one layer for one image, sharing one colour scale."""

    layer: str
    channels: np.ndarray  # (n,) channel indices, strongest first
    maps: np.ndarray  # (n, h, w) activations of those channels
    mean_activation: np.ndarray  # (n,) the ranking score of each channel
    scale: tuple[float, float]  # (low, high) shared by every map, for one colour legend


def strongest_channels(activation: np.ndarray, layer: str, count: int = 16) -> FeatureMaps:
    """The `count` channels of an (h, w, c) activation with the highest mean activation.

    Ties are broken by channel index, so the choice is deterministic.
    """
    activation = np.asarray(activation, dtype=np.float32)
    if activation.ndim != 3:
        raise ValueError(f"expected an (h, w, channels) activation, got shape {activation.shape}")
    means = activation.mean(axis=(0, 1))
    order = np.lexsort((np.arange(means.size), -means))[:count]
    maps = np.transpose(activation[:, :, order], (2, 0, 1))
    low, high = float(maps.min()), float(maps.max())
    return FeatureMaps(layer, order, maps, means[order], (low, high))
