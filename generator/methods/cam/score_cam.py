"""Score-CAM (Wang et al. 2020): channel weights from how much the class logit keeps when the
photo is seen only through each channel's activation map, with no gradients at all.

One set of masked forward passes per image (one per used channel) serves every class: the
masks depend on the image only, and each pass gives the logits of all classes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from generator.methods.base import (
    Activations,
    Attribution,
    Context,
    Logits,
    Method,
    Paper,
    Passes,
    References,
)
from generator.methods.cam.base import upsampled_unit
from generator.methods.families import CLASS_MAPS


def strongest_channels(activations: tf.Tensor, cap: int) -> tf.Tensor:
    """(N, m) indices of the m = min(cap, c) channels with the largest mean activation."""
    count = min(cap, int(activations.shape[-1]))
    return tf.math.top_k(tf.reduce_mean(activations, axis=(1, 2)), k=count).indices


@dataclass(frozen=True)
class ChannelMasks:
    """The photo seen through each of the `channels` strongest channels of `tensor`: the
    channel's map upsampled to the input and min-max scaled to [0, 1] is the mask m, and the
    masked input is black + m (x - black), the photo times m in pixel space. (N, m, H, W, 3)."""

    tensor: str
    channels: int

    def count(self, height: int, width: int) -> int:
        return self.channels  # at most: fewer when the tensor has fewer channels

    def describe(self) -> str:
        return f"channel masks (tensor = {self.tensor}, channels = {self.channels})"

    def make(self, images: tf.Tensor, references: References, results: Mapping) -> tf.Tensor:
        activations = results[Activations(self.tensor)]  # (N, h, w, c)
        chosen = tf.gather(
            activations, strongest_channels(activations, self.channels), axis=3, batch_dims=1
        )  # (N, h, w, m)
        masks = tf.image.resize(chosen, tf.shape(images)[1:3], method="bilinear")
        low = tf.reduce_min(masks, axis=(1, 2), keepdims=True)
        high = tf.reduce_max(masks, axis=(1, 2), keepdims=True)
        masks = tf.math.divide_no_nan(masks - low, high - low)  # (N, H, W, m)
        masks = tf.transpose(masks, (0, 3, 1, 2))[..., None]  # (N, m, H, W, 1)
        black = references.black[:, None]
        return black + masks * (images[:, None] - black)


@dataclass(frozen=True)
class ScoreCAM(Method):
    slug = "score-cam"
    title = "Score-CAM"
    paper = Paper(
        "H. Wang, Z. Wang, M. Du, F. Yang, Z. Zhang, S. Ding, P. Mardziel, X. Hu",
        2020,
        "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural Networks",
        "CVPR workshops",
        "https://arxiv.org/abs/1910.01279",
    )
    kind = "class map"
    display = "heatmap"
    family = CLASS_MAPS
    many_passes = True
    at_target = True
    # The masked passes cost one forward pass each: capped at the 64 strongest channels (by mean
    # activation), which carry most of the map, instead of all 1280-2048 of a last stage.
    channels: int = 64

    def needs(self, context: Context) -> tuple[Any, ...]:
        return (Activations(context.target), Logits(self._masks(context)))

    def compute(self, passes: Passes, context: Context) -> Attribution:
        """ReLU(sum_c w_c A_c) over the used channels, w = softmax over channels of the class
        logit of each masked input (upsampled and scaled to peak 1)."""
        activations = passes[Activations(context.target)]
        chosen = tf.gather(
            activations, strongest_channels(activations, self.channels), axis=3, batch_dims=1
        )  # (N, h, w, m)
        masked_logits = passes[Logits(self._masks(context))].logits  # (N, m, C)
        classes = passes.classes[:, : context.classes]
        scores = tf.gather(masked_logits, classes, axis=2, batch_dims=1)  # (N, m, k)
        weights = tf.nn.softmax(scores, axis=1)
        cam = tf.nn.relu(tf.einsum("nmk,nhwm->nkhw", weights, chosen))
        maps, has_evidence = upsampled_unit(cam, tf.shape(passes.images)[1:3])
        return Attribution(maps, {"has_evidence": has_evidence})

    def _masks(self, context: Context) -> ChannelMasks:
        if self.channels < 1:
            raise ValueError(f"score-cam channels must be at least 1, got {self.channels}")
        return ChannelMasks(context.target, self.channels)
