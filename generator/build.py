"""The build pipeline: models x images -> arrays -> image files -> Markdown pages.

One model is in memory at a time and is released before the next. A model that fails (missing
weights, an exception) is reported with its cause, marked failed on the home page, and the build
goes on with the others.
"""

from __future__ import annotations

import gc
import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import keras
import tensorflow as tf
from PIL import Image
from tqdm import tqdm

from generator import __version__, render
from generator.images import SourceImage, center_crop, find_images, slugify
from generator.labels import imagenet_labels
from generator.methods.explain import Explainer, Explanations
from generator.methods.feature_maps import strongest_channels
from generator.methods.filters import FilterSet, deeper_filter_layers, first_layer_filters, layer_filters
from generator.methods.layers import gradcam_target_layer, stage_layers
from generator.pages import (
    Figure,
    ImageSection,
    ModelPage,
    ModelSummary,
    Prediction,
    SiteInfo,
    write_site,
)
from generator.registry import ModelSpec, build_model
from generator.weights import WeightsUnavailable

MANIFEST_NAME = ".gallery-manifest.json"
FEATURE_CHANNELS = 16
PROJECTION_CHANNELS = 4
THUMBNAIL_SIZE = 192


@dataclass(frozen=True)
class BuildOptions:
    """What to build; mirrors the command line of `python -m generator build`."""

    specs: tuple[ModelSpec, ...]
    images: Path
    out: Path
    weights: str | Path  # "imagenet", "random" or a folder of Keras weight files
    top: int = 5


@dataclass
class BuildReport:
    """What happened, for the closing summary and the exit code."""

    built: dict[str, float] = field(default_factory=dict)  # model -> seconds
    failed: dict[str, str] = field(default_factory=dict)  # model -> reason
    skipped_images: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped_images

    def summary(self) -> str:
        lines = [f"Built {len(self.built)} model(s), {len(self.failed)} failed."]
        lines += [f"  {name:<22} {seconds:7.1f} s" for name, seconds in self.built.items()]
        lines += [f"  FAILED {name}: {reason}" for name, reason in self.failed.items()]
        lines += [f"  skipped image {path.name}: {reason}" for path, reason in self.skipped_images]
        return "\n".join(lines)


