"""An image's section of a model page, joined from its cached parts (`plan.SharedPart`, one
`plan.MethodPart` per method) and its pictures for print (`plan.PrintPart`: the printable grid
and one A4 sheet per method family), drawn from the methods' stored cells.

Parts are made where the model is (`model_work`); the grid is drawn here from cells, so when a
method is removed from `--methods` the build process redraws the grid without any model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from generator import render
from generator.cache import Cache
from generator.figures import FigureWriter, ImageFigures, shown_method, trust_plots
from generator.images import SourceImage
from generator.methods import trust
from generator.methods.base import Method
from generator.methods.families import Family
from generator.plan import (
    ImagePlan,
    MethodPart,
    ModelCard,
    Plan,
    PrintPart,
    SharedPart,
    load_cells,
    put_entry,
)
from generator.registry import ModelSpec
from generator.site_records import (
    ClassExplanation,
    Figure,
    ImageSection,
    ModelTrust,
    RandomizationPart,
    Scores,
    Similarity,
    TrustSettings,
)
from generator.trust_summary import BASELINES, RANDOMIZATION_MARK, model_trust

Cells = Callable[[], np.ndarray]  # a method's grid cells, perhaps still being drawn on a worker


@dataclass(frozen=True)
class ImageOutcome:
    """One image's section, and what of it this build computed."""

    section: ImageSection
    seconds: float  # the section's compute seconds, as recorded when each part was made
    computed: list[str]  # slugs of the methods whose pictures were computed now
    # method slug -> its map of the top class against each next class (`MethodPart`)
    class_similarity: dict[str, list[Similarity]] = field(default_factory=dict)
    # method slug -> its map of the top class, for the trust checks (methods computed now)
    top_maps: dict[str, np.ndarray] = field(default_factory=dict)


def _columns(
    methods: Sequence[Method], cells: Mapping[str, Cells], layers: Sequence[str]
) -> list[render.CellColumn]:
    return [
        render.CellColumn(method.title, method.display, cells[method.slug](), layers)
        for method in methods
    ]


def draw_grid(
    cache: Cache,
    figures: ImageFigures,
    image: ImagePlan,
    shared: SharedPart,
    methods: Sequence[Method],
    cells: Mapping[str, Cells],
    card: ModelCard,
    weights_label: str,
) -> PrintPart:
    """The printable grid of `methods`' cells and one A4 sheet per family of them, drawn on
    the writer's workers; their entry is cached once the pictures are written."""
    row_labels = [f"{p.rank}. {p.label}\n{100 * p.probability:.1f}%" for p in shared.predictions]
    names = [p.label for p in shared.predictions]
    layers = [stage.name for stage in card.stages]
    figure = figures.explanation_grid(
        partial(_columns, methods, cells, layers),
        [method.title for method in methods],
        row_labels,
        names,
        card.target.name,
        weights_label,
    )
    families: dict[Family, list[Method]] = {}
    for method in methods:
        families.setdefault(method.family, []).append(method)
    sheets = [
        figures.sheet(
            family,
            partial(_columns, members, cells, layers),
            [method.title for method in members],
            row_labels,
            names,
            weights_label,
        )
        for family, members in families.items()
    ]
    part = PrintPart(figure, sheets)
    record = dataclasses.asdict(part)
    figures.writer.then(
        partial(put_entry, cache, figures.writer.out, image.grid_key, record, part.figures())
    )
    return part


def join_section(
    source: SourceImage,
    shared: SharedPart,
    parts: Sequence[MethodPart],
    prints: PrintPart,
    legend: Figure,
) -> ImageSection:
    """The section the page shows; `parts` in the catalog order of the selected methods."""
    classes = [
        ClassExplanation(prediction, [part.tiles[rank] for part in parts if rank < len(part.tiles)])
        for rank, prediction in enumerate(shared.predictions)
    ]
    return ImageSection(
        slug=source.slug,
        title=source.title,
        crop=shared.crop,
        predictions=shared.predictions,
        explanations=prints.grid,
        gradcam_legend=legend,
        feature_maps=shared.feature_maps,
        projections=shared.projections,
        classes=classes,
        sheets=prints.sheets,
    )


