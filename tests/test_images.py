"""Tests of generator.images: every input is made here with Pillow/numpy, no binary fixtures."""

from __future__ import annotations

import hashlib
import io
import os
import re
import socket
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generator.images import (
    MAX_FILE_BYTES,
    WORKING_SIDE,
    ImageError,
    SlugClash,
    SourceImage,
    center_crop,
    find_images,
    image_slug,
    load_image,
    slugify,
)
from generator.printable import printable

SAMPLE_IMAGES = Path(__file__).resolve().parents[1] / "sample_images"
SAFE_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Random RGB pixels: compress badly, so truncating the file cuts into the pixel data."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def write(img: Image.Image, path: Path, **options) -> Path:
    img.save(path, **options)
    return path


def png_claiming(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG whose header claims width x height RGB pixels but holds none."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit truecolour
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


# --- center_crop -------------------------------------------------------------------------------


def test_center_crop_keeps_aspect_and_crops_the_sides_away():
    wide = np.full((200, 600, 3), 40, dtype=np.uint8)
    wide[:, :150] = (255, 0, 0)  # red left quarter: outside the central square
    wide[50:150, 250:350] = 255  # white 100x100 square in the middle

    out = center_crop(wide, (100, 100))

    assert out.shape == (100, 100, 3) and out.dtype == np.uint8
    reddish = (out[..., 0] > 120) & (out[..., 1] < 80) & (out[..., 2] < 80)
    assert not reddish.any(), "the red left part should have been cropped away"
    rows, cols = np.nonzero(out.mean(axis=-1) > 128)
    square_height = rows.max() - rows.min() + 1
    square_width = cols.max() - cols.min() + 1
    # Halved (200 -> 100 rows) and centred: a 50x50 square at 25..74. Squashing would make it 17x50.
    assert abs(square_height - 50) <= 2 and abs(square_width - 50) <= 2
    assert abs(rows.mean() - 49.5) <= 1.5 and abs(cols.mean() - 49.5) <= 1.5


def test_center_crop_to_a_non_square_size_crops_the_long_side_only():
    tall = np.full((300, 100, 3), 128, dtype=np.uint8)
    tall[:60] = (0, 0, 255)  # blue top band
    tall[240:] = (0, 255, 0)  # green bottom band

    out = center_crop(tall, (50, 80))  # scale 0.8 -> 80x240, keeps source rows ~119..181

    assert out.shape == (50, 80, 3)
    assert np.abs(out.astype(int) - 128).max() <= 2, "only the grey middle should remain"


def test_center_crop_upscales_a_small_image_to_cover_the_target():
    small = np.zeros((40, 60, 3), dtype=np.uint8)
    small[...] = (10, 200, 90)

    out = center_crop(small, (224, 224))

    assert out.shape == (224, 224, 3)
    assert np.abs(out.astype(int) - (10, 200, 90)).max() <= 1


def test_center_crop_rejects_non_rgb_uint8_input():
    with pytest.raises(ValueError, match="uint8"):
        center_crop(np.zeros((50, 50, 3), dtype=np.float32), (10, 10))
    with pytest.raises(ValueError, match="positive"):
        center_crop(np.zeros((50, 50, 3), dtype=np.uint8), (0, 10))


# --- load_image: orientation, colour modes, frames --------------------------------------------------


def test_load_image_returns_rgb_pixels_hash_slug_and_title(tmp_path):
    pixels = noise(48, 64)
    path = write(Image.fromarray(pixels), tmp_path / "My Photo.png")

    image = load_image(path)

    assert isinstance(image, SourceImage)
    np.testing.assert_array_equal(image.pixels, pixels)
    assert image.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (image.slug, image.title, image.path) == ("my-photo", "My Photo", path)
    assert not image.pixels.flags.writeable


def test_exif_orientation_6_is_rotated_upright(tmp_path):
    stored = np.zeros((64, 128, 3), dtype=np.uint8)  # as the camera wrote it: wide
    stored[:, :64] = (255, 0, 0)  # left half red
    stored[:, 64:] = (0, 0, 255)  # right half blue
    stored[:32, :32] = (0, 255, 0)  # green top-left corner: tells a rotation from a flip
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    path = write(Image.fromarray(stored), tmp_path / "phone.jpg", quality=95, exif=exif)

    loaded = load_image(path).pixels.astype(int)

    # Clockwise: the left edge becomes the top, the top-left corner the top-right.
    assert loaded.shape == (128, 64, 3)
    assert np.abs(loaded[16, 48] - (0, 255, 0)).max() < 40  # green, top-right
    assert np.abs(loaded[48, 16] - (255, 0, 0)).max() < 40  # red, upper half
    assert np.abs(loaded[100, 32] - (0, 0, 255)).max() < 40  # blue, lower half
    assert np.abs(loaded - np.rot90(stored, k=-1)).mean() < 8


def _blocks(mode: str, values: list, **new_options) -> Image.Image:
    """A 32*len(values) x 40 image of `mode`, one 32-px-wide block per value."""
    img = Image.new(mode, (32 * len(values), 40), **new_options)
    for i, value in enumerate(values):
        img.paste(value, (32 * i, 0, 32 * (i + 1), 40))
    return img


def _palette_image(transparent_index: int | None) -> tuple[Image.Image, dict]:
    img = _blocks("P", [0, 1])
    img.putpalette([10, 20, 30, 200, 100, 50])
    if transparent_index is None:
        return img, {"format": "PNG"}
    return img, {"format": "PNG", "transparency": transparent_index}


def _sixteen_bit_image(dtype) -> Image.Image:
    samples = np.zeros((40, 96), dtype=dtype)
    samples[:, 32:64] = 257 * 128  # the middle of the 16-bit range: 128 in 8 bits, not clipped
    samples[:, 64:] = 65535
    return Image.fromarray(samples)


WHITE, GREY_128 = (255, 255, 255), (128, 128, 128)

COLOUR_MODE_CASES = {
    # name: (image, save options, mode Pillow reads back, expected RGB per block, tolerance)
    "L": (_blocks("L", [0, 200]), {"format": "PNG"}, "L", [(0, 0, 0), (200, 200, 200)], 0),
    "1": (_blocks("1", [0, 1]), {"format": "PNG"}, "1", [(0, 0, 0), WHITE], 0),
    "LA": (
        _blocks("LA", [(100, 0), (100, 255)]),
        {"format": "PNG"},
        "LA",
        [WHITE, (100, 100, 100)],
        0,
    ),
    "P": (*_palette_image(None), "P", [(10, 20, 30), (200, 100, 50)], 0),
    "P-transparent": (*_palette_image(0), "P", [WHITE, (200, 100, 50)], 0),
    "RGBA": (
        _blocks("RGBA", [(255, 0, 0, 0), (0, 0, 255, 255), (0, 0, 0, 128)]),
        {"format": "PNG"},
        "RGBA",
        [WHITE, (0, 0, 255), (127, 127, 127)],
        1,
    ),
    "CMYK-tiff": (
        _blocks("CMYK", [(0, 255, 255, 0), (0, 0, 0, 255), (0, 0, 0, 0)]),
        {"format": "TIFF"},
        "CMYK",
        [(255, 0, 0), (0, 0, 0), WHITE],
        0,
    ),
    "CMYK-jpeg": (
        _blocks("CMYK", [(0, 255, 255, 0), (0, 0, 0, 255), (0, 0, 0, 0)]),
        {"format": "JPEG", "quality": 95},
        "CMYK",
        [(255, 0, 0), (0, 0, 0), WHITE],
        8,
    ),
    "I;16": (
        _sixteen_bit_image(np.uint16),
        {"format": "PNG"},
        "I;16",
        [(0, 0, 0), GREY_128, WHITE],
        0,
    ),
    "I": (_sixteen_bit_image(np.int32), {"format": "TIFF"}, "I", [(0, 0, 0), GREY_128, WHITE], 0),
}


@pytest.mark.parametrize("case", COLOUR_MODE_CASES, ids=str)
def test_every_colour_mode_gives_the_right_rgb(tmp_path, case):
    img, options, read_mode, expected, tolerance = COLOUR_MODE_CASES[case]
    path = write(img, tmp_path / f"image.{options['format'].lower()}", **options)
    with Image.open(path) as reread:
        assert reread.mode == read_mode, "the test file is not in the mode this case is about"

    pixels = load_image(path).pixels

    assert pixels.dtype == np.uint8 and pixels.shape == (40, 32 * len(expected), 3)
    for i, colour in enumerate(expected):
        block = pixels[4:36, 32 * i + 4 : 32 * i + 28].astype(int)
        assert np.abs(block - colour).max() <= tolerance, f"block {i}: {block[0, 0]} != {colour}"


def test_animated_gif_gives_its_first_frame(tmp_path):
    frames = [
        Image.new("RGB", (64, 48), colour) for colour in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    ]
    path = write(
        frames[0], tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100
    )
    with Image.open(path) as reread:
        assert reread.n_frames == 3

    pixels = load_image(path).pixels

    assert pixels.shape == (48, 64, 3)
    assert (pixels == (255, 0, 0)).all()


# --- load_image: files it must refuse ------------------------------------------------------------


def _jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(noise(200, 300)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(noise(200, 300)).save(buffer, "PNG")
    return buffer.getvalue()


def _image_bytes(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (0, 128, 0)).save(buffer, "PNG")
    return buffer.getvalue()


BAD_FILES = {
    # name: (file name, bytes, words the reason must contain)
    "zero-byte": ("empty.jpg", lambda: b"", "empty"),
    "truncated-jpeg": (
        "cut.jpg",
        lambda: _jpeg_bytes()[: len(_jpeg_bytes()) // 2],
        "cannot be decoded",
    ),
    "jpeg-without-its-last-bytes": ("end.jpg", lambda: _jpeg_bytes()[:-200], "cannot be decoded"),
    "truncated-png": (
        "cut.png",
        lambda: _png_bytes()[: len(_png_bytes()) // 2],
        "cannot be decoded",
    ),
    "text-named-jpg": ("notes.jpg", lambda: b"just some text, not a photo\n", "not an image"),
    "one-pixel": ("dot.png", lambda: _image_bytes((1, 1)), "32 px"),
    "too-thin": ("strip.png", lambda: _image_bytes((400, 20)), "32 px"),
    "bomb-over-pillow-limit": (
        "bomb.png",
        lambda: png_claiming(100_000, 100_000),
        "decompression bomb",
    ),
    "bomb-over-our-limit": ("big.png", lambda: png_claiming(10_000, 6_000), "over the limit"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=str)
def test_bad_files_raise_image_error_naming_the_file(tmp_path, case):
    name, make_bytes, words = BAD_FILES[case]
    path = tmp_path / name
    path.write_bytes(make_bytes())

    with pytest.raises(ImageError) as caught:
        load_image(path)

    message = str(caught.value)
    assert name in message and words in message
    assert "\n" not in message
    assert caught.value.path == path and caught.value.reason in message


def test_pillow_bomb_warning_becomes_an_error_and_does_not_leak(tmp_path):
    path = tmp_path / "warned.png"
    path.write_bytes(png_claiming(10_000, 10_000))  # 100 MP: Pillow only warns at this size

    with warnings.catch_warnings(record=True) as caught_warnings:
        warnings.simplefilter("always")
        with pytest.raises(ImageError, match="warned.png.*decompression bomb"):
            load_image(path)

    assert not [
        w for w in caught_warnings if issubclass(w.category, Image.DecompressionBombWarning)
    ]


def test_crafted_bomb_header_is_read_as_claimed():
    """Guards the bomb test: its file is a valid PNG header of 60 megapixels, not garbage."""
    with Image.open(io.BytesIO(png_claiming(10_000, 6_000))) as img:
        assert img.size == (10_000, 6_000)


def test_missing_file_raises_image_error(tmp_path):
    with pytest.raises(ImageError, match="gone.jpg.*cannot be read"):
        load_image(tmp_path / "gone.jpg")


# --- find_images and slugs ------------------------------------------------------------------------


def test_find_images_loads_good_files_and_reports_the_rest(tmp_path):
    write(Image.fromarray(noise(40, 50, seed=1)), tmp_path / "b-good.png")
    write(Image.fromarray(noise(40, 50, seed=2)), tmp_path / "a-good.jpg", quality=90)
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "data.csv").write_text("not a picture")
    (tmp_path / "README.md").write_text("notes beside the photos are passed over silently")
    (tmp_path / "cut.png").write_bytes(_png_bytes()[:500])
    write(Image.new("RGB", (64, 64)), tmp_path / ".hidden.png")  # passed over: hidden
    (tmp_path / "sub").mkdir()
    write(Image.new("RGB", (64, 64)), tmp_path / "sub" / "nested.png")  # not recursive

    images, skipped, passed_over = find_images(tmp_path)

    assert [image.path.name for image in images] == ["a-good.jpg", "b-good.png"]
    assert [image.slug for image in images] == ["a-good", "b-good"]
    reasons = {path.name: reason for path, reason in skipped}
    assert sorted(reasons) == ["cut.png", "data.csv", "empty.jpg"]
    assert "empty" in reasons["empty.jpg"]
    assert "not an image" in reasons["data.csv"]
    assert "cannot be decoded" in reasons["cut.png"]
    assert [path.name for path, _ in passed_over] == [".hidden.png", "sub"]


def test_every_entry_that_is_not_loaded_is_listed_with_its_reason(tmp_path):
    photo = write(Image.fromarray(noise(40, 40)), tmp_path / "cat.png")
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "gone.jpg")
    (tmp_path / "loop.jpg").symlink_to(tmp_path / "loop.jpg")
    (tmp_path / "alias.png").symlink_to(photo)  # a link to a photo is a photo
    os.mkfifo(tmp_path / "pipe.jpg")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "socket.jpg"))
        (tmp_path / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
        (tmp_path / "holiday").mkdir()
        (tmp_path / "notes.txt").write_text("documentation: passed over silently")

        images, skipped, passed_over = find_images(tmp_path)

    assert [image.path.name for image in images] == ["alias.png", "cat.png"]
    reasons = {path.name: reason for path, reason in skipped}
    assert list(reasons) == ["dangling.jpg", "loop.jpg", "pipe.jpg", "socket.jpg"]
    assert (
        f"symbolic link to {tmp_path / 'gone.jpg'}, which does not exist" in reasons["dangling.jpg"]
    )
    assert "loops" in reasons["loop.jpg"]
    assert "named pipe (FIFO), not a regular file" in reasons["pipe.jpg"]
    assert "socket, not a regular file" in reasons["socket.jpg"]
    noted = {path.name: reason for path, reason in passed_over}
    assert list(noted) == [".DS_Store", "holiday"]
    assert "hidden" in noted[".DS_Store"] and "sub-folders are not searched" in noted["holiday"]
    for reason in [*reasons.values(), *noted.values()]:
        assert "\n" not in reason and ";" in reason  # one line: what is wrong; the fix


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        (os.fsdecode(b"notes\xff.jpg"), "notes\\xff.jpg"),  # not UTF-8: the byte, escaped
        ("two\nlines.jpg", "two\\nlines.jpg"),
        ("\x1b[31mred.jpg", "\\x1b[31mred.jpg"),  # a terminal escape sequence
        ("right\u202eleft.jpg", "right\\u202eleft.jpg"),  # reverses the text after it
        ("café 猫 'x'.jpg", "café 猫 'x'.jpg"),  # letters of any script stay readable
    ],
)
def test_file_names_in_messages_are_one_printable_line(tmp_path, name, shown):
    assert printable(name) == shown
    error = ImageError(tmp_path / name, "is not an image", "remove it")
    assert str(error) == f"{tmp_path}/{shown}: is not an image; remove it"
    str(error).encode("utf-8")  # a terminal can write it: no lone surrogate left


