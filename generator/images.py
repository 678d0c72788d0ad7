"""Turn a folder of user photos into validated 8-bit RGB arrays with safe, stable slugs.

Knows nothing of models: the build asks `center_crop` for each model's input size. Every
problem with an input file becomes an `ImageError` whose one-line message names the file, says
what is wrong and how to fix it, so one bad photo never stops a build and is easy to act on.

Memory stays bounded whatever the photos: a file is identified and sized from its header
before its pixels are decoded, JPEGs are decoded at a reduced scale, and every photo is kept at
most `WORKING_SIDE` pixels on its short side (enough for the largest model input, 600 px).
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import re
import stat
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from generator.printable import printable

# Checked from the header, before any pixel is decoded: a few-kilobyte PNG can claim gigapixels.
MAX_PIXELS = 50_000_000
# Checked before the file is opened: no photo of MAX_PIXELS needs more, and a multi-gigabyte
# file named .jpg is refused without being read.
MAX_FILE_BYTES = 256 * 2**20
# Photos are kept at most this many pixels on the short side (decoded at a reduced scale where
# the format allows): twice the largest model input would not look sharper, only cost memory.
WORKING_SIDE = 1024
# Below this the image carries too little for a 224 px model input to mean anything.
MIN_SIDE = 32
MAX_SLUG_LENGTH = 64
# Image slugs are HTML ids on the model pages, which must start with a letter.
DIGIT_PREFIX = "photo-"

# Modes holding 16-bit samples. Pillow's convert() clips them at 255 (a nearly white picture),
# so they are scaled instead. 'I' (32-bit) is how several formats hand over 16-bit data.
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
# Modes a big photo is scaled down in as soon as it is decoded (what JPEGs decode to); others
# are scaled once converted to RGB.
_EARLY_RESIZE_MODES = frozenset({"RGB", "L"})

# Letters that NFKD does not decompose into ASCII but that have a usual ASCII spelling.
_TRANSLITERATIONS = str.maketrans(
    {
        "ß": "ss",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ø": "o",
        "Ø": "O",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "Ð": "D",
        "þ": "th",
        "Þ": "TH",
    }
)
# Names Windows refuses as a file or folder, whatever the extension.
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)


class ImageError(ValueError):
    """An input file that cannot be used as a photo. `reason` says what is wrong and the fix."""

    def __init__(self, path: Path, problem: str, fix: str) -> None:
        self.path = path
        self.reason = f"{_one_line(problem)}; {fix}"
        super().__init__(f"{printable(path)}: {self.reason}")


class SlugClash(ImageError):
    """Two photos of one folder would get the same slug, hence the same page addresses.

    Neither is renamed behind the user's back: an address must depend on its own file alone,
    or adding a photo could move a cited one.
    """

    def __init__(self, first: Path, second: Path, slug: str) -> None:
        renamed = printable(f"{second.stem}-2{second.suffix}")
        super().__init__(
            second,
            f"gets the address slug '{slug}', which {printable(first.name)} already has (slugs "
            "ignore case, accents and punctuation)",
            f"rename one of the two files, e.g. {printable(second.name)} to {renamed}",
        )


@dataclass(frozen=True, eq=False)  # eq=False: numpy arrays have no single truth value for ==
class SourceImage:
    """One validated input photo, upright and in 8-bit RGB."""

    path: Path
    slug: str  # unique among the images of one folder; used in file paths and URLs
    title: str  # the original file stem, for display only (templates escape it)
    pixels: np.ndarray = dataclasses.field(repr=False)  # (H, W, 3) uint8 RGB, read-only
    sha256: str  # of the file bytes: a cache key that changes whenever the file does


def _unreadable(path: Path, err: OSError) -> ImageError:
    """The error for a file the operating system will not let us read."""
    return ImageError(
        path,
        f"cannot be read ({err.strerror or err})",
        "check that the file exists and is readable",
    )


def load_image(path: Path) -> SourceImage:
    """Read, check and convert one image file; raises `ImageError` for anything unusable.

    The file is opened lazily: its size and header are checked before any pixel is decoded or
    the file is read whole.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise _unreadable(path, err) from err
    if size == 0:
        raise ImageError(path, "is empty (0 bytes)", "replace it with a real photo or remove it")
    if size > MAX_FILE_BYTES:
        raise ImageError(
            path,
            f"is {size / 2**20:,.0f} MiB, over the limit of {MAX_FILE_BYTES // 2**20} MiB for a "
            "photo",
            "export it as a JPEG under that size, or remove it from the images folder",
        )

    # Pillow only warns between MAX_IMAGE_PIXELS and twice that; make the warning an error too.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with _open_header(path) as img:
            _check_size(path, img.size)
            pixels = _decode_upright_rgb(path, img)

    pixels.setflags(write=False)  # shared by every model of the build: nobody may edit it
    return SourceImage(
        path=path,
        slug=image_slug(path.stem),
        title=_display_text(path.stem),
        pixels=pixels,
        sha256=_file_sha256(path),
    )


