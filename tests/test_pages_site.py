"""The generated site as a whole: the pages written, MkDocs' strict build, and every link and
picture in them (files, sizes, alt text, captions, the lightbox).

The hand-built contexts and the sites these tests read: `pagekit.py`, `pagesites.py`.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import PurePosixPath

import pytest
from pagekit import (
    CHANNEL_PICTURES,
    IMAGES,
    MODELS,
    NEURON_PICTURES,
    PICTURES_PER_IMAGE,
    SHOWN,
    expected_pages,
    make_contexts,
    parse,
    visible_text,
    write_site,
)
from PIL import Image
from sitekit import mkdocs_build

from generator.pages import page_url

pytest_plugins = ("pagesites",)  # the built sites, shared by the session


@pytest.mark.parametrize("site_fixture", ["imagenet_site", "random_site"])
def test_mkdocs_strict_build_passes_without_warnings(site_fixture, request):
    built = request.getfixturevalue(site_fixture)
    assert built.result.returncode == 0, built.result.stderr
    warnings = [line for line in built.result.stderr.splitlines() if "WARNING" in line]
    assert not warnings, built.result.stderr
    assert (built.site_dir / "models" / "alphanet" / "index.html").is_file()
    assert (built.site_dir / "compare" / "cat" / "grad-cam" / "index.html").is_file()


def test_write_site_returns_the_pages_it_wrote(imagenet_site):
    docs = imagenet_site.docs
    expected = expected_pages(docs)
    assert set(imagenet_site.written) == expected
    assert len(imagenet_site.written) == len(expected)  # each page written once
    assert all(path.is_file() for path in expected)
    assert not (docs / "models" / "gammanet.md").exists()  # failed: no page


def test_asset_urls_in_pages_resolve_to_existing_files(imagenet_site):
    targets = 0
    # The walkthrough and the methods page show pictures of the model pages again (counted in
    # tests/test_pages_walkthrough.py); every other page's pictures are counted here.
    shown_again = {imagenet_site.docs / "start.md", imagenet_site.docs / "methods.md"}
    for page in imagenet_site.written:
        for url in re.findall(r"\]\(([^)\s]+\.(?:webp|png))\)", page.read_text(encoding="utf-8")):
            assert not url.startswith("/") and "://" not in url
            assert (page.parent / url).resolve().is_file(), (page, url)
            targets += page not in shown_again
    models, images, methods = len(MODELS), len(IMAGES), len(SHOWN)
    per_model_page = images * (PICTURES_PER_IMAGE + 1) + 1  # + the grid link; + the filters
    home_and_compare_index = 2 * images
    per_comparison = 2 + models  # the photo, the colour scales and one picture per model
    neurons = NEURON_PICTURES + CHANNEL_PICTURES  # one model's section and its channel pages
    expected = (
        models * per_model_page
        + neurons
        + home_and_compare_index
        + images * (1 + methods) * per_comparison
    )
    assert targets == expected
    # And after MkDocs has rewritten them for its directory URLs:
    site_dir = imagenet_site.site_dir
    for page, text in imagenet_site.pages_html().items():
        for tag, attrs in parse(text).tags:
            if tag == "img":
                target = site_dir / PurePosixPath(page).parent / attrs["src"]
                assert target.resolve().is_file(), (page, attrs)


def test_every_picture_carries_its_files_width_and_height(imagenet_site):
    """The page reserves each picture's box before it loads, so nothing shifts."""
    site_dir = imagenet_site.site_dir
    seen = 0
    for page, text in imagenet_site.pages_html().items():
        for tag, attrs in parse(text).tags:
            if tag == "img":
                with Image.open(site_dir / PurePosixPath(page).parent / attrs["src"]) as file:
                    assert (attrs.get("width"), attrs.get("height")) == tuple(
                        str(side) for side in file.size
                    ), (page, attrs)
                seen += 1
    assert seen > 50


def test_legends_and_the_photo_stay_out_of_the_lightbox(imagenet_site):
    model = imagenet_site.html("models/alphanet/index.html")
    legends = re.findall(r'<figure class="gallery-legend".*?</figure>', model, re.DOTALL)
    assert legends and all("glightbox" not in f and "off-glb" in f for f in legends)
    head = imagenet_site.html("compare/cat/index.html").split('class="gallery-compare-head"')[1]
    first_figure = head.split("</figure>")[0]
    assert "off-glb" in first_figure and "glightbox" not in first_figure


def test_every_picture_has_alt_text_and_a_caption(imagenet_site):
    for page in ("models/alphanet/index.html", "compare/cat/index.html"):
        text = imagenet_site.html(page)
        images = [attrs for tag, attrs in parse(text).tags if tag == "img"]
        figures = re.findall(r"<figure[ >].*?</figure>", text, re.DOTALL)
        assert all(attrs.get("alt") and "(alt)" in attrs["alt"] for attrs in images), page
        assert len(figures) == len(images), page
        assert all("<figcaption>" in f and "(caption)" in f for f in figures), page
    model = imagenet_site.html("models/alphanet/index.html")
    images = [attrs for tag, attrs in parse(model).tags if tag == "img"]
    # + the filters, + the neurons section
    assert len(images) == len(IMAGES) * PICTURES_PER_IMAGE + 1 + NEURON_PICTURES


def test_rendering_twice_gives_identical_bytes(tmp_path):
    outputs = []
    for run in ("first", "second"):
        root = tmp_path / run
        written = write_site(root, *make_contexts(root, "random"))
        outputs.append({p.relative_to(root).as_posix(): p.read_bytes() for p in written})
    assert outputs[0] == outputs[1]
    assert {tmp_path / "first" / p for p in outputs[0]} == expected_pages(tmp_path / "first")


def test_a_build_without_images_still_links_only_existing_pages(tmp_path):
    site, models, model_pages, _ = make_contexts(tmp_path / "docs", "imagenet")
    without = [dataclasses.replace(page, images=[]) for page in model_pages]
    written = write_site(tmp_path / "docs", site, models, without, [])
    assert tmp_path / "docs" / "compare" / "index.md" in written
    assert not (tmp_path / "docs" / "compare" / "cat").exists()
    result = mkdocs_build(tmp_path / "docs", tmp_path)
    assert result.returncode == 0 and "WARNING" not in result.stderr, result.stderr
    text = visible_text((tmp_path / "site" / "compare" / "index.html").read_text("utf-8"))
    assert "No sample images were given" in text


def test_write_site_rejects_a_page_without_a_table_row(tmp_path):
    site, models, model_pages, images = make_contexts(tmp_path, "imagenet")
    with pytest.raises(ValueError, match="alphanet"):
        write_site(tmp_path, site, models[1:], model_pages, images)


def test_page_url_is_relative_to_the_page_folder():
    url = page_url("assets/resnet50/cat/explanations.webp", "models")
    assert url == "../assets/resnet50/cat/explanations.webp"
    assert page_url("assets/images/cat.webp", "") == "assets/images/cat.webp"
    for bad in ("/etc/passwd", "assets/../../x.webp"):
        with pytest.raises(ValueError):
            page_url(bad, "models")