class _Writer:
    """Writes assets under the output folder and remembers them for the manifest."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.written: list[str] = []

    def image(self, relative: str, picture: Image.Image, alt: str, caption: str) -> Figure:
        render.save_image(self.out / relative, picture)
        self.written.append(relative)
        return Figure(path=relative, caption=caption, alt=alt)


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
            picture = render.rgb_filter_grid(filters.kernels)
            note = (
                f"All {filters.kernels.shape[0]} kernels of the first convolution ({shape}); "
                "each tile is min-max scaled on its own to show its colour pattern."
            )
        elif filters.kind == "depthwise":
            picture = render.depthwise_filter_grid(filters.kernels)
            note = (
                f"Depthwise convolution ({shape}): one spatial filter per channel; the first "
                f"{filters.kernels.shape[0]} channels, grey = 0."
            )
        elif filters.kind == "pointwise":
            picture = render.pointwise_matrix(filters.kernels)
            note = (
                f"1x1 convolution ({shape}): no spatial pattern, only channel mixing; rows are "
                "output channels, columns input channels (red positive, blue negative)."
            )
        else:
            picture = render.spatial_filter_grid(filters.kernels)
            note = (
                f"Convolution ({shape}): the first {filters.kernels.shape[0]} filters (rows) "
                f"on their first {filters.kernels.shape[1]} input channels (columns), "
                "grey = 0, one scale per filter."
            )
        relative = f"assets/{spec.slug}/filters-{slugify(filters.layer)}.webp"
        caption = f"{spec.name}: filters of layer {filters.layer}"
        figures.append((filters.layer, note, writer.image(relative, picture, caption, caption)))
    return figures


def _image_section(
    writer: _Writer,
    spec: ModelSpec,
    explainer: Explainer,
    source: SourceImage,
    top: int,
    legend: Figure,
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
        Image.fromarray(crop),
        f"The {spec.input_size[0]}x{spec.input_size[1]} crop of '{source.title}' that {spec.name} sees",
        f"{what}: the centre crop the model sees",
    )
    row_labels = [
        f"{rank + 1}. {name}\n{100 * result.probabilities[0, c]:.1f}%"
        for rank, (c, name) in enumerate(zip(classes, names))
    ]
    grid = render.explanation_grid(
        crop,
        result.gradcam[0],
        result.guided_gradcam[0],
        result.guided_backprop[0],
        result.deconvnet[0],
        row_labels,
    )
    explanations = writer.image(
        f"{base}/explanations.webp",
        grid,
        f"{what}: Grad-CAM, Guided Grad-CAM, Guided Backprop and DeConvNet for the top-{top} "
        f"classes ({', '.join(names)})",
        f"{what}: class explanations for the top-{top} classes "
        f"(Grad-CAM at layer {explainer.target_layer})",
    )

    feature_figures = []
    projection_channels = {}
    for layer, activation in result.stage_activations.items():
        maps = strongest_channels(activation[0], layer, FEATURE_CHANNELS)
        projection_channels[layer] = [int(c) for c in maps.channels[:PROJECTION_CHANNELS]]
        caption = (
            f"{what}: the {len(maps.channels)} most active channels of layer {layer} "
            f"({activation.shape[1]}x{activation.shape[2]}x{activation.shape[3]}), "
            f"one colour scale from {maps.scale[0]:.3g} to {maps.scale[1]:.3g}"
        )
        figure = writer.image(
            f"{base}/features-{slugify(layer)}.webp",
            render.feature_map_grid(maps.maps, maps.channels, maps.scale),
            caption,
            caption,
        )
        feature_figures.append((layer, tuple(int(d) for d in activation.shape[1:]), figure))

    projection_figures = []
    for layer, (guided, deconv) in explainer.project_layers(batch, projection_channels).items():
        caption = (
            f"{what}: the strongest activation of channels {projection_channels[layer]} of "
            f"layer {layer}, projected to pixels by Guided Backprop and DeConvNet"
        )
        figure = writer.image(
            f"{base}/projections-{slugify(layer)}.webp",
            render.projection_grid(guided[0], deconv[0], projection_channels[layer]),
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
    )


def _release_models() -> None:
    """Free the last model and its compiled functions before the next one is built.

    Called once the function that held the model has returned, so no reference is left.
    """
    keras.backend.clear_session()
    gc.collect()


def _build_model_page(
    writer: _Writer,
    spec: ModelSpec,
    options: BuildOptions,
    images: list[SourceImage],
    legend: Figure,
    progress: tqdm,
) -> tuple[ModelPage, float]:
    """Build one model, render everything for it, and return its page context."""
    start = time.perf_counter()
    mode, weights_label = _weights_label(options.weights)
    model = build_model(spec, options.weights)
    target = spec.gradcam_layer or gradcam_target_layer(model)
    stages = stage_layers(model)
    explainer = Explainer(model, target_layer=target, stage_layers=stages)
    filters = _filter_figures(writer, spec, model)
    sections = []
    for source in images:
        progress.set_postfix_str(f"{spec.name} / {source.title}"[:40])
        sections.append(_image_section(writer, spec, explainer, source, options.top, legend))
        progress.update(1)
    report_lines = explainer.report.summary().splitlines()
    seconds = time.perf_counter() - start
    summary = _summary(spec, target, "built", None, seconds, sections)
    page = ModelPage(
        summary=summary,
        paper=spec.paper,
        paper_url=spec.paper_url,
        preprocessing=spec.preprocessing,
        weights_random=mode == "random",
        weights_label=weights_label,
        nonlinearity_report=report_lines,
        stage_layers=stages,
        filters=filters,
        images=sections,
    )
    return page, seconds


def _summary(
    spec: ModelSpec,
    target: str | None,
    status: str,
    failure: str | None,
    seconds: float | None,
    sections: list[ImageSection],
) -> ModelSummary:
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
        build_seconds=None if seconds is None else round(seconds, 1),
        top1_by_image={s.title: s.predictions[0].label for s in sections if s.predictions},
    )


def _failure_reason(error: BaseException) -> str:
    """One line naming the cause; weights errors already carry the file name and the fix."""
    if isinstance(error, WeightsUnavailable):
        return str(error)
    where = traceback.extract_tb(error.__traceback__)[-1]
    return f"{type(error).__name__}: {error} (at {Path(where.filename).name}:{where.lineno})"


def _write_manifest(out: Path, written: list[str]) -> None:
    """Record what the generator wrote; only these files may ever be deleted by it."""
    previous = out / MANIFEST_NAME
    old: set[str] = set()
    if previous.exists():
        old = set(json.loads(previous.read_text(encoding="utf-8")).get("files", []))
    current = sorted(set(written))
    for stale in sorted(old - set(current)):
        (out / stale).unlink(missing_ok=True)
    render.atomic_write_text(
        previous, json.dumps({"generator": __version__, "files": current}, indent=1) + "\n"
    )


def build(options: BuildOptions) -> BuildReport:
    """Build every requested model's page, then the home and methods pages."""
    report = BuildReport()
    images, report.skipped_images = find_images(options.images)
    for path, reason in report.skipped_images:
        tqdm.write(f"skipping image {path.name}: {reason}")
    writer = _Writer(options.out)
    mode, weights_label = _weights_label(options.weights)
    site = SiteInfo(
        title="CNN Gallery",
        version=__version__,
        weights_mode=mode,
        weights_label=weights_label,
        keras_version=keras.__version__,
        tensorflow_version=tf.__version__,
    )
    legend = writer.image(
        "assets/legend-gradcam.webp",
        render.colour_legend("0: no evidence", "1: strongest evidence"),
        "Colour scale of Grad-CAM maps: dark is no evidence, bright yellow the strongest",
        "Grad-CAM colour scale",
    )
    thumbnails = [
        (
            source.slug,
            source.title,
            writer.image(
                f"assets/images/{source.slug}.webp",
                Image.fromarray(center_crop(source.pixels, (THUMBNAIL_SIZE, THUMBNAIL_SIZE))),
                f"Sample image '{source.title}'",
                source.title,
            ),
        )
        for source in images
    ]

    summaries: list[ModelSummary] = []
    pages: list[ModelPage] = []
    total = len(options.specs) * len(images)
    with tqdm(total=total, unit="image", desc="models x images", dynamic_ncols=True) as progress:
        for spec in options.specs:
            done_before = progress.n
            try:
                page, seconds = _build_model_page(writer, spec, options, images, legend, progress)
            except (Exception, MemoryError) as error:  # one model never stops the build
                reason = _failure_reason(error)
                report.failed[spec.name] = reason
                tqdm.write(f"FAILED {spec.name}: {reason}")
                summaries.append(_summary(spec, None, "failed", reason, None, []))
                progress.update(done_before + len(images) - progress.n)
                continue
            finally:
                _release_models()
            report.built[spec.name] = seconds
            summaries.append(page.summary)
            pages.append(page)
            tqdm.write(f"built {spec.name} in {seconds:.1f} s")

    written_pages = write_site(options.out, site, summaries, pages, thumbnails)
    root = options.out.resolve()
    writer.written += [Path(p).resolve().relative_to(root).as_posix() for p in written_pages]
    _write_manifest(options.out, writer.written)
    return report
