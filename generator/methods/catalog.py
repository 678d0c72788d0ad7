"""The explanation methods the gallery knows, in the order pages show them.

Adding a method: write its module (a `base.Method`, with the family whose grid shows it on model
pages, `families.py`), add it here, add its test and its paragraph in
`templates/methods/<slug>.md.j2`. Nothing else names a method.
"""

from __future__ import annotations

from collections.abc import Iterable

from generator.methods.base import Method
from generator.methods.cam.grad_cam import GradCAM
from generator.methods.cam.grad_cam_plus_plus import GradCAMPlusPlus
from generator.methods.cam.guided_grad_cam import GuidedGradCAM
from generator.methods.cam.layer_cam import LayerCAM
from generator.methods.cam.score_cam import ScoreCAM
from generator.methods.gradient.deconvnet import DeConvNet
from generator.methods.gradient.gradient_x_input import GradientXInput
from generator.methods.gradient.guided_backprop import GuidedBackprop
from generator.methods.gradient.integrated_gradients import IntegratedGradients
from generator.methods.gradient.saliency import Saliency
from generator.methods.perturb.occlusion import Occlusion
from generator.methods.wrap.smooth_grad import SmoothGrad

METHODS: tuple[Method, ...] = (
    GradCAM(),
    GuidedGradCAM(),
    GradCAMPlusPlus(),
    LayerCAM(),
    ScoreCAM(),
    GuidedBackprop(),
    DeConvNet(),
    Saliency(),
    GradientXInput(),
    IntegratedGradients(),
    SmoothGrad(Saliency()),
    SmoothGrad(GuidedBackprop()),
    Occlusion(),
)
SLUGS: tuple[str, ...] = tuple(method.slug for method in METHODS)


class UnknownMethod(ValueError):
    """A method slug the catalog does not have."""


def by_slug(slug: str) -> Method:
    for method in METHODS:
        if method.slug == slug:
            return method
    raise UnknownMethod(f"unknown method {slug!r}; choose from: {', '.join(SLUGS)}")


def select(slugs: Iterable[str] | None) -> tuple[Method, ...]:
    """The named methods in catalog order (all of them for None); an unknown slug is an error."""
    if slugs is None:
        return METHODS
    wanted = {by_slug(slug).slug for slug in slugs}
    return tuple(method for method in METHODS if method.slug in wanted)
