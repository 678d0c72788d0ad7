"""The trust section's figures: one method's maps across the randomization cascade, and the two
plots of the checks (similarity against the cascade step; deletion and insertion curves).

The strip is laid out like every other grid (transparent, labels in a light halo). The plots
are drawn by matplotlib on a white background: axes, grid lines and a legend need a background
of their own to read on a dark page and in print. They are drawn with matplotlib's object API
(no pyplot, no global state) into a pixel buffer, so no file metadata can make two renders of
the same numbers differ.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image

from generator.methods.display import Display
from generator.render.explanations import method_tile
from generator.render.layout import FONT_SIZE, labelled_grid, text_font, wrap_text

STRIP_TILE = 144  # side of one step's tile: seven steps still fit a laptop's column
_DPI = 100
_POINTS = FONT_SIZE * 72 / _DPI  # matplotlib sizes text in points: 16 px at this resolution
# Fifteen series stay apart: ten colours, then the same colours dashed; a marker each.
_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
_BASELINE_STYLES = (("#808080", "--"), ("#000000", ":"))  # grey dashed, black dotted


def randomization_strip(
    display: Display,
    crop: np.ndarray,
    maps: np.ndarray,
    labels: Sequence[str],
    layers: Sequence[str] | None = None,
) -> Image.Image:
    """One method's maps of one class across the cascade in one row, the trained model's first,
    each under its step's label (`labels`, one per map).

    `maps` is (S+1, *map shape) in the method's display shape (`method_tile`), `layers` the
    layer names of a "heatmaps by layer" map. Each tile is scaled on its own, as on the rest of
    the page: a randomized network's map may be a thousand times weaker and would be black on a
    shared scale. So brightness is not compared across the strip; the similarity numbers are.
    """
    maps = np.asarray(maps)
    if len(maps) != len(labels):
        raise ValueError(f"{len(maps)} maps but {len(labels)} step labels")
    tiles = [method_tile(display, crop, one, layers) for one in maps]
    headers = [_broken(label, STRIP_TILE) for label in labels]
    return labelled_grid(tiles, len(tiles), tile_size=STRIP_TILE, column_labels=headers)


def _broken(label: str, width: int) -> str:
    """A step's label in lines of `width` pixels, a layer name broken after its underscores
    where possible ("stage 3 (conv4_block6_" / "out)"), not at any letter."""
    lines = wrap_text(label.replace("_", "_ "), text_font(), width)
    return "\n".join(line.replace("_ ", "_") for line in lines)


def _new_figure(width: float, height: float) -> Figure:
    """A white matplotlib figure of `width` x `height` inches at the gallery's text size."""
    figure = Figure(figsize=(width, height), dpi=_DPI, facecolor="white", layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _pixels(figure: Figure) -> Image.Image:
    """The drawn figure as an RGBA picture, straight from the pixel buffer (no file, no
    metadata: the same numbers give the same pixels)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="raw", dpi=_DPI)
    size = figure.canvas.get_width_height()
    return Image.frombytes("RGBA", size, buffer.getvalue())


def _style(index: int) -> dict[str, Any]:
    """The colour, marker and line style of the `index`-th series."""
    return {
        "color": _COLOURS[index % len(_COLOURS)],
        "marker": _MARKERS[index % len(_MARKERS)],
        "linestyle": "-" if index < len(_COLOURS) else "--",
    }


def _legend(figure: Figure, handles: Sequence[Line2D]) -> None:
    """The series' names below the plot, in as many columns as fit (up to 15 stay readable)."""
    columns = max(1, min(3, len(handles)))
    figure.legend(
        handles=list(handles),
        loc="outside lower center",
        ncols=columns,
        fontsize=_POINTS,
        frameon=False,
    )


def similarity_plot(
    steps: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    measure: str = "Spearman rank correlation",
    threshold: float | None = None,
) -> Image.Image:
    """How similar each method's map stays to the trained model's while the weights are
    re-initialised from the top down: one line per method over the cascade's `steps`.

    A point "trained" at 1.0 is put before the steps (a map is identical to itself), so every
    line starts at 1 and its fall is what reads. `series` is (method title, one value per step);
    a `threshold` (the mark of `trust_summary.RANDOMIZATION_MARK`) is drawn as a dashed line
    with the band above it shaded: a line that ends there marks its method.
    """
    labels = ["trained", *steps]
    figure = _new_figure(8.0, 5.2 + 0.3 * ((len(series) + 2) // 3))
    axes = figure.add_subplot()
    x = np.arange(len(labels))
    lowest = min((min(values, default=0.0) for _, values in series), default=0.0)
    bottom = min(-0.1, float(np.floor((lowest - 0.05) * 10) / 10))
    if threshold is not None:
        axes.axhspan(threshold, 1.05, color="#f3c969", alpha=0.25, linewidth=0)
        axes.axhline(threshold, color="#a66a00", linestyle="--", linewidth=1.5)
        axes.text(  # at the left, under the line, where every line is still near 1
            0.05,
            threshold - 0.03,
            f"marked if still ≥ {threshold:g}\nafter every layer",
            ha="left",
            va="top",
            fontsize=_POINTS,
            color="#6b4400",
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8},
        )
    axes.axhline(0.0, color="#999999", linewidth=0.8)
    handles = []
    for index, (title, values) in enumerate(series):
        if len(values) != len(steps):
            raise ValueError(f"{title}: {len(values)} values for {len(steps)} steps")
        (line,) = axes.plot(x, [1.0, *values], label=title, linewidth=2, **_style(index))
        handles.append(line)
    # A step's layer name on a line of its own: "stage 3" / "(conv4_block6_out)".
    ticks = [label.replace(" (", "\n(") for label in labels]
    axes.set_xticks(x, ticks, rotation=30, ha="right", rotation_mode="anchor")
    axes.set_xlim(-0.2, x[-1] + 0.2)
    axes.set_ylim(bottom, 1.05)
    axes.set_xlabel("weights re-initialised, from the top down (cumulative)", fontsize=_POINTS)
    axes.set_ylabel(f"{measure}\nwith the trained map", fontsize=_POINTS)
    axes.tick_params(labelsize=_POINTS)
    axes.grid(True, color="#dddddd", linewidth=0.8)
    if handles:
        _legend(figure, handles)
    return _pixels(figure)


def curves_plot(
    series: Sequence[tuple[str, Sequence[float], Sequence[float], bool]],
) -> Image.Image:
    """One photo's deletion and insertion curves: the class probability as the map's most
    important pixels are removed (left; a faithful map makes it fall fast) or revealed (right;
    it should rise fast), over the fraction of pixels changed.

    `series` is (title, deletion curve, insertion curve, is_baseline); the baselines (random,
    centred Gaussian map) are drawn grey dashed and black dotted, without markers, so the
    methods read against them.
    """
    figure = _new_figure(9.6, 5.0 + 0.3 * ((len(series) + 2) // 3))
    deletion, insertion = figure.subplots(1, 2, sharey=True)
    handles = []
    highest = max((max(c, default=0.0) for _, d, i, _ in series for c in (d, i)), default=0.0)
    methods = baselines = 0
    for title, removed, revealed, is_baseline in series:
        if is_baseline:
            colour, linestyle = _BASELINE_STYLES[baselines % len(_BASELINE_STYLES)]
            style: dict[str, Any] = {"color": colour, "linestyle": linestyle, "linewidth": 2.2}
            baselines += 1
        else:
            style = {**_style(methods), "linewidth": 1.8, "markersize": 6}
            methods += 1
        for axes, curve in ((deletion, removed), (insertion, revealed)):
            x = np.linspace(0.0, 1.0, len(curve))
            every = max(1, len(curve) // 8)
            (line,) = axes.plot(x, curve, label=title, markevery=every, **style)
        handles.append(line)
    for axes, title, action in (
        (deletion, "Deletion (lower is better)", "removed"),
        (insertion, "Insertion (higher is better)", "revealed"),
    ):
        axes.set_title(title, fontsize=_POINTS)
        axes.set_xlabel(f"fraction of pixels {action}, most important first", fontsize=_POINTS)
        axes.set_xlim(0.0, 1.0)
        # An untrained network's probabilities stay near 0.001: the scale follows the curves.
        axes.set_ylim(0.0, min(1.02, max(0.01, highest * 1.05)))
        axes.tick_params(labelsize=_POINTS)
        axes.grid(True, color="#dddddd", linewidth=0.8)
    deletion.set_ylabel("class probability", fontsize=_POINTS)
    if handles:
        _legend(figure, handles)
    return _pixels(figure)
