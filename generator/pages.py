"""Markdown pages of the site from the records of `site_records.py` and `templates/*.md.j2`.

The build fills the records; this module only turns site-root asset paths into page-relative
URLs, makes untrusted text (image file names, error messages) inert, cites every page, and writes
the pages. Templates lay out what they are given and never compute.

Escaping: Jinja2 autoescape is on, so any string printed without a filter is HTML-escaped. Text
that came from outside (a file name like `*x* [a](b) <img ...>`) also goes through `escape_md`,
which additionally writes every ASCII punctuation character as a numeric HTML entity, so neither
Markdown nor the extensions (tables, tabs, captions, math) can read it as syntax.

Besides the model pages, `write_site` writes the comparison pages (`comparisons.py` derives their
contexts), the trust leaderboard (`trust_summary.py` sums the pages' trust sections up) and every
page's citation from the same records; block ids come from `page_ids.py`.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import string
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup
from PIL import Image

from generator import __release_date__
from generator.comparisons import comparison_path, comparisons
from generator.files import atomic_write_text
from generator.page_ids import (
    anchor,
    by_family,
    channel_pages,
    image_blocks,
    model_page,
    neuron_stages,
    trust_anchor,
)
from generator.site_config import read_site_url
from generator.site_records import (
    Figure,
    MethodRecord,
    ModelPage,
    ModelSummary,
    SiteInfo,
    Spread,
    Thumbnail,
)
from generator.trust_summary import (
    BASELINES,
    CLASS_MARK,
    MEASURES,
    RANDOMIZATION_MARK,
    leaderboard,
    method_findings,
)
from generator.walkthrough import START_PAGE, walkthrough

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = REPO_ROOT / "templates"
# Written by the explanation-methods helper; included verbatim in methods.md when present.
METHODS_RULES_PATH = REPO_ROOT / "docs" / "methods_rules.md"

# The access date of a citation, as built: the reader's browser writes the day it shows the page
# in its place (javascripts/access-date.js), so the built files hold no date of their own.
ACCESS_DATE = "YYYY-MM-DD"
# The alias `mike` keeps pointing at the newest release (see .github/workflows/gallery.yml).
LATEST_ALIAS = "latest"
_PUNCTUATION = frozenset(string.punctuation)
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
class Citation:
    """The "Cite this page" box: `date` is the gallery release's, so rebuilds do not change it."""

    title: str  # may contain an image title: untrusted
    url: str  # under the release's own version: what it shows never changes
    latest_url: str  # the same page in the newest release
    version: str
    date: str  # ISO 8601
    key: str  # BibTeX key made of the page's path slugs
    bibtex: str


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


def score(value: float | None) -> str:
    """A similarity or an area under a curve with two significant digits ("0.83", "0.0012":
    an untrained network's probabilities are that small), or "not measured"."""
    return "not measured" if value is None else f"{value:#.2g}"


def activation(value: float) -> str:
    """A channel's activation with three significant digits, no trailing point ("14.5", "12",
    "0.00321")."""
    return f"{value:.3g}"


def spread(value: Spread | None) -> str:
    """A mean with its standard deviation ("0.12 ± 0.045"); the mean alone of one value."""
    if value is None:
        return "not measured"
    if value.count == 1:
        return score(value.mean)
    return f"{score(value.mean)} ± {score(value.sd)}"


def or_unknown(value: object) -> object:
    return "unknown" if value is None else value


def figure_anchor(path: str) -> str:
    """The id of a figure no template names one for, from its file (page-relative):
    `../assets/resnet50/cat/crop.webp` -> `figure--resnet50-cat-crop`. A file is shown once a
    page, so the id is unique there, and stable as the file's address is."""
    parts = [part for part in PurePosixPath(path).with_suffix("").parts if part != ".."]
    if parts and parts[0] == "assets":
        parts = parts[1:]
    return "figure--" + anchor("-".join(parts))


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
    if isinstance(value, Mapping):
        return {key: _relocate(item, page_dir, out_dir) for key, item in value.items()}
    if isinstance(value, list):
        return [_relocate(item, page_dir, out_dir) for item in value]
    if isinstance(value, tuple):
        return tuple(_relocate(item, page_dir, out_dir) for item in value)
    return value


# --- what the site says of itself ---------------------------------------------------------


def site_description(site: SiteInfo) -> str:
    """The site's description for search engines and link previews: what it shows, naming the
    explanation methods this build has (`site.methods`, in the pages' order)."""
    what = "How ImageNet CNNs of Keras' keras.applications see images: predictions, filters, "
    if not site.methods:
        return what + "feature maps."
    names = list(site.methods)
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return what + f"feature maps and class explanations by {listed}."


def front_matter_value(text: str) -> Markup:
    """`text` as one YAML scalar for a page's front matter: a JSON string, which YAML reads
    as the same text whatever characters it holds."""
    return Markup(json.dumps(" ".join(text.split()), ensure_ascii=False))


# --- citation -------------------------------------------------------------------------------


def bibtex_escape(text: str) -> str:
    """`text` as literal BibTeX/LaTeX text on one line."""
    return "".join(_BIBTEX_SPECIAL.get(char, char) for char in " ".join(text.split()))


