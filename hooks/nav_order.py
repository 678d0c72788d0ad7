"""MkDocs hook: the navigation MkDocs builds from the folders (mkdocs.yml has no `nav`, so any
set of pages appears), put in the order a reader needs.

- "Start here" (`start.md`) right after Home, "About this build" (`about.md`) last: a student
  finds the walkthrough at the top of the menu, and the build's provenance, which few readers
  need, closes it.
- A section whose index page links its sibling pages lists them in the order of those links:
  the pages of one photo's comparisons (`compare/<photo>/`) follow the methods' one order (by
  family, as the generator writes them on the overview page), not the alphabet of their files.

Every other page keeps MkDocs' own order.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

FIRST = "start.md"  # pages.START_PAGE
LAST = "about.md"  # pages.ABOUT_PAGE
_LINK = re.compile(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)")


def _src(item: Any) -> str | None:
    file = getattr(item, "file", None)
    return getattr(file, "src_uri", None)


def _linked_order(index: Any) -> list[str]:
    """The pages the index page links, as source paths, in the order of its links."""
    folder = posixpath.dirname(index.file.src_uri)
    targets = _LINK.findall(index.file.content_string)
    return list(dict.fromkeys(posixpath.normpath(posixpath.join(folder, t)) for t in targets))


def _order_sections(items: list[Any]) -> None:
    """Each section's pages in the order its index page links them, at every depth."""
    for item in items:
        children = getattr(item, "children", None)
        if not children:
            continue
        index = next((c for c in children if (_src(c) or "").endswith("index.md")), None)
        if index is not None:
            order = {src: place for place, src in enumerate(_linked_order(index))}
            last = len(order)
            # Stable: the index first, linked pages by their link, others after in their order.
            item.children = sorted(
                children,
                key=lambda c: -1 if c is index else order.get(_src(c) or "", last),
            )
        _order_sections(item.children)


def on_nav(nav: Any, config: Any, files: Any) -> Any:
    """The walkthrough after Home, the about page last, sections in their index's order."""
    items = list(nav.items)
    first = [item for item in items if _src(item) == FIRST]
    last = [item for item in items if _src(item) == LAST]
    rest = [item for item in items if item not in first and item not in last]
    home = [item for item in rest[:1] if _src(item) == "index.md"]
    nav.items = home + first + rest[len(home) :] + last
    _order_sections(nav.items)
    return nav
