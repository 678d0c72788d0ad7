"""A failed model's last good page: its files stay published, and its results stay compared.

When a model fails, the build keeps the page and pictures of the last build that made them
(rather than let the page vanish), as long as they are still the generator's. The record of that
page is kept too (`<out>/.gallery-cache/pages/<slug>.json`, written whenever a model's page is),
so the comparison pages go on showing the model's answers, marked as from an earlier build.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re
from collections.abc import Iterable
from pathlib import Path

from generator.files import write_if_changed
from generator.manifest import Ledger
from generator.page_ids import channel_folder, model_page
from generator.site_records import ImageSection, ModelPage, ModelSummary

PAGES_DIR = ".gallery-cache/pages"

# A link or image source in a page: Markdown `](target)` or HTML `src="target"`.
_LINK = re.compile(r"\]\(([^)\s]+)|\bsrc=\"([^\"]+)\"")


def linked_files(out: Path, page: str) -> set[str]:
    """The files of the site the page at `page` (relative to `out`) links to, relative to `out`
    (addresses elsewhere, and links that leave `out`, left out)."""
    try:
        text = (out / page).read_text(encoding="utf-8")
    except (OSError, ValueError):
        return set()
    found = set()
    for match in _LINK.finditer(text):
        target = (match.group(1) or match.group(2)).split("#")[0].split("?")[0]
        if not target or ":" in target or target.startswith("/"):
            continue  # an anchor on the page itself, an address elsewhere, a site-absolute path
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(page), target))
        if not resolved.startswith("../"):
            found.add(resolved)
    return found


def kept_links(ledger: Ledger, pages: Iterable[str]) -> list[str]:
    """The generator's pictures that `pages` it did not write this time (a user's page, a page
    it was refused, a failed model's kept page) link to: they are kept, so no page links a
    picture the build deleted. Pages are not: a page no longer generated goes, whoever links
    it (a user's page may then link a page their options no longer make)."""
    linked = set().union(*(linked_files(ledger.out, page) for page in pages))
    return sorted(path for path in linked if not path.endswith(".md") and ledger.owns(path))


def earlier_output(ledger: Ledger, slug: str) -> list[str]:
    """The files of a model's page from an earlier build, if its page is still the generator's:
    the page, its channel pages (`neurons/<slug>/`), its pictures and what they link to."""
    page = model_page(slug)
    if not ledger.owns(page):
        return []
    assets = f"assets/{slug}/"
    in_folder = [p for p in list(ledger.records) if p.startswith(assets) and ledger.owns(p)]
    channels = channel_folder(slug)
    channel_pages = sorted(
        p for p in list(ledger.records) if p.startswith(channels) and ledger.owns(p)
    )
    return [page, *channel_pages, *in_folder, *kept_links(ledger, [page, *channel_pages])]


def remember(out: Path, pages: Iterable[ModelPage]) -> None:
    """Keep the record of each page written, for when its model fails in a later build."""
    for page in pages:
        text = json.dumps(dataclasses.asdict(page), sort_keys=True, indent=1) + "\n"
        write_if_changed(out / PAGES_DIR / f"{page.summary.slug}.json", text.encode("utf-8"))


def earlier_page(out: Path, kept: Iterable[str], summary: ModelSummary) -> ModelPage | None:
    """The kept page's record with this build's `summary` (its failure), for the comparisons;
    only the photos whose every picture is among the `kept` files. None when there is none."""
    try:
        data = json.loads((out / PAGES_DIR / f"{summary.slug}.json").read_text(encoding="utf-8"))
        page = ModelPage.from_json(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # never written, or by another version of the generator
    kept = set(kept)

    def whole(section: ImageSection) -> bool:
        return all(figure.path in kept for figure in section.figures())

    images = [section for section in page.images if whole(section)]
    return dataclasses.replace(page, summary=summary, images=images)
