"""MkDocs hook: the walkthrough first after Home, "About this build" last, in the navigation
MkDocs builds from the folders (mkdocs.yml has no `nav`, so any set of pages appears).

A student opening the site finds "Start here" at the top of the menu; the build's provenance,
which few readers need, closes it. Every other page keeps MkDocs' own order.
"""

from __future__ import annotations

from typing import Any

FIRST = "start.md"  # pages.START_PAGE
LAST = "about.md"  # pages.ABOUT_PAGE


def _src(item: Any) -> str | None:
    file = getattr(item, "file", None)
    return getattr(file, "src_uri", None)


def on_nav(nav: Any, config: Any, files: Any) -> Any:
    """Move the walkthrough to just after the home page and the about page to the end."""
    items = list(nav.items)
    first = [item for item in items if _src(item) == FIRST]
    last = [item for item in items if _src(item) == LAST]
    rest = [item for item in items if item not in first and item not in last]
    home = [item for item in rest[:1] if _src(item) == "index.md"]
    nav.items = home + first + rest[len(home) :] + last
    return nav
