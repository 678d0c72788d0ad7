"""The gallery's pictures explain themselves: legends drawn in, whole class names, transparent
backgrounds that read on light and dark pages, projections cropped to receptive fields."""

from __future__ import annotations

import numpy as np
from PIL import Image

from generator import render


def _rgba(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGBA"))


def test_wrapped_text_keeps_every_character_within_the_width():
    font = render._font()
    name = "1. black-and-white colobus, Angora rabbit, Supercalifragilisticexpialidocious"
    lines = render.wrap_text(name, font, 150)
    assert len(lines) > 2
    assert all(font.getlength(line) <= 150 for line in lines)
    assert "".join(lines).replace(" ", "") == name.replace(" ", "")


def test_pictures_have_a_transparent_background_and_large_text():
    maps = np.random.default_rng(0).uniform(size=(16, 14, 14)).astype(np.float32)
    grid = _rgba(render.feature_map_grid(maps, list(range(16)), (0.0, 1.0)))
    assert grid[0, 0, 3] == 0 and grid[-1, -1, 3] == 0  # corners: page colour shows through
    assert render._FONT_SIZE >= 16


def test_feature_maps_carry_their_colour_scale():
    maps = np.zeros((16, 7, 7), np.float32)
    maps[0] = 1.0  # one bright tile; everything else at the low end
    picture = _rgba(render.feature_map_grid(maps, list(range(16)), (0.0, 1.0)))
    below_tiles = picture[-40:]  # the legend's bar runs from the low to the high colour
    yellow = render.colormap_rgb(np.array([1.0]), render.FEATURE_COLORMAP)[0]
    purple = render.colormap_rgb(np.array([0.0]), render.FEATURE_COLORMAP)[0]
    for colour in (yellow, purple):
        close = np.abs(below_tiles[..., :3].astype(int) - colour).sum(-1) < 30
        assert close.any()


def test_printable_grid_names_its_context_and_draws_both_scales():
    rng = np.random.default_rng(1)
    crop = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    cam = rng.uniform(size=(2, 64, 64))
    gradients = rng.normal(size=(2, 64, 64, 3))
    labels = ["1. black-and-white colobus and a very long name\n50.0%", "2. cat\n10.0%"]
    bare = render.explanation_grid(crop, cam, gradients, gradients, gradients, labels)
    titled = render.explanation_grid(
        crop, cam, gradients, gradients, gradients, labels, title=["ResNet50 · photo 'cat'"]
    )
    assert titled.height > bare.height
    bottom = _rgba(titled)[-60:]
    inferno_top = render.colormap_rgb(np.array([1.0]), render.HEATMAP_COLORMAP)[0]
    assert (np.abs(bottom[..., :3].astype(int) - inferno_top).sum(-1) < 30).any()


def test_projection_rows_show_the_photo_cropped_to_the_receptive_field():
    photo = np.zeros((64, 64, 3), np.uint8)
    photo[8:24, 32:48] = (255, 0, 0)  # the field of the one channel: pure red
    gradient = np.zeros((1, 64, 64, 3), np.float32)
    picture = render.projection_grid(photo, gradient, gradient, [5], [(8, 32, 24, 48)], 16, 80)
    pixels = _rgba(picture)
    red = (pixels[..., 0] > 240) & (pixels[..., 1] < 15) & (pixels[..., 2] < 15)
    # The crop fills a whole 80 px tile; the whole photo would have a 20 px red patch only.
    assert red.sum() >= 80 * 80
    # A box reaching past the photo is cropped to the photo.
    render.projection_grid(photo, gradient, gradient, [5], [(-100, -100, 200, 200)], 300, 80)


def _has_colour_bar(picture: Image.Image, colormap: str, rows: int = 90) -> bool:
    """A row near the bottom runs through the whole colormap, left to right, for 150+ px."""
    ramp = render.colormap_rgb(np.linspace(0.0, 1.0, 256), colormap).astype(int)
    for row in _rgba(picture)[-rows:]:
        distance = np.abs(row[:, None, :3].astype(int) - ramp[None]).sum(-1)  # (width, 256)
        index, close = distance.argmin(1), distance.min(1) < 12
        run_start = 0
        for x in range(1, len(row) + 1):
            if x == len(row) or not close[x] or index[x] < index[x - 1]:
                if x - run_start >= 150 and index[x - 1] - index[run_start] >= 200:
                    return True
                run_start = x
    return False


def test_filter_pictures_carry_their_weight_scale():
    rng = np.random.default_rng(2)
    pictures = [
        ("gray", render.depthwise_filter_grid(rng.normal(size=(8, 3, 3)))),
        ("gray", render.spatial_filter_grid(rng.normal(size=(4, 4, 3, 3)))),
        (render.DIVERGING_COLORMAP, render.pointwise_matrix(rng.normal(size=(16, 16)))),
    ]
    for colormap, picture in pictures:
        assert _has_colour_bar(picture, colormap), colormap
    # Without a scale drawn (each first-layer kernel has its own range) there is no bar.
    assert not _has_colour_bar(render.rgb_filter_grid(rng.normal(size=(8, 3, 3, 3))), "gray")
