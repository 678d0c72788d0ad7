"""The print sheet: one method family's explanations of one photo on an A4 landscape page.

For print and slides: 300 dpi on opaque white (a dark slide or paper shows the same picture),
every text at least `SHEET_TEXT` px, 9 pt when printed on A4, the model, photo and version
above and the family's colour scales below. Drawn from the cells each method stored once
(`CellColumn`), so a sheet costs no model: the methods that explain every class fill a grid,
the ones that explain fewer (the top class) stand in a strip of their own to its right, and a
map drawn at every stage layer gets a column per layer; no cell is empty.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from generator.render.explanations import explanation_legend
from generator.render.layout import line_height, text_font, wrap_text
from generator.render.printable_grid import CellColumn

SHEET_DPI = 300
A4_LANDSCAPE = (3508, 2480)  # 297 x 210 mm at 300 dpi
SHEET_TEXT = 38  # px, the smallest text: 38 / 300 * 72 = 9.1 pt printed
SHEET_TITLE = 52  # px, the first title line: 12.5 pt
MARGIN = 118  # 1 cm, around everything
_GAP = 24  # between cells
_BLOCK_GAP = 96  # between the grid and a strip
LABEL_WIDTH = 520  # the class names' column, left of the pictures
_MAX_CELL = 640  # cells are stored at 200 px: no larger than this, even with room to spare
_INK = (20, 20, 20)
_WHITE = (255, 255, 255)


def _headers(column: CellColumn) -> list[str]:
    """The head of each of a column's cells: the method, and the layer of a per-layer map."""
    if column.display == "heatmaps by layer":
        return [f"{column.title} · {layer}" for layer in column.layers or ()]
    return [column.title]


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """A head wrapped to `width`, layer names after their underscores where possible."""
    return [part.replace("_ ", "_") for part in wrap_text(text.replace("_", "_ "), font, width)]


def _blocks(columns: Sequence[CellColumn]) -> list[list[CellColumn]]:
    """Columns that explain the same number of classes, the ones that explain all first."""
    counts = sorted({len(column.cells) for column in columns}, reverse=True)
    return [[c for c in columns if len(c.cells) == count] for count in counts if count]


def print_sheet(
    columns: Sequence[CellColumn], row_labels: Sequence[str], title: Sequence[str]
) -> Image.Image:
    """One family's `columns` for the classes `row_labels` names (best first), as an A4
    landscape RGB picture at 300 dpi: `title` lines above, the colour scales below."""
    width, height = A4_LANDSCAPE
    sheet = Image.new("RGB", A4_LANDSCAPE, _WHITE)
    draw = ImageDraw.Draw(sheet)
    font, big = text_font(SHEET_TEXT), text_font(SHEET_TITLE)
    line = line_height(font)
    y = MARGIN
    for number, text in enumerate(title):
        chosen = big if number == 0 else font
        for part in wrap_text(text, chosen, width - 2 * MARGIN):
            draw.text((MARGIN, y), part, fill=_INK, font=chosen)
            y += line_height(chosen)
    y += _GAP
    legend = explanation_legend(columns, width=640, side_by_side=True, font_size=SHEET_TEXT)
    if legend.width > width - 2 * MARGIN:
        legend = explanation_legend(columns, width=640, font_size=SHEET_TEXT)
    legend_top = height - MARGIN - legend.height
    sheet.paste(legend, (MARGIN, legend_top), legend)

    blocks = _blocks(columns)
    heads = [[h for column in block for h in _headers(column)] for block in blocks]
    cells = sum(len(block_heads) for block_heads in heads)
    rows = min(len(row_labels), max((len(block[0].cells) for block in blocks), default=0))
    across = width - 2 * MARGIN - LABEL_WIDTH - _BLOCK_GAP * (len(blocks) - 1) - _GAP * cells
    size = min(_MAX_CELL, across // max(cells, 1))
    for _ in range(2):  # the heads wrap to the cell width, which their height limits
        head_lines = max((len(_wrap(h, font, size)) for block in heads for h in block), default=0)
        strip_line = 1 if len(blocks) > 1 else 0
        head_h = (head_lines + strip_line) * line + _GAP
        down = legend_top - _GAP - y - head_h
        size = min(size, (down - _GAP * rows) // max(rows, 1))
    labels = [wrap_text(text, font, LABEL_WIDTH - _GAP) for text in row_labels[:rows]]
    top = y + head_h
    for row, lines in enumerate(labels):
        for number, text in enumerate(lines):
            draw.text(
                (MARGIN, top + row * (size + _GAP) + number * line), text, fill=_INK, font=font
            )
    x = MARGIN + LABEL_WIDTH
    for index, (block, block_heads) in enumerate(zip(blocks, heads)):
        if index:  # a strip: the methods that explain fewer classes, apart from the grid
            x += _BLOCK_GAP - _GAP
            count = len(block[0].cells)
            which = "class" if count == 1 else f"{count} classes"
            draw.text((x, y), f"Top-{count} {which} only:", fill=_INK, font=font)
        for column_index, head in enumerate(block_heads):
            left = x + column_index * (size + _GAP)
            for number, text in enumerate(_wrap(head, font, size)):
                draw.text(
                    (left, y + (strip_line * line) + number * line), text, fill=_INK, font=font
                )
        tiles = [
            [tile for column in block for tile in column.cells[row]]
            for row in range(min(rows, len(block[0].cells)))
        ]
        for row, row_tiles in enumerate(tiles):
            for column_index, tile in enumerate(row_tiles):
                picture = Image.fromarray(np.asarray(tile))
                scale = size / max(picture.size)  # a cell that is not square keeps its shape
                shape = (round(picture.width * scale), round(picture.height * scale))
                picture = picture.resize(shape, Image.Resampling.BICUBIC)
                sheet.paste(picture, (x + column_index * (size + _GAP), top + row * (size + _GAP)))
        x += len(block_heads) * (size + _GAP)
    return sheet


def encode_sheet(sheet: Image.Image) -> bytes:
    """The sheet as WebP with its print resolution (300 dpi) in EXIF, and nothing else there (no
    timestamps), so equal pixels give equal bytes."""
    exif = Image.Exif()
    exif[0x011A] = exif[0x011B] = SHEET_DPI  # XResolution, YResolution
    exif[0x0128] = 2  # ResolutionUnit: inch
    buffer = io.BytesIO()
    sheet.save(buffer, format="WEBP", quality=85, method=4, exif=exif.tobytes())
    return buffer.getvalue()
