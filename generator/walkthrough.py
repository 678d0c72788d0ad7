"""The "Start here" walkthrough and the methods page's examples, chosen from the build's records.

A student who has never seen Grad-CAM follows one model and one photo from the prediction to the
filters, the feature maps, each method family and the trust checks. Everything shown is a
picture the model page already has (nothing is computed again), and each links to its place in
the gallery. The choice is deterministic: the first model of the models table whose page this
build wrote, and the photo its trust checks use (else its first photo with class explanations),
so rebuilding the same gallery picks the same pair. The methods page shows the same
model's and photo's picture of each method, so the methods compare.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from generator.methods.families import Family
from generator.page_ids import (
    ImageBlock,
    anchor,
    by_family,
    family_of,
    image_blocks,
    method_order,
    model_page,
    trust_anchor,
)
from generator.site_records import (
    Figure,
    ModelPage,
    ModelSummary,
    Prediction,
    ShownMethod,
)

# The walkthrough's stable address (`start/`), linked first from the home page and the nav.
START_PAGE = "start.md"


@dataclass(frozen=True)
class Shown:
    """A picture of a model page and its place there: `link` is site-root relative
    (`models/resnet50.md#cat--tabby-cat--grad-cam`), as the walkthrough and the methods page,
    both at the site's root, link it."""

    figure: Figure
    link: str
    title: str  # what it is, for the link's text: "Grad-CAM", "layer conv1"


@dataclass(frozen=True)
class FamilyStep:
    """One method family in the walkthrough: each of its methods' maps of the top class."""

    family: Family
    link: str  # the family's grid on the model page
    legend: Figure | None  # its colour scale
    pictures: list[Shown]
    methods: list[ShownMethod]


@dataclass(frozen=True)
class TrustStep:
    """The trust checks of the chosen model: one randomization strip and the curves."""

    link: str
    strip: Shown | None  # the first method's maps as the weights are randomized
    curves: Figure | None  # deletion and insertion


@dataclass(frozen=True)
class Walkthrough:
    """The chosen model and photo, and the pictures of each step, in the page's order."""

    model: ModelSummary
    models: int  # model pages in this build: "one of N"
    weights_random: bool
    page: str  # the model page, site-root relative
    image_title: str  # untrusted: a file name
    trusted_photo: bool  # the photo is the one the model's trust checks use
    image_slug: str
    image_link: str  # the photo's tab on the model page
    compare: str  # the photo's comparison page
    crop: Figure
    predictions: list[Prediction]
    predictions_link: str
    top: Prediction | None
    filters: list[Shown]  # the first layer's kernels, and the deepest layer shown
    features: list[Shown]  # the first stage and the last
    projection: Shown | None
    families: list[FamilyStep]
    trust: TrustStep | None
    examples: Mapping[str, Shown]  # method slug -> its map of the top class
    # What the neurons look for: the first stage's pictured channels and a middle one's, and
    # what the model draws for the photo's top class (empty: the build left the section out)
    neurons: list[Shown] = field(default_factory=list)
    class_picture: Shown | None = None


def _chosen(models: Sequence[ModelSummary], pages: Sequence[ModelPage]) -> ModelPage | None:
    """The first model of the table with a page of this build, preferring one with a photo
    that has class explanations."""
    by_slug = {page.summary.slug: page for page in pages}
    ordered = [by_slug[model.slug] for model in models if model.slug in by_slug]
    explained = [page for page in ordered if any(image.classes for image in page.images)]
    with_photo = [page for page in ordered if page.images]
    return next(iter(explained or with_photo), None)


def _block(page: ModelPage, legends: Mapping[str, Figure]) -> ImageBlock:
    """The photo the trust checks use (so the walkthrough's trust pictures are of it), else the
    first photo of the page's tabs that has class explanations, else its first photo."""
    blocks = image_blocks(page, legends)
    trusted = page.trust.settings.photo if page.trust else None
    return next(
        (block for block in blocks if block.section.title == trusted and block.classes),
        next((block for block in blocks if block.classes), blocks[0]),
    )


