"""The explanation methods the gallery knows, in the order pages show them.

Adding a method: write its module (a `base.Method`, with the family whose grid shows it on model
pages, `families.py`), add its slug to `SLUGS` and the method to `_methods` below, add its test
and its paragraph in `templates/methods/<slug>.md.j2`. Nothing else names a method.

Importing this module does not import TensorFlow: the command line checks `--methods` against
`SLUGS` before loading it (it takes seconds). `METHODS`, the method objects, imports the method
modules, and so TensorFlow, when first used.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from generator.methods.base import Method

SLUGS: tuple[str, ...] = (
    "grad-cam",
    "guided-grad-cam",
    "grad-cam-plus-plus",
    "layer-cam",
    "score-cam",
    "guided-backprop",
    "deconvnet",
    "saliency",
    "gradient-x-input",
    "integrated-gradients",
    "smoothgrad",
    "smoothgrad-guided",
    "occlusion",
)


class UnknownMethod(ValueError):
    """A method slug the catalog does not have."""


@functools.cache
def _methods() -> tuple[Method, ...]:
    """The method objects, in `SLUGS` order; a slug without its method, or out of order, stops."""
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

    methods = (
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
    slugs = tuple(method.slug for method in methods)
    if slugs != SLUGS:
        raise RuntimeError(f"catalog.SLUGS {SLUGS} differs from its methods' slugs {slugs}")
    return methods


def __getattr__(name: str) -> tuple[Method, ...]:
    """`METHODS`, made on first use (a module attribute computed on access, PEP 562)."""
    if name == "METHODS":
        return _methods()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def by_slug(slug: str) -> Method:
    for method in _methods():
        if method.slug == slug:
            return method
    raise UnknownMethod(f"unknown method {slug!r}; choose from: {', '.join(SLUGS)}")


def select(slugs: Iterable[str] | None) -> tuple[Method, ...]:
    """The named methods in catalog order (all of them for None); an unknown slug is an error."""
    if slugs is None:
        return _methods()
    wanted = {by_slug(slug).slug for slug in slugs}
    return tuple(method for method in _methods() if method.slug in wanted)
