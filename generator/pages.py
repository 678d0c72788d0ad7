"""Markdown pages of the site from plain data contexts and the Jinja2 templates in `templates/`.

`build.py` fills the frozen dataclasses below; this module only turns site-root asset paths into
page-relative URLs, makes untrusted text (image file names, error messages) inert, and writes the
pages. Templates lay out what they are given and never compute.

Escaping: Jinja2 autoescape is on, so any string printed without a filter is HTML-escaped. Text
that came from outside (a file name like `*x* [a](b) <img ...>`) also goes through `escape_md`,
which additionally writes every ASCII punctuation character as a numeric HTML entity, so neither
Markdown nor the extensions (tables, tabs, captions, math) can read it as syntax.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
import string
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from generator.render import atomic_write_text

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = REPO_ROOT / "templates"
# Written by the explanation-methods helper; included verbatim in methods.md when present.
METHODS_RULES_PATH = REPO_ROOT / "docs" / "methods_rules.md"

_PUNCTUATION = frozenset(string.punctuation)
# Fixed heading ids of model.md.j2. Image tabs are anchored by their slug, so an image whose slug
# equals one of these gets "-image" appended rather than a duplicate id.
MODEL_PAGE_IDS = frozenset({"model-card", "nonlinearities", "images", "filters"})


@dataclass(frozen=True)
class SiteInfo:
    """Facts shown on every page: what built the site and with which weights."""

    title: str
    version: str
    weights_mode: str  # "imagenet" | "random" | "folder"
    weights_label: str  # human text, e.g. "ImageNet (Keras)"
    keras_version: str
    tensorflow_version: str

    @property
    def weights_random(self) -> bool:
        return self.weights_mode == "random"


@dataclass(frozen=True)
class Figure:
    """One image file; `path` is POSIX and relative to the site root (`site_src/`)."""

    path: str
    caption: str
    alt: str


@dataclass(frozen=True)
class ModelSummary:
    """One row of the home-page table.

    `top1`/`top5` are published ImageNet accuracies in percent and `params` the parameter count
    in millions (as in `model_facts.py`); `None` is shown as "unknown".
    """

    name: str
    slug: str
    family: str | None
    year: int | None
    params: float | None
    input_size: tuple[int, int] | None
    top1: float | None
    top5: float | None
    target_layer: str | None
    status: str  # "built" | "failed"
    failure: str | None
    build_seconds: float | None
    top1_by_image: dict[str, str]  # image title -> top-1 class label


@dataclass(frozen=True)
class Prediction:
    """One row of an image's predictions table; `probability` is in 0..1."""

    rank: int
    class_index: int
    label: str
    probability: float


@dataclass(frozen=True)
class ClassExplanation:
    """One explained class of one image: its prediction and one figure per method.

    `figures` is (method name, Figure) in the order of `render.EXPLANATION_COLUMNS`:
    Grad-CAM, Guided Grad-CAM, Guided Backprop, DeConvNet.
    """

    prediction: Prediction
    figures: list[tuple[str, Figure]]


@dataclass(frozen=True)
class ImageSection:
    """Everything a model page shows for one sample image (one content tab)."""

    slug: str
    title: str  # from a file name: untrusted
    crop: Figure
    predictions: list[Prediction]
    explanations: Figure | None
    gradcam_legend: Figure | None
    feature_maps: list[tuple[str, tuple, Figure]]  # (layer, activation shape, figure)
    projections: list[tuple[str, Figure]]  # (layer, figure)
    classes: list[ClassExplanation] = field(default_factory=list)  # one per explained class


@dataclass(frozen=True)
class ModelPage:
    """The context of `models/<slug>.md`."""

    summary: ModelSummary
    paper: str | None
    paper_url: str | None
    preprocessing: str | None
    weights_random: bool
    weights_label: str
    nonlinearity_report: list[str]
    stage_layers: list[str]
    filters: list[tuple[str, str, Figure]]  # (heading, note, figure)
    images: list[ImageSection]


# --- filters used by the templates ----------------------------------------------------------


def escape_md(text: object) -> Markup:
    """Make `text` literal in Markdown and HTML.

    Whitespace runs (newlines would end a table row or a tab) become one space, other control
    and format characters (e.g. right-to-left overrides) become U+FFFD, and ASCII punctuation
    becomes numeric entities, which Markdown passes through and the browser shows as the
    character itself.
    """
    collapsed = " ".join(str(text).split())
    out = []
    for char in collapsed:
        if char in _PUNCTUATION:
            out.append(f"&#{ord(char)};")
        elif unicodedata.category(char).startswith("C"):
            out.append("\ufffd")
        else:
            out.append(char)
    return Markup("".join(out))


def percent(fraction: float) -> str:
    """A probability in 0..1 as a percentage with one decimal."""
    return f"{100.0 * fraction:.1f}%"


