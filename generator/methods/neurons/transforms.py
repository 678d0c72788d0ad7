"""Seeded random transformations applied at every optimisation step.

An image that excites a unit only at one exact position, scale and angle is an adversarial
pattern, not a feature. So, as in the Distill article (Olah, Mordvintsev & Schubert 2017), each
step sees the image padded with grey, then moved by a random translation, scaled and rotated by
random amounts: what survives is what the unit responds to wherever it appears. The three are
one affine map per image, applied by one bilinear resampling op in the graph. The random
numbers are stateless, drawn from (seed, step): two runs with the same seed see the same
transformations, so they give byte-identical pictures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf

GREY = 127.5  # the padding's pixel value (0-255)


@dataclass(frozen=True)
class Transformations:
    """Random transformations, in fractions of the image's side and in degrees."""

    pad: float = 0.05  # grey border added on every side
    jitter: float = 0.04  # translation, uniform in +-jitter
    scale: tuple[float, float] = (0.9, 1.1)  # zoom factor, uniform in this range
    rotation: float = 10.0  # degrees, uniform in +-rotation
    # The side the model sees is rounded up to a multiple of this (more grey border): NASNet's
    # two branches meet only where every stride divides the side (`size_multiple`).
    multiple: int = 1

    def seen_side(self, size: int) -> int:
        """The side of what the model sees of an image of side `size`."""
        return rounded_up(size + 2 * round(self.pad * size), self.multiple)

    def describe(self) -> str:
        """The settings in words, for a caption or the methods page."""
        return (
            f"padded by {self.pad:.0%} grey, then jittered by up to {self.jitter:.0%}, "
            f"scaled by {self.scale[0]:g}-{self.scale[1]:g} and rotated by up to "
            f"±{self.rotation:g}° at every step"
        )


def rounded_up(side: int, multiple: int) -> int:
    """`side` rounded up to a multiple of `multiple`."""
    return -(-side // multiple) * multiple


DEFAULT = Transformations()
NONE = Transformations(pad=0.0, jitter=0.0, scale=(1.0, 1.0), rotation=0.0)


def transform(
    images: tf.Tensor, transformations: Transformations, seed: tf.Tensor, step: tf.Tensor
) -> tf.Tensor:
    """`images` (batch, size, size, 3; 0-255) padded and randomly moved, scaled and rotated,
    each image by its own draw from (seed, step); (batch, size + 2 pad, ..., 3). The seed and
    step are tensors, so a compiled step is traced once whatever their values."""
    size = int(images.shape[1])
    side = transformations.seen_side(size)
    batch = tf.shape(images)[0]
    key = tf.stack([tf.cast(seed, tf.int64), tf.cast(step, tf.int64)])
    uniform = tf.random.stateless_uniform((batch, 4), seed=key, minval=-1.0, maxval=1.0)
    shift = uniform[:, :2] * transformations.jitter * size
    low, high = transformations.scale
    zoom = (low + high) / 2 + uniform[:, 2] * (high - low) / 2
    angle = uniform[:, 3] * transformations.rotation * math.pi / 180
    # The op maps each output pixel to the input pixel it samples: the inverse of "rotate by
    # `angle` and zoom by `zoom` about the centre, then shift"; the output is `side` wide, and
    # what falls outside the image is grey (the padding, without a separate op).
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    ox, oy = (side - 1) / 2 + shift[:, 0], (side - 1) / 2 + shift[:, 1]
    centre = (size - 1) / 2
    a0, a1 = cos, sin
    b0, b1 = -sin, cos
    a2 = centre - a0 * ox - a1 * oy
    b2 = centre - b0 * ox - b1 * oy
    zeros = tf.zeros_like(cos)
    matrices = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=matrices,
        output_shape=tf.constant([side, side]),
        fill_value=GREY,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
