"""Guided Grad-CAM (Selvaraju et al. 2017): Guided Backprop's detail, kept where Grad-CAM finds
evidence for the class. Both parts come from passes the two methods share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.methods.base import Attribution, Context, Method, Passes
from generator.methods.cam.grad_cam import GradCAM
from generator.methods.families import GUIDED
from generator.methods.gradient.guided_backprop import GuidedBackprop


@dataclass(frozen=True)
class GuidedGradCAM(Method):
    slug = "guided-grad-cam"
    title = "Guided Grad-CAM"
    paper = GradCAM.paper
    kind = "class map"
    display = "gradient"
    family = GUIDED
    at_target = True

    def needs(self, context: Context) -> tuple[Any, ...]:
        return GradCAM().needs(context) + GuidedBackprop().needs(context)

    def compute(self, passes: Passes, context: Context) -> Attribution:
        cam = GradCAM().compute(passes, context).maps
        guided = GuidedBackprop().compute(passes, context).maps
        return Attribution(guided * cam[..., None])
