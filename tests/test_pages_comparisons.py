"""Comparison pages: how the models agree on each photo, each method for every model, the
top-1 matrix, and links that reach the model pages' anchors.

The hand-built contexts and the sites these tests read: `pagekit.py`, `pagesites.py`.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

import pytest
from pagekit import (
    IMAGES,
    MODELS,
    OTHER,
    SHOWN,
    TOP1,
    ids_of,
    make_contexts,
    parse,
    plain,
    visible_text,
)

from generator.comparisons import ClassCount, Top1Choice, agreement, comparisons
from generator.page_ids import anchor
from generator.site_records import Figure

pytest_plugins = ("pagesites",)  # the built sites, shared by the session


def test_agreement_counts_top1_classes():
    pairs = [("A", "cat"), ("B", "dog"), ("C", "cat"), ("D", "ant"), ("E", "cat")]
    result = agreement([Top1Choice(*pair) for pair in pairs])
    assert (result.models, result.leaders, result.leader_count) == (5, ["cat"], 3)
    assert result.leader_share == pytest.approx(0.6)
    assert result.distinct == 3
    assert result.counts == [
        ClassCount("cat", 3, ["A", "C", "E"]),
        ClassCount("ant", 1, ["D"]),
        ClassCount("dog", 1, ["B"]),
    ]
    ties = [("A", "dog"), ("B", "cat"), ("C", "dog"), ("D", "cat"), ("E", "emu")]
    tie = agreement([Top1Choice(*pair) for pair in ties])
    assert tie.leaders == ["cat", "dog"] and tie.leader_count == 2
    empty = agreement([])
    assert (empty.models, empty.leaders, empty.leader_share, empty.counts) == (0, [], 0.0, [])


def test_comparison_page_shows_every_model_grouped_by_family(imagenet_site):
    page = imagenet_site.html("compare/cat/index.html")
    text = visible_text(page)
    assert "2 of 3 models (66.7%) rank tabby cat first" in text
    rows = [visible_text(r) for r in re.findall(r"<tr>.*?</tr>", page, re.DOTALL)]
    assert "tabby cat 2 AlphaNet, DeltaNet" in rows and "Egyptian cat 1 BetaNet" in rows
    ids = ids_of(page)
    # Families by name, the model without a family last; each model once, in its family.
    assert [i for i in ids if i.startswith("family-")] == ["family-testnets", "family-other"]
    assert ids.index("family-testnets") < ids.index("alphanet") < ids.index("betanet")
    assert ids.index("family-other") < ids.index("deltanet")
    for name in MODELS:
        slug = name.lower()
        heading = re.search(rf'<h4 id="{slug}"><a href="([^"]+)">{name}</a>', page)
        assert heading and heading.group(1) == f"../../models/{slug}/#cat", name
        block = page[page.index(f'id="{slug}"') :]
        block = block[: block.index("</details>")]
        assert f"{TOP1[name]}, 12.3%" in plain(block)
        assert f"assets/{slug}/cat/grad-cam-1.webp" in block  # Grad-CAM of the top-1 class
        assert "<details" in block and "Top classes" in block
        details = block[block.index("<details") :]
        assert OTHER[TOP1[name]][1] in visible_text(details) and "5.0%" in details
    assert "GammaNet" in text  # failed, named as missing


def test_comparison_links_reach_existing_anchors_of_the_model_pages(imagenet_site):
    site_dir = imagenet_site.site_dir
    for relative in (
        "compare/cat/index.html",
        "compare/filters/deconvnet/index.html",
        "compare/index.html",
        "models/alphanet/index.html",
    ):
        page = imagenet_site.html(relative)
        for tag, attrs in parse(page).tags:
            href = attrs.get("href") or ""
            if (
                tag != "a"
                or "#" not in href
                or "://" in href
                or "glightbox" in attrs.get("class", "")
            ):
                continue
            path, fragment = href.split("#", 1)
            target = (site_dir / PurePosixPath(relative).parent / path).resolve()
            if target.is_dir():
                target = target / "index.html"
            assert target.is_file(), (relative, href)
            assert fragment in ids_of(target.read_text(encoding="utf-8")), (relative, href)


def test_method_pages_show_that_method_for_every_model(imagenet_site):
    for method in SHOWN:
        slug = anchor(method)
        page = imagenet_site.html(f"compare/filters/{slug}/index.html")
        assert re.search(rf"<h1[^>]*>{re.escape(method)} of all models on “Filters”", page)
        # A title of its own (tabs, bookmarks, search results): method and photo.
        assert f"<title>{method} on filters - " in page
        for name in MODELS:
            model = name.lower()
            assert f"assets/{model}/filters/{slug}-1.webp" in page, (method, name)
            # the card links to the same picture on the model page
            assert (
                f'href="../../../models/{model}/#filters-image--{anchor(TOP1[name])}--{slug}"'
                in page
            )
        others = [anchor(m) for m in SHOWN if m != method]
        assert not any(f"/filters/{other}-1.webp" in page for other in others)
    overview = imagenet_site.html("compare/filters/index.html")
    for method in SHOWN:
        assert (
            f'href="../filters/{anchor(method)}/"' in overview
            or f'href="{anchor(method)}/"' in overview
        )


def test_compare_index_lists_images_and_the_top1_matrix(imagenet_site):
    page = imagenet_site.html("compare/index.html")
    for slug, _ in IMAGES:
        assert f'href="{slug}/"' in page
        for method in SHOWN:
            assert f'href="{slug}/{anchor(method)}/"' in page
    rows = {visible_text(r).split(" ")[0]: r for r in re.findall(r"<tr>.*?</tr>", page, re.DOTALL)}
    beta = rows["BetaNet"]
    assert visible_text(beta).count("Egyptian cat") == len(IMAGES)
    assert 'href="../models/betanet/#filters-image"' in beta
    assert "GammaNet" not in rows  # failed models have no results


def test_a_comparison_page_shows_the_colour_scale_of_its_own_method_only(tmp_path):
    _, models, pages, thumbnails = make_contexts(tmp_path, "imagenet")
    scales = {
        method.slug: Figure(f"assets/legend/{method.slug}.webp", method.title, method.title)
        for page in pages
        for section in page.images
        for explained in section.classes
        for method in (tile.method for tile in explained.figures)
    }
    compared = comparisons(models, pages, thumbnails, scales=scales)
    assert compared.pages
    for page in compared.pages:  # the overview shows Grad-CAM's maps: its scale
        assert page.legend == scales[page.method.slug], page.method.slug