# Notes beside the photos (licences, read-me files) are documentation, not failed images.
DOC_SUFFIXES = frozenset({".md", ".txt", ".rst"})
# What a folder entry is when it is neither a regular file nor a folder.
_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)
_NOT_A_FILE_FIX = "remove it from the images folder (only files are read as photos)"
_HIDDEN = "is hidden (its name starts with a dot); rename it without the dot to include it"
_FOLDER = (
    "is a folder, and sub-folders are not searched; move its photos into the images folder "
    "to include them"
)


def no_photo_warning(folder: Path, images: list[SourceImage]) -> str:
    """The warning for an images folder without one usable photo ("" when it has one)."""
    if images:
        return ""
    return (
        f"--images {printable(folder)} holds no usable photo, so the pages show each model's "
        "filters but no photo; put JPEG or PNG photos into it (or pass another --images)"
    )


def find_images(
    folder: Path,
) -> tuple[list[SourceImage], list[tuple[Path, str]], list[tuple[Path, str]]]:
    """Load every regular, non-hidden file of `folder` (not recursive), sorted by name.

    Returns the loaded images; the entries that look like photos but cannot be used (unreadable
    or broken files, dangling or looping links, pipes, sockets, devices), each with its path
    and one-line reason; and the entries passed over on purpose (hidden files and sub-folders),
    each with its reason, so that no entry disappears without a word. Documentation files
    (`DOC_SUFFIXES`) alone are passed over silently. A slug depends on its own file name only;
    two usable photos with one slug (`cat.png`, `Cat.jpg`) raise `SlugClash`, naming both (the
    build then stops before any model work).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(
            folder,
            "is not a folder of images",
            "create it and put photos in it, or point the build at another folder",
        )
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError as err:
        raise ImageError(
            folder, f"cannot be listed ({err.strerror or err})", "make the folder readable"
        ) from err
    images: list[SourceImage] = []
    skipped: list[tuple[Path, str]] = []
    passed_over: list[tuple[Path, str]] = []
    for path in entries:
        if path.name.startswith("."):
            passed_over.append((path, _HIDDEN))
            continue
        try:
            mode = path.stat().st_mode  # follows a link, which is what a photo's reader does
        except OSError as err:
            skipped.append((path, _unreachable(path, err)))
            continue
        if stat.S_ISDIR(mode):
            passed_over.append((path, _FOLDER))
        elif not stat.S_ISREG(mode):
            kind = next(name for test, name in _SPECIAL_KINDS if test(mode))
            skipped.append((path, f"is {kind}, not a regular file; {_NOT_A_FILE_FIX}"))
        elif path.suffix.lower() not in DOC_SUFFIXES:
            try:
                images.append(load_image(path))
            except ImageError as err:
                skipped.append((path, err.reason))
    owner: dict[str, Path] = {}
    for image in images:
        if image.slug in owner:
            raise SlugClash(owner[image.slug], image.path, image.slug)
        owner[image.slug] = image.path
    return images, skipped, passed_over


def _unreachable(path: Path, err: OSError) -> str:
    """The reason for an entry whose file cannot be reached: a broken link says where it points."""
    if not path.is_symlink():
        return _unreadable(path, err).reason
    target = printable(os.readlink(path))
    if err.errno == errno.ELOOP:
        return (
            f"is a symbolic link to {target} that loops (it leads back to itself); point it "
            "at a photo or remove it"
        )
    if err.errno == errno.ENOENT:
        return (
            f"is a symbolic link to {target}, which does not exist; point it at a photo or "
            "remove it"
        )
    return f"is a symbolic link to {target}, which {_unreadable(path, err).reason}"


def image_slug(stem: str) -> str:
    """The slug of a photo from its file stem alone: `slugify`, starting with a letter.

    It names the photo's files, folders, URLs and HTML ids; an id may not start with a digit,
    so camera names such as `20240501_123000` become `photo-20240501-123000`.
    """
    slug = slugify(stem)
    return f"{DIGIT_PREFIX}{slug}" if slug[0].isdigit() else slug


def slugify(name: str) -> str:
    """A lowercase ASCII `[a-z0-9-]` slug of `name`, safe as a path component and in a URL.

    Accents are transliterated (NFKD), other non-ASCII characters dropped; never empty (a
    short hash of the name stands in, e.g. for a name in another script), never longer than
    `MAX_SLUG_LENGTH`, never a name Windows reserves; same input, same slug.
    """
    ascii_text = (
        unicodedata.normalize("NFKD", name.translate(_TRANSLITERATIONS))
        .encode("ascii", "ignore")
        .decode("ascii")
    )
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > MAX_SLUG_LENGTH:  # the hash keeps two long names that share a start apart
        slug = f"{slug[: MAX_SLUG_LENGTH - 9].rstrip('-')}-{_short_hash(name)}"
    if not slug:
        return f"image-{_short_hash(name)}"
    if slug in _WINDOWS_RESERVED:
        return f"{slug}-image"
    return slug


def center_crop(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale `pixels` to cover `size` = (height, width), then cut out the centre.

    The scale is the smallest that covers both sides (for a square target: the shorter side
    matches), so the picture is never squashed; what sticks out is cropped evenly.
    Lanczos resampling keeps downscaled photos sharp without aliasing.
    """
    height, width = size
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(
            f"center_crop needs (H, W, 3) uint8 pixels, got {pixels.shape} {pixels.dtype}"
        )
    if height < 1 or width < 1:
        raise ValueError(f"center_crop needs a positive (height, width), got {size}")
    source_height, source_width = pixels.shape[:2]
    scale = max(height / source_height, width / source_width)
    scaled_width = max(width, round(source_width * scale))
    scaled_height = max(height, round(source_height * scale))
    scaled = Image.fromarray(pixels).resize(
        (scaled_width, scaled_height), Image.Resampling.LANCZOS, reducing_gap=3.0
    )
    top = (scaled_height - height) // 2
    left = (scaled_width - width) // 2
    return np.array(scaled)[top : top + height, left : left + width].copy()


