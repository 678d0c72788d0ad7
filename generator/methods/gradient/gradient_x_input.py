"""Gradient × Input (Shrikumar et al. 2016): the input gradient of the class logit times the
input measured from the black photo, summed over colour channels. A first-order estimate of
each pixel's share in logit(x) − logit(black)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from generator.methods.base import Attribution, Context, InputGradients, Method, Paper, Passes
from generator.methods.families import ATTRIBUTIONS


@dataclass(frozen=True)
class GradientXInput(Method):
    slug = "gradient-x-input"
    title = "Gradient × Input"
    paper = Paper(
        "A. Shrikumar, P. Greenside, A. Shcherbina, A. Kundaje",
        2016,
        "Not Just a Black Box: Learning Important Features Through Propagating Activation "
        "Differences",
        "arXiv",
        "https://arxiv.org/abs/1605.01713",
    )
    kind = "input attribution"
    display = "signed"
    family = ATTRIBUTIONS

    def needs(self, context: Context) -> tuple[Any, ...]:
        return (InputGradients("plain", context.classes),)

    def compute(self, passes: Passes, context: Context) -> Attribution:
        gradients = passes[InputGradients("plain", context.classes)].gradients[:, 0]
        offset = passes.images - passes.references.black  # (N, H, W, 3) from the black photo
        return Attribution(tf.reduce_sum(gradients * offset[:, None], axis=-1))  # (N, K, H, W)
