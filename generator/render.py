"""Arrays to web images: grids, heat-map overlays and colour legends.

Every file goes through `files.atomic_write_bytes`, so an interrupted build never leaves a
half-written image behind. Nothing here knows about models: callers pass plain arrays and labels.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw, ImageFont

from generator.files import atomic_write_bytes
from generator.methods.display import DISPLAYS, Display
from generator.methods.families import not_computed

HEATMAP_COLORMAP = "inferno"  # perceptually uniform, readable in grayscale print
DIVERGING_COLORMAP = "RdBu_r"
WEBP_QUALITY = 85
# Part of every cache key: raise it when a figure's drawing or caption changes, so a rebuild
# redraws instead of reusing pictures and captions of the old style.
FIGURE_STYLE = 4
# Gradients of random deep networks can be ~1e-13: only an exact zero range counts as constant.
_TINY = float(np.finfo(np.float32).tiny)


def encode_webp(image: Image.Image) -> bytes:
    """Encode for the web; no EXIF or timestamps, so equal pixels give equal bytes.

    Pictures with a transparent background (grids, legends) use encoder method 4: method 6 with
    an alpha channel takes about eight times as long for 2% fewer bytes.
    """
    buffer = io.BytesIO()
    method = 4 if image.mode == "RGBA" else 6
    image.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=method)
    return buffer.getvalue()


def fit_within(image: Image.Image, side: int) -> Image.Image:
    """Downscale (never upscale) so the longer side is at most `side`: display size for the web."""
    if max(image.size) <= side:
        return image
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.LANCZOS)


def save_image(path: Path, image: Image.Image) -> None:
    """Encode `image` as WebP and write it atomically."""
    atomic_write_bytes(path, encode_webp(image))


# --- array to pixels ------------------------------------------------------------------------


def to_uint8(unit: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to uint8, clipping anything outside."""
    return np.round(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)


def minmax_unit(array: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] by the array's own range; a constant array becomes mid-grey."""
    array = np.asarray(array, dtype=np.float32)
    low, high = float(array.min()), float(array.max())
    if not high - low > _TINY:
        return np.full_like(array, 0.5)
    return (array - low) / (high - low)


