"""Occlusion sensitivity (Zeiler & Fergus 2014): how much a class's logit drops when a grey
window hides each part of the image.

The window is square in fractions of the input (a quarter of each side by default) and visits
`positions` x `positions` places spread evenly from corner to corner, so every pixel is covered
at least once. One batch of occluded copies per image is run forward once; its logits serve every
explained class. A pixel's value is the mean drop over the windows that cover it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from generator.methods.base import (
    Attribution,
    Context,
    Logits,
    Method,
    Paper,
    Passes,
    References,
)
from generator.methods.families import ATTRIBUTIONS


def window_bands(side: int, window: float, stride: float) -> np.ndarray:
    """(positions, side) 0/1 rows: where each window position covers one side of the input.

    The window is `round(window * side)` pixels wide; `round((1 - window) / stride) + 1`
    positions are spread evenly from one edge to the other (so the actual stride is as close
    to `stride * side` as whole pixels allow, and the last window ends at the edge).
    """
    width = min(side, max(1, round(window * side)))
    positions = max(1, round((1 - window) / stride) + 1) if width < side else 1
    starts = np.rint(np.linspace(0, side - width, positions)).astype(int)
    bands = np.zeros((positions, side), np.float32)
    for row, start in enumerate(starts):
        bands[row, start : start + width] = 1.0
    return bands


def _bands_of(images: tf.Tensor, window: float, stride: float) -> tuple[np.ndarray, np.ndarray]:
    """Row bands (P, H) and column bands (Q, W) for images of (N, H, W, 3)."""
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None:
        raise ValueError("occlusion needs images of a known size (the model's input size)")
    return window_bands(height, window, stride), window_bands(width, window, stride)


@dataclass(frozen=True)
class OccludedCopies:
    """An input maker: P x Q copies of each image, copy (i, j) with the grey photo's pixels in
    window (i, j), in row-major order."""

    window: float
    stride: float

    def count(self, height: int, width: int) -> int:
        return len(window_bands(height, self.window, self.stride)) * len(
            window_bands(width, self.window, self.stride)
        )

    def describe(self) -> str:
        return f"occluded copies (window = {self.window:g}, stride = {self.stride:g})"

    def make(self, images: tf.Tensor, references: References, results: Mapping) -> tf.Tensor:
        rows, columns = _bands_of(images, self.window, self.stride)
        masks = np.einsum("ph,qw->pqhw", rows, columns).reshape(-1, rows.shape[1], columns.shape[1])
        masks = tf.constant(masks[None, :, :, :, None])  # (1, S, H, W, 1)
        return images[:, None] * (1.0 - masks) + references.grey[:, None] * masks


@dataclass(frozen=True)
class Occlusion(Method):
    slug = "occlusion"
    title = "Occlusion sensitivity"
    paper = Paper(
        "M. D. Zeiler, R. Fergus",
        2014,
        "Visualizing and Understanding Convolutional Networks",
        "ECCV",
        "https://arxiv.org/abs/1311.2901",
    )
    kind = "input attribution"
    display = "signed"
    family = ATTRIBUTIONS
    many_passes = True

    window: float = 0.25  # the window's side, as a fraction of the input's side
    stride: float = 0.125  # the step between windows, as a fraction of the input's side

    def __post_init__(self) -> None:
        if not 0 < self.window <= 1 or not 0 < self.stride <= 1:
            raise ValueError(
                f"occlusion window and stride are fractions of the input side in (0, 1], "
                f"got window={self.window}, stride={self.stride}"
            )

    def _copies(self) -> OccludedCopies:
        return OccludedCopies(self.window, self.stride)

    def needs(self, context: Context) -> tuple[Any, ...]:
        return (Logits(self._copies()),)

    def compute(self, passes: Passes, context: Context) -> Attribution:
        rows, columns = _bands_of(passes.images, self.window, self.stride)
        classes = passes.classes[:, : context.classes]  # (N, k)
        original = tf.gather(passes.logits, classes, batch_dims=1)  # (N, k)
        occluded = passes[Logits(self._copies())].logits  # (N, P*Q, C)
        occluded = tf.gather(occluded, classes, axis=2, batch_dims=1)  # (N, P*Q, k)
        drops = original[:, None] - occluded
        drops = tf.reshape(drops, (-1, rows.shape[0], columns.shape[0], context.classes))
        summed = tf.einsum("npqk,ph,qw->nkhw", drops, rows, columns)
        coverage = np.outer(rows.sum(axis=0), columns.sum(axis=0))  # windows over each pixel
        return Attribution(summed / coverage)