def citation(relative: str, title: str, site: SiteInfo, site_url: str, block: str = "") -> Citation:
    """The citation of the page written to `relative` (e.g. `models/resnet50.md`), or of the
    block of it with the id `block` (a channel, `ch-12`).

    Its URL is the page's directory URL under `site_url` and the release's version
    (`<site_url>/0.1.0/models/resnet50/`), where `mike` publishes every release for good, so a
    cited page keeps showing what was cited after later releases add methods or models. Its
    BibTeX key joins the path's slugs (`cnn-gallery:models:resnet50`) and the block's id.
    """
    parts = list(PurePosixPath(relative).with_suffix("").parts)
    if parts[-1] == "index":
        parts.pop()
    page = "".join(f"{part}/" for part in parts) + (f"#{block}" if block else "")
    url = f"{site_url.rstrip('/')}/{site.version}/{page}"
    latest_url = f"{site_url.rstrip('/')}/{LATEST_ALIAS}/{page}"
    key = ":".join(["cnn-gallery", *(parts or ["home"]), *([block] if block else [])])
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
        ("urldate", "{" + ACCESS_DATE + "}"),
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
        figure_anchor=figure_anchor,
        score=score,
        spread=spread,
        activation=activation,
        trust_anchor=trust_anchor,
        model_page=model_page,
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


class MissingParagraph(ValueError):
    """A catalog method without its paragraph for the methods page."""


# The parts every method's paragraph has, in this order, so that readers find each by name.
PARAGRAPH_PARTS = (
    "Paper: ",
    "**What it shows.**",
    "**Where it misleads.**",
    "**Options and cost.**",
)


def check_paragraphs(records: Sequence[MethodRecord], templates: Path) -> None:
    """Stop the build with a clear message when a method has no paragraph to show, or one
    without the parts every other has (`PARAGRAPH_PARTS`, in order)."""
    for record in records:
        path = templates / record.paragraph
        what = (
            f"templates/{record.paragraph} (heading '### {record.title} {{ #{record.slug} }}', "
            "formula, then the parts " + ", ".join(p.strip("*: ") for p in PARAGRAPH_PARTS) + ")"
        )
        if not path.is_file():
            raise MissingParagraph(
                f"the method {record.slug!r} has no paragraph for the methods page: write {what}"
            )
        text = path.read_text(encoding="utf-8")
        places = [text.find(f"\n{part}") for part in PARAGRAPH_PARTS]
        if -1 in places or places != sorted(places):
            raise MissingParagraph(
                f"the paragraph of the method {record.slug!r} lacks a part or has them out of "
                f"order: each starts a line, in this order, in {what}"
            )


def _write_text(path: Path, text: str) -> bool:
    atomic_write_text(path, text)
    return True


def page_path(page: ModelPage) -> str:
    """Where a model's page is written, relative to the site."""
    return model_page(page.summary.slug)


# Where this build's provenance (versions, weights, reference times) is told, away from readers.
ABOUT_PAGE = "about.md"
# The trust leaderboard, at a stable address (`trust/`); written while a page has trust checks.
TRUST_PAGE = "trust.md"


