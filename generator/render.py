"""Arrays to web images: grids, heat-map overlays and colour legends.

Every file goes through `atomic_write_bytes`, so an interrupted build never leaves a half-written
image or page behind. Nothing here knows about models: callers pass plain arrays and labels.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw, ImageFont

HEATMAP_COLORMAP = "inferno"  # perceptually uniform, readable in grayscale print
DIVERGING_COLORMAP = "RdBu_r"
WEBP_QUALITY = 85
# Gradients of random deep networks can be ~1e-13: only an exact zero range counts as constant.
_TINY = float(np.finfo(np.float32).tiny)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically (see `atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def encode_webp(image: Image.Image) -> bytes:
    """Encode for the web; no EXIF or timestamps, so equal pixels give equal bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=6)
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


# --- grids ----------------------------------------------------------------------------------

_FONT_SIZE = 13


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


def labelled_grid(
    tiles: Sequence[np.ndarray],
    columns: int,
    labels: Sequence[str] | None = None,
    tile_size: int | None = None,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    gap: int = 4,
    row_label_width: int = 150,
) -> Image.Image:
    """Lay out uint8 tiles (H, W) or (H, W, 3) in a grid, with optional captions.

    `labels` go under each tile; `row_labels` to the left of each row; `column_labels` above
    each column. Tiles are upscaled with nearest neighbour to `tile_size` so small kernels stay
    crisp.
    """
    font = _font()
    first = np.asarray(tiles[0])
    size = tile_size or first.shape[0]
    rows = (len(tiles) + columns - 1) // columns
    label_h = _FONT_SIZE + 6 if labels else 0
    header_h = _FONT_SIZE + 8 if column_labels else 0
    left = row_label_width if row_labels else 0
    width = left + columns * (size + gap) + gap
    height = header_h + rows * (size + label_h + gap) + gap
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for col, text in enumerate(column_labels or []):
        x = left + gap + col * (size + gap)
        draw.text((x, 3), _fit(text, font, size), fill="black", font=font)
    for index, tile in enumerate(tiles):
        row, col = divmod(index, columns)
        x = left + gap + col * (size + gap)
        y = header_h + gap + row * (size + label_h + gap)
        picture = Image.fromarray(np.asarray(tile)).convert("RGB")
        resample = Image.NEAREST if picture.width < size / 2 else Image.BILINEAR
        canvas.paste(picture.resize((size, size), resample), (x, y))
        if labels:
            draw.text((x, y + size + 2), _fit(labels[index], font, size), fill="black", font=font)
    for row, text in enumerate(row_labels or []):
        y = header_h + gap + row * (size + label_h + gap) + size // 2 - _FONT_SIZE
        for line_no, line in enumerate(text.split("\n")[:3]):
            draw.text(
                (gap, y + line_no * (_FONT_SIZE + 3)),
                _fit(line, font, row_label_width - 2 * gap),
                fill="black",
                font=font,
            )
    return canvas


def colour_legend(
    low_label: str, high_label: str, colormap: str = HEATMAP_COLORMAP, width: int = 256
) -> Image.Image:
    """A horizontal colour bar with its end labels, for reading a heat map."""
    font = _font()
    bar_h, text_h = 14, _FONT_SIZE + 6
    ramp = colormap_rgb(np.tile(np.linspace(0.0, 1.0, width), (bar_h, 1)), colormap)
    canvas = Image.new("RGB", (width + 8, bar_h + text_h + 6), "white")
    canvas.paste(Image.fromarray(ramp), (4, 4))
    draw = ImageDraw.Draw(canvas)
    draw.text((4, bar_h + 6), low_label, fill="black", font=font)
    draw.text(
        (width + 4 - font.getlength(high_label), bar_h + 6), high_label, fill="black", font=font
    )
    return canvas


# --- the gallery's figures ------------------------------------------------------------------

EXPLANATION_COLUMNS = ("Grad-CAM", "Guided Grad-CAM", "Guided Backprop", "DeConvNet")


def rgb_filter_grid(kernels: np.ndarray, columns: int = 16, tile_size: int = 28) -> Image.Image:
    """First-layer kernels (out, kh, kw, 3) as colour tiles, each min-max scaled on its own."""
    tiles = [to_uint8(minmax_unit(kernel)) for kernel in kernels]
    return labelled_grid(tiles, columns=min(columns, len(tiles)), tile_size=tile_size)


