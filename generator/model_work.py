"""What one model computes for its page: built once, every missing part explained and drawn.

It runs in the model's own child process (`child_work`) or, with `--in-process`, in the build
process. Arrays come from the methods; their figures are named, captioned and drawn by
`figures.py`; what comes back is the page's records, also written to the cache.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import keras
import numpy as np
from tqdm import tqdm

from generator import render
from generator.cache import CACHE_DIR, Cache
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
from generator.methods.base import Method
from generator.methods.budget import GIB, OverBudget, budget_bytes
from generator.methods.explain import Explainer, Explanations
from generator.methods.feature_maps import strongest_channels
from generator.methods.filters import deeper_filter_layers, first_layer_filters, layer_filters
from generator.methods.layers import (
    TensorChoice,
    TensorGraph,
    gradcam_target,
    spatial_shape,
    stage_outputs,
)
from generator.methods.projections import LayerProjections
from generator.methods.receptive_field import ReceptiveField, projection_crops, receptive_fields
from generator.model_pages import ComputedPage, model_page
from generator.model_process import PipeProgress, peak_rss_gib
from generator.neuron_work import NeuronInputs, neuron_section
from generator.options import BuildOptions
from generator.own_model_work import cannot_explain, fitted_options, own_facts, unexplained_page
from generator.own_models import OwnModelError
from generator.plan import (
    CELLS,
    MethodPart,
    ModelCard,
    Plan,
    SharedPart,
    load_cells,
    put_entry,
)
from generator.printable import printable
from generator.registry import ModelSpec, build_model
from generator.sections import Cells, ImageOutcome, draw_grid, join_section, trust_section
from generator.site_records import ChosenTensor, Figure, Prediction
from generator.trust_work import TrustInputs, class_similarity, randomize, score_photos
from generator.weights import WeightsSource, resolve_weights


@dataclass(frozen=True)
class ModelWork:
    """What one model still has to compute; picklable, so a child process can do it."""

    spec: ModelSpec
    options: BuildOptions
    images: list[SourceImage]
    legend: Figure
    plan: Plan  # what the cache holds of its page
    weights: WeightsSource  # resolved by the build process ("random" for random weights)


@dataclass(frozen=True)
class ChildResult:
    """What a model's child process sends back to the build."""

    result: ComputedPage
    written: list[str]  # files it wrote or kept, for the manifest
    peak_gib: float


def _chosen(choice: TensorChoice) -> ChosenTensor:
    """A page's record of a tensor the methods chose."""
    return ChosenTensor(choice.name, choice.shape, choice.reason)


def _target_choice(spec: ModelSpec, model: keras.Model, graph: TensorGraph) -> TensorChoice:
    """Grad-CAM's tensor: model_facts' override for this model, or an own model's
    `--target-layer` (a path inside a nested base), else chosen from the graph."""
    if spec.gradcam_layer is None:
        return gradcam_target(model, graph)
    try:
        tensor = graph.tensor(spec.gradcam_layer)  # its error lists the names closest to it
    except ValueError as error:
        raise OwnModelError(f"{spec.name}: --target-layer {spec.gradcam_layer}: {error}") from None
    shape = spatial_shape(tensor)
    if shape is None:
        raise OwnModelError(
            f"--target-layer {spec.gradcam_layer}: {spec.name}'s tensor of that name has shape "
            f"{tuple(tensor.shape)}, not a spatial grid (batch, height, width, channels)"
        )
    why = "set for this model in model_facts.py" if spec.file is None else "--target-layer"
    return TensorChoice(spec.gradcam_layer, shape, why)


