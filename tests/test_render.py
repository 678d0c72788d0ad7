"""The gallery's pictures explain themselves: legends drawn in, whole class names, transparent
backgrounds that read on light and dark pages, projections cropped to receptive fields."""

from __future__ import annotations

import io
import itertools
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from sheetkit import label_points, runs

from generator import render
from generator.methods.display import DISPLAYS


def _rgba(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGBA"))


def test_wrapped_text_keeps_every_character_within_the_width():
    font = render.text_font()
    name = "1. black-and-white colobus, Angora rabbit, Supercalifragilisticexpialidocious"
    lines = render.wrap_text(name, font, 150)
    assert len(lines) > 2
    assert all(font.getlength(line) <= 150 for line in lines)
    assert "".join(lines).replace(" ", "") == name.replace(" ", "")


def test_pictures_have_a_transparent_background_and_large_text():
    maps = np.random.default_rng(0).uniform(size=(16, 14, 14)).astype(np.float32)
    grid = _rgba(render.feature_map_grid(maps, list(range(16)), (0.0, 1.0)))
    assert grid[0, 0, 3] == 0 and grid[-1, -1, 3] == 0  # corners: page colour shows through
    assert render.FONT_SIZE >= 16


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


def _columns(cam: np.ndarray, gradients: np.ndarray) -> list[render.ExplanationColumn]:
    """The four methods the gallery started with, as grid columns (their catalog displays)."""
    return [
        render.ExplanationColumn("Grad-CAM", "heatmap", cam),
        render.ExplanationColumn("Guided Grad-CAM", "gradient", gradients),
        render.ExplanationColumn("Guided Backprop", "gradient", gradients),
        render.ExplanationColumn("DeConvNet", "gradient", gradients),
    ]


def test_printable_grid_names_its_context_and_draws_both_scales():
    rng = np.random.default_rng(1)
    crop = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    cam = rng.uniform(size=(2, 64, 64))
    gradients = rng.normal(size=(2, 64, 64, 3))
    labels = ["1. black-and-white colobus and a very long name\n50.0%", "2. cat\n10.0%"]
    bare = render.explanation_grid(crop, _columns(cam, gradients), labels)
    titled = render.explanation_grid(
        crop, _columns(cam, gradients), labels, title=["ResNet50 · photo 'cat'"]
    )
    assert titled.height > bare.height
    assert _has_colour_bar(titled, render.HEATMAP_COLORMAP)
    assert _has_colour_bar(titled, "gray")


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


# --- explanation maps by display kind --------------------------------------------------------


def _hue_sign(pixel: np.ndarray) -> int:
    """+1 for a reddish pixel, -1 for a bluish one, 0 for (near) white or grey."""
    red, _, blue = (int(v) for v in pixel[:3])
    return 0 if abs(red - blue) < 20 else (1 if red > blue else -1)


def test_signed_maps_give_the_two_signs_opposite_hues_on_one_scale():
    signed = np.zeros((32, 32), np.float32)
    signed[:8] = 2.0  # raises the class logit
    signed[8:12] = -0.5  # lowers it, a quarter as much
    signed[12:14] = -2.0  # lowers it as much as the top rows raise it
    photo = np.full((32, 32, 3), 255, np.uint8)
    photo[20:, 16:] = 0  # a dark object where the map is 0
    tile = render.method_tile("signed", photo, signed)
    assert (
        _hue_sign(tile[0, 0]) == 1 and _hue_sign(tile[9, 0]) == -1 and _hue_sign(tile[20, 0]) == 0
    )
    # One scale for both signs, the map's largest |value|: +max and -max are the legend's ends
    # (over the photo's white, which leaves the colours as they are).
    ramp = render.colormap_rgb(np.array([0.0, 1.0]), render.SIGNED_COLORMAP)
    assert (tile[0, 0] == ramp[1]).all() and (tile[12, 0] == ramp[0]).all()
    # -0.5 is a quarter of the way from white to full blue: paler than -2.
    assert tile[9, 0].astype(int).sum() > tile[12, 0].astype(int).sum()
    assert _has_colour_bar(render.display_legend("signed"), render.SIGNED_COLORMAP)
    # Where the map is 0 a faint grey copy of the photo shows through: the object is darker
    # than the white around it, yet light and without hue (faint), so no colour is read into it.
    around, inside = tile[25, 5].astype(int), tile[25, 25].astype(int)
    assert inside.sum() < around.sum() - 100
    white = render.colormap_rgb(np.array([0.5]), render.SIGNED_COLORMAP)[0].astype(int)  # 0
    assert (inside >= white * (1 - render.PHOTO_SHOWN) - 2).all() and _hue_sign(inside) == 0
    # A map coarser than the photo is drawn over the photo resized to it.
    coarse = render.method_tile("signed", photo, np.kron(np.eye(2), np.ones((4, 4))))
    assert coarse.shape == (8, 8, 3)


def test_magnitude_maps_run_from_zero_to_their_99_5th_percentile():
    magnitude = np.linspace(0.0, 1.0, 64 * 64, dtype=np.float32).reshape(64, 64)
    magnitude[0, 0] = 0.0
    magnitude[-1, -1] = 1000.0  # one extreme pixel does not darken all the others
    tile = render.method_tile("magnitude", np.zeros((64, 64, 3), np.uint8), magnitude)
    low, high = render.colormap_rgb(np.array([0.0, 1.0]), render.MAGNITUDE_COLORMAP)
    assert (tile[0, 0] == low).all() and (tile[-1, -1] == high).all()
    assert not (tile[32, 0] == high).all()  # about half of the percentile: not the top colour
    assert (tile[-1, -10] == high).all()  # within the top 0.5%: drawn as the top colour
    assert _has_colour_bar(render.display_legend("magnitude"), render.MAGNITUDE_COLORMAP)


def test_heatmaps_by_layer_draw_one_labelled_overlay_per_layer():
    crop = np.full((48, 48, 3), 128, np.uint8)
    layers = ["block_1_relu", "block_6_expand_relu", "block_13_expand_relu", "out_relu", "top"]
    heats = np.stack([np.full((48, 48), level) for level in (0.0, 0.25, 0.5, 0.75, 1.0)])
    tile = render.method_tile("heatmaps by layer", crop, heats, layers)
    assert tile.shape[2] == 4  # transparent between panels
    opaque = tile[..., 3] == 255
    panels = []  # each panel: a 160 px square of one colour, that layer's overlay
    for expected in (render.heatmap_overlay(crop, heat)[0, 0] for heat in heats):
        rows, cols = np.nonzero(opaque & (np.abs(tile[..., :3].astype(int) - expected).sum(-1) < 4))
        assert len(rows) >= 150 * 150
        panels.append((rows.min(), cols.min()))
    assert len(set(panels)) == len(layers)
    for top, left in panels:  # each panel's name is written above it, in dark ink
        label = tile[max(0, top - 40) : top, left : left + 160]
        assert ((label[..., 3] == 255) & (label[..., :3].max(-1) < 60)).sum() > 30
    with pytest.raises(ValueError, match="layer names"):
        render.method_tile("heatmaps by layer", crop, heats)
    with pytest.raises(ValueError, match="5 layer maps but 2"):
        render.method_tile("heatmaps by layer", crop, heats, layers[:2])


def test_grid_leaves_classes_a_method_did_not_explain_empty_with_a_note():
    rng = np.random.default_rng(4)
    crop = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    cam = rng.uniform(size=(3, 32, 32))
    layers = ("stage 1", "stage 2")
    columns = [
        render.ExplanationColumn("Grad-CAM", "heatmap", cam),
        render.ExplanationColumn("Occlusion", "signed", rng.normal(size=(1, 32, 32))),
        render.ExplanationColumn(
            "LayerCAM", "heatmaps by layer", rng.uniform(size=(3, 2, 32, 32)), layers
        ),
    ]
    tile_size = 100
    grid = _rgba(
        render.explanation_grid(crop, columns, ["1. a", "2. b", "3. c"], tile_size=tile_size)
    )
    drawn = (grid[..., :3] < 255).any(-1)  # on its white paper: not white
    # Rows 2 and 3 of the Occlusion column (grid column 2) hold only the note's text: no map.
    left, gap = 8 + 190 + 6, 6  # the picture's margin, the row labels, the first gap
    x = left + 1 * (tile_size + gap)
    ys = [y for y in range(grid.shape[0]) if drawn[y, left : left + tile_size].all()]
    first, last = ys[0], ys[-1]  # rows of Grad-CAM tiles: the grid's first and last tile rows
    top_cell = drawn[first : first + tile_size, x : x + tile_size]
    bottom_cell = grid[last - tile_size + 1 : last + 1, x : x + tile_size]
    assert top_cell.all()  # class 1: the map
    assert (bottom_cell[..., :3] == 255).all(-1).mean() > 0.5  # class 3: mostly paper...
    assert (bottom_cell[..., :3].max(-1) < 60).any()  # ...and a note's ink
    # One grid column per layer: 1 + 1 + 2 columns of tiles.
    row = drawn[first + tile_size // 2, left:]
    starts = np.flatnonzero(row[1:] & ~row[:-1]) + 1
    assert len(starts) + int(row[0]) == 4


def test_each_display_kind_has_a_caption_scale_and_a_legend():
    for display in DISPLAYS:
        assert render.display_scale(display)
        assert render.display_legend(display, 200).width >= 200
    with pytest.raises(ValueError, match="choose from"):
        render.method_tile("sparkles", np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4)))


