"""The printable grid: one row per class, one column per method, the colour scales below, on
white.

A picture of one photo's explanations that stands on its own when printed or shared: it names
the model, photo and version above, every class in full, and each method's column. Cells are
drawn once per method (`CellColumn`) and stored, so a grid is redrawn without recomputing the
methods that did not change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from generator.methods.display import Display
from generator.methods.families import not_computed
from generator.render.explanations import explanation_legend, method_tile
from generator.render.layout import (
    fit_tile,
    halo_text,
    labelled_grid,
    line_height,
    new_canvas,
    stack,
    text_block,
    text_font,
    wrap_text,
)
from generator.render.pixels import heatmap_overlay


@dataclass(frozen=True)
class ExplanationColumn:
    """One method's column of the printable grid: its maps for the first `len(maps)` classes
    (a method that explains fewer classes than the grid has rows leaves the rest empty).
    `layers` names the layers of a "heatmaps by layer" map, one grid column each."""

    title: str
    display: Display
    maps: Sequence[np.ndarray]
    layers: Sequence[str] | None = None


def _not_computed(size: int, classes: int) -> np.ndarray:
    """An empty cell's note: the method explains fewer classes than the grid has rows."""
    font = text_font()
    text = not_computed(classes)
    canvas, draw = new_canvas(size, size)
    lines = wrap_text(text, font, size - 8)
    top = (size - len(lines) * line_height(font)) // 2
    for number, line in enumerate(lines):
        halo_text(draw, (4, top + number * line_height(font)), line, font)
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
    drawn = stack([*parts, grid, explanation_legend(columns, side_by_side=True)])
    paper = Image.new("RGBA", drawn.size, "white")  # opaque: it reads on a dark slide too
    return Image.alpha_composite(paper, drawn).convert("RGB")