def test_find_images_refuses_a_missing_folder(tmp_path):
    with pytest.raises(ImageError, match="nowhere"):
        find_images(tmp_path / "nowhere")


def test_two_photos_with_one_slug_fail_naming_both(tmp_path):
    write(Image.fromarray(noise(40, 40)), tmp_path / "cat.png")
    write(Image.fromarray(noise(40, 40)), tmp_path / "Cat.jpg")
    (tmp_path / "cat.gif").write_bytes(b"")  # unusable: skipped, so it clashes with nothing

    with pytest.raises(SlugClash) as caught:
        find_images(tmp_path)

    message = str(caught.value)
    assert "Cat.jpg" in message and "cat.png" in message and "'cat'" in message
    assert "rename one" in message and "\n" not in message


def test_adding_a_photo_never_changes_another_photos_slug(tmp_path):
    names = ["cat.png", "a b.png", "20240501_123000.jpg", "猫.png", "x" * 200 + ".png"]
    for name in names:
        write(Image.fromarray(noise(40, 40)), tmp_path / name)
    before = {image.path.name: image.slug for image in find_images(tmp_path)[0]}
    for name in ["a-b-c.png", "cats.png", "20240501_123001.jpg", "犬.png", "x" * 199 + "y.png"]:
        write(Image.fromarray(noise(40, 40)), tmp_path / name)

    after = {image.path.name: image.slug for image in find_images(tmp_path)[0]}

    assert len(after) == 10 and len(set(after.values())) == 10
    assert {name: after[name] for name in before} == before
    assert before == {name: image_slug(Path(name).stem) for name in names}


