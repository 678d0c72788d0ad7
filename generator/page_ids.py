"""The stable ids of a model page's blocks (image tabs, explained classes, method pictures),
and the family grids the class explanations are laid out in.

Ids are made of slugs only (image, class label, method), so a cited link such as
`models/resnet50/#cat--tabby-cat--grad-cam` keeps working after any rebuild. The model pages and
the comparison pages that link into them both take their ids from here. The grids group the
methods by the family each picture's record names (`methods/families.py`), so no page names a
method, and nothing here loads the methods themselves (or TensorFlow).
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from generator.methods.catalog import SLUGS
from generator.methods.families import FAMILIES, Family
from generator.own_models import OWN_PREFIX
from generator.site_records import (
    ChannelView,
    ClassPicture,
    Figure,
    ImageSection,
    LayerFigure,
    ModelPage,
    Prediction,
    ShownMethod,
    StageNeurons,
)

# Fixed heading ids of model.md.j2. Image tabs are anchored by their slug, so an image whose slug
# equals one of these gets "-image" appended rather than a duplicate id.
MODEL_PAGE_IDS = frozenset(
    {
        "model-card",
        "where-it-looks",
        "nonlinearities",
        "images",
        "trust",
        "filters",
        "cite",
        "neurons",
    }
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


def channel_folder(model_slug: str) -> str:
    """The folder of a model's channel pages, relative to the site: `neurons/<model slug>/`."""
    return f"neurons/{model_slug}/"


def channel_page(model_slug: str, tensor_slug: str) -> str:
    """The page of one stage tensor's channels, relative to the site:
    `neurons/<model slug>/<tensor slug>.md`, an anchor per channel (`channel_anchor`)."""
    return f"{channel_folder(model_slug)}{tensor_slug}.md"


def channel_anchor(channel: int) -> str:
    """A channel's id on its tensor's channel page: `ch-<N>`, as the figures label it."""
    return f"ch-{int(channel)}"


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
    """One method's picture of one class, and its id on the model page; a map drawn at every
    stage layer has one picture per layer besides (`layers`), shown instead of the whole."""

    method: ShownMethod
    anchor: str
    figure: Figure
    layers: list[LayerFigure] = field(default_factory=list)


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
class GridRow:
    """One explained class in a grid: its picture by each of the grid's methods, in order."""

    prediction: Prediction
    anchor: str | None  # the class's id, on the first row of the class on the page (unique)
    cells: list[MethodFigure]


@dataclass(frozen=True)
class GridPart:
    """Methods of one family that explain the same classes, as a grid without holes: one
    column per method, one row per class, a picture in every cell.

    `note` is empty for the methods that explain every class of the image; otherwise it says
    why these explain fewer (a strip of the top class, usually), and the page shows them apart.
    """

    columns: list[ShownMethod]  # a method's slug is its id on the methods page
    rows: list[GridRow]
    note: str


@dataclass(frozen=True)
class LayerRow:
    """One class's map drawn at every stage layer: one picture per layer."""

    prediction: Prediction
    anchor: str | None  # the class's id, if this is the class's first row on the page
    picture: MethodFigure  # its anchor ("<image>--<class>--<method>") marks the row


@dataclass(frozen=True)
class LayerGrid:
    """A method whose maps are drawn at every stage layer: a row of stage pictures per class,
    each as wide as any other picture of the grid (not panels packed into one cell)."""

    method: ShownMethod
    rows: list[LayerRow]
    note: str  # why it explains fewer classes than the image has, or empty


@dataclass(frozen=True)
class FamilyGrid:
    """One family's methods for every explained class of an image: a tab of the model page.

    `parts` lay the methods out without an empty cell: first those that explain every class,
    then those that explain fewer (the many-pass methods explain the top class by default) in
    a strip of their own; `layered` are the methods drawn at every stage layer.
    """

    family: Family
    anchor: str  # "<image>--<family slug>"; also names the lightbox gallery of its pictures
    parts: list[GridPart]
    layered: list[LayerGrid]
    legend: Figure | None  # the colour scale of the family's pictures, if one was drawn
    sheet: Figure | None = None  # the family's A4 sheet for print and slides, if drawn

    @property
    def methods(self) -> list[ShownMethod]:
        """Every method of the tab, in the pages' one order (the jump bar's links)."""
        return method_order([*(m for part in self.parts for m in part.columns),
                             *(grid.method for grid in self.layered)])  # fmt: skip


