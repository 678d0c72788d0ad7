"""Markdown pages of the site from plain data contexts and the Jinja2 templates in `templates/`.

`build.py` fills the frozen dataclasses below; this module only turns site-root asset paths into
page-relative URLs, makes untrusted text (image file names, error messages) inert, and writes the
pages. Templates lay out what they are given and never compute.

Escaping: Jinja2 autoescape is on, so any string printed without a filter is HTML-escaped. Text
that came from outside (a file name like `*x* [a](b) <img ...>`) also goes through `escape_md`,
which additionally writes every ASCII punctuation character as a numeric HTML entity, so neither
Markdown nor the extensions (tables, tabs, captions, math) can read it as syntax.

Besides the model pages, `write_site` derives the comparison pages (one model's answer per card,
for every image and method) and every page's citation from the same contexts; counting, grouping
and anchor naming happen here, so the templates only lay out.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import jinja2
import yaml
from markupsafe import Markup
from PIL import Image

from generator import __release_date__
from generator.render import EXPLANATION_COLUMNS, atomic_write_text

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = REPO_ROOT / "templates"
# Written by the explanation-methods helper; included verbatim in methods.md when present.
METHODS_RULES_PATH = REPO_ROOT / "docs" / "methods_rules.md"
# Its `site_url` is the address every page's citation gives.
MKDOCS_CONFIG_PATH = REPO_ROOT / "mkdocs.yml"

# The alias `mike` keeps pointing at the newest release (see .github/workflows/gallery.yml).
LATEST_ALIAS = "latest"
_PUNCTUATION = frozenset(string.punctuation)
# Fixed heading ids of model.md.j2. Image tabs are anchored by their slug, so an image whose slug
# equals one of these gets "-image" appended rather than a duplicate id.
MODEL_PAGE_IDS = frozenset(
    {"model-card", "where-it-looks", "nonlinearities", "images", "filters", "cite"}
)
# Where the methods page explains each explanation method; one entry per render.EXPLANATION_COLUMNS.
METHOD_DOCS = {
    "Grad-CAM": "grad-cam",
    "Guided Grad-CAM": "guided-grad-cam",
    "Guided Backprop": "guided-backpropagation",
    "DeConvNet": "deconvnet",
}
# The method shown on an image's comparison overview, beside each model's top-1 class.
OVERVIEW_METHOD = "Grad-CAM"
OTHER_FAMILY = "Other"
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_BIBTEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
    "$": r"\$",
    "_": r"\_",
    "^": r"\^{}",
    "~": r"\~{}",
}


@dataclass(frozen=True)
class SiteInfo:
    """Facts shown on every page: what built the site and with which weights."""

    title: str
    version: str
    weights_mode: str  # "imagenet" | "random" | "folder"
    weights_label: str  # human text, e.g. "ImageNet (Keras)"
    keras_version: str
    tensorflow_version: str
    reference_machine: str  # where the build times shown were measured (reference_times)
    reference_images: int  # how many images those times cover

    @property
    def weights_random(self) -> bool:
        return self.weights_mode == "random"


@dataclass(frozen=True)
class Figure:
    """One image file; `path` is POSIX and relative to the site root (`site_src/`).

    `scale` says how to read its colours; pages show it in the lightbox's caption, and leave it
    out under the small tiles of a grid, where the grid's legend says it once. `width` and
    `height` are the file's pixel size, filled in by `write_site` from the written file (never
    cached), so every <img> reserves its space before it loads.
    """

    path: str
    caption: str
    alt: str
    scale: str = ""
    width: int | None = None
    height: int | None = None


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
    status: str  # "built" | "failed" | "earlier": failed now, the page of an earlier build kept
    failure: str | None
    reference_seconds: float | None  # build time on the reference machine (reference_times)


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
    gradcam_legend: Figure | None  # the colour scales of all four explanation methods
    feature_maps: list[tuple[str, tuple, Figure]]  # (layer, activation shape, figure)
    projections: list[tuple[str, Figure]]  # (layer, figure)
    classes: list[ClassExplanation] = field(default_factory=list)  # one per explained class


@dataclass(frozen=True)
class ChosenTensor:
    """A tensor of the model's graph a page shows (Grad-CAM's target, a stage's output), and why.

    `name` is a layer's name or, for an operation that is not a layer, e.g. "add_17".
    """

    name: str
    shape: tuple[int, ...]  # (height, width, channels)
    reason: str  # plain text


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
    target: ChosenTensor | None  # Grad-CAM's tensor
    stages: list[ChosenTensor]  # one output per resolution stage
    filters: list[tuple[str, str, Figure]]  # (heading, note, figure)
    images: list[ImageSection]


# --- contexts derived here from the ones above ----------------------------------------------


@dataclass(frozen=True)
class Citation:
    """The "Cite this page" box: `date` is the gallery release's, so rebuilds do not change it."""

    title: str  # may contain an image title: untrusted
    url: str  # under the release's own version: what it shows never changes
    latest_url: str  # the same page in the newest release
    version: str
    date: str  # ISO 8601
    key: str  # BibTeX key made of the page's path slugs
    bibtex: str


