"""Measuring a print sheet (`render.print_sheet`) as a printer sees it: its paper size, its
resolution and how large its text comes out on paper, read from its pixels."""

from __future__ import annotations

import numpy as np
from PIL import Image

from generator.render import sheet

DIGIT_EM = 0.729  # DejaVu Sans, every figure's font: a digit is 0.729 em high
POINTS_PER_INCH = 72
PAPER = 250  # white paper, as lossy WebP keeps it (254 or 255): every channel at least this


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in a 1-d array."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def label_points(picture: Image.Image, dpi: int = sheet.SHEET_DPI) -> float:
    """The font size in points, printed at `dpi`, of the sheet's row labels, from their ink: the
    height of the first label's rank digit, divided by a digit's height in ems.

    The first row of pictures is the first tall run of not-white pixels just right of the label
    column; the first label starts at its top, at the sheet's margin.
    """
    rgb = np.asarray(picture.convert("RGB")).astype(int)
    paper = rgb.min(-1) >= PAPER
    edge = ~paper[:, sheet.MARGIN + sheet.LABEL_WIDTH + 2]
    top = next(start for start, stop in runs(edge) if stop - start > 150)
    ink = rgb.max(-1) < 128
    labels = ink[top - 4 : top + 200, sheet.MARGIN : sheet.MARGIN + sheet.LABEL_WIDTH]
    first = runs(labels.any(0))[0]  # the columns of the first glyph: the rank's first digit
    rows = runs(labels[:, first[0] : first[1]].any(1))[0]
    em = (rows[1] - rows[0]) / DIGIT_EM
    return em / dpi * POINTS_PER_INCH