@dataclass(frozen=True)
class ChannelLink:
    """A "ch N" label of a figure as a link to the channel's anchor on its channel page;
    `href` is relative to the page that shows the label."""

    channel: int
    href: str


@dataclass(frozen=True)
class ImageBlock:
    """One image tab of a model page with the stable ids of its blocks.

    `anchor` is the image slug unless it clashes with a fixed id of the page; the other ids
    extend it. `families` lays `classes` out in one grid per method family, families in
    catalog order, methods in catalog order within each. `feature_links` and
    `projection_links` give, by the figure's layer, the links of its "ch N" labels (empty when
    the page has no neurons section); `class_picture` is what the model draws for the photo's
    top-1 class, if the neurons section has it.
    """

    section: ImageSection
    anchor: str
    rows: list[PredictionRow]
    classes: list[ClassBlock]
    families: list[FamilyGrid]
    feature_links: dict[str, list[ChannelLink]] = field(default_factory=dict)
    projection_links: dict[str, list[ChannelLink]] = field(default_factory=dict)
    class_picture: ClassPicture | None = None


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


def fewer_classes(methods: Sequence[ShownMethod], classes: int, of: int) -> str:
    """Why `methods` (titles) explain only the first `classes` of the `of` classes shown; empty
    when they explain all of them."""
    if classes >= of:
        return ""
    titles = ", ".join(method.title for method in methods)
    if not any(method.class_specific for method in methods):
        return f"One map for every class ({titles}): it does not depend on the class."
    which = "class" if classes == 1 else f"{classes} classes"
    many = len(methods) > 1
    return (
        f"Top-{classes} {which} only ({titles}): {'these methods run' if many else 'it runs'} "
        f"the model many times per class, so the build explains fewer classes with "
        f"{'them' if many else 'it'} (option --many-pass-top)."
    )


class _Anchors:
    """Hands each class's id to the first row of that class on the page, once."""

    def __init__(self) -> None:
        self.given: set[str] = set()

    def first(self, block: ClassBlock) -> str | None:
        if block.anchor in self.given:
            return None
        self.given.add(block.anchor)
        return block.anchor


def family_grids(
    tab: str,
    classes: list[ClassBlock],
    legends: Mapping[str, Figure],
    sheets: Mapping[str, Figure] | None = None,
) -> list[FamilyGrid]:
    """The explained classes of one image tab laid out in one grid per method family.

    Methods that explain the same classes share a grid part; a method that explains fewer
    classes than the image's (the many-pass ones explain the top-1 class by default) goes in a
    part of its own below, so no cell is empty. `legends` and `sheets` map a family's slug to its
    colour scale and its A4 sheet.
    """
    explains: dict[ShownMethod, int] = {}  # method -> classes it explains, in order of first use
    for block in classes:
        for shown in block.figures:
            explains[shown.method] = explains.get(shown.method, 0) + 1
    pictures = [{shown.method: shown for shown in block.figures} for block in classes]
    anchors = _Anchors()
    grids: list[FamilyGrid] = []
    for group in by_family(method_order(explains), lambda method: method.family):
        family, members = group.family, group.members
        flat = [m for m in members if not any(p[m].layers for p in pictures if m in p)]
        groups: dict[tuple[int, bool], list[ShownMethod]] = {}
        for method in flat:  # every class first, then fewer; one map for all classes last
            count = explains[method]
            groups.setdefault((-count, not method.class_specific), []).append(method)
        parts = []
        for (negative, _), columns in sorted(groups.items()):
            count = -negative
            rows = [
                GridRow(block.prediction, anchors.first(block), [shown[m] for m in columns])
                for block, shown in zip(classes[:count], pictures)
            ]
            parts.append(GridPart(columns, rows, fewer_classes(columns, count, len(classes))))
        layered = []
        for method in (m for m in members if m not in flat):
            count = explains[method]
            stages = [
                LayerRow(block.prediction, anchors.first(block), shown[method])
                for block, shown in zip(classes[:count], pictures)
            ]
            note = fewer_classes([method], count, len(classes))
            layered.append(LayerGrid(method, stages, note))
        grids.append(
            FamilyGrid(
                family,
                f"{tab}--{family.slug}",
                parts,
                layered,
                legends.get(family.slug),
                (sheets or {}).get(family.slug),
            )
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
                MethodFigure(tile.method, f"{row}--{tile.method.slug}", tile.figure, tile.layers)
                for tile in explained.figures
            ]
            classes.append(ClassBlock(explained.prediction, row, figures))
        row_of = {block.prediction.class_index: block.anchor for block in classes}
        rows = [PredictionRow(p, row_of.get(p.class_index)) for p in section.predictions]
        sheets = {sheet.family: sheet.figure for sheet in section.sheets}
        grids = family_grids(tab, classes, legends or {}, sheets)
        features = {f.layer: label_links(page, f.layer, f.channels) for f in section.feature_maps}
        projected = {p.layer: label_links(page, p.layer, p.channels) for p in section.projections}
        picture = None
        if page.neurons is not None and section.slug in page.neurons.top_class:
            picture = page.neurons.classes[page.neurons.top_class[section.slug]]
        blocks.append(ImageBlock(section, tab, rows, classes, grids, features, projected, picture))
    return blocks