def walkthrough(
    models: Sequence[ModelSummary],
    pages: Sequence[ModelPage],
    legends: Mapping[str, Figure] | None = None,
) -> Walkthrough | None:
    """The walkthrough of this build's pages, or None when no model page has a photo.

    `models` is the models table in its order; `pages` the pages this build wrote (a kept page
    of an earlier build may lack the blocks linked to); `legends` the families' colour scales.
    """
    page = _chosen(models, pages)
    if page is None:
        return None
    legends = legends or {}
    block = _block(page, legends)
    section = block.section
    at = model_page(page.summary.slug)
    top = block.classes[0] if block.classes else None
    pictures = {shown.method: shown for shown in top.figures} if top else {}
    methods = method_order(pictures)
    examples = {
        method.slug: Shown(pictures[method].figure, f"{at}#{pictures[method].anchor}", method.title)
        for method in methods
    }
    grids = {grid.family.slug: grid.anchor for grid in block.families}
    families = [
        FamilyStep(
            group.family,
            f"{at}#{grids.get(group.family.slug, block.anchor)}",
            legends.get(group.family.slug),
            [examples[method.slug] for method in group.members],
            group.members,
        )
        for group in by_family(methods, lambda method: family_of(method).slug)
    ]
    filters = [
        Shown(shown.figure, f"{at}#filters--{anchor(shown.layer)}", shown.layer)
        for shown in page.filters
    ]
    features = [
        Shown(shown.figure, f"{at}#{block.anchor}--features--{anchor(shown.layer)}", shown.layer)
        for shown in section.feature_maps
    ]
    projections = [
        Shown(shown.figure, f"{at}#{block.anchor}--projections--{anchor(shown.layer)}", shown.layer)
        for shown in section.projections
    ]
    return Walkthrough(
        model=page.summary,
        models=len(pages),
        weights_random=page.weights_random,
        page=at,
        image_title=section.title,
        trusted_photo=page.trust is not None and page.trust.settings.photo == section.title,
        image_slug=section.slug,
        image_link=f"{at}#{block.anchor}",
        compare=f"compare/{section.slug}/index.md",
        crop=section.crop,
        predictions=section.predictions,
        predictions_link=f"{at}#{block.anchor}--predictions",
        top=top.prediction if top else None,
        filters=filters[:1] + filters[-1:] if len(filters) > 1 else filters,
        features=features[:1] + features[-1:] if len(features) > 1 else features,
        projection=projections[-1] if projections else None,
        families=families,
        trust=_trust_step(page, at, methods),
        examples=examples,
        neurons=_neuron_grids(page, at),
        class_picture=_class_picture(page, at, section.slug),
    )


def _neuron_grids(page: ModelPage, at: str) -> list[Shown]:
    """The first stage tensor's pictures and a middle one's, linked to their grids."""
    if page.neurons is None:
        return []
    grids = [(stage, stage.grid) for stage in page.neurons.stages if stage.grid is not None]
    picked = sorted({0, len(grids) // 2}) if grids else []
    return [
        Shown(grids[i][1], f"{at}#neurons--{grids[i][0].slug}", grids[i][0].tensor) for i in picked
    ]


def _class_picture(page: ModelPage, at: str, photo: str) -> Shown | None:
    """What the model draws for the photo's top class, linked to the section's classes."""
    if page.neurons is None or photo not in page.neurons.top_class:
        return None
    picture = page.neurons.classes[page.neurons.top_class[photo]]
    return Shown(picture.figure, f"{at}#neurons--classes", picture.label)


def _trust_step(page: ModelPage, at: str, methods: list[ShownMethod]) -> TrustStep | None:
    """The chosen model's trust checks: the first method's randomization strip (the catalog's
    first: Grad-CAM where the build has it) and the deletion and insertion curves."""
    if page.trust is None:
        return None
    rows = {row.slug: row for row in page.trust.rows if row.strip is not None}
    first = next((method.slug for method in methods if method.slug in rows), None)
    strip = None
    if first is not None:
        row = rows[first]
        assert row.strip is not None
        strip = Shown(row.strip, f"{at}#{trust_anchor(row.slug)}", row.title)
    return TrustStep(f"{at}#trust", strip, page.trust.curves_plot)
