"""The stable ids of a model page's blocks (image tabs, explained classes, method pictures),
and the family grids the class explanations are laid out in.

Ids are made of slugs only (image, class label, method), so a cited link such as
`models/resnet50/#cat--tabby-cat--grad-cam` keeps working after any rebuild. The model pages and
the comparison pages that link into them both take their ids from here. The grids group the
methods by the family each picture's record names (`methods/families.py`), so no page names a
method, and nothing here loads the methods themselves (or TensorFlow).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from generator.methods.catalog import SLUGS
from generator.methods.families import FAMILIES, Family, not_computed
from generator.own_models import OWN_PREFIX
from generator.site_records import Figure, ImageSection, ModelPage, Prediction, ShownMethod

# Fixed heading ids of model.md.j2. Image tabs are anchored by their slug, so an image whose slug
# equals one of these gets "-image" appended rather than a duplicate id.
MODEL_PAGE_IDS = frozenset(
    {"model-card", "where-it-looks", "nonlinearities", "images", "trust", "filters", "cite"}
)


def anchor(text: str) -> str:
    """A stable `[a-z0-9-]` id for a heading made from a layer name or other free text."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "x"


def model_page(slug: str) -> str:
    """A model's page, relative to the site: `models/<slug>.md`; a user's own model's in its own
    navigation section, `your-models/<file stem>.md`, an address from its file's name."""
    if slug.startswith(OWN_PREFIX):
        return f"your-models/{slug.removeprefix(OWN_PREFIX)}.md"
    return f"models/{slug}.md"


def trust_anchor(slug: str) -> str:
    """The id of a method's (or a baseline map's) row in a model page's trust table, which the
    leaderboard links to: `trust--<slug>`, so it never meets an image's ids (`<image>--...`
    with an image slugged "trust" becomes "trust-image--...")."""
    return f"trust--{slug}"


T = TypeVar("T")

# Where a picture of a family this version does not know (a page kept from an older build) goes.
OTHER = Family("other", "Other methods", "Methods this version of the gallery no longer lists.")
_FAMILIES = {family.slug: family for family in FAMILIES}


def image_anchor(slug: str) -> str:
    """The id of an image's tab on a model page: its slug, unless a fixed id of the page has it."""
    return f"{slug}-image" if slug in MODEL_PAGE_IDS else slug


@dataclass(frozen=True)
class MethodFigure:
    """One method's picture of one class, and its id on the model page."""

    method: ShownMethod
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
class GridColumn:
    """A method heading a column of a family's grid."""

    method: ShownMethod  # its slug is its id on the methods page


@dataclass(frozen=True)
class GridCell:
    """One method's picture of one class in a family's grid, or why there is none."""

    method: ShownMethod
    picture: MethodFigure | None
    missing: str  # "not computed: explains the top-1 class only" when `picture` is None


@dataclass(frozen=True)
class GridRow:
    """One explained class in a family's grid: a cell per column, in the columns' order."""

    prediction: Prediction
    anchor: str | None  # the class's id, on its row of the first grid only (ids are unique)
    cells: list[GridCell]


@dataclass(frozen=True)
class FamilyGrid:
    """One family's methods for every explained class of an image: a tab of the model page."""

    family: Family
    anchor: str  # "<image>--<family slug>"; also names the lightbox gallery of its pictures
    columns: list[GridColumn]
    rows: list[GridRow]
    legend: Figure | None  # the colour scale of the family's pictures, if one was drawn


@dataclass(frozen=True)
class ImageBlock:
    """One image tab of a model page with the stable ids of its blocks.

    `anchor` is the image slug unless it clashes with a fixed id of the page; the other ids
    extend it. `families` lays `classes` out in one grid per method family, families in
    catalog order, methods in catalog order within each.
    """

    section: ImageSection
    anchor: str
    rows: list[PredictionRow]
    classes: list[ClassBlock]
    families: list[FamilyGrid]


def family_of(method: ShownMethod) -> Family:
    """The family a method's pictures are shown in."""
    return _FAMILIES.get(method.family, OTHER)


def method_order(methods: Iterable[ShownMethod]) -> list[ShownMethod]:
    """`methods` in the one order every page shows them: by family (`FAMILIES`' order), then
    by the catalog's order; a method this version does not know (a page kept from an older
    build) comes last, by title. Pages kept from earlier builds may list them otherwise."""
    families = {family.slug: index for index, family in enumerate((*FAMILIES, OTHER))}
    catalog = {slug: index for index, slug in enumerate(SLUGS)}
    return sorted(
        dict.fromkeys(methods),
        key=lambda m: (families[family_of(m).slug], catalog.get(m.slug, len(catalog)), m.title),
    )


@dataclass(frozen=True)
class FamilyMembers(Generic[T]):
    """One family and its members (methods, or records of methods), in the pages' order."""

    family: Family
    members: list[T]


def by_family(items: Iterable[T], family: Callable[[T], str]) -> list[FamilyMembers[T]]:
    """`items` grouped by the slug of their family (`family(item)`), families in `FAMILIES`'
    order, items in their given order within each: the methods page's and home page's lists."""
    groups: dict[str, list[T]] = {}
    for item in items:
        slug = family(item) if family(item) in _FAMILIES else OTHER.slug
        groups.setdefault(slug, []).append(item)
    return [FamilyMembers(f, groups[f.slug]) for f in (*FAMILIES, OTHER) if f.slug in groups]


def family_grids(
    tab: str, classes: list[ClassBlock], legends: Mapping[str, Figure]
) -> list[FamilyGrid]:
    """The explained classes of one image tab laid out in one grid per method family.

    A method that explains fewer classes (the many-pass ones explain the top-1 class by default)
    gets a cell saying so in the rows of the classes it did not explain. `legends` maps a
    family's slug to its colour scale.
    """
    methods: dict[ShownMethod, int] = {}  # method -> classes it explains, in order of first use
    for block in classes:
        for shown in block.figures:
            methods[shown.method] = methods.get(shown.method, 0) + 1
    order = {family.slug: index for index, family in enumerate((*FAMILIES, OTHER))}
    families = sorted({family_of(method) for method in methods}, key=lambda f: order[f.slug])
    grids: list[FamilyGrid] = []
    for family in families:
        members = [method for method in method_order(methods) if family_of(method) == family]
        rows = []
        for block in classes:
            pictures = {shown.method: shown for shown in block.figures}
            cells = [
                GridCell(
                    method,
                    pictures.get(method),
                    ""
                    if method in pictures
                    else not_computed(methods[method], method.class_specific),
                )
                for method in members
            ]
            rows.append(GridRow(block.prediction, block.anchor if not grids else None, cells))
        columns = [GridColumn(method) for method in members]
        grids.append(
            FamilyGrid(family, f"{tab}--{family.slug}", columns, rows, legends.get(family.slug))
        )
    return grids


def image_blocks(page: ModelPage, legends: Mapping[str, Figure] | None = None) -> list[ImageBlock]:
    """The image tabs of a model page with an id for every image, class and method block;
    `legends` are the colour scales of the method families, by family slug."""
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
                MethodFigure(tile.method, f"{row}--{tile.method.slug}", tile.figure)
                for tile in explained.figures
            ]
            classes.append(ClassBlock(explained.prediction, row, figures))
        row_of = {block.prediction.class_index: block.anchor for block in classes}
        rows = [PredictionRow(p, row_of.get(p.class_index)) for p in section.predictions]
        grids = family_grids(tab, classes, legends or {})
        blocks.append(ImageBlock(section, tab, rows, classes, grids))
    return blocks
