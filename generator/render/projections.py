"""Zeiler & Fergus projections: what one channel's strongest unit looks at, one row each.

The receptive field outlined on the photo, the photo cropped to it, and the Guided Backprop and
DeConvNet projections cropped to it: the paper's figure, for any layer of any model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from generator.render.layout import labelled_grid
from generator.render.pixels import gradient_image


def _clip(box: tuple[int, int, int, int], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The part of a receptive-field box that lies on the image (deep layers see past it)."""
    top, left, bottom, right = box
    return max(top, 0), max(left, 0), min(bottom, shape[0]), min(right, shape[1])


def _marked(photo: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """The photo at `size` with the receptive field outlined (in yellow on a dark rim)."""
    picture = Image.fromarray(photo).convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
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