@pytest.mark.parametrize(
    ("stem", "slug"),
    [("20240501_123000", "photo-20240501-123000"), ("1", "photo-1"), ("IMG_0001", "img-0001")],
)
def test_image_slugs_start_with_a_letter_for_html_ids(stem, slug):
    assert image_slug(stem) == slug


def test_non_latin_names_get_a_slug_from_their_own_name_only():
    assert image_slug("猫") == image_slug("猫")
    assert image_slug("猫") != image_slug("犬")
    assert SAFE_SLUG.match(image_slug("кошка")) and image_slug("кошка")[0].isalpha()


HOSTILE_NAMES = [
    "<img src=x onerror=alert(1)>.jpg",
    "café ☕.png",
    "a#b c.png",
    "x..y.jpg",
    "☕.png",
    "☕☕.png",
    "CON.png",
    "100% \"quoted\" & 'single'.png",
    "x" * 200 + ".png",
]


def test_hostile_file_names_get_safe_unique_slugs_and_keep_their_titles(tmp_path):
    for name in HOSTILE_NAMES:
        write(Image.fromarray(noise(40, 40)), tmp_path / name)

    images, skipped, _ = find_images(tmp_path)

    assert skipped == []
    assert len(images) == len(HOSTILE_NAMES)
    slugs = [image.slug for image in images]
    assert len(set(slugs)) == len(slugs)
    for image in images:
        assert SAFE_SLUG.match(image.slug), image.slug
        assert len(image.slug) <= 80
        assert image.title == Path(image.path.name).stem
    by_title = {image.title: image.slug for image in images}
    assert by_title["café ☕"] == "cafe"
    assert by_title["a#b c"] == "a-b-c"
    assert by_title["<img src=x onerror=alert(1)>"] == "img-src-x-onerror-alert-1"
    assert by_title["CON"] != "con"


