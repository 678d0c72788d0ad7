"""Integrated Gradients (Sundararajan, Taly & Yan 2017): the input gradient of the class logit
averaged along the straight path from the black photo to the image, times the input measured
from the black photo, summed over colour channels.

The path integral is a trapezoid rule over `steps + 1` points (both ends included), all of
them one batched input-gradient pass. The attributions then sum to logit(x) − logit(black) up
to the quadrature's error (completeness); each map reports that error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from generator.methods.base import (
    Attribution,
    Context,
    InputGradients,
    Method,
    Paper,
    Passes,
    StraightPath,
)
from generator.methods.families import ATTRIBUTIONS

# A logit change smaller than this counts as this much when the error is made relative.
_SMALLEST_CHANGE = 1e-6


@dataclass(frozen=True)
class IntegratedGradients(Method):
    slug = "integrated-gradients"
    title = "Integrated Gradients"
    paper = Paper(
        "M. Sundararajan, A. Taly, Q. Yan",
        2017,
        "Axiomatic Attribution for Deep Networks",
        "ICML",
        "https://arxiv.org/abs/1703.01365",
    )
    kind = "input attribution"
    display = "signed"
    family = ATTRIBUTIONS
    many_passes = True

    steps: int = 32  # path intervals: steps + 1 gradient points

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"Integrated Gradients needs steps >= 1, got {self.steps}")

    def note_text(self, notes: Mapping[str, float]) -> str:
        return (
            f"completeness error {100 * notes['completeness_error']:.1f}% of the logit change "
            f"from the black photo ({notes['logit_change']:+.3g})"
        )

    def _need(self, context: Context) -> InputGradients:
        return InputGradients("plain", context.classes, StraightPath(self.steps))

    def needs(self, context: Context) -> tuple[Any, ...]:
        return (self._need(context),)

    def compute(self, passes: Passes, context: Context) -> Attribution:
        path = passes[self._need(context)]  # inputs (N, S, H, W, 3), gradients (N, S, k, ...)
        # Trapezoid rule on [0, 1]: half weight at both ends of the path.
        weights = tf.concat([[0.5], tf.ones(self.steps - 1), [0.5]], axis=0) / self.steps
        mean_gradient = tf.einsum("s,nskhwc->nkhwc", weights, path.gradients)
        offset = passes.images - passes.references.black  # (N, H, W, 3)
        maps = tf.reduce_sum(mean_gradient * offset[:, None], axis=-1)  # (N, k, H, W)
        classes = passes.classes[:, : context.classes]
        change = tf.gather(path.logits[:, -1], classes, batch_dims=1) - tf.gather(
            path.logits[:, 0], classes, batch_dims=1
        )  # logit(x) − logit(black), (N, k)
        error = tf.abs(tf.reduce_sum(maps, axis=(2, 3)) - change)
        relative = error / tf.maximum(tf.abs(change), _SMALLEST_CHANGE)
        return Attribution(maps, {"completeness_error": relative, "logit_change": change})