def accuracy(value: float | None) -> str:
    """A published accuracy (already in percent) or "unknown"."""
    return "unknown" if value is None else f"{value:.1f}%"


def millions(value: float | None) -> str:
    """A parameter count given in millions, or "unknown"."""
    return "unknown" if value is None else f"{value:.1f} M"


def seconds(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.1f} s"


def dims(values: tuple | None) -> str:
    """(224, 224) -> "224×224"; an unknown dimension shows as "?"."""
    if values is None:
        return "unknown"
    return "×".join("?" if v is None else str(v) for v in values)


def anchor(text: str) -> str:
    """A stable `[a-z0-9-]` id for a heading made from a layer name or other free text."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "x"


def or_unknown(value: object) -> object:
    return "unknown" if value is None else value


def link_url(url: str) -> str:
    """An external URL made safe inside Markdown's `[text](url)`: spaces, brackets, quotes and
    angle brackets are percent-encoded, everything else is kept."""
    return quote(url, safe=":/?#@!$&*+,;=%~._-")


# --- URLs -----------------------------------------------------------------------------------


def page_url(path: str, page_dir: str) -> str:
    """The URL of site-root-relative `path` as seen from a page in folder `page_dir`.

    MkDocs rewrites such relative links for its directory URLs and, in strict mode, fails on
    any that do not resolve, so the built site is checked as well.
    """
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts:
        raise ValueError(f"asset path must be relative to the site root: {path!r}")
    relative = posixpath.relpath(pure.as_posix(), page_dir or ".")
    return quote(relative, safe="/.-_~")


def _relocate(value: Any, page_dir: str) -> Any:
    """A copy of a context with every `Figure.path` made relative to `page_dir`."""
    if isinstance(value, Figure):
        return dataclasses.replace(value, path=page_url(value.path, page_dir))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _relocate(getattr(value, f.name), page_dir) for f in dataclasses.fields(value)
        }
        return dataclasses.replace(value, **changes)
    if isinstance(value, list):
        return [_relocate(item, page_dir) for item in value]
    if isinstance(value, tuple):
        return tuple(_relocate(item, page_dir) for item in value)
    return value


def _free_image_anchors(page: ModelPage) -> ModelPage:
    """`page` with any image slug that would clash with a fixed heading id made unique."""
    images = [
        dataclasses.replace(image, slug=f"{image.slug}-image")
        if image.slug in MODEL_PAGE_IDS
        else image
        for image in page.images
    ]
    return dataclasses.replace(page, images=images)


# --- rendering ------------------------------------------------------------------------------


def make_environment() -> jinja2.Environment:
    """The Jinja2 environment of the site: autoescape on, strict about undefined names."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        escape_md=escape_md,
        percent=percent,
        accuracy=accuracy,
        millions=millions,
        seconds=seconds,
        dims=dims,
        anchor=anchor,
        or_unknown=or_unknown,
        link_url=link_url,
    )
    return env


def read_methods_rules() -> Markup | None:
    """The trusted Markdown of the backward-rules section, or None while it is not written.

    Read at render time, so an edit of the file shows up at the next build.
    """
    if not METHODS_RULES_PATH.is_file():
        return None
    return Markup(METHODS_RULES_PATH.read_text(encoding="utf-8").strip())


def _one_trailing_newline(text: str) -> str:
    return text.rstrip("\n") + "\n"


def write_site(
    out_dir: Path,
    site: SiteInfo,
    models: list[ModelSummary],
    pages: list[ModelPage],
    images: list[tuple[str, str, Figure]],
) -> list[Path]:
    """Render `index.md`, `methods.md` and `models/<slug>.md` into `out_dir`.

    `models` is every model asked for (built or failed) in table order; `pages` the built ones.
    Returns the paths written, for the manifest.
    """
    page_slugs = [page.summary.slug for page in pages]
    if len(set(page_slugs)) != len(page_slugs):
        raise ValueError(f"two model pages share a slug: {sorted(page_slugs)}")
    unknown = set(page_slugs) - {model.slug for model in models}
    if unknown:
        raise ValueError(f"model pages without a row in the models table: {sorted(unknown)}")

    env = make_environment()
    written: list[Path] = []

    def write(relative: str, template: str, **context: Any) -> None:
        page_dir = posixpath.dirname(relative)
        relocated = {key: _relocate(value, page_dir) for key, value in context.items()}
        text = env.get_template(template).render(site=site, **relocated)
        path = out_dir / relative
        atomic_write_text(path, _one_trailing_newline(text))
        written.append(path)

    write(
        "index.md",
        "index.md.j2",
        models=models,
        page_slugs=frozenset(page_slugs),
        images=images,
    )
    write("methods.md", "methods.md.j2", methods_rules=read_methods_rules())
    for page in pages:
        write(f"models/{page.summary.slug}.md", "model.md.j2", page=_free_image_anchors(page))
    return written
