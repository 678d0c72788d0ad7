"""How the models agree on each sample image, and the contexts of the comparison pages.

From the model pages' records alone: every built model's answer for every image, grouped by
family, and counts of the top-1 classes. Counting and grouping happen here so that the
templates only lay out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from generator.page_ids import ImageBlock, MethodFigure, anchor, image_blocks, method_order
from generator.site_records import (
    Figure,
    ModelPage,
    ModelSummary,
    Prediction,
    ShownMethod,
    Thumbnail,
)

# The method shown on an image's comparison overview, beside each model's top-1 class.
OVERVIEW_METHOD = ShownMethod("grad-cam", "Grad-CAM", "class-maps")
OTHER_FAMILY = "Other"


@dataclass(frozen=True)
class ModelResult:
    """One model's answer for one image: a card of a comparison page."""

    name: str
    slug: str
    image_anchor: str  # the image's tab on the model page
    predictions: list[Prediction]
    shown: MethodFigure | None  # the page's method for the top-1 class, if it was computed
    earlier: bool = False  # the model failed in this build: its page is from an earlier one
    anchored: bool = True  # False: its page is not this build's; link to the page's top


@dataclass(frozen=True)
class FamilyGroup:
    name: str
    anchor: str
    results: list[ModelResult]


@dataclass(frozen=True)
class ClassCount:
    """One top-1 class of an image and the models that chose it."""

    label: str
    models: int
    names: list[str]


@dataclass(frozen=True)
class Agreement:
    """How the models' top-1 classes for one image are distributed."""

    models: int  # models with a top-1 class for the image
    leaders: list[str]  # the most common top-1 class, or the classes tied for it, by name
    leader_count: int  # how many models chose each leader
    leader_share: float  # leader_count / models
    distinct: int  # how many different classes are ranked first
    counts: list[ClassCount]  # most common first


@dataclass(frozen=True)
class SampleImage:
    """A sample image as the home and comparison pages show it."""

    slug: str
    title: str  # untrusted
    thumbnail: Figure
    agreement: Agreement


@dataclass(frozen=True)
class ComparisonPage:
    """`compare/<image>/index.md` (method: the overview's) or `compare/<image>/<method>.md`."""

    image: SampleImage
    method: ShownMethod
    overview: bool
    families: list[FamilyGroup]
    missing: list[str]  # models asked for but without a result for this image
    legend: Figure | None = None  # the colour scales of the explanation maps, if any was drawn


@dataclass(frozen=True)
class Top1Cell:
    """A model's top-1 class for one image, and the image's tab on the model page."""

    label: str
    image_anchor: str | None  # None: link to the top of the page (it is not this build's)


@dataclass(frozen=True)
class Top1Row:
    """One row of the top-1 matrix of `compare/index.md`: a model's top-1 class per image."""

    name: str
    slug: str
    cells: list[Top1Cell | None]  # one per image; None: no result
    earlier: bool = False  # the model failed in this build: its page is from an earlier one


@dataclass(frozen=True)
class Comparisons:
    """Everything the comparison pages and the home page's image cards need."""

    images: list[SampleImage]
    methods: list[ShownMethod]  # the explanation methods the model pages show, in their order
    pages: list[ComparisonPage]  # per image: the overview, then one page per method
    top1: list[Top1Row]


@dataclass(frozen=True)
class Top1Choice:
    """One model's top-1 class for an image: what `agreement` counts."""

    model: str
    label: str


def agreement(top1: list[Top1Choice]) -> Agreement:
    """How many models share each top-1 class."""
    counts = Counter(choice.label for choice in top1)
    ordered = sorted(counts, key=lambda label: (-counts[label], label.casefold(), label))
    leader_count = counts[ordered[0]] if ordered else 0
    return Agreement(
        models=len(top1),
        leaders=[label for label in ordered if counts[label] == leader_count],
        leader_count=leader_count,
        leader_share=leader_count / len(top1) if top1 else 0.0,
        distinct=len(counts),
        counts=[
            ClassCount(
                label, counts[label], [choice.model for choice in top1 if choice.label == label]
            )
            for label in ordered
        ],
    )


def _family_groups(results: list[tuple[str | None, ModelResult]]) -> list[FamilyGroup]:
    """Results grouped by model family, families by name, unknown family last."""
    groups: dict[str, list[ModelResult]] = {}
    for family, result in results:
        groups.setdefault(family or OTHER_FAMILY, []).append(result)
    names = sorted(groups, key=lambda name: (name == OTHER_FAMILY, name.casefold()))
    return [FamilyGroup(name, f"family-{anchor(name)}", groups[name]) for name in names]


