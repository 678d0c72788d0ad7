"""What one model computes for its page: built once, every missing part explained and drawn.

It runs in the model's own child process (`child_work`) or, with `--in-process`, in the build
process. Arrays come from the methods; their figures are named, captioned and drawn by
`figures.py`; what comes back is the page's records, also written to the cache.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import keras
import numpy as np
from tqdm import tqdm

from generator import render
from generator.cache import Cache
from generator.figures import (
    FEATURE_CHANNELS,
    PROJECTION_CHANNELS,
    FigureWriter,
    ImageFigures,
    filter_figure,
)
from generator.images import SourceImage, center_crop
from generator.labels import imagenet_labels
from generator.manifest import Ledger
from generator.methods import catalog
from generator.methods.explain import Explainer, Explanations
from generator.methods.feature_maps import strongest_channels
from generator.methods.filters import deeper_filter_layers, first_layer_filters, layer_filters
from generator.methods.layers import TensorChoice, gradcam_target, stage_outputs
from generator.methods.receptive_field import ReceptiveField, projection_crops, receptive_fields
from generator.model_process import PipeProgress, peak_rss_gib
from generator.plan import (
    CACHE_DIR,
    BuildOptions,
    CachedSection,
    ModelCard,
    image_key,
    weights_label,
)
from generator.reference_times import reference_times
from generator.registry import ModelSpec, build_model
from generator.site_records import (
    ChosenTensor,
    ClassExplanation,
    Figure,
    ImageSection,
    ModelPage,
    ModelSummary,
    Prediction,
)
from generator.weights import WeightsSource


@dataclass(frozen=True)
class ModelWork:
    """What one model still has to compute; picklable, so a child process can do it."""

    spec: ModelSpec
    options: BuildOptions
    images: list[SourceImage]
    legend: Figure
    key: str
    card: ModelCard | None  # from the cache, or None to compute
    found: dict[str, CachedSection | None]  # image slug -> cached section
    weights: WeightsSource  # resolved by the build process ("random" for random weights)


@dataclass(frozen=True)
class ChildResult:
    """What a model's child process sends back to the build."""

    page: ModelPage
    seconds: float
    written: list[str]  # files it wrote or kept, for the manifest
    peak_gib: float


def _chosen(choice: TensorChoice) -> ChosenTensor:
    """A page's record of a tensor the methods chose."""
    return ChosenTensor(choice.name, choice.shape, choice.reason)


def _target_choice(spec: ModelSpec, model: keras.Model) -> TensorChoice:
    """Grad-CAM's tensor: model_facts' override for this model if it has one, else automatic."""
    if spec.gradcam_layer is None:
        return gradcam_target(model)
    shape = tuple(int(d) for d in model.get_layer(spec.gradcam_layer).output.shape[1:])
    return TensorChoice(spec.gradcam_layer, shape, "set for this model in model_facts.py")