def _open_header(path: Path) -> Image.Image:
    """Identify the format and read the header only (no pixels are decoded yet)."""
    try:
        return Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(
            path,
            f"is refused as a possible decompression bomb ({err})",
            f"downscale it below {MAX_PIXELS // 1_000_000} megapixels",
        ) from err
    except UnidentifiedImageError as err:
        raise ImageError(
            path,
            "is not an image (Pillow cannot identify its format)",
            "remove it from the images folder or convert it to JPEG or PNG",
        ) from err
    except OSError as err:
        raise _unreadable(path, err) from err
    except Exception as err:  # Pillow's format plugins raise many unrelated types on bad headers
        raise ImageError(
            path,
            f"has an unreadable image header ({type(err).__name__}: {err})",
            "export or download the photo again",
        ) from err


def _check_size(path: Path, size: tuple[int, int]) -> None:
    """Refuse bombs and thumbnails from the header's claimed size, before decoding."""
    width, height = size
    if width * height > MAX_PIXELS:
        raise ImageError(
            path,
            f"is {width}x{height} = {width * height:,} pixels, over the limit of {MAX_PIXELS:,} "
            "(a possible decompression bomb)",
            f"downscale it below {MAX_PIXELS // 1_000_000} megapixels",
        )
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            path,
            f"is only {width}x{height} pixels, under {MIN_SIDE} px on the short side",
            "use a larger photo (224 px or more on the short side works best)",
        )


def _decode_upright_rgb(path: Path, img: Image.Image) -> np.ndarray:
    """Decode the first frame, upright (EXIF), in 8-bit RGB, at most `WORKING_SIDE` on its short
    side; a JPEG is decoded at the smallest DCT scale that still covers that."""
    try:
        if min(img.size) > WORKING_SIDE and img.format == "JPEG":
            scale = WORKING_SIDE / min(img.size)
            img.draft("RGB", (round(img.width * scale), round(img.height * scale)))
        img.load()  # full decode now, so truncated files fail here and not half-grey later
        if min(img.size) > WORKING_SIDE and img.mode in _EARLY_RESIZE_MODES:
            img = _to_working_size(img)  # before the copies that rotating and converting make
        upright = ImageOps.exif_transpose(img)
    except Exception as err:  # Pillow's decoders raise many unrelated types on corrupt data
        raise ImageError(
            path,
            f"cannot be decoded ({type(err).__name__}: {err})",
            "the file is truncated or corrupt: export or download it again",
        ) from err
    try:
        rgb = _to_rgb(upright)
    except (ValueError, OSError) as err:
        raise ImageError(
            path,
            f"has colour mode {upright.mode!r}, which cannot be converted to RGB ({err})",
            "save it as an 8-bit RGB JPEG or PNG",
        ) from err
    return np.array(_to_working_size(rgb) if min(rgb.size) > WORKING_SIDE else rgb)


def _to_working_size(img: Image.Image) -> Image.Image:
    """`img` scaled so its short side is `WORKING_SIDE` (EXIF data is carried along)."""
    scale = WORKING_SIDE / min(img.size)
    size = max(WORKING_SIDE, round(img.width * scale)), max(WORKING_SIDE, round(img.height * scale))
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB from any colour mode: 16-bit scaled down, transparency laid on white."""
    if img.mode in _SIXTEEN_BIT_MODES:
        samples = np.asarray(img, dtype=np.float32)  # exact for 16-bit values, half of float64
        gray = np.clip(np.rint(samples / 257.0), 0, 255).astype(np.uint8)  # 65535 -> 255
        return Image.fromarray(gray, mode="L").convert("RGB")
    if img.has_transparency_data:  # RGBA, LA, PA, and palette or RGB with a transparent colour
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")  # L, 1, P, CMYK, YCbCr, RGB


def _short_hash(text: str) -> str:
    """8 hex digits identifying `text`; surrogatepass keeps undecodable file-name bytes hashable."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _file_sha256(path: Path) -> str:
    """The file's hash, read in chunks (the cache key changes whenever the file does)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _display_text(stem: str) -> str:
    """The file stem as valid Unicode text: undecodable bytes become U+FFFD, composed (NFC)."""
    text = stem.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return unicodedata.normalize("NFC", text)


def _one_line(text: str) -> str:
    """Collapse any line breaks a library put into a message."""
    return " ".join(text.split())