def _model_result(
    page: ModelPage, block: ImageBlock, method: ShownMethod, anchored: bool
) -> ModelResult:
    """A model's card for one image: its predictions and `method`'s picture of its top-1 class."""
    top = next((c for c in block.classes if c.prediction.rank == 1), None)
    shown = next((f for f in top.figures if f.method.slug == method.slug), None) if top else None
    summary = page.summary
    return ModelResult(
        summary.name,
        summary.slug,
        block.anchor,
        block.section.predictions,
        shown,
        summary.status == "earlier",
        anchored,
    )


def shown_methods(pages: list[ModelPage]) -> list[ShownMethod]:
    """The explanation methods the model pages show, in the order they show them."""
    return method_order(
        tile.method
        for page in pages
        for section in page.images
        for explained in section.classes
        for tile in explained.figures
    )


def comparisons(
    models: list[ModelSummary],
    pages: list[ModelPage],
    images: list[Thumbnail],
    earlier: Sequence[ModelPage] = (),
    unanchored: Iterable[str] = (),
    scales: Mapping[str, Figure] | None = None,
) -> Comparisons:
    """Every built model's answer for every image, grouped by family and counted.

    `earlier` are failed models' pages kept from an earlier build (their summaries say
    "earlier"): their answers are shown and counted, marked, in the table's order of models;
    each comparison page shows the colour scale of its one method (`scales`, by method slug;
    else the scales of every method the pages show);
    the comparison pages are those of the methods this build's pages show. Links into the
    pages of the `unanchored` models (slugs: a user's file was left at their address) go to
    the page's top, never to a block that page may not have.
    """
    unanchored = set(unanchored)
    methods = shown_methods(pages or list(earlier))
    order = {model.slug: index for index, model in enumerate(models)}
    pages = sorted([*pages, *earlier], key=lambda page: order.get(page.summary.slug, len(order)))
    blocks = {page.summary.slug: {b.section.slug: b for b in image_blocks(page)} for page in pages}
    families = {model.slug: model.family for model in models}
    samples, compare_pages = [], []
    for image in images:
        found = [(page, blocks[page.summary.slug].get(image.slug)) for page in pages]
        answered = [(page, block) for page, block in found if block and block.section.predictions]
        sample = SampleImage(
            image.slug,
            image.title,
            image.figure,
            agreement(
                [
                    Top1Choice(page.summary.name, block.section.predictions[0].label)
                    for page, block in answered
                ]
            ),
        )
        samples.append(sample)
        answered_slugs = {page.summary.slug for page, _ in answered}
        missing = [model.name for model in models if model.slug not in answered_slugs]
        legends = [block.section.gradcam_legend for _, block in answered]
        legend = next((figure for figure in legends if figure), None)
        for method, overview in [(OVERVIEW_METHOD, True)] + [(m, False) for m in methods]:
            results = [
                (
                    families[page.summary.slug],
                    _model_result(page, block, method, page.summary.slug not in unanchored),
                )
                for page, block in answered
            ]
            scale = (scales or {}).get(method.slug, legend)
            compare_pages.append(
                ComparisonPage(sample, method, overview, _family_groups(results), missing, scale)
            )
    top1 = []
    for page in pages:
        anchored = page.summary.slug not in unanchored
        cells: list[Top1Cell | None] = []
        for image in images:
            block = blocks[page.summary.slug].get(image.slug)
            if block is None or not block.section.predictions:
                cells.append(None)
                continue
            top = block.section.predictions[0].label
            cells.append(Top1Cell(top, block.anchor if anchored else None))
        summary = page.summary
        top1.append(Top1Row(summary.name, summary.slug, cells, summary.status == "earlier"))
    return Comparisons(samples, methods, compare_pages, top1)


def comparison_path(page: ComparisonPage) -> str:
    """`compare/<image>/index.md` for the overview, `compare/<image>/<method>.md` otherwise.

    One folder per image keeps every image slug and method slug apart (an image called
    `cat-grad-cam` cannot collide with the Grad-CAM page of `cat`).
    """
    name = "index" if page.overview else page.method.slug
    return f"compare/{page.image.slug}/{name}.md"