def _first(notes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-map notes of the first (only) image: name -> (k,)."""
    return {name: values[0] for name, values in notes.items()}


def image_section(
    writer: FigureWriter,
    spec: ModelSpec,
    explainer: Explainer,
    source: SourceImage,
    options: BuildOptions,
    legend: Figure,
    fields: dict[str, ReceptiveField],
    weights: str,
) -> ImageSection:
    """Everything the model page shows for one image: one compiled call feeds all of it."""
    labels = imagenet_labels()
    crop = center_crop(source.pixels, spec.input_size)
    batch = spec.preprocess(crop[None])
    result: Explanations = explainer.explain(
        batch, top=options.top, many_passes_top=options.many_pass_top
    )
    figures = ImageFigures(writer, spec.name, spec.slug, source)
    # Each method's maps and notes of this image, for the first k <= K classes it explains.
    maps = [
        (method, result.methods[method.slug].maps[0], _first(result.methods[method.slug].notes))
        for method in explainer.methods
    ]
    layers = list(explainer.stage_layers)

    classes = [int(c) for c in result.classes[0]]
    names = [labels[c] if c < len(labels) else f"class {c}" for c in classes]
    predictions = [
        Prediction(rank + 1, c, name, float(result.probabilities[0, c]))
        for rank, (c, name) in enumerate(zip(classes, names))
    ]
    crop_figure = figures.crop(crop)
    row_labels = [
        f"{rank + 1}. {name}\n{100 * result.probabilities[0, c]:.1f}%"
        for rank, (c, name) in enumerate(zip(classes, names))
    ]
    columns = [
        render.ExplanationColumn(method.title, method.display, method_maps, layers)
        for method, method_maps, _ in maps
    ]
    grid = figures.explanation_grid(
        columns, crop, row_labels, names, explainer.target_layer, weights
    )
    explained = [
        ClassExplanation(
            prediction,
            figures.class_tiles(
                crop,
                [
                    (method, method_maps[rank], {name: float(v[rank]) for name, v in notes.items()})
                    for method, method_maps, notes in maps
                    if rank < len(method_maps)
                ],
                layers,
                prediction.rank,
                prediction.label,
                explainer.target_layer,
            ),
        )
        for rank, prediction in enumerate(predictions)
    ]

    feature_maps = []
    projection_channels = {}
    for layer, activation in result.stage_activations.items():
        strongest = strongest_channels(activation[0], layer, FEATURE_CHANNELS)
        projection_channels[layer] = [int(c) for c in strongest.channels[:PROJECTION_CHANNELS]]
        shape = tuple(int(d) for d in activation.shape[1:])
        feature_maps.append(
            figures.feature_maps(layer, shape, strongest.maps, strongest.channels, strongest.scale)
        )

    projections = []
    for layer, (guided, deconv) in explainer.project_layers(batch, projection_channels).items():
        channels = projection_channels[layer]
        activation = result.stage_activations[layer][0]
        boxes = projection_crops(activation, channels, fields[layer], guided[0], deconv[0])
        side = fields[layer].size[0]
        projections.append(
            figures.projections(layer, crop, guided[0], deconv[0], channels, boxes, side)
        )

    return ImageSection(
        slug=source.slug,
        title=source.title,
        crop=crop_figure,
        predictions=predictions,
        explanations=grid,
        gradcam_legend=legend,
        feature_maps=feature_maps,
        projections=projections,
        classes=explained,
    )


def compute_model_page(
    work: ModelWork, writer: FigureWriter, cache: Cache, progress: tqdm | PipeProgress
) -> tuple[ModelPage, float]:
    """Build the model once and compute the parts of its page the cache lacks."""
    spec, options, card, found = work.spec, work.options, work.card, dict(work.found)
    start = time.perf_counter()
    progress.set_postfix_str(f"{spec.name}: building the model")
    model = build_model(spec, work.weights)
    target, stages = _target_choice(spec, model), stage_outputs(model)
    stage_names = [stage.name for stage in stages]
    explainer = Explainer(
        model,
        target_layer=target.name,
        stage_layers=stage_names,
        methods=catalog.select(options.methods),
        preprocess=spec.preprocess,
    )
    fields = receptive_fields(model, stage_names)
    weights = weights_label(options.weights)[1]
    if card is None:
        sets = [first_layer_filters(model)]
        sets += [layer_filters(layer) for layer in deeper_filter_layers(model)]
        filters = [filter_figure(writer, spec.name, spec.slug, filters) for filters in sets]
        seconds = round(time.perf_counter() - start, 1)
        chosen = _chosen(target), [_chosen(stage) for stage in stages]
        card = ModelCard(*chosen, explainer.report.lines(), filters, seconds)
        cache.put(work.key, dataclasses.asdict(card))
    else:
        writer.keep(f.figure for f in card.filters)
    sections = []
    for source in work.images:
        step = "explaining" if found[source.slug] is None else "cached"
        progress.set_postfix_str(f"{spec.name}: {step} {source.title}"[:60])
        if found[source.slug] is None:
            began = time.perf_counter()
            section = image_section(
                writer, spec, explainer, source, options, work.legend, fields, weights
            )
            seconds = round(time.perf_counter() - began, 1)
            entry = {"section": dataclasses.asdict(section), "seconds": seconds}
            cache.put(image_key(work.key, source), entry)  # its files are checked on reuse
            found[source.slug] = CachedSection(section, seconds)
        else:
            writer.keep(found[source.slug].section.figures())
        sections.append(found[source.slug])
        progress.update(1)
    return model_page(spec, options, card, sections)


def child_work(work: ModelWork, progress: PipeProgress) -> ChildResult:
    """What a model's child process runs: compute, write files, return the page context."""
    with FigureWriter(Ledger(work.options.out, work.options.force)) as writer:
        cache = Cache(work.options.out / CACHE_DIR)
        page, seconds = compute_model_page(work, writer, cache, progress)
    return ChildResult(page, seconds, writer.written, peak_rss_gib())


def model_page(
    spec: ModelSpec,
    options: BuildOptions,
    card: ModelCard,
    sections: list[CachedSection],
) -> tuple[ModelPage, float]:
    """The page context, and the model's compute seconds as recorded when they were spent."""
    mode, label = weights_label(options.weights)
    page = ModelPage(
        summary=model_summary(spec, card.target.name, "built", None),
        paper=spec.paper,
        paper_url=spec.paper_url,
        preprocessing=spec.preprocessing,
        weights_random=mode == "random",
        weights_label=label,
        nonlinearity_report=card.report,
        target=card.target,
        stages=card.stages,
        filters=card.filters,
        images=[cached.section for cached in sections],
    )
    return page, card.seconds + sum(cached.seconds for cached in sections)


def model_summary(
    spec: ModelSpec,
    target: str | None,
    status: str,
    failure: str | None,
) -> ModelSummary:
    """The model's row of the home-page table, with the reference machine's build time."""
    return ModelSummary(
        name=spec.name,
        slug=spec.slug,
        family=spec.family,
        year=spec.year,
        params=spec.params,
        input_size=spec.input_size,
        top1=spec.top1,
        top5=spec.top5,
        target_layer=target,
        status=status,
        failure=failure,
        reference_seconds=reference_times().seconds.get(spec.name) if status == "built" else None,
    )
