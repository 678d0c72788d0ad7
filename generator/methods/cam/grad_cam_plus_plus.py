"""Grad-CAM++ (Chattopadhay et al. 2018): each channel's weight sums its positive class gradients,
each gradient weighted by a closed-form alpha, so that several separate instances of a class
each count fully instead of being averaged away."""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from generator.methods.base import Paper
from generator.methods.cam.base import ChannelWeightedCAM


@dataclass(frozen=True)
class GradCAMPlusPlus(ChannelWeightedCAM):
    slug = "grad-cam-plus-plus"
    title = "Grad-CAM++"
    paper = Paper(
        "A. Chattopadhay, A. Sarkar, P. Howlader, V. N. Balasubramanian",
        2018,
        "Grad-CAM++: Generalized Gradient-Based Visual Explanations for Deep Convolutional "
        "Networks",
        "WACV",
        "https://arxiv.org/abs/1710.11063",
    )

    def weights(self, activations: tf.Tensor, gradients: tf.Tensor) -> tf.Tensor:
        """w_k = sum_ij alpha_ij ReLU(g_ij), alpha = g^2 / (2 g^2 + sum_ab A_ab g^3).

        The paper's closed form: with the class score taken as exp(logit), its second and third
        derivatives are the powers of the logit's first derivative g (the exp factor cancels in
        alpha and only scales w, which the map's normalisation removes). Where the denominator
        is 0 (g = 0), alpha is 0.
        """
        squared = tf.square(gradients)  # (N, K, h, w, c)
        totals = tf.reduce_sum(activations, axis=(1, 2))[:, None, None, None, :]  # (N, 1, 1, 1, c)
        alpha = tf.math.divide_no_nan(squared, 2.0 * squared + totals * squared * gradients)
        return tf.reduce_sum(alpha * tf.nn.relu(gradients), axis=(2, 3))
