"""Every figure's file name and caption, and the worker threads that draw and write it.

The model's work hands arrays here; this module decides where each picture lives (stable
addresses: slugs of model, photo, layer, method and class, never counters) and what its caption
says (model, photo, method, class, layer, colour scale), and schedules its drawing, so pages
know a figure's path and caption at once and never wait for pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Self, TypeVar

import numpy as np
from PIL import Image

from generator import __version__, render
from generator.images import SourceImage, center_crop, slugify
from generator.manifest import Ledger
from generator.methods.base import Method
from generator.methods.families import Family
from generator.methods.filters import FilterSet
from generator.site_records import (
    FamilySheet,
    FeatureMapFigure,
    Figure,
    FilterFigure,
    LayerFigure,
    MethodTile,
    ProjectionFigure,
    ShownMethod,
    Thumbnail,
)

# What the figures show; all three are part of every cache key (`plan.model_key`).
FEATURE_CHANNELS = 16  # channels in a layer's feature-map grid
PROJECTION_CHANNELS = 4  # of those, channels projected to pixels
DISPLAY_SIDE = 320  # per-class pictures: shown at about 200 px, zoomed to this in the lightbox
THUMBNAIL_SIZE = 192

T = TypeVar("T")


def shown_method(method: Method) -> ShownMethod:
    """A method as the pages know it (slug, title, family), without its code."""
    return ShownMethod(method.slug, method.title, method.family.slug, method.class_specific)


def _display_tile(draw: Callable[[], np.ndarray]) -> Image.Image:
    """A per-class picture, drawn on the worker, at web display size (600 px inputs halved)."""
    return render.fit_within(Image.fromarray(draw()), DISPLAY_SIDE)


def _draw_and_save(
    ledger: Ledger,
    path: Path,
    draw: Callable[[], Image.Image],
    encode: Callable[[Image.Image], bytes],
) -> None:
    ledger.write_bytes(path, encode(draw()))


class FigureWriter:
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
        encode: Callable[[Image.Image], bytes] = render.encode_webp,
    ) -> Figure:
        """Schedule `draw()` to be encoded to `out/relative`; returns its Figure now."""
        self._pending.append(
            self._pool.submit(_draw_and_save, self.ledger, self.out / relative, draw, encode)
        )
        self.written.append(relative)
        return Figure(path=relative, caption=caption, alt=alt, scale=scale)

    def later(self, task: Callable[[], T]) -> Future[T]:
        """Run `task` on a worker, in turn with the drawing (a method's grid cells, drawn and
        stored while the model computes on); `wait` re-raises its failure."""
        future = self._pool.submit(task)
        self._pending.append(future)
        return future

    def then(self, task: Callable[[], object]) -> None:
        """Run `task` on a worker once every file scheduled so far is written: a cache entry
        goes in after the files it names, so an interrupted build never leaves an entry naming
        an older picture at the same path."""
        before = list(self._pending)

        def after() -> None:
            for future in before:
                future.result()
            task()

        self.later(after)

    def keep(self, figures: Iterable[Figure]) -> None:
        """Record files from an earlier build that are reused as they are."""
        self.written += [figure.path for figure in figures]

    def wait(self) -> None:
        """Block until every scheduled file is written; re-raises the first failure."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, error_type: type[BaseException] | None, *rest: object) -> None:
        if error_type is None:
            self.wait()
        # On an interruption, unstarted files are dropped; started ones finish atomically.
        self._pool.shutdown(wait=True, cancel_futures=error_type is not None)


# --- figures of the whole site ----------------------------------------------------------------


@dataclass(frozen=True)
class SiteFigures:
    """The figures many pages share, drawn once per build."""

    legend: Figure  # every selected method's colour scale (the model pages' legend)
    legends: dict[str, Figure]  # by family slug: the colour scales of that family's grid
    method_legends: dict[str, Figure]  # by method slug: its colour scale alone (comparisons)
    thumbnails: list[Thumbnail]  # one per photo, for the home and comparison pages


def site_figures(
    writer: FigureWriter, methods: Sequence[Method], images: Sequence[SourceImage]
) -> SiteFigures:
    """Draw the legends of `methods` and the thumbnails of `images`."""
    return SiteFigures(
        explanation_legend(writer, methods),
        family_legends(writer, methods),
        method_legends(writer, methods),
        [thumbnail(writer, source) for source in images],
    )


