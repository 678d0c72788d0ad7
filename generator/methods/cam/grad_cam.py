"""Grad-CAM (Selvaraju et al. 2017): channel weights are the class gradient's spatial mean."""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from generator.methods.base import Paper
from generator.methods.cam.base import ChannelWeightedCAM


@dataclass(frozen=True)
class GradCAM(ChannelWeightedCAM):
    slug = "grad-cam"
    title = "Grad-CAM"
    paper = Paper(
        "R. R. Selvaraju, M. Cogswell, A. Das, R. Vedantam, D. Parikh, D. Batra",
        2017,
        "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization",
        "ICCV",
        "https://arxiv.org/abs/1610.02391",
    )

    def weights(self, activations: tf.Tensor, gradients: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(gradients, axis=(2, 3))