def test_legend_has_one_scale_per_display_kind_titled_by_the_methods_that_use_it():
    from generator.methods import catalog

    legend = render.explanation_legend(catalog.METHODS)
    # Titles come from the catalog: a catalog with the same titles and displays draws the same.
    columns = [render.ExplanationColumn(m.title, m.display, ()) for m in catalog.METHODS]
    assert render.explanation_legend(columns).tobytes() == legend.tobytes()
    renamed = [render.ExplanationColumn(m.title + "!", m.display, ()) for m in catalog.METHODS]
    assert render.explanation_legend(renamed).tobytes() != legend.tobytes()
    for kind in {m.display for m in catalog.METHODS}:  # one colour bar per display kind
        assert _has_colour_bar(legend, render.display_colormap(kind), rows=legend.height)


def test_existing_methods_draw_exactly_their_earlier_tiles():
    """The grid of the four original methods is the tiles they always had (Grad-CAM over the
    photo, the three gradients centred on grey), in catalog order, above their two scales, on
    white paper: the tiles of earlier builds stay byte-identical (checked against the previous
    implementation when drawing moved to display kinds)."""
    rng = np.random.default_rng(5)
    crop = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
    cam, gradients = rng.uniform(size=(2, 40, 40)), rng.normal(size=(2, 40, 40, 3))
    columns = _columns(cam, gradients)
    labels = ["1. a", "2. b"]
    tiles = [
        tile
        for k in range(2)
        for tile in (
            render.heatmap_overlay(crop, cam[k]),
            *(render.gradient_image(gradients[k]) for _ in range(3)),
        )
    ]
    names = [column.title for column in columns]
    expected = render.stack(
        [
            render.labelled_grid(
                tiles, 4, tile_size=200, row_labels=labels, column_labels=names, row_label_width=190
            ),
            render.explanation_legend(columns, side_by_side=True),
        ]
    )
    paper = Image.new("RGBA", expected.size, "white")  # printed on white: opaque
    expected = Image.alpha_composite(paper, expected).convert("RGB")
    assert render.explanation_grid(crop, columns, labels).tobytes() == expected.tobytes()
    assert render.display_scale("heatmap") == render.GRADCAM_SCALE
    assert render.display_scale("gradient") == render.GRADIENT_SCALE