def explanation_legend(writer: FigureWriter, methods: Sequence[Method]) -> Figure:
    """The colour scales of the explanation `methods`, shared by every page."""
    return writer.image(
        "assets/legend-explanations.webp",
        partial(render.explanation_legend, methods),
        render.legend_caption(methods),
        "Colour scales of the explanation maps",
    )


def family_legends(writer: FigureWriter, methods: Sequence[Method]) -> dict[str, Figure]:
    """One legend per method family of `methods`: the colour scales of the family's grid on the
    model pages, by family slug, in `assets/legend-<family>.webp`."""
    families: dict[str, list[Method]] = {}
    for method in methods:
        families.setdefault(method.family.slug, []).append(method)
    return {
        slug: writer.image(
            f"assets/legend-{slug}.webp",
            partial(render.explanation_legend, members),
            render.legend_caption(members),
            render.legend_caption(members),
        )
        for slug, members in families.items()
    }


def method_legends(writer: FigureWriter, methods: Sequence[Method]) -> dict[str, Figure]:
    """Each method's colour scale alone, by method slug, in `assets/legend/<method>.webp`: a
    comparison page shows the scale of the one method it shows."""
    return {
        method.slug: writer.image(
            f"assets/legend/{method.slug}.webp",
            partial(render.explanation_legend, [method]),
            render.legend_caption([method]),
            render.legend_caption([method]),
        )
        for method in methods
    }


def thumbnail(writer: FigureWriter, source: SourceImage) -> Thumbnail:
    """A sample image's square thumbnail for the home and comparison pages."""
    figure = writer.image(
        f"assets/images/{source.slug}.webp",
        partial(Image.fromarray, center_crop(source.pixels, (THUMBNAIL_SIZE, THUMBNAIL_SIZE))),
        f"Sample image '{source.title}'",
        source.title,
    )
    return Thumbnail(source.slug, source.title, figure)


# --- figures of one model ---------------------------------------------------------------------


def filter_figure(
    writer: FigureWriter, model_name: str, model_slug: str, filters: FilterSet
) -> FilterFigure:
    """One layer's kernels laid out by their kind, with a note on how to read them."""
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
    relative = f"assets/{model_slug}/filters-{slugify(filters.layer)}.webp"
    caption = f"{model_name}: filters of layer {filters.layer}. {note}"
    return FilterFigure(filters.layer, note, writer.image(relative, picture, caption, caption))


