"""Citations: every page's own versioned address, the release date, BibTeX escaping, the site
address from mkdocs.yml, and CITATION.cff.

The hand-built contexts and the sites these tests read: `pagekit.py`, `pagesites.py`.
"""

from __future__ import annotations

import re

import pytest
import yaml
from pagekit import (
    REPO,
    SITE_URL,
    make_contexts,
    plain,
    visible_text,
    write_site,
)

from generator import __release_date__, __version__, pages, site_config
from generator.pages import bibtex_escape

pytest_plugins = ("pagesites",)  # the built sites, shared by the session


def test_every_page_ends_with_a_citation_of_its_own_address(imagenet_site):
    for page, text in imagenet_site.pages_html().items():
        address = f"{SITE_URL}{__version__}/" + page.removesuffix("index.html")
        latest = f"{SITE_URL}latest/" + page.removesuffix("index.html")
        cite = text[text.index('id="cite"') :]
        assert f'href="{address}"' in cite and f'href="{latest}"' in cite, page
        assert f"released {__release_date__}" in visible_text(cite), page
        assert f"CNN Gallery {__version__}" in visible_text(cite), page
        bibtex = plain(
            re.search(r"<code>(.*?)</code>", cite[cite.index("<pre") :], re.DOTALL).group(1)
        )
        key = ":".join(["cnn-gallery", *page.removesuffix("index.html").strip("/").split("/")])
        key = "cnn-gallery:home" if page == "index.html" else key
        assert bibtex.startswith(f"@misc{{{key},"), (page, bibtex)
        assert f"url = {{{address}}}" in bibtex and f"year = {{{__release_date__[:4]}}}" in bibtex
        # Nothing follows the box but the page's end.
        assert "<h2" not in cite[cite.index("</h2>") :]
    hostile = imagenet_site.html("compare/bold-x-y-h/index.html")
    bibtex = plain(
        re.search(r"<pre.*?</pre>", hostile[hostile.index('id="cite"') :], re.DOTALL).group(0)
    )
    assert r"image '*bold* [x](y) \#h'" in bibtex


def test_citation_date_is_the_release_constant_not_the_clock(tmp_path, monkeypatch):
    monkeypatch.setattr(pages, "__release_date__", "2001-02-03")
    write_site(tmp_path, *make_contexts(tmp_path, "imagenet"))
    text = (tmp_path / "models" / "alphanet.md").read_text(encoding="utf-8")
    assert "released 2001-02-03" in text
    assert "year         = {2001}," in text and "month        = feb," in text


def test_site_url_comes_from_mkdocs_yml(tmp_path, monkeypatch):
    config = tmp_path / "mkdocs.yml"
    config.write_text(
        "site_name: x\nsite_url: https://example.org/fork/\n"
        "markdown_extensions:\n  - pymdownx.emoji:\n"
        "      emoji_index: !!python/name:material.extensions.emoji.twemoji\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(site_config, "MKDOCS_CONFIG_PATH", config)
    write_site(tmp_path / "docs", *make_contexts(tmp_path / "docs", "imagenet"))
    text = (tmp_path / "docs" / "compare" / "cat" / "grad-cam.md").read_text(encoding="utf-8")
    assert f"<https://example.org/fork/{__version__}/compare/cat/grad-cam/>" in text
    config.write_text("site_name: x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="site_url"):
        write_site(tmp_path / "docs", *make_contexts(tmp_path / "docs", "imagenet"))


def test_bibtex_escape_makes_special_characters_literal():
    assert bibtex_escape("50% {a} & b_c #1 $x$ ~ ^ \\") == (
        r"50\% \{a\} \& b\_c \#1 \$x\$ \~{} \^{} \textbackslash{}"
    )
    assert bibtex_escape("a\nb\t c") == "a b c"  # one line: cannot end the code fence


def test_citation_cff_matches_the_generator_release():
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0"
    assert cff["version"] == __version__
    assert str(cff["date-released"]) == __release_date__
    assert cff["license"] == "MIT"
    assert cff["authors"] == [{"name": "CNN Gallery contributors"}]
    assert cff["title"] == "CNN Gallery" and cff["repository-code"].startswith("https://")
    assert cff["url"] == SITE_URL
