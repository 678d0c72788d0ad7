"""The home page: the models table, its filter box, the photos' thumbnails, the methods and
reference times it names, and the banner of random weights (on every page).

The hand-built contexts and the sites these tests read: `pagekit.py`, `pagesites.py`.
"""

from __future__ import annotations

import dataclasses
import html
import html.parser
import re

from pagekit import (
    BANNER,
    HOSTILE_FAILURE,
    IMAGES,
    element_html,
    make_contexts,
    parse,
    visible_text,
    write_site,
)

pytest_plugins = ("pagesites",)  # the built sites, shared by the session


def test_index_table_has_every_model_links_built_ones_and_marks_failures(imagenet_site):
    index = imagenet_site.html("index.html")
    links = {attrs.get("href") for tag, attrs in parse(index).tags if tag == "a"}
    assert "models/alphanet/" in links and "models/betanet/" in links
    assert not any(link and "gammanet" in link for link in links)
    rows = [visible_text(row) for row in re.findall(r"<tr>.*?</tr>", index, re.DOTALL)]
    model_rows = {
        name: next(row for row in rows if row.startswith(name))
        for name in ("AlphaNet", "BetaNet", "GammaNet")
    }
    assert "25.6 M" in model_rows["AlphaNet"] and "224×224" in model_rows["AlphaNet"]
    assert "76.0%" in model_rows["AlphaNet"] and "92.9%" in model_rows["AlphaNet"]
    assert "12.3 s" in model_rows["AlphaNet"]
    # Where the times were measured is told on the About page, linked from the table's text.
    assert "reference machine (4 CPU cores" not in visible_text(index)
    assert "about/#build-time" in links
    about = visible_text(imagenet_site.html("about/index.html"))
    assert "reference machine (4 CPU cores" in about
    assert "conv5_block3_out" in model_rows["AlphaNet"]  # the Grad-CAM layer
    assert "unknown" in model_rows["BetaNet"]  # top-1 is None
    assert "failed" in model_rows["GammaNet"] and HOSTILE_FAILURE in model_rows["GammaNet"]


def test_index_has_a_filter_box_over_the_models_table(imagenet_site):
    index = imagenet_site.html("index.html")
    boxes = [a for tag, a in parse(index).tags if tag == "input" and "data-gallery-filter" in a]
    assert len(boxes) == 1
    table = element_html(index, "div", boxes[0]["data-gallery-filter"])
    assert "<table>" in table and "AlphaNet" in table and "GammaNet" in table
    scripts = [a.get("src", "") for tag, a in parse(index).tags if tag == "script"]
    assert any(s.endswith("javascripts/filter-tables.js") for s in scripts)


def test_index_thumbnails_link_to_the_comparison_pages(imagenet_site):
    index = imagenet_site.html("index.html")
    for slug, _ in IMAGES:
        thumbnail = f'src="assets/images/{slug}.webp"'
        # The thumbnail itself links to the comparison page (no lightbox).
        assert re.search(rf'<a href="compare/{slug}/">\s*<img [^>]*{re.escape(thumbnail)}', index)
    text = visible_text(index)
    assert "2 of 3 models: tabby cat" in text  # AlphaNet and DeltaNet agree


def test_random_weights_banner_on_every_page_only_when_random(random_site, imagenet_site):
    checked = (
        "index.html",
        "models/alphanet/index.html",
        "compare/index.html",
        "compare/cat/index.html",
        "compare/cat/deconvnet/index.html",
    )
    for site, expected in ((random_site, True), (imagenet_site, False)):
        for page in checked:
            text = visible_text(site.html(page))
            assert (BANNER in text) is expected, (page, expected)
    # The banner is an admonition, visible before the content, not a footnote.
    model = random_site.html("models/alphanet/index.html")
    assert model.index('class="admonition danger"') < model.index('id="model-card"')


def test_times_measured_for_other_methods_are_not_shown_and_the_page_says_why(tmp_path):
    site, models, model_pages, images = make_contexts(tmp_path, "imagenet")
    site = dataclasses.replace(site, reference_applies=False)
    write_site(tmp_path, site, models, model_pages, images)
    index, card, about = (
        (tmp_path / name).read_text(encoding="utf-8")
        for name in ("index.md", "models/alphanet.md", "about.md")
    )
    for text in (html.unescape(" ".join(page.split())) for page in (index, card, about)):
        assert "12.3 s" not in text and "12.34" not in text
    # The reason is the About page's; the home page and the model card only say and link it.
    about = html.unescape(" ".join(about.split()))
    assert "measured with Grad-CAM and DeConvNet only, top 5 classes, 5 images" in about
    assert "No reference build time was measured for this build" in about
    for text in (index, card):
        assert "measured with Grad-CAM and DeConvNet only" not in html.unescape(text)
    alpha_row = next(line for line in index.splitlines() if line.startswith("| [AlphaNet]"))
    assert alpha_row.endswith("| not measured |")
    assert "| Build time | not measured ([how it is measured](../about.md#build-time)) |" in card


def test_home_page_names_the_families_and_their_methods(imagenet_site):
    index = imagenet_site.html("index.html")
    section = index[index.index('id="methods"') : index.index('id="sample-images"')]
    # Each family of the pages' methods, with its methods, in the pages' one order.
    items = [visible_text(item) for item in re.findall(r"<li>.*?</li>", section, re.DOTALL)]
    assert [item.split(":")[0].strip() for item in items] == ["Class maps", "Guided projections"]
    links = [a.get("href") for tag, a in parse(section).tags if tag == "a"]
    assert links[1:] == [  # after the heading's own permalink
        "methods/#grad-cam",
        "methods/#score-cam",
        "methods/#guided-grad-cam",
        "methods/#guided-backprop",
        "methods/#deconvnet",
    ]


def test_home_page_links_the_walkthrough_first(imagenet_site):
    index = imagenet_site.html("index.html")
    article = index[index.index("<article") :]
    links = [a.get("href") for tag, a in parse(article).tags if tag == "a" and a.get("href")]
    content = [link for link in links if not link.startswith("#")]
    assert content[0] == "start/", content[:3]
    # And first after Home in the navigation.
    nav = index[index.index('class="md-nav md-nav--primary"') : index.index("<article")]
    pages = [
        href
        for tag, a in parse(nav).tags
        if tag == "a" and (href := a.get("href")) and not href.startswith("#")
    ]
    pages = list(dict.fromkeys(pages))  # the site title links home too
    assert pages[:3] == [".", "start/", "methods/"], pages
    assert pages[-1] == "about/", pages
