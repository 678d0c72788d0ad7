"""The explanation methods the gallery knows, in the order pages show them: one line each.

The lines are grouped by family (`families.FAMILIES`, in its order), so the catalog's order is
the one every page shows: methods page, model pages, comparisons and the printable grid alike
(`tests/test_method_records.py` checks the grouping).

Adding a method: write its module (a `base.Method`, with the family whose grid shows it on model
pages, `families.py`), add its line to `CATALOG` below, and write its test and its paragraph in
`templates/methods/<slug>.md.j2`. Nothing else names a method.

Importing this module does not import TensorFlow: the command line checks `--methods` against
`SLUGS` before loading it (it takes seconds). `METHODS`, the method objects, imports the method
modules, and so TensorFlow, when first used.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from generator.methods.base import Method


@dataclass(frozen=True)
class Entry:
    """A method of the catalog: its slug, its class ("module:Class"), and for a wrapper (such
    as SmoothGrad) the slug of the catalog method it wraps."""

    slug: str
    method: str
    wraps: str | None = None


# fmt: off
CATALOG: tuple[Entry, ...] = (
    Entry("grad-cam", "generator.methods.cam.grad_cam:GradCAM"),
    Entry("grad-cam-plus-plus", "generator.methods.cam.grad_cam_plus_plus:GradCAMPlusPlus"),
    Entry("layer-cam", "generator.methods.cam.layer_cam:LayerCAM"),
    Entry("score-cam", "generator.methods.cam.score_cam:ScoreCAM"),
    Entry("guided-grad-cam", "generator.methods.cam.guided_grad_cam:GuidedGradCAM"),
    Entry("guided-backprop", "generator.methods.gradient.guided_backprop:GuidedBackprop"),
    Entry("deconvnet", "generator.methods.gradient.deconvnet:DeConvNet"),
    Entry("smoothgrad-guided", "generator.methods.wrap.smooth_grad:SmoothGrad", wraps="guided-backprop"),
    Entry("saliency", "generator.methods.gradient.saliency:Saliency"),
    Entry("smoothgrad", "generator.methods.wrap.smooth_grad:SmoothGrad", wraps="saliency"),
    Entry("gradient-x-input", "generator.methods.gradient.gradient_x_input:GradientXInput"),
    Entry("integrated-gradients", "generator.methods.gradient.integrated_gradients:IntegratedGradients"),
    Entry("occlusion", "generator.methods.perturb.occlusion:Occlusion"),
)
# fmt: on
SLUGS: tuple[str, ...] = tuple(entry.slug for entry in CATALOG)


class UnknownMethod(ValueError):
    """A method slug the catalog does not have."""


def _make(entry: Entry) -> Method:
    """The method object of one line; a line whose method has another slug stops."""
    module, name = entry.method.split(":")
    method_class = getattr(importlib.import_module(module), name)
    wrapped = [_make(_entry(entry.wraps))] if entry.wraps else []
    method = method_class(*wrapped)
    if method.slug != entry.slug:
        raise RuntimeError(f"catalog line {entry.slug!r} makes the method {method.slug!r}")
    return method


def _entry(slug: str) -> Entry:
    for entry in CATALOG:
        if entry.slug == slug:
            return entry
    raise UnknownMethod(f"unknown method {slug!r}; choose from: {', '.join(SLUGS)}")


@functools.cache
def _methods() -> tuple[Method, ...]:
    """The method objects, in catalog order."""
    return tuple(_make(entry) for entry in CATALOG)


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