@dataclass(frozen=True)
class MethodFigure:
    """One method's picture of one class, and its id on the model page."""

    method: str
    anchor: str
    figure: Figure


@dataclass(frozen=True)
class ClassBlock:
    """One explained class on a model page: a row of the explanations grid."""

    prediction: Prediction
    anchor: str  # "<image>--<class label slug>"
    figures: list[MethodFigure]


@dataclass(frozen=True)
class ImageBlock:
    """One image tab of a model page with the stable ids of its blocks.

    `anchor` is the image slug unless it clashes with a fixed id of the page; the other ids
    extend it. `rows` pairs each prediction with the id of its explanations row, if any.
    """

    section: ImageSection
    anchor: str
    rows: list[tuple[Prediction, str | None]]
    classes: list[ClassBlock]


@dataclass(frozen=True)
class ModelResult:
    """One model's answer for one image: a card of a comparison page."""

    name: str
    slug: str
    image_anchor: str  # the image's tab on the model page
    predictions: list[Prediction]
    shown: MethodFigure | None  # the page's method for the top-1 class, if it was computed


@dataclass(frozen=True)
class FamilyGroup:
    name: str
    anchor: str
    results: list[ModelResult]


@dataclass(frozen=True)
class Agreement:
    """How the models' top-1 classes for one image are distributed."""

    models: int  # models with a top-1 class for the image
    leaders: list[str]  # the most common top-1 class, or the classes tied for it, by name
    leader_count: int  # how many models chose each leader
    leader_share: float  # leader_count / models
    distinct: int  # how many different classes are ranked first
    counts: list[tuple[str, int, list[str]]]  # (class, models, model names), most common first


@dataclass(frozen=True)
class SampleImage:
    """A sample image as the home and comparison pages show it."""

    slug: str
    title: str  # untrusted
    thumbnail: Figure
    agreement: Agreement


@dataclass(frozen=True)
class ComparisonPage:
    """`compare/<image>/index.md` (method: the overview's) or `compare/<image>/<method>.md`."""

    image: SampleImage
    method: str
    overview: bool
    families: list[FamilyGroup]
    missing: list[str]  # models asked for but without a result for this image
    legend: Figure | None = None  # the colour scales of the explanation maps, if any was drawn


@dataclass(frozen=True)
class Top1Row:
    """One row of the top-1 matrix of `compare/index.md`: a model's top-1 class per image."""

    name: str
    slug: str
    cells: list[tuple[str, str] | None]  # (class label, image anchor) per image; None: no result


