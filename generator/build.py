"""The build pipeline: models x images -> arrays -> image files -> Markdown pages.

One model is in memory at a time and is released before the next. A model that fails (missing
weights, an exception) is reported with its cause, marked failed on the home page, and the build
goes on with the others.
"""

from __future__ import annotations

import dataclasses
import gc
import re
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from PIL import Image
from tqdm import tqdm

from generator import __version__, render
from generator.cache import Cache, content_key, folder_fingerprint
from generator.console import Console
from generator.images import ImageError, SourceImage, center_crop, find_images, slugify
from generator.labels import imagenet_labels
from generator.manifest import MANIFEST_NAME, ForeignFile, Ledger, OutputError, unwritable
from generator.methods import SELECTION_VERSION
from generator.methods.explain import Explainer, Explanations
from generator.methods.feature_maps import strongest_channels
from generator.methods.filters import (
    FilterSet,
    deeper_filter_layers,
    first_layer_filters,
    layer_filters,
)
from generator.methods.layers import TensorChoice, gradcam_target, stage_outputs
from generator.methods.receptive_field import (
    ReceptiveField,
    projection_crops,
    receptive_fields,
)
from generator.model_process import ModelProcessFailed, PipeProgress, peak_rss_gib, run_in_child
from generator.pages import (
    ChosenTensor,
    ClassExplanation,
    Figure,
    ImageSection,
    ModelPage,
    ModelSummary,
    Prediction,
    SiteInfo,
    write_site,
)
from generator.reference_times import record_build_times, reference_times
from generator.registry import ModelSpec, build_model
from generator.weights import WeightsSource, WeightsUnavailable, prepare_weights

SITE_MARKER = ".gallery-site"  # "this folder is a gallery docs folder": safe to write into
CACHE_DIR = ".gallery-cache"  # MkDocs skips dot-folders, so the cache is never published
LOG_NAME = "build.log"  # in CACHE_DIR: the last build's library output and tracebacks
FEATURE_CHANNELS = 16
PROJECTION_CHANNELS = 4
THUMBNAIL_SIZE = 192
DISPLAY_SIDE = 320  # per-class pictures: shown at about 200 px, zoomed to this in the lightbox


class BuildRefused(RuntimeError):
    """The build cannot go on as asked; the message names the culprit and the fix."""


class OutputFolderRefused(BuildRefused):
    """`--out` is a non-empty folder the generator did not create."""


@dataclass(frozen=True)
class BuildOptions:
    """What to build; mirrors the command line of `python -m generator build`."""

    specs: tuple[ModelSpec, ...]
    images: Path
    out: Path
    weights: str | Path  # "imagenet", "random" or a folder of Keras weight files
    top: int = 5
    force: bool = False  # write into a non-empty folder the generator did not create
    isolate: bool = False  # compute each model in its own process (bounded memory; CLI default)