class ImageFigures:
    """Names and captions the figures of one model on one photo, and schedules their drawing."""

    def __init__(
        self, writer: FigureWriter, model_name: str, model_slug: str, source: SourceImage
    ) -> None:
        self.writer = writer
        self.model_name = model_name
        self.title = source.title
        self.base = f"assets/{model_slug}/{source.slug}"
        self.what = f"{model_name}, image '{source.title}'"

    def crop(self, crop: np.ndarray) -> Figure:
        """The input crop, at the model's own input size."""
        height, width = crop.shape[:2]
        return self.writer.image(
            f"{self.base}/crop.webp",
            partial(Image.fromarray, crop),
            f"The {height}x{width} crop of '{self.title}' that {self.model_name} sees",
            f"{self.what}: the input crop, the centre of the photo the model sees",
        )

    def explanation_grid(
        self,
        columns: Callable[[], list[render.CellColumn]],
        titles: list[str],
        row_labels: list[str],
        names: list[str],
        target_layer: str,
        weights_label: str,
    ) -> Figure:
        """Every method for every explained class in one printable picture with its legend.

        `columns()` gives each method's drawn cells of this image, in `titles`' order; it is
        called on the worker, so cells still being drawn there are waited for, not here.
        """
        top = len(names)
        title = [
            (
                f"{self.model_name} · photo '{self.title}' · top-{top} classes · Grad-CAM "
                f"at layer {target_layer}"
            ),
            f"CNN Gallery {__version__} · weights: {weights_label}",
        ]

        def grid() -> Image.Image:
            return render.grid_of_cells(columns(), row_labels, title)

        return self.writer.image(
            f"{self.base}/explanations.webp",
            grid,
            f"{self.what}: {render.joined(titles)} for the top-{top} classes ({', '.join(names)})",
            f"{self.what}: class explanations for the top-{top} classes "
            f"(Grad-CAM at layer {target_layer})",
        )

    def sheet(
        self,
        family: Family,
        columns: Callable[[], list[render.CellColumn]],
        titles: list[str],
        row_labels: list[str],
        names: list[str],
        weights_label: str,
    ) -> FamilySheet:
        """One family's methods (`titles`; `columns()` gives their drawn cells, on the worker)
        for the classes `names` on an A4 landscape sheet at 300 dpi, for print and slides."""
        top = len(names)
        title = [
            f"{self.model_name} · photo '{self.title}' · {family.title} · top-{top} classes",
            family.question,
            f"CNN Gallery {__version__} · weights: {weights_label}",
        ]

        def sheet() -> Image.Image:
            return render.print_sheet(columns(), row_labels, title)

        caption = (
            f"{self.what}: {family.title}, {render.joined(titles)} for the top-{top} classes "
            f"({', '.join(names)}), on one A4 landscape sheet at 300 dpi for print and slides"
        )
        figure = self.writer.image(
            f"{self.base}/sheet-{family.slug}.webp",
            sheet,
            caption,
            caption,
            "",
            render.encode_sheet,
        )
        return FamilySheet(family.slug, figure)

    def class_tiles(
        self,
        crop: np.ndarray,
        maps: list[tuple[Method, np.ndarray, dict[str, float]]],
        layers: Sequence[str],
        rank: int,
        name: str,
        target_layer: str,
    ) -> list[MethodTile]:
        """One picture per method of the class ranked `rank` (1-based) called `name`.

        `maps` holds each method with its map of this class and the map's notes; `layers` names
        the stage layers of a "heatmaps by layer" map.
        """
        tiles = []
        for method, class_map, notes in maps:
            layer = f" at layer {target_layer}" if method.at_target else ""
            details = [text for text in (method.options_text(), method.note_text(notes)) if text]
            said = f" ({'; '.join(details)})" if details else ""
            which = (
                f"for class {rank}, '{name}'"
                if method.class_specific
                else "(the same map for every class)"
            )
            caption = f"{self.what}: {method.title}{layer} {which}{said}"
            stem = f"{self.base}/{method.slug}-{rank}-{slugify(name)}"
            figure = self.writer.image(
                f"{stem}.webp",
                partial(
                    _display_tile,
                    partial(render.method_tile, method.display, crop, class_map, layers),
                ),
                caption,
                caption,
                render.display_scale(method.display),
            )
            per_layer = []
            if method.display == "heatmaps by layer":  # one readable picture per stage as well
                for number, (heat, stage) in enumerate(zip(class_map, layers), start=1):
                    at = f"at stage {number} of {len(layers)}, layer {stage},"
                    words = f"{self.what}: {method.title} {at} {which}{said}"
                    per_layer.append(
                        LayerFigure(
                            stage,
                            self.writer.image(
                                f"{stem}/{slugify(stage)}.webp",  # a folder: no clash with a class name
                                partial(
                                    _display_tile,
                                    partial(render.method_tile, "heatmap", crop, heat),
                                ),
                                words,
                                words,
                                render.display_scale("heatmap"),
                            ),
                        )
                    )
            tiles.append(MethodTile(shown_method(method), figure, per_layer))
        return tiles

    def feature_maps(
        self,
        layer: str,
        shape: tuple[int, ...],
        maps: np.ndarray,
        channels: np.ndarray,
        scale: tuple[float, float],
    ) -> FeatureMapFigure:
        """The strongest `channels` of `layer` (activation `shape`) on one colour `scale`."""
        caption = (
            f"{self.what}: feature maps of layer {layer} "
            f"({shape[0]}x{shape[1]}x{shape[2]}), its "
            f"{len(channels)} most active channels; {render.feature_scale(*scale)}"
        )
        figure = self.writer.image(
            f"{self.base}/features-{slugify(layer)}.webp",
            partial(render.feature_map_grid, maps, channels, scale),
            caption,
            caption,
        )
        return FeatureMapFigure(layer, shape, figure, tuple(int(c) for c in channels))

    def projections(
        self,
        layer: str,
        crop: np.ndarray,
        guided: np.ndarray,
        deconv: np.ndarray,
        channels: list[int],
        boxes: list,
        side: int,
    ) -> ProjectionFigure:
        """Zeiler & Fergus's view of `layer`: each channel's strongest unit, cropped to `side`."""
        caption = (
            f"{self.what}: projections to pixels of layer {layer}: for channels {channels}, "
            f"where the strongest activation looks, the photo and its Guided Backprop and "
            f"DeConvNet projections cropped to the part of that unit's {side}x{side} px "
            f"receptive field that holds 99% of the projections; {render.GRADIENT_SCALE}"
        )
        figure = self.writer.image(
            f"{self.base}/projections-{slugify(layer)}.webp",
            partial(render.projection_grid, crop, guided, deconv, channels, boxes, side),
            caption,
            caption,
        )
        return ProjectionFigure(layer, figure, tuple(int(c) for c in channels))