@dataclass(frozen=True)
class Comparisons:
    """Everything the comparison pages and the home page's image cards need."""

    images: list[SampleImage]
    pages: list[ComparisonPage]  # per image: the overview, then one page per method
    top1: list[Top1Row]


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
    """A reference build time; a model the reference build did not cover is "not measured"."""
    return "not measured" if value is None else f"{value:.1f} s"


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


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of an image file from its header, or None if it cannot be read."""
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError):
        return None


def _relocate(value: Any, page_dir: str, out_dir: Path) -> Any:
    """A copy of a context with every `Figure.path` made relative to `page_dir` and its pixel
    size read from the file under `out_dir`."""
    if isinstance(value, Figure):
        size = image_size(out_dir / value.path)
        width, height = size if size else (value.width, value.height)
        return dataclasses.replace(
            value, path=page_url(value.path, page_dir), width=width, height=height
        )
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _relocate(getattr(value, f.name), page_dir, out_dir)
            for f in dataclasses.fields(value)
        }
        return dataclasses.replace(value, **changes)
    if isinstance(value, list):
        return [_relocate(item, page_dir, out_dir) for item in value]
    if isinstance(value, tuple):
        return tuple(_relocate(item, page_dir, out_dir) for item in value)
    return value


def image_anchor(slug: str) -> str:
    """The id of an image's tab on a model page: its slug, unless a fixed id of the page has it."""
    return f"{slug}-image" if slug in MODEL_PAGE_IDS else slug


def image_blocks(page: ModelPage) -> list[ImageBlock]:
    """The image tabs of a model page with an id for every image, class and method block.

    Ids are made of slugs only (image, class label, method), so a cited link such as
    `models/resnet50/#cat--tabby-cat--grad-cam` keeps working after any rebuild.
    """
    blocks = []
    for section in page.images:
        tab = image_anchor(section.slug)
        label_slugs = Counter(anchor(c.prediction.label) for c in section.classes)
        classes = []
        for explained in section.classes:
            label = anchor(explained.prediction.label)
            if label_slugs[label] > 1:  # two classes whose names differ only in punctuation
                label = f"{label}-{explained.prediction.class_index}"
            row = f"{tab}--{label}"
            figures = [
                MethodFigure(method, f"{row}--{anchor(method)}", figure)
                for method, figure in explained.figures
            ]
            classes.append(ClassBlock(explained.prediction, row, figures))
        row_of = {block.prediction.class_index: block.anchor for block in classes}
        rows = [(p, row_of.get(p.class_index)) for p in section.predictions]
        blocks.append(ImageBlock(section, tab, rows, classes))
    return blocks


def agreement(top1: list[tuple[str, str]]) -> Agreement:
    """How many models share each top-1 class, from (model name, top-1 class) pairs."""
    counts = Counter(label for _, label in top1)
    ordered = sorted(counts, key=lambda label: (-counts[label], label.casefold(), label))
    leader_count = counts[ordered[0]] if ordered else 0
    return Agreement(
        models=len(top1),
        leaders=[label for label in ordered if counts[label] == leader_count],
        leader_count=leader_count,
        leader_share=leader_count / len(top1) if top1 else 0.0,
        distinct=len(counts),
        counts=[
            (label, counts[label], [name for name, chosen in top1 if chosen == label])
            for label in ordered
        ],
    )


def _family_groups(results: list[tuple[str | None, ModelResult]]) -> list[FamilyGroup]:
    """Results grouped by model family, families by name, unknown family last."""
    groups: dict[str, list[ModelResult]] = {}
    for family, result in results:
        groups.setdefault(family or OTHER_FAMILY, []).append(result)
    names = sorted(groups, key=lambda name: (name == OTHER_FAMILY, name.casefold()))
    return [FamilyGroup(name, f"family-{anchor(name)}", groups[name]) for name in names]


def _model_result(page: ModelPage, block: ImageBlock, method: str) -> ModelResult:
    """A model's card for one image: its predictions and `method`'s picture of its top-1 class."""
    top = next((c for c in block.classes if c.prediction.rank == 1), None)
    shown = next((f for f in top.figures if f.method == method), None) if top else None
    return ModelResult(
        page.summary.name, page.summary.slug, block.anchor, block.section.predictions, shown
    )