@dataclass
class BuildReport:
    """What happened, for the closing summary and the exit code."""

    built: dict[str, float] = field(default_factory=dict)  # model -> recorded compute seconds
    cached: list[str] = field(default_factory=list)  # models taken whole from the cache
    peak_gib: dict[str, float] = field(default_factory=dict)  # model -> its process's peak
    main_peak_gib: float = 0.0  # the build process itself
    failed: dict[str, str] = field(default_factory=dict)  # model -> reason
    kept: list[str] = field(default_factory=list)  # failed models whose earlier page is kept
    skipped_images: list[tuple[Path, str]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # pages not written over a user's file
    log_path: Path | None = None  # full tracebacks and library output

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped_images and not self.refused

    def summary(self) -> str:
        lines = [f"Built {len(self.built)} model(s), {len(self.failed)} failed."]
        if self.cached:
            lines[0] += f" {len(self.cached)} of them came whole from the cache."
        for name, seconds in self.built.items():
            if name in self.cached:
                lines.append(f"  {name:<22} cached")
                continue
            peak = self.peak_gib.get(name)
            lines.append(
                f"  {name:<22} {seconds:7.1f} s" + (f"  peak {peak:5.2f} GiB" if peak else "")
            )
        lines += [f"  FAILED {name}: {reason}" for name, reason in self.failed.items()]
        lines += [f"  kept the page of {name} from an earlier build" for name in self.kept]
        lines += [f"  not written: {reason}" for reason in self.refused]
        lines += [f"  skipped image {path.name}: {reason}" for path, reason in self.skipped_images]
        if self.peak_gib:
            largest = max(self.peak_gib, key=self.peak_gib.get)
            lines.append(
                f"Peak memory: {self.main_peak_gib:.2f} GiB in the build process; model "
                f"processes up to {self.peak_gib[largest]:.2f} GiB ({largest})."
            )
        if self.log_path is not None:
            lines.append(f"Full log (library output, tracebacks): {self.log_path}")
        return "\n".join(lines)


def _display_tile(draw: Callable[[], np.ndarray]) -> Image.Image:
    """A per-class picture, drawn on the worker, at web display size (600 px inputs halved)."""
    return render.fit_within(Image.fromarray(draw()), DISPLAY_SIDE)


def _draw_and_save(ledger: Ledger, path: Path, draw: Callable[[], Image.Image]) -> None:
    ledger.write_bytes(path, render.encode_webp(draw()))


class _Writer:
    """Draws and writes assets on a worker thread, and remembers them for the manifest.

    Drawing and WebP encoding overlap with the next image's computation; a figure's path and
    caption are known at once, so pages never wait for pixels.
    """

    def __init__(self, ledger: Ledger, workers: int = 2) -> None:
        self.ledger = ledger
        self.out = ledger.out
        self.written: list[str] = []
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="render")
        self._pending: list[Future] = []

    def image(
        self,
        relative: str,
        draw: Callable[[], Image.Image],
        alt: str,
        caption: str,
        scale: str = "",
    ) -> Figure:
        """Schedule `draw()` to be encoded to `out/relative`; returns its Figure now."""
        self._pending.append(
            self._pool.submit(_draw_and_save, self.ledger, self.out / relative, draw)
        )
        self.written.append(relative)
        return Figure(path=relative, caption=caption, alt=alt, scale=scale)

    def keep(self, figures: Iterable[Figure]) -> None:
        """Record files from an earlier build that are reused as they are."""
        self.written += [figure.path for figure in figures]

    def wait(self) -> None:
        """Block until every scheduled file is written; re-raises the first failure."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, error_type: type | None, *rest: object) -> None:
        if error_type is None:
            self.wait()
        # On an interruption, unstarted files are dropped; started ones finish atomically.
        self._pool.shutdown(wait=True, cancel_futures=error_type is not None)


def _weights_label(weights: str | Path) -> tuple[str, str]:
    """(mode, human label) for the pages."""
    if weights == "random":
        return "random", "random, untrained (seeded)"
    if weights == "imagenet":
        return "imagenet", "ImageNet (Keras)"
    return "folder", f"ImageNet, from the folder {Path(weights).name}"


def _filter_figures(writer: _Writer, spec: ModelSpec, model: keras.Model) -> list:
    """First-layer and a few deeper filters of the model, as (heading, note, Figure)."""
    sets: list[FilterSet] = [first_layer_filters(model)]
    sets += [layer_filters(layer) for layer in deeper_filter_layers(model)]
    figures = []
    for filters in sets:
        shape = "x".join(str(d) for d in filters.kernel_shape)
        if filters.kind == "rgb":
            picture = partial(render.rgb_filter_grid, filters.kernels)
            note = (
                f"All {filters.kernels.shape[0]} kernels of the first convolution ({shape}); "
                "each tile is min-max scaled on its own to show its colour pattern."
            )
        elif filters.kind == "depthwise":
            picture = partial(render.depthwise_filter_grid, filters.kernels)
            note = (
                f"Depthwise convolution ({shape}): one spatial filter per channel; the first "
                f"{filters.kernels.shape[0]} channels, grey = 0."
            )
        elif filters.kind == "pointwise":
            picture = partial(render.pointwise_matrix, filters.kernels)
            note = (
                f"1x1 convolution ({shape}): no spatial pattern, only channel mixing; rows are "
                "output channels, columns input channels (red positive, blue negative)."
            )
        else:
            picture = partial(render.spatial_filter_grid, filters.kernels)
            note = (
                f"Convolution ({shape}): the first {filters.kernels.shape[0]} filters (rows) "
                f"on their first {filters.kernels.shape[1]} input channels (columns), "
                "grey = 0, one scale per filter."
            )
        relative = f"assets/{spec.slug}/filters-{slugify(filters.layer)}.webp"
        caption = f"{spec.name}: filters of layer {filters.layer}. {note}"
        figures.append((filters.layer, note, writer.image(relative, picture, caption, caption)))
    return figures


def _image_section(
    writer: _Writer,
    spec: ModelSpec,
    explainer: Explainer,
    source: SourceImage,
    top: int,
    legend: Figure,
    fields: dict[str, ReceptiveField],
    weights: str,
) -> ImageSection:
    """Everything the model page shows for one image: one forward pass feeds all of it."""
    labels = imagenet_labels()
    crop = center_crop(source.pixels, spec.input_size)
    batch = spec.preprocess(crop[None])
    result: Explanations = explainer.explain(batch, top=top)
    base = f"assets/{spec.slug}/{source.slug}"
    what = f"{spec.name}, image '{source.title}'"

    classes = [int(c) for c in result.classes[0]]
    names = [labels[c] if c < len(labels) else f"class {c}" for c in classes]
    predictions = [
        Prediction(rank + 1, c, name, float(result.probabilities[0, c]))
        for rank, (c, name) in enumerate(zip(classes, names))
    ]
    crop_fig = writer.image(
        f"{base}/crop.webp",
        partial(Image.fromarray, crop),
        f"The {spec.input_size[0]}x{spec.input_size[1]} crop of '{source.title}' that {spec.name} sees",
        f"{what}: the input crop, the centre of the photo the model sees",
    )
    row_labels = [
        f"{rank + 1}. {name}\n{100 * result.probabilities[0, c]:.1f}%"
        for rank, (c, name) in enumerate(zip(classes, names))
    ]
    grid = partial(
        render.explanation_grid,
        crop,
        result.gradcam[0],
        result.guided_gradcam[0],
        result.guided_backprop[0],
        result.deconvnet[0],
        row_labels,
        [
            f"{spec.name} · photo '{source.title}' · top-{top} classes · Grad-CAM at layer "
            f"{explainer.target_layer}",
            f"CNN Gallery {__version__} · weights: {weights}",
        ],
    )
    explanations = writer.image(
        f"{base}/explanations.webp",
        grid,
        f"{what}: Grad-CAM, Guided Grad-CAM, Guided Backprop and DeConvNet for the top-{top} "
        f"classes ({', '.join(names)})",
        f"{what}: class explanations for the top-{top} classes "
        f"(Grad-CAM at layer {explainer.target_layer})",
    )

    class_figures = []
    for rank, (prediction, name) in enumerate(zip(predictions, names)):
        tiles = {
            "Grad-CAM": partial(render.heatmap_overlay, crop, result.gradcam[0, rank]),
            "Guided Grad-CAM": partial(render.gradient_image, result.guided_gradcam[0, rank]),
            "Guided Backprop": partial(render.gradient_image, result.guided_backprop[0, rank]),
            "DeConvNet": partial(render.gradient_image, result.deconvnet[0, rank]),
        }
        figures = []
        for method in render.EXPLANATION_COLUMNS:
            layer = f" at layer {explainer.target_layer}" if "Grad-CAM" in method else ""
            caption = f"{what}: {method}{layer} for class {rank + 1}, '{name}'"
            figures.append(
                (
                    method,
                    writer.image(
                        f"{base}/{slugify(method)}-{rank + 1}-{slugify(name)}.webp",
                        partial(_display_tile, tiles[method]),
                        caption,
                        caption,
                        render.METHOD_SCALES[method],
                    ),
                )
            )
        class_figures.append(ClassExplanation(prediction, figures))

    feature_figures = []
    projection_channels = {}
    for layer, activation in result.stage_activations.items():
        maps = strongest_channels(activation[0], layer, FEATURE_CHANNELS)
        projection_channels[layer] = [int(c) for c in maps.channels[:PROJECTION_CHANNELS]]
        caption = (
            f"{what}: feature maps of layer {layer} "
            f"({activation.shape[1]}x{activation.shape[2]}x{activation.shape[3]}), its "
            f"{len(maps.channels)} most active channels; {render.feature_scale(*maps.scale)}"
        )
        figure = writer.image(
            f"{base}/features-{slugify(layer)}.webp",
            partial(render.feature_map_grid, maps.maps, maps.channels, maps.scale),
            caption,
            caption,
        )
        feature_figures.append((layer, tuple(int(d) for d in activation.shape[1:]), figure))

    projection_figures = []
    for layer, (guided, deconv) in explainer.project_layers(batch, projection_channels).items():
        channels = projection_channels[layer]
        activation = result.stage_activations[layer][0]
        boxes = projection_crops(activation, channels, fields[layer], guided[0], deconv[0])
        side = fields[layer].size[0]
        caption = (
            f"{what}: projections to pixels of layer {layer}: for channels {channels}, where "
            f"the strongest activation looks, the photo and its Guided Backprop and DeConvNet "
            f"projections cropped to the part of that unit's {side}x{side} px receptive field "
            f"that holds 99% of the projections; {render.GRADIENT_SCALE}"
        )
        figure = writer.image(
            f"{base}/projections-{slugify(layer)}.webp",
            partial(render.projection_grid, crop, guided[0], deconv[0], channels, boxes, side),
            caption,
            caption,
        )
        projection_figures.append((layer, figure))

    return ImageSection(
        slug=source.slug,
        title=source.title,
        crop=crop_fig,
        predictions=predictions,
        explanations=explanations,
        gradcam_legend=legend,
        feature_maps=feature_figures,
        projections=projection_figures,
        classes=class_figures,
    )


def _release_models() -> None:
    """Free the last model and its compiled functions before the next one is built.

    Called once the function that held the model has returned, so no reference is left.
    """
    keras.backend.clear_session()
    gc.collect()


def _weights_identity(weights: str | Path) -> list:
    """What the model's weights depend on, for cache keys.

    ImageNet weights are fixed by the Keras release (Keras checks each download's hash), so
    the Keras version in the key covers them, and sharded builds on other machines agree.
    A user's folder may change at any time: its files' names, sizes and times count.
    """
    if weights in ("random", "imagenet"):
        return [str(weights)]
    folder = Path(weights).resolve()
    return ["folder", str(folder), folder_fingerprint(folder)]


def _model_key(spec: ModelSpec, options: BuildOptions) -> str:
    return content_key(
        model=spec.name,
        weights=_weights_identity(options.weights),
        generator=__version__,
        keras=keras.__version__,
        top=options.top,
        features=FEATURE_CHANNELS,
        projections=PROJECTION_CHANNELS,
        display=DISPLAY_SIDE,
        figures=render.FIGURE_STYLE,
        gradcam_layer=spec.gradcam_layer,
        selection=SELECTION_VERSION,
    )


def _image_key(model_key: str, source: SourceImage) -> str:
    return content_key(model=model_key, image=source.sha256, slug=source.slug, title=source.title)


def _figure(data: dict) -> Figure:
    return Figure(**data)


def _section_from_json(data: dict) -> ImageSection:
    """The inverse of `dataclasses.asdict` for an ImageSection read back from the cache."""
    return ImageSection(
        slug=data["slug"],
        title=data["title"],
        crop=_figure(data["crop"]),
        predictions=[Prediction(**p) for p in data["predictions"]],
        explanations=_figure(data["explanations"]) if data["explanations"] else None,
        gradcam_legend=_figure(data["gradcam_legend"]) if data["gradcam_legend"] else None,
        feature_maps=[
            (layer, tuple(shape), _figure(f)) for layer, shape, f in data["feature_maps"]
        ],
        projections=[(layer, _figure(f)) for layer, f in data["projections"]],
        classes=[
            ClassExplanation(
                Prediction(**c["prediction"]), [(m, _figure(f)) for m, f in c["figures"]]
            )
            for c in data["classes"]
        ],
    )


def _section_figures(section: ImageSection) -> list[Figure]:
    figures = [section.crop, section.explanations]
    figures += [figure for _, _, figure in section.feature_maps]
    figures += [figure for _, figure in section.projections]
    figures += [figure for c in section.classes for _, figure in c.figures]
    return [figure for figure in figures if figure is not None]


@dataclass(frozen=True)
class _ModelCard:
    """The per-model part of a page that does not depend on the images; cached as JSON."""

    target: ChosenTensor
    stages: list[ChosenTensor]
    report: list[str]
    filters: list[tuple[str, str, Figure]]
    seconds: float  # building the model, tracing its functions, rendering its filters

    @classmethod
    def from_json(cls, data: dict) -> _ModelCard:
        filters = [(layer, note, _figure(f)) for layer, note, f in data["filters"]]
        target, stages = _chosen(data["target"]), [_chosen(s) for s in data["stages"]]
        return cls(target, stages, data["report"], filters, data["seconds"])


def _chosen(data: dict | TensorChoice) -> ChosenTensor:
    """A page's record of a chosen tensor, from the methods' choice or from the cache's JSON."""
    if isinstance(data, TensorChoice):
        return ChosenTensor(data.name, data.shape, data.reason)
    return ChosenTensor(data["name"], tuple(data["shape"]), data["reason"])


def _target_choice(spec: ModelSpec, model: keras.Model) -> TensorChoice:
    """Grad-CAM's tensor: model_facts' override for this model if it has one, else automatic."""
    if spec.gradcam_layer is None:
        return gradcam_target(model)
    shape = tuple(int(d) for d in model.get_layer(spec.gradcam_layer).output.shape[1:])
    return TensorChoice(spec.gradcam_layer, shape, "set for this model in model_facts.py")


class _Cached:
    """Looks up a model's card and image sections, counting only entries whose files exist.

    An entry that cannot be read back (edited, truncated, from an incompatible version) is a
    miss like a missing one: it is recomputed and replaced, never a failure of its model.
    """

    def __init__(self, cache: Cache, out: Path, key: str) -> None:
        self.cache, self.out, self.key = cache, out, key

    def _complete(self, figures: Iterable[Figure]) -> bool:
        return all(
            _well_formed(figure, Figure)
            and not PurePosixPath(figure.path).is_absolute()
            and ".." not in PurePosixPath(figure.path).parts
            and (self.out / figure.path).is_file()
            for figure in figures
        )

    def card(self) -> _ModelCard | None:
        try:
            card = _ModelCard.from_json(self.cache.get(self.key))
            valid = (
                all(isinstance(chosen.name, str) for chosen in [card.target, *card.stages])
                and all(isinstance(text, str) for text in card.report)
                and all(isinstance(f[0], str) and isinstance(f[1], str) for f in card.filters)
                and isinstance(card.seconds, int | float)
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        return card if valid and self._complete(f for _, _, f in card.filters) else None

    def section(self, source: SourceImage) -> tuple[ImageSection, float] | None:
        try:
            data = self.cache.get(_image_key(self.key, source))
            section, seconds = _section_from_json(data["section"]), data["seconds"]
            valid = (
                isinstance(seconds, int | float)
                and isinstance(section.title, str)
                and section.slug == source.slug
                and all(_well_formed(p, Prediction) for p in section.predictions)
                and all(_well_formed(c.prediction, Prediction) for c in section.classes)
                and all(isinstance(layer, str) for layer, _, _ in section.feature_maps)
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        return (section, seconds) if valid and self._complete(_section_figures(section)) else None


# The types a cached entry's fields must have for the pages to use it.
_FIELD_TYPES = {
    Figure: {"path": str, "caption": str, "alt": str},
    Prediction: {"rank": int, "class_index": int, "label": str, "probability": int | float},
}


def _well_formed(value: object, kind: type) -> bool:
    """A Figure or Prediction read from JSON whose fields have the types the pages expect."""
    return isinstance(value, kind) and all(
        isinstance(getattr(value, name), wanted) for name, wanted in _FIELD_TYPES[kind].items()
    )


@dataclass(frozen=True)
class _Plan:
    """What the cache already holds of one model's page."""

    key: str
    card: _ModelCard | None
    found: dict[str, tuple[ImageSection, float] | None]  # image slug -> cached section

    @property
    def complete(self) -> bool:
        return self.card is not None and all(self.found.values())

    @property
    def missing_images(self) -> int:
        return sum(section is None for section in self.found.values())


def _plan(cache: Cache, spec: ModelSpec, options: BuildOptions, images: list) -> _Plan:
    """Looked up before any model is computed, so weights are resolved only where needed.

    An entry that cannot be read back (edited, or from another generator) counts as missing:
    it is recomputed and replaced, and the lookup never fails the build.
    """
    cached = _Cached(cache, options.out, _model_key(spec, options))

    def read(lookup: Callable[[], Any]) -> Any:
        try:
            return lookup()
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            return None

    return _Plan(
        cached.key, read(cached.card), {s.slug: read(partial(cached.section, s)) for s in images}
    )


def _build_model_page(
    writer: _Writer,
    cache: Cache,
    spec: ModelSpec,
    options: BuildOptions,
    images: list[SourceImage],
    legend: Figure,
    progress: tqdm,
    plan: _Plan,
    weights: WeightsSource | None,
    log_path: str | None,
) -> _Outcome:
    """One model's page context: from the cache where possible, computing only what is missing.

    The model is built only when some part of its page is missing from the cache; `weights`
    is then the source the build process resolved for it (None for random weights).
    """
    card, found = plan.card, plan.found
    if plan.complete:
        for section, _ in found.values():
            writer.keep(_section_figures(section))
        writer.keep(f for _, _, f in card.filters)
        progress.update(len(images))
        page, seconds = _model_page(spec, options, card, [found[s.slug] for s in images])
        return _Outcome(page, seconds, built_here=False)
    work = _ModelWork(spec, options, images, legend, plan.key, card, found, weights or "random")
    if options.isolate:
        page, seconds, written, peak = run_in_child(
            spec.name,
            spec.slug,
            "generator.build:_child_work",
            "generator.build:_failure_reason",
            work,
            progress,
            log_path,
        )
        writer.written += written
        return _Outcome(page, seconds, built_here=False, peak_gib=peak)
    page, seconds = _compute_model_page(work, writer, cache, progress)
    return _Outcome(page, seconds, built_here=True)


@dataclass(frozen=True)
class _Outcome:
    page: ModelPage
    seconds: float  # this build's recorded compute time (from the cache where reused)
    built_here: bool  # the model was built in this process, which must release it
    peak_gib: float | None = None  # peak memory of the child process that built it


@dataclass(frozen=True)
class _ModelWork:
    """What one model still has to compute; picklable, so a child process can do it."""

    spec: ModelSpec
    options: BuildOptions
    images: list[SourceImage]
    legend: Figure
    key: str
    card: _ModelCard | None  # from the cache, or None to compute
    found: dict[str, tuple[ImageSection, float] | None]  # image slug -> cached section
    weights: WeightsSource  # resolved by the build process ("random" for random weights)


def _compute_model_page(
    work: _ModelWork, writer: _Writer, cache: Cache, progress: tqdm | PipeProgress
) -> tuple[ModelPage, float]:
    """Build the model once and compute the parts of its page the cache lacks."""
    spec, options, card, found = work.spec, work.options, work.card, dict(work.found)
    start = time.perf_counter()
    progress.set_postfix_str(f"{spec.name}: building the model")
    model = build_model(spec, work.weights)
    target, stages = _target_choice(spec, model), stage_outputs(model)
    stage_names = [stage.name for stage in stages]
    explainer = Explainer(model, target_layer=target.name, stage_layers=stage_names)
    fields = receptive_fields(model, stage_names)
    weights = _weights_label(options.weights)[1]
    if card is None:
        filters = _filter_figures(writer, spec, model)
        seconds = round(time.perf_counter() - start, 1)
        chosen = _chosen(target), [_chosen(stage) for stage in stages]
        card = _ModelCard(*chosen, explainer.report.lines(), filters, seconds)
        cache.put(work.key, dataclasses.asdict(card))
    else:
        writer.keep(f for _, _, f in card.filters)
    sections = []
    for source in work.images:
        step = "explaining" if found[source.slug] is None else "cached"
        progress.set_postfix_str(f"{spec.name}: {step} {source.title}"[:60])
        if found[source.slug] is None:
            began = time.perf_counter()
            section = _image_section(
                writer, spec, explainer, source, options.top, work.legend, fields, weights
            )
            seconds = round(time.perf_counter() - began, 1)
            entry = {"section": dataclasses.asdict(section), "seconds": seconds}
            cache.put(_image_key(work.key, source), entry)  # its files are checked on reuse
            found[source.slug] = (section, seconds)
        else:
            writer.keep(_section_figures(found[source.slug][0]))
        sections.append(found[source.slug])
        progress.update(1)
    return _model_page(spec, options, card, sections)


def _child_work(work: _ModelWork, progress: PipeProgress) -> tuple:
    """What a model's child process runs: compute, write files, return the page context."""
    with _Writer(Ledger(work.options.out, work.options.force)) as writer:
        cache = Cache(work.options.out / CACHE_DIR)
        page, seconds = _compute_model_page(work, writer, cache, progress)
    return page, seconds, writer.written, peak_rss_gib()


def _model_page(
    spec: ModelSpec,
    options: BuildOptions,
    card: _ModelCard,
    sections: list[tuple[ImageSection, float]],
) -> tuple[ModelPage, float]:
    """The page context, and the model's compute seconds as recorded when they were spent."""
    mode, weights_label = _weights_label(options.weights)
    page = ModelPage(
        summary=_summary(spec, card.target.name, "built", None),
        paper=spec.paper,
        paper_url=spec.paper_url,
        preprocessing=spec.preprocessing,
        weights_random=mode == "random",
        weights_label=weights_label,
        nonlinearity_report=card.report,
        target=card.target,
        stages=card.stages,
        filters=card.filters,
        images=[section for section, _ in sections],
    )
    return page, card.seconds + sum(seconds for _, seconds in sections)


def _summary(
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


def _failure_reason(error: BaseException) -> str:
    """One line naming the cause; weights errors already carry the file name and the fix."""
    if isinstance(error, WeightsUnavailable | ModelProcessFailed | OutputError):
        return str(error)
    where = traceback.extract_tb(error.__traceback__)[-1]
    return f"{type(error).__name__}: {error} (at {Path(where.filename).name}:{where.lineno})"


def _public_reason(reason: str, out: Path) -> str:
    """A failure reason for the published pages: no absolute path of the builder's machine.

    Paths inside the output folder become relative to it, paths in the home folder start with
    `~`, any other absolute path is cut to its last two parts. The terminal keeps the original.
    """
    roots = [(str(out.resolve()), ""), (str(Path.home()), "~/")]

    def shorten(match: re.Match) -> str:
        path = match.group(0)
        for root, shown in roots:
            if path == root or path.startswith(root.rstrip("/") + "/"):
                return shown + path[len(root) :].lstrip("/") or "."
        return "…/" + "/".join(PurePosixPath(path).parts[-2:])

    return _ABSOLUTE_PATH.sub(shorten, reason)


# A POSIX absolute path (at the start or after a space, quote or bracket), or a Windows one.
_ABSOLUTE_PATH = re.compile(r"(?:(?<=^)|(?<=[\s'\"(\[=]))(?:/|[A-Za-z]:\\)[^\s'\"()\[\],;]+")


def _earlier_output(ledger: Ledger, slug: str) -> list[str]:
    """The files of a model's page from an earlier build, if its page is still the generator's.

    A model that fails keeps them: its last good page stays published rather than vanishing.
    """
    page = f"models/{slug}.md"
    if not ledger.owns(page):
        return []
    assets = f"assets/{slug}/"
    return [page] + [p for p in list(ledger.records) if p.startswith(assets) and ledger.owns(p)]


def select_shard(specs: Iterable[ModelSpec], index: int, count: int) -> tuple[ModelSpec, ...]:
    """Shard `index` (1-based) of `count`: a deterministic split of the models, balanced by cost.

    Cost is estimated as parameters x input pixels; models are dealt, costliest first, to the
    shard with the least cost so far (ties by name), so every machine gets the same answer.
    """
    if not 1 <= index <= count:
        raise ValueError(f"shard {index}/{count} does not exist: use 1/{count} to {count}/{count}")

    def cost(spec: ModelSpec) -> float:
        return (spec.params or 1.0) * spec.input_size[0] * spec.input_size[1]

    loads = [0.0] * count
    chosen: list[ModelSpec] = []
    for spec in sorted(specs, key=lambda s: (-cost(s), s.name)):
        shard = min(range(count), key=lambda i: (loads[i], i))
        loads[shard] += cost(spec)
        if shard == index - 1:
            chosen.append(spec)
    return tuple(sorted(chosen, key=lambda s: s.name))


def prepare_output(out: Path, force: bool) -> None:
    """Refuse a foreign non-empty folder; claim ours and clear temp files a killed build left.

    A folder is ours when it holds the manifest or the site marker (the repository's
    `site_src/` ships the marker beside its hand-written files). Only the generator's own
    temporary files (`render.TEMP_PREFIX`) are cleared.
    """
    if out.exists() and not out.is_dir():
        raise OutputFolderRefused(
            f"--out {out} is a file, not a folder; choose a folder (new or one the generator "
            "wrote) for the site"
        )
    ours = (out / MANIFEST_NAME).exists() or (out / SITE_MARKER).exists()
    if out.is_dir() and any(out.iterdir()) and not ours and not force:
        raise OutputFolderRefused(
            f"--out {out} is a non-empty folder that the generator did not create; choose an "
            "empty or new folder, or pass --force to write into it (files the generator did "
            "not write are never deleted)"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputFolderRefused(
            f"cannot create --out {out} ({error.strerror or error}); create it yourself, or "
            "choose another folder"
        ) from None
    try:
        (out / SITE_MARKER).touch()
        for leftover in out.rglob(f"{render.TEMP_PREFIX}*"):  # writes cut short by SIGKILL
            leftover.unlink(missing_ok=True)
    except OSError as error:
        raise OutputFolderRefused(str(unwritable(error, out, SITE_MARKER))) from None


def _unique_specs(specs: Iterable[ModelSpec], console: Console) -> tuple[ModelSpec, ...]:
    """Each model once, in the order first asked for; a repeat is merged with a note."""
    unique: dict[str, ModelSpec] = {}
    for spec in specs:
        if spec.name in unique:
            console.say(f"note: {spec.name} was asked for more than once; it is built once")
        unique.setdefault(spec.name, spec)
    return tuple(unique.values())


def build(options: BuildOptions, console: Console | None = None) -> BuildReport:
    """Build every requested model's page, then the home and methods pages.

    `console` is where people are told what happens (the CLI's quiet one; by default the
    terminal, with nothing redirected). Raises `BuildRefused` before anything is computed when
    the inputs cannot be built as asked, and `weights.NoNetwork` before any model process
    starts when weights must be downloaded and cannot be.
    """
    if console is None:
        with Console() as terminal:
            return build(options, terminal)
    try:
        images, skipped = find_images(options.images)
    except ImageError as error:  # a missing folder, or two photos that would share one address
        raise BuildRefused(str(error)) from None
    options = dataclasses.replace(options, specs=_unique_specs(options.specs, console))
    prepare_output(options.out, options.force)
    console.keep_log_in(options.out / CACHE_DIR / LOG_NAME)
    report = BuildReport(skipped_images=skipped, log_path=console.log_path)
    for path, reason in report.skipped_images:
        console.say(f"skipping image {path.name}: {reason}")
    ledger = Ledger(options.out, options.force)
    for warning in ledger.warnings:
        console.say(f"warning: {warning}")
    cache = Cache(options.out / CACHE_DIR)
    plans = {spec.name: _plan(cache, spec, options, images) for spec in options.specs}
    sources = _resolve_weights(
        [spec for spec in options.specs if not plans[spec.name].complete], options, console
    )
    writer = _Writer(ledger)
    mode, weights_label = _weights_label(options.weights)
    site = SiteInfo(
        title="CNN Gallery",
        version=__version__,
        weights_mode=mode,
        weights_label=weights_label,
        keras_version=keras.__version__,
        tensorflow_version=tf.__version__,
        reference_machine=reference_times().machine,
        reference_images=reference_times().images,
    )
    legend = writer.image(
        "assets/legend-explanations.webp",
        render.explanation_legend,
        "Colour scales: Grad-CAM from black (no evidence) to yellow (strongest); Guided "
        "Grad-CAM, Guided Backprop and DeConvNet from black (negative) through grey (0) to "
        "white (positive) in each colour channel",
        "Colour scales of the explanation maps",
    )
    thumbnails = [
        (
            source.slug,
            source.title,
            writer.image(
                f"assets/images/{source.slug}.webp",
                partial(
                    Image.fromarray, center_crop(source.pixels, (THUMBNAIL_SIZE, THUMBNAIL_SIZE))
                ),
                f"Sample image '{source.title}'",
                source.title,
            ),
        )
        for source in images
    ]

    summaries: list[ModelSummary] = []
    pages: list[ModelPage] = []
    total = len(options.specs) * len(images)
    with writer, console.progress(total, "models x images") as progress:
        for spec in options.specs:
            done_before = progress.n
            built_here = not options.isolate
            plan = plans[spec.name]
            began = time.perf_counter()
            try:
                source = sources.get(spec.name)
                if isinstance(source, WeightsUnavailable):
                    raise source
                if options.isolate and not plan.complete:
                    console.detail(f"{spec.name}: starting its model process")
                outcome = _build_model_page(
                    writer,
                    cache,
                    spec,
                    options,
                    images,
                    legend,
                    progress,
                    plan,
                    source,
                    console.child_log,
                )
                built_here = outcome.built_here
                writer.wait()  # a file that cannot be written fails its own model only
            except (Exception, MemoryError) as error:  # one model never stops the build
                reason = _failure_reason(error)
                report.failed[spec.name] = reason
                console.detail(f"{spec.name} failed:\n{_failure_details(error)}")
                console.say(f"{spec.name}: FAILED: {reason}")
                earlier = _earlier_output(ledger, spec.slug)
                writer.written += earlier
                if earlier:
                    report.kept.append(spec.name)
                    console.say("  kept its page and pictures from an earlier build")
                status = "earlier" if earlier else "failed"
                public = _public_reason(reason, options.out)
                summaries.append(_summary(spec, None, status, public))
                progress.update(done_before + len(images) - progress.n)
                continue
            finally:
                if built_here:
                    _release_models()
            page = outcome.page
            report.built[spec.name] = round(outcome.seconds, 1)
            if outcome.peak_gib:
                report.peak_gib[spec.name] = outcome.peak_gib
            summaries.append(page.summary)
            pages.append(page)
            console.say(_model_line(spec.name, plan, len(images), outcome, began))
            if plan.complete:
                report.cached.append(spec.name)

    refused: set[str] = set()

    def write_page(path: Path, text: str) -> None:
        """A page over a file the generator did not write is left out, with a message."""
        try:
            ledger.write_text(path, text)
        except ForeignFile as error:
            refused.add(ledger.relative(path))
            report.refused.append(str(error))
            console.say(f"not written: {error}")

    try:
        written_pages = write_site(
            options.out, site, summaries, pages, thumbnails, write_text=write_page
        )
        pages_written = {ledger.relative(path) for path in written_pages} - refused
        for note in ledger.finish([*writer.written, *pages_written]):
            console.say(f"note: {note}")
    except OutputError as error:  # disk full, read-only: the files written so far are complete
        raise BuildRefused(str(error)) from None
    record_build_times(options.out / CACHE_DIR / "build-times.json", report.built, len(images))
    report.main_peak_gib = peak_rss_gib()
    return report


def _resolve_weights(
    specs: list[ModelSpec], options: BuildOptions, console: Console
) -> dict[str, WeightsSource | WeightsUnavailable]:
    """Each model to compute -> its weights source, found or downloaded before any child starts.

    Raises `NoNetwork` (one message for the whole build) when downloads cannot be made.
    """
    if options.weights == "random" or not specs:
        return {}
    with console.downloads() as bar:
        return prepare_weights(specs, options.weights, progress=bar)


def _model_line(name: str, plan: _Plan, images: int, outcome: _Outcome, began: float) -> str:
    """The one terminal line for a finished model: what was computed, what was reused."""
    if plan.complete:
        return f"{name}: cached"
    computed = plan.missing_images
    reused = images - computed
    what = f"{computed} image(s) computed" + (f", {reused} cached" if reused else "")
    peak = f", peak {outcome.peak_gib:.2f} GiB" if outcome.peak_gib else ""
    return f"{name}: built ({what}; {time.perf_counter() - began:.1f} s{peak})"


def _failure_details(error: BaseException) -> str:
    """The full traceback for the log: the model process's own when it failed in one."""
    if isinstance(error, ModelProcessFailed) and error.details:
        return error.details
    return "".join(traceback.format_exception(error))
