"""The stable ids of a model page's blocks (image tabs, explained classes, method pictures).

Ids are made of slugs only (image, class label, method), so a cited link such as
`models/resnet50/#cat--tabby-cat--grad-cam` keeps working after any rebuild. The model pages and
the comparison pages that link into them both take their ids from here.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from generator.methods.catalog import METHODS
from generator.site_records import Figure, ImageSection, ModelPage, Prediction

# Fixed heading ids of model.md.j2. Image tabs are anchored by their slug, so an image whose slug
# equals one of these gets "-image" appended rather than a duplicate id.
MODEL_PAGE_IDS = frozenset(
    {"model-card", "where-it-looks", "nonlinearities", "images", "filters", "cite"}
)


def anchor(text: str) -> str:
    """A stable `[a-z0-9-]` id for a heading made from a layer name or other free text."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "x"


_SLUG_OF_TITLE = {method.title: method.slug for method in METHODS}


def method_anchor(title: str) -> str:
    """A method's id in addresses: its catalog slug (titles can slug alike: Grad-CAM and
    Grad-CAM++ would both give "grad-cam")."""
    return _SLUG_OF_TITLE.get(title) or anchor(title)


def image_anchor(slug: str) -> str:
    """The id of an image's tab on a model page: its slug, unless a fixed id of the page has it."""
    return f"{slug}-image" if slug in MODEL_PAGE_IDS else slug


@dataclass(frozen=True)
class MethodFigure:
    """One method's picture of one class, and its id on the model page."""

    method: str
    anchor: str
    figure: Figure


@dataclass(frozen=True)
class ClassBlock:
    """One explained class on a model page: a row of the explanations grid."""

    prediction: Prediction
    anchor: str  # "<image>--<class label slug>"
    figures: list[MethodFigure]


@dataclass(frozen=True)
class PredictionRow:
    """One row of an image's predictions table, and the id of its explanations row if any."""

    prediction: Prediction
    explained: str | None


@dataclass(frozen=True)
class ImageBlock:
    """One image tab of a model page with the stable ids of its blocks.

    `anchor` is the image slug unless it clashes with a fixed id of the page; the other ids
    extend it.
    """

    section: ImageSection
    anchor: str
    rows: list[PredictionRow]
    classes: list[ClassBlock]


def image_blocks(page: ModelPage) -> list[ImageBlock]:
    """The image tabs of a model page with an id for every image, class and method block."""
    blocks = []
    for section in page.images:
        tab = image_anchor(section.slug)
        label_slugs = Counter(anchor(c.prediction.label) for c in section.classes)
        classes = []
        for explained in section.classes:
            label = anchor(explained.prediction.label)
            if label_slugs[label] > 1:  # two classes whose names differ only in punctuation
                label = f"{label}-{explained.prediction.class_index}"
            row = f"{tab}--{label}"
            figures = [
                MethodFigure(tile.method, f"{row}--{method_anchor(tile.method)}", tile.figure)
                for tile in explained.figures
            ]
            classes.append(ClassBlock(explained.prediction, row, figures))
        row_of = {block.prediction.class_index: block.anchor for block in classes}
        rows = [PredictionRow(p, row_of.get(p.class_index)) for p in section.predictions]
        blocks.append(ImageBlock(section, tab, rows, classes))
    return blocks