def comparisons(
    models: list[ModelSummary], pages: list[ModelPage], images: list[tuple[str, str, Figure]]
) -> Comparisons:
    """Every built model's answer for every image, grouped by family and counted."""
    blocks = {page.summary.slug: {b.section.slug: b for b in image_blocks(page)} for page in pages}
    families = {model.slug: model.family for model in models}
    samples, compare_pages = [], []
    for slug, title, thumbnail in images:
        found = [(page, blocks[page.summary.slug].get(slug)) for page in pages]
        answered = [(page, block) for page, block in found if block and block.section.predictions]
        sample = SampleImage(
            slug,
            title,
            thumbnail,
            agreement(
                [
                    (page.summary.name, block.section.predictions[0].label)
                    for page, block in answered
                ]
            ),
        )
        samples.append(sample)
        answered_slugs = {page.summary.slug for page, _ in answered}
        missing = [model.name for model in models if model.slug not in answered_slugs]
        legends = [block.section.gradcam_legend for _, block in answered]
        legend = next((figure for figure in legends if figure), None)
        shown_methods = [(OVERVIEW_METHOD, True)] + [(m, False) for m in EXPLANATION_COLUMNS]
        for method, overview in shown_methods:
            results = [
                (families[page.summary.slug], _model_result(page, block, method))
                for page, block in answered
            ]
            compare_pages.append(
                ComparisonPage(sample, method, overview, _family_groups(results), missing, legend)
            )
    top1 = []
    for page in pages:
        cells = []
        for slug, _, _ in images:
            block = blocks[page.summary.slug].get(slug)
            predictions = block.section.predictions if block else []
            cells.append((predictions[0].label, block.anchor) if predictions else None)
        top1.append(Top1Row(page.summary.name, page.summary.slug, cells))
    return Comparisons(samples, compare_pages, top1)


def comparison_path(page: ComparisonPage) -> str:
    """`compare/<image>/index.md` for the overview, `compare/<image>/<method>.md` otherwise.

    One folder per image keeps every image slug and method slug apart (an image called
    `cat-grad-cam` cannot collide with the Grad-CAM page of `cat`).
    """
    name = "index" if page.overview else anchor(page.method)
    return f"compare/{page.image.slug}/{name}.md"


# --- citation -------------------------------------------------------------------------------


class _ConfigLoader(yaml.SafeLoader):
    """Reads mkdocs.yml, which may hold tags (`!ENV`, `!!python/name:`) safe_load refuses."""


_ConfigLoader.add_multi_constructor("", lambda loader, suffix, node: None)


def read_site_url() -> str:
    """The `site_url` of mkdocs.yml: where the site is published, hence what pages are cited by."""
    config = yaml.load(MKDOCS_CONFIG_PATH.read_text(encoding="utf-8"), Loader=_ConfigLoader)
    url = (config or {}).get("site_url")
    if not url:
        raise ValueError(
            f"{MKDOCS_CONFIG_PATH} has no site_url: set it to the address the site is published "
            "at, because every page's citation gives it"
        )
    return str(url)


def bibtex_escape(text: str) -> str:
    """`text` as literal BibTeX/LaTeX text on one line."""
    return "".join(_BIBTEX_SPECIAL.get(char, char) for char in " ".join(text.split()))