def test_dot_dot_names_load_with_a_plain_slug(tmp_path):
    path = write(Image.fromarray(noise(40, 40)), tmp_path / "..x.jpg")  # hidden in a folder scan

    image = load_image(path)

    assert (image.slug, image.title) == ("x", "..x")


@pytest.mark.parametrize(
    "name",
    ["../x", "..", ".", "/etc/passwd", "", "   ", "☕", "#", "<>", "a/b", "C:\\x", "nul", "\x00x"],
)
def test_slugify_is_always_a_safe_non_empty_path_component(name):
    slug = slugify(name)

    assert SAFE_SLUG.match(slug), slug
    assert slug not in {".", "..", "con", "nul"}
    assert slugify(name) == slug


def test_slugify_transliterates_and_falls_back_to_distinct_hashes():
    assert slugify("Crème Brûlée") == "creme-brulee"
    assert slugify("Straße") == "strasse"
    assert slugify("../x") == "x"
    assert slugify("☕").startswith("image-")
    assert slugify("☕") != slugify("☕☕")


# --- the shipped sample photos -----------------------------------------------------------------


# --- big inputs: checked by header and size, decoded at a reduced scale --------------------------


def test_a_huge_file_is_refused_from_its_size_without_being_read(tmp_path, monkeypatch):
    path = tmp_path / "huge.jpg"
    with path.open("wb") as handle:  # sparse: takes no disk space
        handle.write(_jpeg_bytes())
        handle.truncate(MAX_FILE_BYTES + 1)
    opened = []
    monkeypatch.setattr(Image, "open", lambda *args, **kwargs: opened.append(args))

    with pytest.raises(ImageError, match="huge.jpg.*over the limit of 256 MiB"):
        load_image(path)

    assert opened == []