# --- figures of the trust checks (one model) ----------------------------------------------------


def randomization_strip(
    writer: FigureWriter,
    model: tuple[str, str],
    source: SourceImage,
    label: str,
    method: Method,
    crop: np.ndarray,
    maps: np.ndarray,
    steps: Sequence[str],
    layers: Sequence[str],
) -> Figure:
    """One method's maps of the photo's top class (`label`) as the weights are re-initialised
    from the top down: the trained network's map, then one per cascade step in `steps`.
    `model` is the model's name and slug."""
    name, slug = model
    columns = ["trained", *steps]
    caption = (
        f"{name}, image '{source.title}', class '{label}': {method.title} as the weights "
        f"are re-initialised from the top down; from the left: {', '.join(columns)}"
    )
    return writer.image(
        f"assets/{slug}/trust-randomization-{method.slug}.webp",
        partial(render.randomization_strip, method.display, crop, maps, columns, layers),
        caption,
        caption,
        f"{render.display_scale(method.display)}; each map scaled on its own",
    )


def trust_plots(
    writer: FigureWriter,
    model_name: str,
    model_slug: str,
    photo: str,
    label: str,
    steps: Sequence[str],
    similarities: Sequence[tuple[str, Sequence[float]]],
    curves: Sequence[tuple[str, Sequence[float], Sequence[float], bool]],
    threshold: float,
) -> tuple[Figure | None, Figure | None]:
    """The randomization plot (each method's Spearman correlation with the trained map after
    each step in `steps`) and the deletion and insertion curves of one photo (baselines last);
    None for a plot without data."""
    what = f"{model_name}, image '{photo}', class '{label}'"
    similarity = None
    if similarities:
        methods = render.joined([title for title, _ in similarities])
        caption = (
            f"{what}: how similar the maps of {methods} stay to the trained network's maps "
            "(Spearman rank correlation of absolute values) as the weights are re-initialised "
            f"from the top down; at or above the dashed line ({threshold:g}) a map barely "
            "depends on what the network learned"
        )
        similarity = writer.image(
            f"assets/{model_slug}/trust-randomization.webp",
            partial(render.similarity_plot, steps, similarities, threshold=threshold),
            caption,
            caption,
        )
    deletion = None
    if curves:
        maps = render.joined([title for title, _, _, baseline in curves if not baseline])
        caption = (
            f"{what}: the class probability as the most important pixels of the maps of {maps} "
            "are removed (left, replaced by black) or revealed over a blurred copy of the photo "
            "(right); dashed: a random and a centred Gaussian map, for comparison"
        )
        deletion = writer.image(
            f"assets/{model_slug}/trust-deletion-insertion.webp",
            partial(render.curves_plot, curves),
            caption,
            caption,
        )
    return similarity, deletion