def spatial_filter_grid(kernels: np.ndarray, tile_size: int = 28) -> Image.Image:
    """Deeper kernels (out, in, kh, kw): one row per output filter, one column per input channel.

    Grayscale, symmetric around zero (mid-grey = 0) on one scale per output filter, so the
    relative weight of each input channel stays readable.
    """
    outputs, inputs = kernels.shape[:2]
    tiles = []
    for kernel in kernels:
        scale = float(np.abs(kernel).max())
        tiles.extend(to_uint8(symmetric_unit(k, scale if scale > 0 else None)) for k in kernel)
    return labelled_grid(
        tiles,
        columns=inputs,
        tile_size=tile_size,
        row_labels=[f"filter {i}" for i in range(outputs)],
        column_labels=[f"in {i}" for i in range(inputs)],
        row_label_width=70,
    )


def depthwise_filter_grid(
    kernels: np.ndarray, columns: int = 16, tile_size: int = 28
) -> Image.Image:
    """Depthwise kernels (channels, kh, kw), one grayscale tile per channel, zero at mid-grey."""
    tiles = [to_uint8(symmetric_unit(k)) for k in kernels]
    labels = [str(i) for i in range(len(tiles))]
    return labelled_grid(
        tiles, columns=min(columns, len(tiles)), labels=labels, tile_size=tile_size
    )


def pointwise_matrix(matrix: np.ndarray, max_size: int = 64, cell: int = 6) -> Image.Image:
    """A 1x1 convolution's (out, in) channel-mixing matrix, blue negative / red positive."""
    shown = matrix[:max_size, :max_size]
    pixels = colormap_rgb(symmetric_unit(shown), DIVERGING_COLORMAP)
    picture = Image.fromarray(pixels).resize(
        (shown.shape[1] * cell, shown.shape[0] * cell), Image.NEAREST
    )
    return picture


def feature_map_grid(
    maps: np.ndarray, channels: Sequence[int], scale: tuple[float, float], columns: int = 8
) -> Image.Image:
    """(n, h, w) activations on ONE shared colour scale, each tile labelled with its channel."""
    low, high = scale
    span = high - low if high - low > _TINY else 1.0
    tiles = [colormap_rgb((m - low) / span, "viridis") for m in maps]
    size = max(64, min(112, maps.shape[1] * 4))
    labels = [f"ch {c}" for c in channels]
    return labelled_grid(tiles, columns=min(columns, len(tiles)), labels=labels, tile_size=size)


def explanation_grid(
    crop: np.ndarray,
    gradcam: np.ndarray,
    guided_gradcam: np.ndarray,
    guided_backprop: np.ndarray,
    deconvnet: np.ndarray,
    row_labels: Sequence[str],
    tile_size: int = 160,
) -> Image.Image:
    """One row per class: Grad-CAM overlay, Guided Grad-CAM, Guided Backprop, DeConvNet."""
    tiles = []
    for k in range(len(row_labels)):
        tiles.append(heatmap_overlay(crop, gradcam[k]))
        tiles.append(gradient_image(guided_gradcam[k]))
        tiles.append(gradient_image(guided_backprop[k]))
        tiles.append(gradient_image(deconvnet[k]))
    return labelled_grid(
        tiles,
        columns=len(EXPLANATION_COLUMNS),
        tile_size=tile_size,
        row_labels=row_labels,
        column_labels=EXPLANATION_COLUMNS,
        row_label_width=170,
    )


def projection_grid(
    guided: np.ndarray, deconv: np.ndarray, channels: Sequence[int], tile_size: int = 112
) -> Image.Image:
    """Per channel, its Guided Backprop and DeConvNet projection to pixel space (two rows)."""
    tiles = [gradient_image(g) for g in guided] + [gradient_image(d) for d in deconv]
    return labelled_grid(
        tiles,
        columns=len(channels),
        tile_size=tile_size,
        row_labels=["Guided\nBackprop", "DeConvNet"],
        column_labels=[f"ch {c}" for c in channels],
        row_label_width=90,
    )