def test_a_big_non_image_with_a_jpg_name_is_refused_from_its_header(tmp_path, monkeypatch):
    path = tmp_path / "video.jpg"
    with path.open("wb") as handle:
        handle.write(b"\x00\x00\x00\x18ftypmp42" + b"\x01" * 4096)
        handle.truncate(MAX_FILE_BYTES - 1)  # sparse, 256 MiB
    read = []
    real_read = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: read.append(self) or real_read(self))

    with pytest.raises(ImageError, match="video.jpg.*not an image"):
        load_image(path)

    assert read == []


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_big_photo_is_kept_at_working_size_upright(tmp_path, fmt):
    width, height = 6000, 4000  # 24 megapixels, as a camera gives
    left_red = np.zeros((height, width, 3), np.uint8)
    left_red[:, : width // 2] = (220, 30, 30)
    left_red[:, width // 2 :] = (30, 30, 220)
    path = tmp_path / f"big.{fmt.lower()}"
    Image.fromarray(left_red).save(path, fmt, quality=90)
    del left_red

    image = load_image(path)

    assert image.pixels.shape == (WORKING_SIDE, WORKING_SIDE * 3 // 2, 3)
    assert np.abs(image.pixels[:, :700].astype(int) - (220, 30, 30)).max() < 12
    assert np.abs(image.pixels[:, -700:].astype(int) - (30, 30, 220)).max() < 12
    assert image.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_sample_image_loads():
    images, skipped, passed_over = find_images(SAMPLE_IMAGES)

    assert skipped == passed_over == []  # LICENSES.md is documentation, not a failed image
    assert len(images) >= 4
    licences = (SAMPLE_IMAGES / "LICENSES.md").read_text(encoding="utf-8")
    for image in images:
        assert f"`{image.path.name}`" in licences, f"{image.path.name} has no licence entry"
        height, width, _ = image.pixels.shape
        assert max(height, width) <= 640 and min(height, width) >= 224
        assert image.pixels.std() > 20, "a real photo, not a flat placeholder"


def test_ten_24_megapixel_photos_stay_within_the_documented_memory(tmp_path):
    """README: photos are kept at WORKING_SIDE, a few MB each; decoded whole they would take
    72 MB each (720 MB for ten). Measured as the peak resident memory (VmHWM) of a process
    that loads ten and keeps them, against the same process before loading any."""
    gradient = np.linspace(0, 255, 6000, dtype=np.uint8)
    photo = np.broadcast_to(gradient[None, :, None], (4000, 6000, 3))
    for index in range(10):
        Image.fromarray(np.ascontiguousarray(photo)).save(tmp_path / f"{index}.jpg", quality=90)
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from generator.images import find_images\n"
        "def peak():\n"
        "    lines = open('/proc/self/status').read().splitlines()\n"
        "    return next(int(l.split()[1]) for l in lines if l.startswith('VmHWM')) / 1024\n"
        "before = peak()\n"
        "images, skipped, _ = find_images(Path(sys.argv[1]))\n"
        "assert len(images) == 10 and not skipped\n"
        "print(peak() - before)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True
    )
    growth_mib = float(result.stdout)
    assert growth_mib < 150, f"loading ten 24-megapixel photos took {growth_mib:.0f} MiB"
