"""DeConvNet (Zeiler & Fergus 2014): the class logit projected back to pixels, each nonlinearity
passing back the positive part of the signal whatever its forward input (`backward_rules`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.methods.base import Attribution, Context, InputGradients, Method, Paper, Passes
from generator.methods.families import GUIDED


@dataclass(frozen=True)
class DeConvNet(Method):
    slug = "deconvnet"
    title = "DeConvNet"
    paper = Paper(
        "M. D. Zeiler, R. Fergus",
        2014,
        "Visualizing and Understanding Convolutional Networks",
        "ECCV",
        "https://arxiv.org/abs/1311.2901",
    )
    kind = "input attribution"
    display = "gradient"
    family = GUIDED

    def needs(self, context: Context) -> tuple[Any, ...]:
        return (InputGradients("deconvnet", context.classes),)

    def compute(self, passes: Passes, context: Context) -> Attribution:
        return Attribution(passes[InputGradients("deconvnet", context.classes)].gradients[:, 0])
