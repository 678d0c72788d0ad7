"""The families model pages group the explanation methods into: one tab and one grid each.

A family holds methods whose maps a reader compares directly: they answer the same question and
share a colour scale, so one legend serves the whole grid. Every method declares its family
(`Method.family`); pages take the grouping from there and never name methods. Kept free of
TensorFlow, like `display.py`, so that page code can use it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """A group of methods shown side by side in one grid of a model page."""

    slug: str  # stable: part of the grid's id on model pages
    title: str  # the tab's label
    question: str  # what the family's maps answer, one sentence for the reader


CLASS_MAPS = Family(
    "class-maps",
    "Class maps",
    "Where in a layer's coarse grid of positions the evidence for the class lies, as a heat "
    "map over the photo.",
)
GUIDED = Family(
    "guided",
    "Guided projections",
    "Which fine pixel patterns (edges, textures, colours) the network's units respond to, "
    "projected back to the input with a modified backward pass; signed, per colour channel.",
)
GRADIENT_SIZE = Family(
    "gradient-size",
    "Gradient saliency",
    "How strongly a small change of each pixel would change the class's logit: the size of "
    "the plain gradient, sign ignored.",
)
ATTRIBUTIONS = Family(
    "attributions",
    "Attributions",
    "How much each pixel raises or lowers the class's logit compared with a reference input "
    "(zero, a black image, a grey window): red raises it, blue lowers it.",
)
FAMILIES: tuple[Family, ...] = (CLASS_MAPS, GUIDED, GRADIENT_SIZE, ATTRIBUTIONS)


def not_computed(classes: int, class_specific: bool = True) -> str:
    """Why a grid has no picture of a method for a class: it explains fewer classes, or its map
    is the same for every class (it does not depend on the class by construction)."""
    if not class_specific:
        return "the same map for every class: see the first class"
    return f"not computed: explains the top-{classes} class{'es' if classes != 1 else ''} only"
