"""Text and layout: fonts, wrapped text, stacks, labelled grids and colour legends.

Pictures are drawn on a transparent background with dark text in a light halo, so they read on
the light and the dark page, on the lightbox's black and on paper. Text is drawn at 16 px or
more: a picture shown at 60% of its size on a 390 px phone still has 10 px letters. Every other
module lays its figures out with these, so all figures share one look.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from generator.render.pixels import HEATMAP_COLORMAP, colormap_rgb

FONT_SIZE = 16
_INK = (20, 20, 20, 255)
_HALO = (255, 255, 255, 255)
_CLEAR = (0, 0, 0, 0)


def text_font(size: int = FONT_SIZE) -> ImageFont.FreeTypeFont:
    """Matplotlib's bundled DejaVu Sans: the same font on every machine, so same bytes."""
    from matplotlib import font_manager

    path = font_manager.findfont("DejaVu Sans", fallback_to_default=True)
    return ImageFont.truetype(path, size)


def _fit(text: str, font: ImageFont.FreeTypeFont, width: int) -> str:
    """Shorten `text` with an ellipsis until it fits in `width` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def wrap_text(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
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


def line_height(font: ImageFont.FreeTypeFont) -> int:
    """The distance from one line of text in `font` to the next."""
    return round(font.size * 1.3)


def halo_text(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    font: ImageFont.FreeTypeFont,
    **kw: Any,
) -> None:
    """Dark text in a light halo: readable on any background."""
    stroke = max(2, font.size // 8)
    draw.text(xy, text, fill=_INK, font=font, stroke_width=stroke, stroke_fill=_HALO, **kw)


def new_canvas(width: int, height: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    """A transparent picture of `width` x `height` pixels, and a pen that draws on it."""
    canvas = Image.new("RGBA", (width, height), _CLEAR)
    return canvas, ImageDraw.Draw(canvas)


def text_block(lines: Sequence[str], width: int, size: int = FONT_SIZE) -> Image.Image:
    """Lines of text wrapped to `width` pixels, as a transparent picture."""
    font = text_font(size)
    wrapped = [part for line in lines for part in wrap_text(line, font, width)]
    canvas, draw = new_canvas(width, line_height(font) * len(wrapped) + 4)
    for number, line in enumerate(wrapped):
        halo_text(draw, (0, 2 + number * line_height(font)), line, font)
    return canvas


def stack(parts: Sequence[Image.Image], gap: int = 10, margin: int = 8) -> Image.Image:
    """Pictures one below the other, left-aligned, on a transparent background."""
    width = max(part.width for part in parts) + 2 * margin
    height = sum(part.height for part in parts) + gap * (len(parts) - 1) + 2 * margin
    canvas, _ = new_canvas(width, height)
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
    resample = (
        Image.Resampling.NEAREST if max(picture.size) < size / 2 else Image.Resampling.BILINEAR
    )
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
    font = text_font()
    line = line_height(font)
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
    canvas, draw = new_canvas(width, height)
    for col, lines in enumerate(headers):
        x = left + gap + col * (size + gap)
        for number, text in enumerate(lines):
            halo_text(draw, (x, 2 + number * line), text, font)
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
            halo_text(draw, (x, y + size + 1), _fit(labels[index], font, size), font)
    for row, lines in enumerate(wrapped_rows):
        y = header_h + gap + row * (row_h + gap)
        for number, text in enumerate(lines):
            halo_text(draw, (gap, y + number * line), text, font)
    return canvas


def colour_legend(
    low_label: str,
    high_label: str,
    colormap: str = HEATMAP_COLORMAP,
    width: int = 256,
    title: str | None = None,
    middle_label: str | None = None,
    font_size: int = FONT_SIZE,
) -> Image.Image:
    """A horizontal colour bar with its end labels (and a title above), for reading a map; its
    bar as high as its text (`font_size`)."""
    font = text_font(font_size)
    line = line_height(font)
    bar_h = font_size
    titles = wrap_text(title, font, width) if title else []
    top = line * len(titles)
    canvas, draw = new_canvas(width + 8, top + bar_h + line + 8)
    for number, text in enumerate(titles):
        halo_text(draw, (4, number * line), text, font)
    ramp = colormap_rgb(np.tile(np.linspace(0.0, 1.0, width), (bar_h, 1)), colormap)
    canvas.paste(Image.fromarray(ramp), (4, top + 2))
    draw.rectangle((3, top + 1, width + 4, top + bar_h + 2), outline=(128, 128, 128, 255))
    y = top + bar_h + 5
    halo_text(draw, (4, y), low_label, font)
    halo_text(draw, (width + 4 - font.getlength(high_label), y), high_label, font)
    if middle_label:
        halo_text(draw, (4 + width / 2 - font.getlength(middle_label) / 2, y), middle_label, font)
    return canvas
