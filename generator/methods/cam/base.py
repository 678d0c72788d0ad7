"""The work every channel-weighted CAM shares (pytorch-grad-cam's BaseCAM idea).

A CAM weights the K channels of the target tensor per class, sums them, keeps the positive
part and scales it to the input: `ChannelWeightedCAM` does all of that once; each CAM method
only says how its channel weights come from the activations and the class gradients.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from generator.methods.base import (
    Activations,
    Attribution,
    Context,
    HeadGradients,
    Method,
    Passes,
)
from generator.methods.families import CLASS_MAPS


def upsampled_unit(cam: tf.Tensor, size: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(maps (N, K, H, W) scaled so each peak is 1, has_evidence (N, K)) from (N, K, h, w) >= 0.

    Bilinear upsampling to the input size; a map without positive evidence stays all zero.
    """
    shape = tf.shape(cam)
    flat = tf.reshape(cam, tf.concat([[-1], shape[2:4], [1]], axis=0))
    upsampled = tf.image.resize(flat, size, method="bilinear")
    upsampled = tf.reshape(upsampled, tf.concat([shape[:2], size], axis=0))
    peak = tf.reduce_max(upsampled, axis=(2, 3), keepdims=True)
    return tf.math.divide_no_nan(upsampled, peak), peak[:, :, 0, 0] > 0


class ChannelWeightedCAM(Method):
    """ReLU(sum_c w_c^k A_c) at Grad-CAM's target tensor; subclasses define `weights`."""

    kind = "class map"
    display = "heatmap"
    family = CLASS_MAPS
    at_target = True

    def needs(self, context: Context) -> tuple[Any, ...]:
        return (Activations(context.target), HeadGradients(context.target))

    def weights(self, activations: tf.Tensor, gradients: tf.Tensor) -> tf.Tensor:
        """(N, K, c) channel weights from activations (N, h, w, c) and gradients (N, K, h, w, c)."""
        raise NotImplementedError

    def compute(self, passes: Passes, context: Context) -> Attribution:
        activations = passes[Activations(context.target)]
        weights = self.weights(activations, passes[HeadGradients(context.target)])
        cam = tf.nn.relu(tf.einsum("nkc,nhwc->nkhw", weights, activations))
        maps, has_evidence = upsampled_unit(cam, tf.shape(passes.images)[1:3])
        return Attribution(maps, {"has_evidence": has_evidence})