def _first(notes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-map notes of the first (only) image: name -> (k,)."""
    return {name: values[0] for name, values in notes.items()}


def _shared_part(
    figures: ImageFigures,
    projector: LayerProjections,
    result: Explanations,
    crop: np.ndarray,
    batch: np.ndarray,
    fields: dict[str, ReceptiveField],
    labels: Sequence[str] | None,
) -> SharedPart:
    """What the section shows whatever the methods: crop, predictions, features, projections;
    `labels` name the classes (None: an own model without class names, shown by index)."""
    labels = labels or ()
    classes = [int(c) for c in result.classes[0]]
    predictions = [
        Prediction(rank + 1, c, labels[c] if c < len(labels) else f"class {c}",
                   float(result.probabilities[0, c]))
        for rank, c in enumerate(classes)
    ]  # fmt: skip
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
    if not projector.explainer.memory.projections_fit():
        projection_channels = {}  # the page says why (`compute_model_page`)
    for layer, (guided, deconv) in projector.project(batch, projection_channels).items():
        channels = projection_channels[layer]
        activation = result.stage_activations[layer][0]
        boxes = projection_crops(activation, channels, fields[layer], guided[0], deconv[0])
        side = fields[layer].size[0]
        projections.append(
            figures.projections(layer, crop, guided[0], deconv[0], channels, boxes, side)
        )
    return SharedPart(figures.crop(crop), predictions, feature_maps, projections, seconds=0.0)


def _store_cells(
    cache: Cache, key: str, column: render.ExplanationColumn, crop: np.ndarray
) -> np.ndarray:
    """A method's grid cells, drawn and stored beside its entry (on a worker)."""
    cells = render.column_cells(column, crop)
    cache.put_arrays(key, {CELLS: cells})
    return cells


def explain_image(
    writer: FigureWriter,
    cache: Cache,
    work: ModelWork,
    explainer: Explainer,
    projector: LayerProjections,
    source: SourceImage,
    card: ModelCard,
    fields: dict[str, ReceptiveField],
    methods: list[Method],
) -> ImageOutcome:
    """One image's section by `methods`: the parts the cache lacks computed in one call, the
    rest reused.

    A cached method is asked for again only when the grid must be redrawn and its stored cells
    cannot be read back. Methods are explained for the classes the cached predictions name,
    so new pictures match the reused ones.
    """
    spec, options, image = work.spec, work.options, work.plan.images[source.slug]
    began = time.perf_counter()
    figures = ImageFigures(writer, spec.name, spec.slug, source)
    crop = center_crop(source.pixels, spec.input_size)
    batch = spec.preprocess(crop[None])
    cells: dict[str, Cells] = {}
    if image.grid is None:
        for method in methods:
            cached = image.methods[method.slug]
            stored = (
                None
                if cached is None
                else load_cells(cache, image.method_keys[method.slug], cached)
            )
            if stored is not None:
                cells[method.slug] = partial(np.asarray, stored)  # drawn already
    missing = [
        method
        for method in methods
        if image.methods[method.slug] is None or (image.grid is None and method.slug not in cells)
    ]
    shared = image.shared
    if shared is None or missing:
        known = None if shared is None else np.array([[p.class_index for p in shared.predictions]])
        result = explainer.explain(
            batch,
            top=options.top,
            classes=known,
            many_passes_top=options.many_pass_top,
            methods=missing,
        )
    # The cached parts; those of `missing` are added below (every method not missing has one).
    parts = {slug: part for slug, part in image.methods.items() if part is not None}
    top_maps: dict[str, np.ndarray] = {}  # of the methods computed now, for the trust checks
    layers = list(explainer.stage_layers)
    # (key, part, its figures) made now, cached once their files are written
    made: list[tuple[str, SharedPart | MethodPart, list[Figure]]] = []
    if shared is None:
        labels = imagenet_labels() if spec.file is None else spec.class_names
        shared = _shared_part(figures, projector, result, crop, batch, fields, labels)
        if explainer.memory.projections_fit():  # else not cached: a larger budget adds them
            made.append((image.key, shared, shared.figures()))
    else:
        writer.keep(shared.figures())
    for method in methods:
        if method not in missing:
            writer.keep(f for tile in parts[method.slug].tiles for f in tile.figures())
            continue
        maps, notes = result.methods[method.slug].maps[0], _first(result.methods[method.slug].notes)
        key = image.method_keys[method.slug]
        column = render.ExplanationColumn(method.title, method.display, maps, layers)
        cells[method.slug] = writer.later(partial(_store_cells, cache, key, column, crop)).result
        tiles = [
            figures.class_tiles(
                crop,
                [(method, maps[rank], {name: float(v[rank]) for name, v in notes.items()})],
                layers,
                prediction.rank,
                prediction.label,
                explainer.target_layer,
            )[0]
            for rank, prediction in enumerate(shared.predictions[: len(maps)])
        ]
        parts[method.slug] = MethodPart(tiles, 0.0, class_similarity(method, maps))
        top_maps[method.slug] = maps[0]
        made.append((key, parts[method.slug], [f for tile in tiles for f in tile.figures()]))
    if image.grid is None:
        prints = draw_grid(
            cache,
            figures,
            image,
            shared,
            methods,
            cells,
            card,
            spec.weights_label(options.weights)[1],
        )
    else:
        prints = image.grid
        writer.keep(prints.figures())
    # The compute is shared by the parts made in it: each records an even share.
    share = round((time.perf_counter() - began) / max(len(made), 1), 2)
    for key, part, named in made:
        record = {**dataclasses.asdict(part), "seconds": share}
        writer.then(partial(put_entry, cache, writer.out, key, record, named))
    if image.shared is None:
        shared = dataclasses.replace(shared, seconds=share)
    joined = [
        parts[m.slug] if m not in missing else dataclasses.replace(parts[m.slug], seconds=share)
        for m in methods
    ]
    section = join_section(source, shared, joined, prints, work.legend)
    seconds = shared.seconds + sum(part.seconds for part in joined)
    similarity = {m.slug: part.class_similarity for m, part in zip(methods, joined)}
    computed = [method.slug for method in missing]
    return ImageOutcome(section, seconds, computed, similarity, top_maps)


def compute_model_page(
    work: ModelWork, writer: FigureWriter, cache: Cache, progress: tqdm | PipeProgress
) -> ComputedPage:
    """Build the model once and compute the parts of its page the cache lacks."""
    spec, options, card = work.spec, work.options, work.plan.card
    start = time.perf_counter()
    progress.set_postfix_str(f"{spec.name}: building the model")
    model = build_model(spec, resolve_weights(spec.name, work.weights))
    # An own model the gallery cannot explain (several inputs, no spatial layer) gets a page
    # of what can be drawn of it.
    cannot = None if spec.file is None else cannot_explain(model)
    if cannot is None:
        graph = TensorGraph(model)  # read once: targets, stages, memory and receptive fields
        try:
            target, stages = _target_choice(spec, model, graph), stage_outputs(model, graph)
        except ValueError as error:
            if spec.file is None or isinstance(error, OwnModelError):
                raise
            cannot = str(error)
    if cannot is not None:
        progress.update(len(work.images))
        seconds = round(time.perf_counter() - start, 1)
        return unexplained_page(spec, options, writer, model, cannot, seconds)
    if spec.file is not None:
        options = fitted_options(spec, options, model)
        work = dataclasses.replace(work, options=options)
    stage_names = [stage.name for stage in stages]
    explainer = Explainer(
        model,
        graph=graph,
        target_layer=target.name,
        stage_layers=stage_names,
        methods=catalog.select(options.methods),
        preprocess=spec.preprocess,
        memory_budget=budget_bytes(options.memory_budget),
    )
    projector = LayerProjections(explainer)
    # Before computing anything: the methods that cannot run within the memory budget.
    left_out = explainer.memory.left_out(explainer.plan(explainer.methods, options.top,
                                                        options.many_pass_top))  # fmt: skip
    methods = [method for method in explainer.methods if method.slug not in left_out]
    if not methods:
        least = explainer.memory.profile.fixed + explainer.memory.profile.forward_row()
        raise OverBudget(
            f"{spec.name} does not fit --memory-budget {options.memory_budget:g} (GiB) even one "
            f"input at a time: it needs at least {least / GIB:.1f} GiB; raise --memory-budget"
        )
    lines = _left_out_lines(left_out)
    if not explainer.memory.projections_fit():
        lines.append(
            "Layer projections: one backward pass of one input does not fit the memory budget"
            f" of {options.memory_budget:g} GiB"
        )
    fields = receptive_fields(model, stage_names, graph)
    if card is None:
        sets = [first_layer_filters(model)]
        sets += [layer_filters(layer) for layer in deeper_filter_layers(model)]
        filters = [filter_figure(writer, spec.name, spec.slug, filters) for filters in sets]
        seconds = round(time.perf_counter() - start, 1)
        chosen = _chosen(target), [_chosen(stage) for stage in stages]
        own = None if spec.file is None else own_facts(spec, model, explainer.softmax_bypassed)
        card = ModelCard(*chosen, explainer.report.lines(), filters, seconds, own)
        record = dataclasses.asdict(card)
        named = [f.figure for f in filters]
        writer.then(partial(put_entry, cache, writer.out, work.plan.key, record, named))
    else:
        writer.keep(f.figure for f in card.filters)
    outcomes = []
    for source in work.images:
        step = "explaining" if work.plan.images[source.slug].needs_model else "cached"
        progress.set_postfix_str(f"{spec.name}: {step} {printable(source.path.stem)}"[:60])
        outcomes.append(
            explain_image(writer, cache, work, explainer, projector, source, card, fields, methods)
        )
        progress.update(1)
    trust, checked = None, {}
    if options.evaluate and outcomes:
        progress.set_postfix_str(f"{spec.name}: checking the methods")
        inputs = TrustInputs(
            spec,
            model,
            graph,
            explainer,
            methods,
            work.images,
            {outcome.section.slug: outcome.section.predictions for outcome in outcomes},
            {outcome.section.slug: outcome.top_maps for outcome in outcomes},
        )
        scores = score_photos(inputs, work.plan, options.trust_steps, writer, cache)
        parts = randomize(inputs, work.plan, options.randomization_steps, writer, cache)
        plan = work.plan
        checked = {  # the parts missing from the cache, made now
            "deletion and insertion": sum(
                n in scores[slug]
                for slug, image in plan.images.items()
                for n in image.missing_scores
            ),
            "randomization": sum(slug in parts for slug in plan.missing_randomization),
        }
        trust = trust_section(
            writer,
            (spec.name, spec.slug),
            work.plan,
            options.trust_steps,
            methods,
            outcomes,
            scores,
            parts,
        )
    neurons = work.plan.neurons
    if work.plan.missing_neurons and outcomes:
        progress.set_postfix_str(f"{spec.name}: what the neurons look for")
        sections = [outcome.section for outcome in outcomes]
        asked = NeuronInputs(spec, model, graph, projector, fields, work.images, sections)
        neurons = neuron_section(asked, options, work.plan, writer, cache)
    elif neurons is not None:
        writer.keep(neurons.figures())
    computed = model_page(spec, options, card, outcomes, lines, trust, neurons)
    return dataclasses.replace(computed, left_out=left_out, checked=checked)


def _left_out_lines(left_out: dict[str, str]) -> list[str]:
    """The page's lines on the methods left out for memory, each naming its method."""
    titles = {method.slug: method.title for method in catalog.select(tuple(left_out))}
    return [f"{titles[slug]}: {why}" for slug, why in left_out.items()]


def child_work(work: ModelWork, progress: PipeProgress) -> ChildResult:
    """What a model's child process runs: compute, write files, return the page context."""
    with FigureWriter(Ledger(work.options.out, work.options.force)) as writer:
        cache = Cache(work.options.out / CACHE_DIR)
        result = compute_model_page(work, writer, cache, progress)
    return ChildResult(result, writer.written, peak_rss_gib())