class NeuronFigures:
    """Names and captions the neurons section's figures of one model (`neuron_work`), in
    `assets/<model>/_neurons/` (an underscore: no photo's slug, so no photo's folder, has one)."""

    def __init__(
        self, writer: FigureWriter, model_name: str, model_slug: str, settings: str
    ) -> None:
        self.writer = writer
        self.model_name = model_name
        self.base = f"assets/{model_slug}/_neurons"
        self.settings = settings

    @staticmethod
    def tensor_slug(tensor: str) -> str:
        return slugify(tensor)

    def picture(self, tensor: str, channel: int, pixels: np.ndarray, score: float) -> Figure:
        """The image optimised to maximise one channel's mean activation."""
        reached = (
            f"reached {score:.3g}"
            if score > 0
            else "it never fired: a dead channel, or one no input of this size excites"
        )
        words = (
            f"{self.model_name}, tensor {tensor}, channel {channel}: feature visualization, the "
            f"image optimised to maximise the channel's mean activation ({reached}); "
            f"{self.settings}"
        )
        path = f"{self.base}/{self.tensor_slug(tensor)}/ch-{channel}.webp"
        return self.writer.image(path, partial(Image.fromarray, pixels), words, words)

    def card(self, tensor: str, channel: int, draw: Callable[[], Image.Image]) -> Figure:
        """One channel's card: its activation on every photo, its strongest patches, its
        projection (`render.channel_card`)."""
        words = (
            f"{self.model_name}, tensor {tensor}, channel {channel}: top, its feature maps on "
            "every sample photo (one colour scale, drawn below); bottom, the receptive field of "
            "its strongest unit on each photo, strongest photo first, and (for a pictured "
            "channel) that unit's Guided Backprop projection on its strongest photo"
        )
        path = f"{self.base}/{self.tensor_slug(tensor)}/ch-{channel}-card.webp"
        return self.writer.image(path, draw, words, words)

    def grid(
        self, tensor: str, shape: tuple[int, ...], pixels: np.ndarray, channels: Sequence[int]
    ) -> Figure:
        """The optimised images of one tensor's pictured channels, labelled "ch N"."""
        size = "x".join(str(d) for d in shape)
        words = (
            f"{self.model_name}: feature visualization of {len(channels)} channels of tensor "
            f"{tensor} ({size}), each the image optimised to maximise its mean activation; "
            f"{self.settings}"
        )
        labels = [f"ch {c}" for c in channels]
        path = f"{self.base}/{self.tensor_slug(tensor)}.webp"
        return self.writer.image(path, partial(render.picture_grid, pixels, labels), words, words)

    def class_picture(self, index: int, label: str, pixels: np.ndarray, rank: int) -> Figure:
        """The image optimised to maximise one class's pre-softmax logit."""
        ranked = "the class wins" if rank == 1 else f"the class ranks {rank}"
        words = (
            f"{self.model_name}: class visualization of class {index} '{label}', the image "
            f"optimised to maximise the class's pre-softmax logit (on it, {ranked}); "
            f"{self.settings}"
        )
        path = f"{self.base}/class-{index}.webp"
        return self.writer.image(path, partial(Image.fromarray, pixels), words, words)

    def dream(
        self, title: str, tensor: str, crop: np.ndarray, dreamed: np.ndarray, how: str
    ) -> Figure:
        """A photo and its DeepDream at one tensor, made as `how` says."""
        words = (
            f"{self.model_name}, image '{title}': the photo and its DeepDream at tensor {tensor} "
            f"(the photo changed to raise the squared activations of that tensor; {how})"
        )
        labels = [title, "DeepDream"]
        draw = partial(render.photo_and_results, crop, [dreamed], labels)
        return self.writer.image(f"{self.base}/deep-dream.webp", draw, words, words)

    def inversion(
        self,
        title: str,
        photo: np.ndarray,
        inverted: Sequence[tuple[str, np.ndarray, float]],
        how: str,
    ) -> Figure:
        """A photo and the images optimised from noise to match its activations at tensors:
        `inverted` holds (tensor, pixels, relative error) each; made as `how` says."""
        parts = [f"from {tensor}, relative error {error:.2f}" for tensor, _, error in inverted]
        words = (
            f"{self.model_name}, image '{title}': the photo and its inverted representations, "
            f"images optimised from noise to reproduce its activations ({'; '.join(parts)}; "
            f"{how}): what each depth keeps of the photo"
        )
        depths = ["early", "late"] if len(inverted) == 2 else [tensor for tensor, _, _ in inverted]
        labels = [title, *(f"{d} · error {e:.2f}" for d, (_, _, e) in zip(depths, inverted))]
        pictures = [pixels for _, pixels, _ in inverted]
        draw = partial(render.photo_and_results, photo, pictures, labels)
        return self.writer.image(f"{self.base}/inversion.webp", draw, words, words)