def test_render_does_not_import_tensorflow():
    code = "import sys, generator.render; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False, env=os.environ).returncode == 0


def _sheet_columns(rng: np.random.Generator, crop: np.ndarray) -> list[render.CellColumn]:
    """A family's drawn cells as a build stores them: two methods that explain three classes,
    a map at every stage layer, and one that explains the top class only."""
    layers = ["block_1_expand_relu", "block_13_expand_relu", "out_relu"]
    explained = [
        render.ExplanationColumn("Grad-CAM", "heatmap", rng.uniform(size=(3, 64, 64))),
        render.ExplanationColumn("Gradient × Input", "signed", rng.normal(size=(3, 64, 64))),
        render.ExplanationColumn(
            "LayerCAM", "heatmaps by layer", rng.uniform(size=(3, 3, 64, 64)), layers
        ),
        render.ExplanationColumn("Occlusion", "signed", rng.normal(size=(1, 8, 8))),
    ]
    return [
        render.CellColumn(c.title, c.display, render.column_cells(c, crop), c.layers)
        for c in explained
    ]


def test_print_sheet_is_a4_landscape_at_300_dpi_on_white_with_text_of_8_points(monkeypatch):
    from generator.render import layout
    from generator.render import sheet as sheet_module

    rng = np.random.default_rng(3)
    crop = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    sizes: list[int] = []  # every font the sheet draws with, its legends' included

    def recorded(size: int = render.FONT_SIZE):
        sizes.append(size)
        return font(size)

    font = layout.text_font
    monkeypatch.setattr(layout, "text_font", recorded)
    monkeypatch.setattr(sheet_module, "text_font", recorded)
    labels = ["1. tabby, tabby cat\n50.0%", "2. Egyptian cat\n20.0%", "3. hen\n1.0%"]
    picture = render.print_sheet(_sheet_columns(rng, crop), labels, [])

    # A4 landscape at 300 dpi, opaque white paper (corners, and most of the sheet).
    assert picture.size == render.A4_LANDSCAPE == (3508, 2480)
    assert 297 / 25.4 * render.SHEET_DPI == pytest.approx(picture.width, abs=1)
    assert 210 / 25.4 * render.SHEET_DPI == pytest.approx(picture.height, abs=1)
    assert picture.mode == "RGB"
    pixels = np.asarray(picture)
    for corner in (pixels[0, 0], pixels[0, -1], pixels[-1, 0], pixels[-1, -1]):
        assert tuple(corner) == (255, 255, 255)
    # Every text at least 8 pt printed: the fonts asked for, and the labels' ink measured.
    assert sizes and min(sizes) / render.SHEET_DPI * 72 >= 8
    assert label_points(picture) >= 8
    # The colour scales of both kinds drawn below, one column per layer, the top-1 strip apart.
    legends = picture.crop((0, picture.height - 300, 1600, picture.height - 100))
    assert _has_colour_bar(legends, render.HEATMAP_COLORMAP, rows=200)
    assert _has_colour_bar(legends, render.SIGNED_COLORMAP, rows=200)

    encoded = Image.open(io.BytesIO(render.encode_sheet(picture)))
    assert encoded.size == render.A4_LANDSCAPE and encoded.mode == "RGB"
    exif = encoded.getexif()
    assert (exif[0x011A], exif[0x011B], exif[0x0128]) == (300, 300, 2)  # dpi, in inches
    assert render.encode_sheet(picture) == render.encode_sheet(picture)  # no timestamp


def test_print_sheet_leaves_no_empty_cell():
    """The methods that explain fewer classes stand in a strip right of the grid: the rows under
    the strip's first are paper, never a cell holding a note."""
    rng = np.random.default_rng(4)
    crop = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    picture = render.print_sheet(_sheet_columns(rng, crop), ["1. a", "2. b", "3. c"], [])
    drawn = ~(np.asarray(picture) == 255).all(-1)
    # Along the first tile row: 2 + 3 cells, then the strip's one, after a wider gap.
    first_row = next(y for y in range(drawn.shape[0]) if drawn[y, 700:3000].mean() > 0.4)
    middle = first_row + 60
    cells = [(a, b) for a, b in runs(drawn[middle]) if a > 600]  # right of the labels
    assert len(cells) == 6, cells
    gaps = [b[0] - a[1] for a, b in itertools.pairwise(cells)]
    assert gaps[-1] > max(gaps[:-1])
    # Under the strip's cell: paper all the way to the legend.
    strip = slice(cells[-1][0] + 2, cells[-1][1] - 2)
    below = drawn[middle + (cells[0][1] - cells[0][0]) : middle + 900, strip]
    assert not below.any()
