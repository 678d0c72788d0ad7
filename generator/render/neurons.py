"""The neurons section's figures: optimised images in a labelled grid, one channel's card
(its activation on every photo, the patches that excite it most, its projection), the photo
beside its DeepDream and its inversions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from generator.render.filters import FEATURE_COLORMAP
from generator.render.layout import colour_legend, labelled_grid, stack, text_block
from generator.render.pixels import colormap_rgb, gradient_image

TILE = 128  # an optimised image's side in a grid (64-96 px pictures, upscaled smoothly)
CARD_TILE = 128  # a photo or patch tile on a channel's card


def picture_grid(pictures: np.ndarray, labels: Sequence[str], columns: int = 4) -> Image.Image:
    """Optimised images (n, s, s, 3) uint8, each labelled ("ch N"), in rows of three when
    that fills every row (six: two rows, readable on a phone), else of `columns`."""
    count = len(pictures)
    columns = 3 if count % 3 == 0 else min(columns, count)  # full rows where they can be
    return labelled_grid(list(pictures), columns=columns, labels=labels, tile_size=TILE)


def _activation_over(photo: np.ndarray, plane: np.ndarray, low: float, high: float) -> np.ndarray:
    """The photo (H, W, 3) under its channel's activation (h, w), on the scale low..high:
    the activation's colour where it is high, the photo showing through where it is low."""
    span = high - low if high - low > 1e-12 else 1.0
    unit = np.clip((plane - low) / span, 0.0, 1.0)
    size = photo.shape[1], photo.shape[0]
    heat = Image.fromarray((unit * 255).astype(np.uint8)).resize(size, Image.Resampling.BILINEAR)
    weight = np.asarray(heat, np.float32)[..., None] / 255.0
    colours = colormap_rgb(np.asarray(heat, np.float32) / 255.0, FEATURE_COLORMAP)
    mixed = (0.35 + 0.65 * weight) * colours + (0.65 - 0.65 * weight) * photo
    return np.clip(mixed, 0, 255).astype(np.uint8)


def channel_card(
    photos: np.ndarray,
    planes: np.ndarray,
    titles: Sequence[str],
    patches: Sequence[tuple[np.ndarray, str]],
    projections: tuple[np.ndarray, np.ndarray] | None,
    heading: str,
) -> Image.Image:
    """One channel: `planes` (n, h, w) its activation on each photo (n, H, W, 3), one shared
    scale from zero to their maximum; `patches` the photo crops that excite it most, each
    with its label; `projections` its strongest unit's Guided Backprop and DeConvNet
    projections, cropped as the patch of its strongest photo."""
    high = float(max(planes.max(), 1e-6))
    low = float(min(planes.min(), 0.0))
    tiles = [_activation_over(p, plane, low, high) for p, plane in zip(photos, planes)]
    labels = list(titles)
    columns = max(len(tiles), 4)
    rows = [
        text_block([heading], columns * (CARD_TILE + 6)),
        labelled_grid(tiles, columns=len(tiles), labels=labels, tile_size=CARD_TILE),
        colour_legend(
            f"{low:.3g}",
            f"{high:.3g}",
            FEATURE_COLORMAP,
            width=min(320, columns * CARD_TILE),
            title="activation on each photo, one scale",
        ),
    ]
    shown = [crop for crop, _ in patches]
    names = [label for _, label in patches]
    if projections is not None:
        shown += [gradient_image(projection) for projection in projections]
        names += ["Guided Backprop", "DeConvNet"]
    if shown:
        rows.append(labelled_grid(shown, columns=len(shown), labels=names, tile_size=CARD_TILE))
    return stack(rows, gap=4, margin=2)


def photo_and_results(
    photo: np.ndarray, results: Sequence[np.ndarray], labels: Sequence[str]
) -> Image.Image:
    """The photo and what was made of it (DeepDream, inversions), side by side, labelled;
    `labels` names the photo first."""
    tiles = [photo, *results]
    return labelled_grid(tiles, columns=len(tiles), labels=labels, tile_size=192)
