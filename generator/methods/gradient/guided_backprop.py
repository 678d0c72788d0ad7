"""Guided Backpropagation (Springenberg et al. 2015): the input gradient of the class logit with
only positive signal passed back through every nonlinearity (`backward_rules`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.methods.base import Attribution, Context, InputGradients, Method, Paper, Passes
from generator.methods.families import GUIDED


@dataclass(frozen=True)
class GuidedBackprop(Method):
    slug = "guided-backprop"
    title = "Guided Backprop"
    paper = Paper(
        "J. T. Springenberg, A. Dosovitskiy, T. Brox, M. Riedmiller",
        2015,
        "Striving for Simplicity: The All Convolutional Net",
        "ICLR workshop",
        "https://arxiv.org/abs/1412.6806",
    )
    kind = "input attribution"
    display = "gradient"
    family = GUIDED

    def needs(self, context: Context) -> tuple[Any, ...]:
        return (InputGradients("guided", context.classes),)

    def compute(self, passes: Passes, context: Context) -> Attribution:
        return Attribution(passes[InputGradients("guided", context.classes)].gradients[:, 0])