def write_site(
    out_dir: Path,
    site: SiteInfo,
    models: list[ModelSummary],
    pages: list[ModelPage],
    images: list[Thumbnail],
    methods: Sequence[MethodRecord],
    write_text: Callable[[Path, str], bool] = _write_text,
    legends: Mapping[str, Figure] | None = None,
    earlier: Sequence[ModelPage] = (),
    method_legends: Mapping[str, Figure] | None = None,
) -> list[Path]:
    """Render the home, methods, model and comparison pages into `out_dir`.

    `models` is every model asked for (built or failed) in table order; `pages` the built ones;
    `images` the sample images' thumbnails. Besides `index.md`, `start.md` (the walkthrough,
    `walkthrough.py`), `about.md` (the build's provenance), `methods.md` and
    `models/<slug>.md` this writes `compare/index.md` and, per image, `compare/<image>/index.md`
    and one `compare/<image>/<method>.md` per explanation method; per model page with a neurons
    section one channel page per stage tensor, `neurons/<model>/<tensor>.md`
    (`page_ids.channel_pages`).
    Every page goes through `write_text`, which says whether it wrote the page (the build's
    passes it through its ledger of what the generator wrote, and refuses a user's file): the
    comparison pages link into the model pages written, and only to the top of one that was
    not (its blocks may not be there). `methods` are the catalog's methods as the methods page describes them
    (`method_records.catalog_records`); each must have its paragraph
    (`templates/methods/<slug>.md.j2`), or nothing is written. Returns the paths given to
    `write_text`, for the manifest. `legends` are the colour scales of the method families'
    grids on the model pages, by family slug (`figures.family_legends`), `method_legends` each
    method's alone, by method slug, for the comparison pages. `earlier` are the
    records of failed models' pages kept from an earlier build: compared, marked, not rewritten.
    `trust.md`, the leaderboard of the trust checks, is written only when a page (built now or
    kept) has them, and the home and methods pages link it only then; when none has, it is not
    written, so the ledger deletes an earlier build's.
    """
    check_paragraphs(methods, TEMPLATES_DIR)
    page_slugs = [page.summary.slug for page in pages]
    if len(set(page_slugs)) != len(page_slugs):
        raise ValueError(f"two model pages share a slug: {sorted(page_slugs)}")
    unknown = set(page_slugs) - {model.slug for model in models}
    if unknown:
        raise ValueError(f"model pages without a row in the models table: {sorted(unknown)}")

    env = make_environment()
    site_url = read_site_url()
    # The comparisons set the zoo's ImageNet answers side by side; own models name other classes.
    zoo = [model for model in models if not model.own]
    zoo_pages = [page for page in pages if not page.summary.own]
    zoo_earlier = [page for page in earlier if not page.summary.own]
    scales = method_legends or {}
    compared = comparisons(zoo, zoo_pages, images, zoo_earlier, scales=scales)
    written: list[Path] = []
    # Models whose checks the leaderboard shows, in the models table's order.
    by_slug = {page.summary.slug: page for page in [*earlier, *pages]}
    trusted = [
        (page.summary, page.trust)
        for model in models
        if (page := by_slug.get(model.slug)) is not None and page.trust is not None
    ]
    findings = method_findings([trust for _, trust in trusted])
    description = front_matter_value(site_description(site))

    def write(relative: str, template: str, title: str, **context: Any) -> bool:
        page_dir = posixpath.dirname(relative)
        relocated = {key: _relocate(value, page_dir, out_dir) for key, value in context.items()}
        cite = citation(relative, title, site, site_url)
        text = env.get_template(template).render(
            site=site, cite=cite, description=description, **relocated
        )
        path = out_dir / relative
        written.append(path)
        return write_text(path, _one_trailing_newline(text))

    write(
        "index.md",
        "index.md.j2",
        site.title,
        models=zoo,
        own_models=[model for model in models if model.own],
        page_slugs=frozenset(page_slugs),
        images=compared.images,
        trust_page=bool(trusted),
        families=by_family(compared.methods, lambda method: method.family),
    )
    unwritten = set()
    for page in pages:
        if not write(
            page_path(page),
            "model.md.j2",
            f"{site.title}: {page.summary.name}",
            page=page,
            images=image_blocks(page, legends),
            stages=neuron_stages(page),
        ):
            unwritten.add(page.summary.slug)
            continue  # its channel pages would link blocks of a page that is not the generator's
        for channels in channel_pages(page):
            tensor = channels.stage.tensor
            title = f"{site.title}: {page.summary.name}, the channels of {tensor}"
            cites = {
                entry.view.channel: citation(
                    channels.path,
                    f"{site.title}: {page.summary.name}, channel {entry.view.channel} of {tensor}",
                    site,
                    site_url,
                    entry.anchor,
                )
                for entry in channels.entries
            }
            write(channels.path, "channels.md.j2", title, page=page, channels=channels, cites=cites)
    if unwritten:
        compared = comparisons(
            zoo, zoo_pages, images, zoo_earlier, unanchored=unwritten, scales=scales
        )
    # The walkthrough and the methods page's examples link into blocks of a page written now.
    walk = walkthrough(models, [p for p in pages if p.summary.slug not in unwritten], legends)
    write(
        START_PAGE,
        "start.md.j2",
        f"{site.title}: start here",
        walk=walk,
        trust_page=bool(trusted),
    )
    write(ABOUT_PAGE, "about.md.j2", f"{site.title}: about this build")
    write(
        "methods.md",
        "methods.md.j2",
        f"{site.title}: Methods",
        methods=methods,
        families=by_family(methods, lambda method: method.family),
        walk=walk,
        legends=dict(legends or {}),
        methods_rules=read_methods_rules(),
        # The neuron pictures' settings as this build made them (a kept page's if none built).
        neuron_settings=next(
            (p.neurons.settings for p in [*pages, *earlier] if p.neurons is not None), None
        ),
        trust_page=bool(trusted),
        findings=findings,
        measures=MEASURES,
        marks={"randomization": RANDOMIZATION_MARK, "classes": CLASS_MARK},
    )
    if trusted:
        write(
            TRUST_PAGE,
            "trust.md.j2",
            f"{site.title}: how far to trust each method",
            tables=leaderboard([(model.name, model.slug, trust) for model, trust in trusted]),
            # Rows link to the top of a page this build did not write: its ids may differ.
            anchored=frozenset(model.slug for model, _ in trusted) - unwritten,
            kept=frozenset(page.summary.slug for page in earlier),
            baselines=frozenset(BASELINES),
        )
    write(
        "compare/index.md",
        "compare_index.md.j2",
        f"{site.title}: comparisons of all models",
        images=compared.images,
        top1=compared.top1,
        methods=compared.methods,
    )
    for comparison in compared.pages:
        what = "all models" if comparison.overview else f"{comparison.method.title} of all models"
        write(
            comparison_path(comparison),
            "compare.md.j2",
            f"{site.title}: {what} on the image '{comparison.image.title}'",
            page=comparison,
            methods=compared.methods,
        )
    return written
