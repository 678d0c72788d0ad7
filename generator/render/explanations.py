"""Explanation maps, drawn by their display kind (`methods.display.Display`).

One class's tile for one method (heat map over the photo, signed gradient, attribution size,
signed attribution over a faint copy of the photo, heat map at each layer), and the colour scales and captions that say how to
read each kind. Render knows how each KIND of map is drawn, never which method made it: callers
pass method titles with their maps, so a method added to the catalog is drawn without a change
here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from PIL import Image, ImageFont

from generator.methods.display import DISPLAYS, Display
from generator.render.layout import (
    FONT_SIZE,
    colour_legend,
    halo_text,
    line_height,
    new_canvas,
    stack,
    text_font,
    wrap_text,
)
from generator.render.pixels import (
    DIVERGING_COLORMAP,
    HEATMAP_COLORMAP,
    TINY,
    colormap_rgb,
    gradient_image,
    heatmap_overlay,
    symmetric_unit,
)

# How to read each kind of picture, for captions (the legends drawn below say the same).
GRADCAM_SCALE = "colour scale inferno over the photo: black = 0, no evidence; yellow = 1, strongest"
GRADIENT_SCALE = (
    "colour scale: mid-grey = 0; per colour channel lighter = positive, darker = negative "
    "gradient, scaled to its 99.5th percentile"
)

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
        "colour scale red-white-blue over a faint grey copy of the photo: white (the photo "
        "shows through) = 0; red raises, blue lowers the class logit; full red or blue = the "
        "map's largest absolute value"
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
        "from blue (lowers the class logit) through white (0, the faint photo shows through) "
        "to red (raises it), full colour at the map's largest absolute value"
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
PHOTO_SHOWN = 0.35  # how dark the photo's darkest pixel makes a signed map's colour (0: not shown)


class Titled(Protocol):
    """Anything that names a method and how it is drawn: a catalog method or a grid column."""

    @property
    def title(self) -> str: ...
    @property
    def display(self) -> Display: ...


def display_scale(display: Display) -> str:
    """How to read a map of this kind, in one sentence, for captions."""
    return _SCALES[display]


def magnitude_image(magnitude: np.ndarray) -> np.ndarray:
    """A map >= 0 (H, W) on its own: dark = 0, brightest = its 99.5th percentile and above."""
    magnitude = np.asarray(magnitude, dtype=np.float32)
    scale = float(np.percentile(magnitude, MAGNITUDE_PERCENTILE))
    scale = scale if scale > TINY else float(magnitude.max())
    unit = magnitude / scale if scale > TINY else np.zeros_like(magnitude)
    return colormap_rgb(unit, MAGNITUDE_COLORMAP)


def faint_photo(photo: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The photo as a light grey (H, W) factor in [1 - PHOTO_SHOWN, 1], resized to `shape`: what
    a signed map multiplies, so the photo shows through where the map is white (0)."""
    grey = Image.fromarray(np.asarray(photo, dtype=np.uint8)).convert("L")
    if grey.size != (shape[1], shape[0]):
        grey = grey.resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
    return 1.0 - PHOTO_SHOWN * (1.0 - np.asarray(grey, dtype=np.float32) / 255.0)


def signed_image(signed: np.ndarray, photo: np.ndarray | None = None) -> np.ndarray:
    """A map around 0 (H, W): white = 0, red positive, blue negative, full colour at the map's
    largest absolute value (so the two signs share one scale); over a faint grey copy of
    `photo` if given (multiplied: white lets the photo through, the hues keep their meaning),
    so a coarse map such as occlusion's can be related to the object."""
    colours = colormap_rgb(symmetric_unit(signed), SIGNED_COLORMAP)
    if photo is None:
        return colours
    shaded = colours.astype(np.float32) * faint_photo(photo, colours.shape[:2])[..., None]
    return np.round(shaded).astype(np.uint8)


def _wrap_name(name: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """A layer name wrapped after its underscores where possible (`block_13_expand_relu`)."""
    return [line.replace("_ ", "_") for line in wrap_text(name.replace("_", "_ "), font, width)]


def _layer_panels(crop: np.ndarray, heats: np.ndarray, layers: Sequence[str]) -> np.ndarray:
    """One heat-map overlay per layer, each under its layer's name, two rows from four layers
    up, on a transparent background (RGBA): fine layers first, coarse last."""
    if len(layers) != len(heats):
        raise ValueError(f"{len(heats)} layer maps but {len(layers)} layer names")
    font = text_font()
    line = line_height(font)
    columns = len(heats) if len(heats) <= 3 else -(-len(heats) // 2)
    rows = -(-len(heats) // columns)
    names = [_wrap_name(name, font, _LAYER_PANEL) for name in layers]
    label_h = max(len(lines) for lines in names) * line + 4
    gap = 6
    canvas, draw = new_canvas(
        columns * (_LAYER_PANEL + gap) - gap, rows * (label_h + _LAYER_PANEL + gap) - gap
    )
    for index, (heat, lines) in enumerate(zip(heats, names)):
        row, col = divmod(index, columns)
        x, y = col * (_LAYER_PANEL + gap), row * (label_h + _LAYER_PANEL + gap)
        for number, text in enumerate(lines):
            halo_text(draw, (x, y + number * line), text, font)
        panel = Image.fromarray(heatmap_overlay(crop, heat)).resize(
            (_LAYER_PANEL, _LAYER_PANEL), Image.Resampling.BILINEAR
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
        return signed_image(maps, crop)
    if display == "heatmaps by layer":
        if layers is None:
            raise ValueError('a "heatmaps by layer" map needs its layer names')
        return _layer_panels(crop, np.asarray(maps), layers)
    raise ValueError(f"unknown display kind {display!r}; choose from: {', '.join(DISPLAYS)}")


def display_colormap(display: Display) -> str:
    """The matplotlib colormap maps of this kind are drawn in."""
    return _LEGENDS[display][2]


def display_legend(
    display: Display, width: int = 300, title: str | None = None, font_size: int = FONT_SIZE
) -> Image.Image:
    """The colour bar of one display kind, with its end labels; titled by the kind's name
    unless `title` names the methods that use it."""
    low, high, colormap, middle, _ = _LEGENDS[display]
    title = _DISPLAY_NAMES[display] if title is None else title
    return colour_legend(
        low, high, colormap, width, title=title, middle_label=middle, font_size=font_size
    )


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
    displays: Sequence[Titled],
    width: int = 300,
    side_by_side: bool = False,
    font_size: int = FONT_SIZE,
) -> Image.Image:
    """One colour scale per display kind in `displays` (catalog methods or grid columns), in
    order of first use, each titled with the methods that use it: one above the other (narrow
    enough to be shown at full size on a phone) or side by side (under the printable grid and
    the print sheets)."""
    users = _users(displays)
    legends = [
        display_legend(display, width, ", ".join(titles) + _LEGENDS[display][4], font_size)
        for display, titles in users.items()
    ]
    if not side_by_side:
        return stack(legends, gap=10, margin=0)
    gap = 3 * font_size // 2
    canvas, _ = new_canvas(
        sum(legend.width for legend in legends) + gap * (len(legends) - 1),
        max(legend.height for legend in legends),
    )
    x = 0
    for legend in legends:
        canvas.alpha_composite(legend, (x, 0))
        x += legend.width + gap
    return canvas
