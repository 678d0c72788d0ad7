"""Names from outside (photo titles, failure messages) stay literal text: in the built HTML,
in the search index, and through `escape_md`.

The hand-built contexts and the sites these tests read: `pagekit.py`, `pagesites.py`.
"""

from __future__ import annotations

import json
import re

import markdown
import pytest
from pagekit import (
    HOSTILE_FAILURE,
    HOSTILE_TITLE,
    IMAGES,
    MARKDOWN_TITLE,
    parse,
    visible_text,
)

from generator.pages import escape_md

pytest_plugins = ("pagesites",)  # the built sites, shared by the session


def test_hostile_names_stay_literal_text_in_the_built_html(imagenet_site):
    for page, text in imagenet_site.pages_html().items():
        elements = parse(text)
        for tag, attrs in elements.tags:
            assert "onerror" not in attrs, page
            assert attrs.get("href") not in ("y", "http://evil.example"), page
            assert not (tag == "img" and attrs.get("src") == "x"), page
        assert "<script>alert(2)" not in text, page
        assert not re.search(r"<(em|strong)>\s*bold", text), page
        assert not re.search(r"<h\d[^>]*>\s*h\s*<", text), page
    index = visible_text(imagenet_site.html("index.html"))
    assert HOSTILE_TITLE in index and MARKDOWN_TITLE in index and HOSTILE_FAILURE in index
    model = visible_text(imagenet_site.html("models/alphanet/index.html"))
    assert HOSTILE_TITLE in model and MARKDOWN_TITLE in model
    for slug, title in IMAGES[1:3]:
        for page in (f"compare/{slug}/index.html", f"compare/{slug}/grad-cam/index.html"):
            compared = imagenet_site.html(page)
            assert f"“{title}”" in visible_text(compared), page
            heading = re.search(r"<title>(.*?)</title>", compared, re.DOTALL).group(1)
            assert "<" not in heading.replace("&lt;", ""), page  # the <title> is text


def test_search_index_keeps_hostile_text_escaped(imagenet_site):
    """Material's search shows its index as HTML, so the names must be escaped there too."""
    index = json.loads((imagenet_site.site_dir / "search" / "search_index.json").read_text())
    blob = json.dumps(index)
    assert "onerror" in blob  # the hostile title was indexed ...
    assert "<img src=x" not in blob and "<script>alert" not in blob  # ... as text


@pytest.mark.parametrize(
    "text",
    [HOSTILE_TITLE, MARKDOWN_TITLE, "1. a | b \\ `c` $x$ ~y~ :smile: ___ &amp;", "a\nb\t c"],
)
def test_escape_md_renders_as_the_literal_text(text):
    rendered = markdown.markdown(
        f"| h |\n| --- |\n| {escape_md(text)} |\n\n{escape_md(text)}",
        extensions=["tables", "attr_list", "pymdownx.arithmatex"],
    )
    elements = parse(rendered)
    tags = [tag for tag, _ in elements.tags]
    assert tags == ["table", "thead", "tr", "th", "tbody", "tr", "td", "p"]
    literal = " ".join(text.split())
    assert [t for t in elements.text if t.strip()] == ["h", literal, literal]


def test_escape_md_replaces_invisible_control_characters():
    assert escape_md("a\u202eb\u0000c") == "a\ufffdb\ufffdc"
