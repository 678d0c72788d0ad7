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
    assert "reference machine (4 CPU cores" in visible_text(index)  # where times were measured
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
    index = (tmp_path / "index.md").read_text(encoding="utf-8")
    card = (tmp_path / "models" / "alphanet.md").read_text(encoding="utf-8")
    for text in (html.unescape(" ".join(page.split())) for page in (index, card)):
        assert "12.3 s" not in text and "12.34" not in text
        assert "measured with Grad-CAM and DeConvNet only, top 5 classes, 5 images" in text
    alpha_row = next(line for line in index.splitlines() if line.startswith("| [AlphaNet]"))
    assert alpha_row.endswith("| not measured |")
    assert "No reference build time was measured for this method set" in " ".join(index.split())
    assert "| Build time | not measured for this method set" in card


def test_home_page_names_the_methods_this_build_shows(tmp_path):
    site, models, model_pages, images = make_contexts(tmp_path, "imagenet")
    for methods in (("Grad-CAM", "Guided Backprop", "DeConvNet"), ("Occlusion",)):
        write_site(
            tmp_path, dataclasses.replace(site, methods=methods), models, model_pages, images
        )
        index = " ".join((tmp_path / "index.md").read_text(encoding="utf-8").split())
        count = f"{len(methods)} method{'s' if len(methods) > 1 else ''}"
        assert f"by {count} ({', '.join(methods)}), one tab per family" in index