def citation(relative: str, title: str, site: SiteInfo, site_url: str) -> Citation:
    """The citation of the page written to `relative` (e.g. `models/resnet50.md`).

    Its URL is the page's directory URL under `site_url` and the release's version
    (`<site_url>/0.1.0/models/resnet50/`), where `mike` publishes every release for good, so a
    cited page keeps showing what was cited after later releases add methods or models. Its
    BibTeX key joins the path's slugs (`cnn-gallery:models:resnet50`).
    """
    parts = list(PurePosixPath(relative).with_suffix("").parts)
    if parts[-1] == "index":
        parts.pop()
    page = "".join(f"{part}/" for part in parts)
    url = f"{site_url.rstrip('/')}/{site.version}/{page}"
    latest_url = f"{site_url.rstrip('/')}/{LATEST_ALIAS}/{page}"
    key = ":".join(["cnn-gallery", *(parts or ["home"])])
    year, month, _ = __release_date__.split("-")
    note = f"Version {site.version}, released {__release_date__}; weights: {site.weights_label}"
    fields = [  # values as written: braced, or a month macro
        ("author", "{{CNN Gallery contributors}}"),
        ("title", "{{" + bibtex_escape(title) + "}}"),
        ("howpublished", "{\\url{" + url + "}}"),
        ("url", "{" + url + "}"),
        ("version", "{" + bibtex_escape(site.version) + "}"),
        ("year", "{" + year + "}"),
        ("month", _MONTHS[int(month) - 1]),
        ("note", "{" + bibtex_escape(note) + "}"),
    ]
    lines = [f"  {name:<12} = {value}," for name, value in fields]
    bibtex = "\n".join([f"@misc{{{key},", *lines, "}"])
    return Citation(title, url, latest_url, site.version, __release_date__, key, bibtex)


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

    Read at render time, so an edit of the file shows up at the next build. A leading level-2
    heading is dropped: the methods page's own "Backward rules" heading (the `#backward-rules`
    anchor) stands for it, so the page has no empty heading.
    """
    if not METHODS_RULES_PATH.is_file():
        return None
    text = METHODS_RULES_PATH.read_text(encoding="utf-8").strip()
    first, _, rest = text.partition("\n")
    if first.startswith("## "):
        text = rest.strip()
    return Markup(text)


def _one_trailing_newline(text: str) -> str:
    return text.rstrip("\n") + "\n"


def write_site(
    out_dir: Path,
    site: SiteInfo,
    models: list[ModelSummary],
    pages: list[ModelPage],
    images: list[tuple[str, str, Figure]],
    write_text: Callable[[Path, str], None] = atomic_write_text,
) -> list[Path]:
    """Render the home, methods, model and comparison pages into `out_dir`.

    `models` is every model asked for (built or failed) in table order; `pages` the built ones;
    `images` the sample images as (slug, title, thumbnail). Besides `index.md`, `methods.md` and
    `models/<slug>.md` this writes `compare/index.md` and, per image, `compare/<image>/index.md`
    and one `compare/<image>/<method>.md` per explanation method.
    Every page goes through `write_text` (the build's passes it through its ledger of what the
    generator wrote). Returns the paths given to it, for the manifest.
    """
    page_slugs = [page.summary.slug for page in pages]
    if len(set(page_slugs)) != len(page_slugs):
        raise ValueError(f"two model pages share a slug: {sorted(page_slugs)}")
    unknown = set(page_slugs) - {model.slug for model in models}
    if unknown:
        raise ValueError(f"model pages without a row in the models table: {sorted(unknown)}")

    env = make_environment()
    site_url = read_site_url()
    compared = comparisons(models, pages, images)
    written: list[Path] = []

    def write(relative: str, template: str, title: str, **context: Any) -> None:
        page_dir = posixpath.dirname(relative)
        relocated = {key: _relocate(value, page_dir, out_dir) for key, value in context.items()}
        cite = citation(relative, title, site, site_url)
        text = env.get_template(template).render(site=site, cite=cite, **relocated)
        path = out_dir / relative
        write_text(path, _one_trailing_newline(text))
        written.append(path)

    write(
        "index.md",
        "index.md.j2",
        site.title,
        models=models,
        page_slugs=frozenset(page_slugs),
        images=compared.images,
    )
    write(
        "methods.md",
        "methods.md.j2",
        f"{site.title}: Methods",
        methods_rules=read_methods_rules(),
    )
    for page in pages:
        write(
            f"models/{page.summary.slug}.md",
            "model.md.j2",
            f"{site.title}: {page.summary.name}",
            page=page,
            images=image_blocks(page),
            method_docs=METHOD_DOCS,
        )
    write(
        "compare/index.md",
        "compare_index.md.j2",
        f"{site.title}: comparisons of all models",
        images=compared.images,
        top1=compared.top1,
        methods=list(EXPLANATION_COLUMNS),
    )
    for comparison in compared.pages:
        what = "all models" if comparison.overview else f"{comparison.method} of all models"
        write(
            comparison_path(comparison),
            "compare.md.j2",
            f"{site.title}: {what} on the image '{comparison.image.title}'",
            page=comparison,
            methods=list(EXPLANATION_COLUMNS),
            method_docs=METHOD_DOCS[comparison.method],
        )
    return written
