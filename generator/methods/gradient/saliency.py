"""Vanilla gradient saliency (Simonyan, Vedaldi & Zisserman 2014): how strongly each pixel's
colour, changed a little, would change the class logit, as max over colour channels of
|d logit / d pixel| (the paper's map)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from generator.methods.base import Attribution, Context, InputGradients, Method, Paper, Passes
from generator.methods.families import GRADIENT_SIZE


@dataclass(frozen=True)
class Saliency(Method):
    slug = "saliency"
    title = "Gradient saliency"
    paper = Paper(
        "K. Simonyan, A. Vedaldi, A. Zisserman",
        2014,
        "Deep Inside Convolutional Networks: Visualising Image Classification Models and "
        "Saliency Maps",
        "ICLR workshop",
        "https://arxiv.org/abs/1312.6034",
    )
    kind = "input attribution"
    display = "magnitude"
    family = GRADIENT_SIZE

    def needs(self, context: Context) -> tuple[Any, ...]:
        return (InputGradients("plain", context.classes),)

    def compute(self, passes: Passes, context: Context) -> Attribution:
        gradients = passes[InputGradients("plain", context.classes)].gradients[:, 0]
        return Attribution(tf.reduce_max(tf.abs(gradients), axis=-1))  # (N, K, H, W)