# --- the neurons section and the channel pages ------------------------------------------------


def label_links(page: ModelPage, tensor: str, channels: Sequence[int]) -> list[ChannelLink]:
    """The links of a figure's "ch N" labels of `tensor`, in the figure's order, from the model
    page: only the channels with a place on their channel page (none without neurons)."""
    if page.neurons is None:
        return []
    stage = next((s for s in page.neurons.stages if s.tensor == tensor), None)
    if stage is None:
        return []
    placed = {view.channel for view in stage.channels}
    target = relative_link(model_page(page.summary.slug), stage_page(page, stage))
    return [ChannelLink(c, f"{target}#{channel_anchor(c)}") for c in channels if c in placed]


def stage_page(page: ModelPage, stage: StageNeurons) -> str:
    """The channel page of one of `page`'s stage tensors, relative to the site."""
    return channel_page(page.summary.slug, stage.slug)


def relative_link(source: str, target: str) -> str:
    """The link from the page written to `source` to the page `target` (both site-relative
    `.md` paths), as MkDocs resolves and checks it."""
    return posixpath.relpath(target, posixpath.dirname(source) or ".")


@dataclass(frozen=True)
class StageLink:
    """A stage tensor of the model page's neurons section and the link to its channel page."""

    stage: StageNeurons
    href: str  # relative to the model page


def neuron_stages(page: ModelPage) -> list[StageLink]:
    """The stage tensors of the model page's neurons section with their channel pages' links."""
    if page.neurons is None:
        return []
    source = model_page(page.summary.slug)
    return [StageLink(s, relative_link(source, stage_page(page, s))) for s in page.neurons.stages]


@dataclass(frozen=True)
class PhotoLink:
    """A sample photo named on a channel page, linking to its tab on the model page."""

    title: str  # from a file name: untrusted
    href: str  # empty when the model page has no tab of the photo


@dataclass(frozen=True)
class PhotoMean:
    """One row of a channel's table: its mean activation on one photo."""

    photo: PhotoLink
    mean: float


@dataclass(frozen=True)
class ChannelEntry:
    """One channel on its channel page: its anchor (`ch-N`), its record, its mean activation on
    every photo and the photos whose feature maps or projections show it."""

    view: ChannelView
    anchor: str
    means: list[PhotoMean]
    shown_in: list[PhotoLink]


@dataclass(frozen=True)
class ChannelPage:
    """The page of one stage tensor's channels (`channel_page`): `back` links the model page's
    neurons section, `methods` the methods page's explanation of the pictures."""

    path: str
    stage: StageNeurons
    back: str
    methods: str
    entries: list[ChannelEntry]


def channel_pages(page: ModelPage) -> list[ChannelPage]:
    """The channel pages of a model page, one per stage tensor of its neurons section (none
    without one), with every link already made relative to the channel page."""
    if page.neurons is None:
        return []
    neurons = page.neurons
    pages = []
    for stage in neurons.stages:
        path = stage_page(page, stage)
        model = relative_link(path, model_page(page.summary.slug))
        tabs = {section.slug for section in page.images}  # a photo without a tab: no link
        photos = {
            slug: PhotoLink(title, f"{model}#{image_anchor(slug)}" if slug in tabs else "")
            for slug, title in zip(neurons.photos, neurons.photo_titles)
        }
        entries = [
            ChannelEntry(
                view,
                channel_anchor(view.channel),
                [PhotoMean(photos[slug], mean) for slug, mean in zip(neurons.photos, view.means)],
                [photos[slug] for slug in view.shown_in if slug in photos],
            )
            for view in stage.channels
        ]
        methods = relative_link(path, "methods.md") + "#neuron-pictures"
        pages.append(ChannelPage(path, stage, f"{model}#neurons", methods, entries))
    return pages