def cached_section(
    writer: FigureWriter,
    cache: Cache,
    spec: ModelSpec,
    source: SourceImage,
    image: ImagePlan,
    methods: Sequence[Method],
    card: ModelCard,
    legend: Figure,
    weights_label: str,
) -> ImageOutcome:
    """A section whose parts are all cached, its grid redrawn from their cells if missing.

    Its files are recorded as kept (the redrawn grid as written).
    """
    shared = image.shared
    cached = [image.methods[method.slug] for method in methods]
    parts = [part for part in cached if part is not None]
    if shared is None or len(parts) < len(cached):
        raise ValueError(f"the section of {source.title!r} is not all cached")
    writer.keep(
        [*shared.figures(), *(f for part in parts for tile in part.tiles for f in tile.figures())]
    )
    prints = image.grid
    if prints is None:
        cells = {
            method.slug: partial(_cells_or_fail, cache, image.method_keys[method.slug], part)
            for method, part in zip(methods, parts)
        }
        figures = ImageFigures(writer, spec.name, spec.slug, source)
        prints = draw_grid(cache, figures, image, shared, methods, cells, card, weights_label)
    else:
        writer.keep(prints.figures())
    seconds = shared.seconds + sum(part.seconds for part in parts)
    similarity = {m.slug: part.class_similarity for m, part in zip(methods, parts)}
    section = join_section(source, shared, parts, prints, legend)
    return ImageOutcome(section, seconds, [], similarity)


def _cells_or_fail(cache: Cache, key: str, part: MethodPart) -> np.ndarray:
    """Cells the plan found readable a moment ago; gone since, they fail this model's page."""
    cells = load_cells(cache, key, part)
    if cells is None:
        raise OSError(f"the cached grid cells {key}.npz became unreadable during the build")
    return cells


def trust_section(
    writer: FigureWriter,
    model: tuple[str, str],
    plan: Plan,
    steps: int,
    methods: Sequence[Method],
    outcomes: Sequence[ImageOutcome],
    scores: Mapping[str, Mapping[str, Scores]],
    randomization: Mapping[str, RandomizationPart],
) -> ModelTrust:
    """The model page's trust section from its parts (cached or made now), its plots drawn
    from their numbers. `model` is the model's name and slug, `steps` the deletion steps."""
    writer.keep(part.strip for part in plan.randomization.values() if part is not None)
    name, slug = model
    sections = {outcome.section.slug: outcome.section for outcome in outcomes}
    photo = sections.get(plan.randomization_photo or "") or outcomes[0].section
    label = photo.predictions[0].label if photo.predictions else ""
    cascade = next((part.steps for part in randomization.values()), [])
    similarities = [
        (m.title, [s.spearman for s in randomization[m.slug].similarities])
        for m in methods
        if m.slug in randomization
    ]
    first = scores.get(photo.slug, {})
    titles = {m.slug: m.title for m in methods} | BASELINES
    curves = [
        (titles[n], first[n].deletion, first[n].insertion, n in BASELINES)
        for n in [*(m.slug for m in methods), *BASELINES]
        if n in first
    ]
    plots = trust_plots(
        writer, name, slug, photo.title, label, cascade, similarities, curves, RANDOMIZATION_MARK
    )
    settings = TrustSettings(
        photo=photo.title,
        photos=len(scores),
        steps=steps,
        cascade=list(cascade),
        reference="the black photo",
        blur=f"a Gaussian blur of the photo (σ = {trust.BLUR_SIGMA_FRACTION * 100:.1f} % of its width)",
    )
    by_method: dict[str, list[Scores]] = {}
    for photo_scores in scores.values():
        for scored, value in photo_scores.items():
            by_method.setdefault(scored, []).append(value)
    class_similarity: dict[str, list[Similarity]] = {}
    for outcome in outcomes:
        for method_slug, values in outcome.class_similarity.items():
            class_similarity.setdefault(method_slug, []).extend(values)
    shown = [shown_method(m) for m in methods]
    return model_trust(settings, shown, randomization, class_similarity, by_method, plots)