def symmetric_unit(array: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Map to [0, 1] with zero at 0.5, so sign stays visible (0 = most negative)."""
    array = np.asarray(array, dtype=np.float32)
    scale = float(np.abs(array).max()) if scale is None else scale
    if not scale > _TINY:
        return np.full_like(array, 0.5)
    return 0.5 + 0.5 * array / scale


def gradient_image(gradient: np.ndarray) -> np.ndarray:
    """Display an input-space gradient (H, W, 3): centred on grey, scaled by its 99.5th percentile.

    The percentile (not the max) keeps a few extreme pixels from washing the rest out.
    """
    gradient = np.asarray(gradient, dtype=np.float32)
    scale = float(np.percentile(np.abs(gradient), 99.5))
    return to_uint8(symmetric_unit(gradient, scale if scale > _TINY else None))


def colormap_rgb(unit: np.ndarray, name: str = HEATMAP_COLORMAP) -> np.ndarray:
    """Apply a matplotlib colormap to values in [0, 1]; returns uint8 RGB."""
    rgba = colormaps[name](np.clip(unit, 0.0, 1.0))
    return to_uint8(rgba[..., :3])


def heatmap_overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a [0, 1] heat map (H, W) over a uint8 RGB image of the same size."""
    coloured = colormap_rgb(heat).astype(np.float32)
    blended = (1.0 - alpha) * image.astype(np.float32) + alpha * coloured
    return np.round(blended).astype(np.uint8)


# --- grids ---------------------------------------------------------------------------------
# Pictures are drawn on a transparent background with dark text in a light halo, so they read on
# the light and the dark page, on the lightbox's black and on paper. Text is drawn at 16 px or
# more: a picture shown at 60% of its size on a 390 px phone still has 10 px letters.

_FONT_SIZE = 16
_INK = (20, 20, 20, 255)
_HALO = (255, 255, 255, 255)
_CLEAR = (0, 0, 0, 0)


def _font(size: int = _FONT_SIZE) -> ImageFont.ImageFont:
    """Matplotlib's bundled DejaVu Sans: the same font on every machine, so same bytes."""
    from matplotlib import font_manager

    path = font_manager.findfont("DejaVu Sans", fallback_to_default=True)
    return ImageFont.truetype(path, size)


def _fit(text: str, font: ImageFont.ImageFont, width: int) -> str:
    """Shorten `text` with an ellipsis until it fits in `width` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def wrap_text(text: str, font: ImageFont.ImageFont, width: int) -> list[str]:
    """Break `text` into lines no wider than `width` pixels, at spaces where possible and
    inside a word only when the word alone is too wide; nothing is cut off."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if font.getlength(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            while font.getlength(word) > width and len(word) > 1:
                cut = len(word) - 1
                while cut > 1 and font.getlength(word[:cut]) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


def _line_height(font: ImageFont.ImageFont) -> int:
    return round(font.size * 1.3)


def _write(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, font, **kw) -> None:
    """Dark text in a light halo: readable on any background."""
    stroke = max(2, font.size // 8)
    draw.text(xy, text, fill=_INK, font=font, stroke_width=stroke, stroke_fill=_HALO, **kw)


def _canvas(width: int, height: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    canvas = Image.new("RGBA", (width, height), _CLEAR)
    return canvas, ImageDraw.Draw(canvas)


def text_block(lines: Sequence[str], width: int, size: int = _FONT_SIZE) -> Image.Image:
    """Lines of text wrapped to `width` pixels, as a transparent picture."""
    font = _font(size)
    wrapped = [part for line in lines for part in wrap_text(line, font, width)]
    canvas, draw = _canvas(width, _line_height(font) * len(wrapped) + 4)
    for number, line in enumerate(wrapped):
        _write(draw, (0, 2 + number * _line_height(font)), line, font)
    return canvas


def stack(parts: Sequence[Image.Image], gap: int = 10, margin: int = 8) -> Image.Image:
    """Pictures one below the other, left-aligned, on a transparent background."""
    width = max(part.width for part in parts) + 2 * margin
    height = sum(part.height for part in parts) + gap * (len(parts) - 1) + 2 * margin
    canvas, _ = _canvas(width, height)
    y = margin
    for part in parts:
        canvas.alpha_composite(part.convert("RGBA"), (margin, y))
        y += part.height + gap
    return canvas


def fit_tile(tile: np.ndarray, size: int) -> Image.Image:
    """A grid's tile scaled to fit a `size` square, keeping its shape: nearest neighbour under
    half that size (small kernels stay crisp), bilinear otherwise. A tile that already fits is
    returned as it is, so cells drawn once and stored (`column_cells`) lay out unchanged."""
    picture = Image.fromarray(np.asarray(tile))
    picture = picture if picture.mode == "RGBA" else picture.convert("RGB")
    resample = Image.NEAREST if max(picture.size) < size / 2 else Image.BILINEAR
    scale = size / max(picture.size)
    shape = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    return picture.resize(shape, resample)


def labelled_grid(
    tiles: Sequence[np.ndarray],
    columns: int,
    labels: Sequence[str] | None = None,
    tile_size: int | None = None,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    gap: int = 6,
    row_label_width: int = 150,
) -> Image.Image:
    """Lay out uint8 tiles (H, W), (H, W, 3) or (H, W, 4) in a grid, with optional captions.

    `labels` go under each tile; `row_labels` to the left of each row, wrapped (never cut);
    `column_labels` above each column, wrapped. Tiles are upscaled with nearest neighbour to
    `tile_size` when small, so small kernels stay crisp.
    """
    font = _font()
    line = _line_height(font)
    first = np.asarray(tiles[0])
    size = tile_size or first.shape[0]
    rows = (len(tiles) + columns - 1) // columns
    label_h = line + 2 if labels else 0
    headers = [wrap_text(text, font, size) for text in column_labels or []]
    header_h = max((len(lines) for lines in headers), default=0) * line + (4 if headers else 0)
    left = row_label_width if row_labels else 0
    wrapped_rows = [wrap_text(text, font, row_label_width - 2 * gap) for text in row_labels or []]
    row_h = max(size + label_h, max((len(ls) * line for ls in wrapped_rows), default=0))
    width = left + columns * (size + gap) + gap
    height = header_h + rows * (row_h + gap) + gap
    canvas, draw = _canvas(width, height)
    for col, lines in enumerate(headers):
        x = left + gap + col * (size + gap)
        for number, text in enumerate(lines):
            _write(draw, (x, 2 + number * line), text, font)
    for index, tile in enumerate(tiles):
        row, col = divmod(index, columns)
        x = left + gap + col * (size + gap)
        y = header_h + gap + row * (row_h + gap)
        picture = fit_tile(tile, size)  # a tile that is not square keeps its shape, centred
        position = (x + (size - picture.width) // 2, y + (size - picture.height) // 2)
        if picture.mode == "RGBA":  # a transparent tile (a note) lets the background through
            canvas.alpha_composite(picture, position)
        else:
            canvas.paste(picture, position)
        if labels:
            _write(draw, (x, y + size + 1), _fit(labels[index], font, size), font)
    for row, lines in enumerate(wrapped_rows):
        y = header_h + gap + row * (row_h + gap)
        for number, text in enumerate(lines):
            _write(draw, (gap, y + number * line), text, font)
    return canvas


def colour_legend(
    low_label: str,
    high_label: str,
    colormap: str = HEATMAP_COLORMAP,
    width: int = 256,
    title: str | None = None,
    middle_label: str | None = None,
) -> Image.Image:
    """A horizontal colour bar with its end labels (and a title above), for reading a map."""
    font = _font()
    line = _line_height(font)
    bar_h = 16
    titles = wrap_text(title, font, width) if title else []
    top = line * len(titles)
    canvas, draw = _canvas(width + 8, top + bar_h + line + 8)
    for number, text in enumerate(titles):
        _write(draw, (4, number * line), text, font)
    ramp = colormap_rgb(np.tile(np.linspace(0.0, 1.0, width), (bar_h, 1)), colormap)
    canvas.paste(Image.fromarray(ramp), (4, top + 2))
    draw.rectangle((3, top + 1, width + 4, top + bar_h + 2), outline=(128, 128, 128, 255))
    y = top + bar_h + 5
    _write(draw, (4, y), low_label, font)
    _write(draw, (width + 4 - font.getlength(high_label), y), high_label, font)
    if middle_label:
        _write(draw, (4 + width / 2 - font.getlength(middle_label) / 2, y), middle_label, font)
    return canvas


# --- the gallery's figures ------------------------------------------------------------------

FEATURE_COLORMAP = "viridis"

# How to read each kind of picture, for captions (the legends drawn below say the same).
GRADCAM_SCALE = "colour scale inferno over the photo: black = 0, no evidence; yellow = 1, strongest"
GRADIENT_SCALE = (
    "colour scale: mid-grey = 0; per colour channel lighter = positive, darker = negative "
    "gradient, scaled to its 99.5th percentile"
)


def feature_scale(low: float, high: float) -> str:
    """The caption's words for a feature-map grid's shared colour scale."""
    return f"one colour scale for all tiles, viridis: dark blue = {low:.3g}, yellow = {high:.3g}"


def rgb_filter_grid(kernels: np.ndarray, columns: int = 16, tile_size: int = 28) -> Image.Image:
    """First-layer kernels (out, kh, kw, 3) as colour tiles, each min-max scaled on its own."""
    tiles = [to_uint8(minmax_unit(kernel)) for kernel in kernels]
    return labelled_grid(tiles, columns=min(columns, len(tiles)), tile_size=tile_size)


def _weight_legend(colormap: str, width: int) -> Image.Image:
    """The scale of a filter picture whose zero is the middle colour."""
    return colour_legend(
        "negative", "positive", colormap, max(160, min(256, width)), "weight", middle_label="0"
    )


def spatial_filter_grid(kernels: np.ndarray, tile_size: int = 32) -> Image.Image:
    """Deeper kernels (out, in, kh, kw): one row per output filter, one column per input channel
    (numbered above), with the grey scale below.

    Grayscale, symmetric around zero (mid-grey = 0) on one scale per output filter, so the
    relative weight of each input channel stays readable.
    """
    outputs, inputs = kernels.shape[:2]
    tiles = []
    for kernel in kernels:
        scale = float(np.abs(kernel).max())
        tiles.extend(to_uint8(symmetric_unit(k, scale if scale > 0 else None)) for k in kernel)
    grid = labelled_grid(
        tiles,
        columns=inputs,
        tile_size=tile_size,
        row_labels=[f"filter {i}" for i in range(outputs)],
        column_labels=[str(i) for i in range(inputs)],
        row_label_width=80,
    )
    return stack([grid, _weight_legend("gray", grid.width - 16)], gap=4, margin=2)


def depthwise_filter_grid(
    kernels: np.ndarray, columns: int = 16, tile_size: int = 28
) -> Image.Image:
    """Depthwise kernels (channels, kh, kw), one grayscale tile per channel, zero at mid-grey,
    with the grey scale below."""
    tiles = [to_uint8(symmetric_unit(k)) for k in kernels]
    labels = [str(i) for i in range(len(tiles))]
    grid = labelled_grid(
        tiles, columns=min(columns, len(tiles)), labels=labels, tile_size=tile_size
    )
    return stack([grid, _weight_legend("gray", grid.width - 16)], gap=4, margin=2)


def pointwise_matrix(matrix: np.ndarray, max_size: int = 64, cell: int = 6) -> Image.Image:
    """A 1x1 convolution's (out, in) channel-mixing matrix, blue negative / red positive, with
    that scale below."""
    shown = matrix[:max_size, :max_size]
    pixels = colormap_rgb(symmetric_unit(shown), DIVERGING_COLORMAP)
    picture = Image.fromarray(pixels).resize(
        (shown.shape[1] * cell, shown.shape[0] * cell), Image.NEAREST
    )
    legend = _weight_legend(DIVERGING_COLORMAP, picture.width)
    return stack([picture, legend], gap=6, margin=2)


def feature_map_grid(
    maps: np.ndarray, channels: Sequence[int], scale: tuple[float, float], columns: int = 4
) -> Image.Image:
    """(n, h, w) activations on ONE shared colour scale, each tile labelled with its channel,
    with that scale drawn below. Four columns keep the labels readable on a phone."""
    low, high = scale
    span = high - low if high - low > _TINY else 1.0
    tiles = [colormap_rgb((m - low) / span, FEATURE_COLORMAP) for m in maps]
    size = max(96, min(128, maps.shape[1] * 4))
    labels = [f"ch {c}" for c in channels]
    grid = labelled_grid(tiles, columns=min(columns, len(tiles)), labels=labels, tile_size=size)
    legend = colour_legend(
        f"{low:.3g}",
        f"{high:.3g}",
        FEATURE_COLORMAP,
        width=min(320, grid.width - 12),
        title="activation, one scale for all tiles",
    )
    return stack([grid, legend], gap=4, margin=2)


# --- explanation maps, drawn by display kind (`methods.display.Display`) ----------------------
# Render knows how each KIND of map is drawn, never which method made it: callers pass method
# titles with their maps, so a method added to the catalog is drawn without a change here.

MAGNITUDE_COLORMAP = "cividis"  # sequential, unlike any other scale of the gallery
MAGNITUDE_PERCENTILE = 99.5  # like gradients: a few extreme pixels do not wash the rest out
SIGNED_COLORMAP = DIVERGING_COLORMAP  # red raises, blue lowers the class logit; white = 0

_SCALES: dict[Display, str] = {
    "heatmap": GRADCAM_SCALE,
    "gradient": GRADIENT_SCALE,
    "magnitude": (
        "colour scale cividis, the map alone: dark blue = 0; yellow = the map's 99.5th "
        "percentile and above"
    ),
    "signed": (
        "colour scale red-white-blue, the map alone: white = 0; red raises, blue lowers the "
        "class logit; full red or blue = the map's largest absolute value"
    ),
    "heatmaps by layer": (
        "one panel per stage layer, colour scale inferno over the photo: black = 0, no "
        "evidence; yellow = 1, the strongest in that layer"
    ),
}
# A legend's ends (and middle), and what the title adds after the method names.
_LEGENDS: dict[Display, tuple[str, str, str, str | None, str]] = {
    # display: (low label, high label, colormap, middle label, title suffix)
    "heatmap": ("0: no evidence", "1: strongest", HEATMAP_COLORMAP, None, ""),
    "gradient": ("negative", "positive", "gray", "0", " (each colour channel)"),
    "magnitude": ("0", "99.5th pct.", MAGNITUDE_COLORMAP, None, " (size, not sign)"),
    "signed": ("−max |value|", "+max |value|", SIGNED_COLORMAP, "0", " (lowers ← → raises)"),
    "heatmaps by layer": (
        "0: no evidence",
        "1: strongest",
        HEATMAP_COLORMAP,
        None,
        " (each layer)",
    ),
}
# The legend in words, for the legend picture's caption and alt text.
_LEGEND_WORDS: dict[Display, str] = {
    "heatmap": "from black (no evidence) to yellow (strongest)",
    "gradient": "from black (negative) through grey (0) to white (positive) in each colour channel",
    "magnitude": "from dark blue (0) to yellow (the map's 99.5th percentile and above)",
    "signed": (
        "from blue (lowers the class logit) through white (0) to red (raises it), full colour "
        "at the map's largest absolute value"
    ),
    "heatmaps by layer": "from black (no evidence) to yellow (strongest) in each stage layer",
}
_DISPLAY_NAMES: dict[Display, str] = {
    "heatmap": "heat map over the photo",
    "gradient": "signed gradient",
    "magnitude": "attribution size",
    "signed": "signed attribution",
    "heatmaps by layer": "heat map at each layer",
}
_LAYER_PANEL = 160  # side of one layer's panel in a per-class picture


class Titled(Protocol):
    """Anything that names a method and how it is drawn: a catalog method or a grid column."""

    title: str
    display: Display


@dataclass(frozen=True)
class ExplanationColumn:
    """One method's column of the printable grid: its maps for the first `len(maps)` classes
    (a method that explains fewer classes than the grid has rows leaves the rest empty).
    `layers` names the layers of a "heatmaps by layer" map, one grid column each."""

    title: str
    display: Display
    maps: Sequence[np.ndarray]
    layers: Sequence[str] | None = None


def display_scale(display: Display) -> str:
    """How to read a map of this kind, in one sentence, for captions."""
    return _SCALES[display]


def magnitude_image(magnitude: np.ndarray) -> np.ndarray:
    """A map >= 0 (H, W) on its own: dark = 0, brightest = its 99.5th percentile and above."""
    magnitude = np.asarray(magnitude, dtype=np.float32)
    scale = float(np.percentile(magnitude, MAGNITUDE_PERCENTILE))
    scale = scale if scale > _TINY else float(magnitude.max())
    unit = magnitude / scale if scale > _TINY else np.zeros_like(magnitude)
    return colormap_rgb(unit, MAGNITUDE_COLORMAP)


def signed_image(signed: np.ndarray) -> np.ndarray:
    """A map around 0 (H, W) on its own: white = 0, red positive, blue negative, full colour at
    the map's largest absolute value (so the two signs share one scale)."""
    return colormap_rgb(symmetric_unit(signed), SIGNED_COLORMAP)


def _wrap_name(name: str, font: ImageFont.ImageFont, width: int) -> list[str]:
    """A layer name wrapped after its underscores where possible (`block_13_expand_relu`)."""
    return [line.replace("_ ", "_") for line in wrap_text(name.replace("_", "_ "), font, width)]


def _layer_panels(crop: np.ndarray, heats: np.ndarray, layers: Sequence[str]) -> np.ndarray:
    """One heat-map overlay per layer, each under its layer's name, two rows from four layers
    up, on a transparent background (RGBA): fine layers first, coarse last."""
    if len(layers) != len(heats):
        raise ValueError(f"{len(heats)} layer maps but {len(layers)} layer names")
    font = _font()
    line = _line_height(font)
    columns = len(heats) if len(heats) <= 3 else -(-len(heats) // 2)
    rows = -(-len(heats) // columns)
    names = [_wrap_name(name, font, _LAYER_PANEL) for name in layers]
    label_h = max(len(lines) for lines in names) * line + 4
    gap = 6
    canvas, draw = _canvas(
        columns * (_LAYER_PANEL + gap) - gap, rows * (label_h + _LAYER_PANEL + gap) - gap
    )
    for index, (heat, lines) in enumerate(zip(heats, names)):
        row, col = divmod(index, columns)
        x, y = col * (_LAYER_PANEL + gap), row * (label_h + _LAYER_PANEL + gap)
        for number, text in enumerate(lines):
            _write(draw, (x, y + number * line), text, font)
        panel = Image.fromarray(heatmap_overlay(crop, heat)).resize(
            (_LAYER_PANEL, _LAYER_PANEL), Image.BILINEAR
        )
        canvas.paste(panel, (x, y + label_h))
    return np.asarray(canvas)


def method_tile(
    display: Display, crop: np.ndarray, maps: np.ndarray, layers: Sequence[str] | None = None
) -> np.ndarray:
    """One class's picture for one method: RGB (H, W, 3), or RGBA for "heatmaps by layer".

    `maps` is that class's map in the shape its display kind declares: (H, W) for "heatmap",
    "magnitude" and "signed", (H, W, 3) for "gradient", (L, H, W) with `layers` names for
    "heatmaps by layer". `crop` is the photo (H, W, 3) uint8 the model saw.
    """
    if display == "heatmap":
        return heatmap_overlay(crop, maps)
    if display == "gradient":
        return gradient_image(maps)
    if display == "magnitude":
        return magnitude_image(maps)
    if display == "signed":
        return signed_image(maps)
    if display == "heatmaps by layer":
        if layers is None:
            raise ValueError('a "heatmaps by layer" map needs its layer names')
        return _layer_panels(crop, np.asarray(maps), layers)
    raise ValueError(f"unknown display kind {display!r}; choose from: {', '.join(DISPLAYS)}")


def display_colormap(display: Display) -> str:
    """The matplotlib colormap maps of this kind are drawn in."""
    return _LEGENDS[display][2]


def display_legend(display: Display, width: int = 300, title: str | None = None) -> Image.Image:
    """The colour bar of one display kind, with its end labels; titled by the kind's name
    unless `title` names the methods that use it."""
    low, high, colormap, middle, _ = _LEGENDS[display]
    title = _DISPLAY_NAMES[display] if title is None else title
    return colour_legend(low, high, colormap, width, title=title, middle_label=middle)


def _users(displays: Sequence[Titled]) -> dict[Display, list[str]]:
    """The titles of the methods drawn in each display kind, kinds in order of first use."""
    users: dict[Display, list[str]] = {}
    for method in displays:
        users.setdefault(method.display, []).append(method.title)
    return users


def joined(titles: Sequence[str]) -> str:
    """ "A", "A and B", "A, B and C": titles as a sentence names them."""
    return titles[0] if len(titles) == 1 else f"{', '.join(titles[:-1])} and {titles[-1]}"


def legend_caption(displays: Sequence[Titled]) -> str:
    """What `explanation_legend(displays)` shows, in words (its caption)."""
    users = _users(displays)
    return "Colour scales: " + "; ".join(
        f"{joined(titles)} {_LEGEND_WORDS[display]}" for display, titles in users.items()
    )


def explanation_legend(
    displays: Sequence[Titled], width: int = 300, side_by_side: bool = False
) -> Image.Image:
    """One colour scale per display kind in `displays` (catalog methods or grid columns), in
    order of first use, each titled with the methods that use it: one above the other (narrow
    enough to be shown at full size on a phone) or side by side (under the printable grid)."""
    users = _users(displays)
    legends = [
        display_legend(display, width, ", ".join(titles) + _LEGENDS[display][4])
        for display, titles in users.items()
    ]
    if not side_by_side:
        return stack(legends, gap=10, margin=0)
    gap = 24
    canvas, _ = _canvas(
        sum(legend.width for legend in legends) + gap * (len(legends) - 1),
        max(legend.height for legend in legends),
    )
    x = 0
    for legend in legends:
        canvas.alpha_composite(legend, (x, 0))
        x += legend.width + gap
    return canvas


def _not_computed(size: int, classes: int) -> np.ndarray:
    """An empty cell's note: the method explains fewer classes than the grid has rows."""
    font = _font()
    text = not_computed(classes)
    canvas, draw = _canvas(size, size)
    lines = wrap_text(text, font, size - 8)
    top = (size - len(lines) * _line_height(font)) // 2
    for number, line in enumerate(lines):
        _write(draw, (4, top + number * _line_height(font)), line, font)
    return np.asarray(canvas)


@dataclass(frozen=True)
class CellColumn:
    """One method's column of the printable grid, drawn: `cells` (k, n, s, s, 3) uint8 holds its
    n cells (one, or one per layer of a "heatmaps by layer" map) for each of its first k
    classes, fitted to the grid's tiles. Drawn once per method and stored beside its cache
    entry, so a grid can be redrawn when another method changes without recomputing this one."""

    title: str
    display: Display
    cells: np.ndarray
    layers: Sequence[str] | None = None


def column_cells(column: ExplanationColumn, crop: np.ndarray, tile_size: int = 200) -> np.ndarray:
    """The cells of `column`'s maps (see `CellColumn`), each fitted to `tile_size`."""
    rows = []
    for maps in column.maps:
        if column.display == "heatmaps by layer":
            tiles = [heatmap_overlay(crop, heat) for heat in maps]
        else:
            tiles = [method_tile(column.display, crop, maps)]
        rows.append(np.stack([np.asarray(fit_tile(tile, tile_size)) for tile in tiles]))
    return np.stack(rows)


def explanation_grid(
    crop: np.ndarray,
    columns: Sequence[ExplanationColumn],
    row_labels: Sequence[str],
    title: Sequence[str] = (),
    tile_size: int = 200,
) -> Image.Image:
    """The printable grid of `columns`' maps (see `grid_of_cells`)."""
    drawn = [
        CellColumn(
            column.title, column.display, column_cells(column, crop, tile_size), column.layers
        )
        for column in columns
    ]
    return grid_of_cells(drawn, row_labels, title, tile_size)


def grid_of_cells(
    columns: Sequence[CellColumn],
    row_labels: Sequence[str],
    title: Sequence[str] = (),
    tile_size: int = 200,
) -> Image.Image:
    """The printable grid: `title` lines (model, photo, layer, version), one row per class
    with its whole name, one column per method (a "heatmaps by layer" method gets one per
    layer), and the colour scales of the kinds shown below."""
    headers = []
    for column in columns:
        if column.display == "heatmaps by layer":
            headers += [f"{column.title} · {layer}" for layer in column.layers or ()]
        else:
            headers.append(column.title)
    tiles = []
    for k in range(len(row_labels)):
        for column in columns:
            if k >= len(column.cells):
                tiles += [_not_computed(tile_size, len(column.cells))] * column.cells.shape[1]
            else:
                tiles += list(column.cells[k])
    grid = labelled_grid(
        tiles,
        columns=len(headers),
        tile_size=tile_size,
        row_labels=row_labels,
        column_labels=headers,
        row_label_width=190,
    )
    parts = [text_block(title, grid.width, size=18)] if title else []
    return stack([*parts, grid, explanation_legend(columns, side_by_side=True)])


def _clip(box: tuple[int, int, int, int], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The part of a receptive-field box that lies on the image (deep layers see past it)."""
    top, left, bottom, right = box
    return max(top, 0), max(left, 0), min(bottom, shape[0]), min(right, shape[1])


def _marked(photo: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """The photo at `size` with the receptive field outlined (in yellow on a dark rim)."""
    picture = Image.fromarray(photo).convert("RGB").resize((size, size), Image.BILINEAR)
    scale = size / photo.shape[0]
    top, left, bottom, right = (round(v * scale) for v in box)
    draw = ImageDraw.Draw(picture)
    draw.rectangle((left - 1, top - 1, right, bottom), outline=(0, 0, 0), width=4)
    draw.rectangle((left, top, right - 1, bottom - 1), outline=(255, 221, 0), width=2)
    return np.asarray(picture)


PROJECTION_COLUMNS = ("where", "photo", "Guided Backprop", "DeConvNet")


def projection_grid(
    photo: np.ndarray,
    guided: np.ndarray,
    deconv: np.ndarray,
    channels: Sequence[int],
    boxes: Sequence[tuple[int, int, int, int]],
    field_side: int,
    tile_size: int = 112,
) -> Image.Image:
    """Zeiler & Fergus projections, one row per channel: where its strongest unit looks (the
    crop `boxes[k]`, inside the unit's receptive field of side `field_side`, outlined on the
    photo), the photo cropped to it, and the Guided Backprop and DeConvNet projections cropped
    to it, each scaled on its own crop. Crops keep their shape."""
    tiles = []
    labels = []
    for k, box in enumerate(boxes):
        top, left, bottom, right = _clip(box, photo.shape)
        tiles.append(_marked(photo, (top, left, bottom, right), tile_size))
        tiles.append(photo[top:bottom, left:right])
        for projection in (guided[k], deconv[k]):
            tiles.append(gradient_image(np.asarray(projection)[top:bottom, left:right]))
        labels.append(f"ch {channels[k]}\n{max(bottom - top, right - left)} of {field_side} px")
    return labelled_grid(
        tiles,
        columns=len(PROJECTION_COLUMNS),
        tile_size=tile_size,
        row_labels=labels,
        column_labels=PROJECTION_COLUMNS,
        row_label_width=92,
    )
