"""The pages a reader meets first: the "Start here" walkthrough, the About page, the site's
description, figure permalinks and the citation's access date.

The hand-built contexts and the sites these tests read: `pagekit.py`, `pagesites.py`.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from urllib.parse import urldefrag, urljoin

import yaml
from pagekit import (
    SHOWN,
    ids_of,
    make_contexts,
    parse,
    visible_text,
    write_site,
)
from sitekit import REPO, mkdocs_build

from generator.methods.catalog import CATALOG
from generator.pages import ACCESS_DATE, front_matter_value, site_description

pytest_plugins = ("pagesites",)  # the built sites, shared by the session


def _article(page: str) -> str:
    """The page's content, without the navigation and the table of contents."""
    return page[page.index("<article") : page.index("</article>")]


def _text(page: str) -> str:
    """The visible text as read: no space before punctuation (the parser splits at tags)."""
    return re.sub(r"\s+([.,:;)])", r"\1", visible_text(page))


def _links(page: str) -> list[str]:
    return [a["href"] for tag, a in parse(_article(page)).tags if tag == "a" and a.get("href")]


def _check_links_resolve(built, path: str) -> int:
    """Every link of the page at `path` to a page of the site reaches it, and its anchor there;
    returns how many links went to a model page's block."""
    base = f"http://site/{path}"
    into_blocks = 0
    for href in _links(built.html(f"{path}index.html")):
        target, fragment = urldefrag(urljoin(base, href))
        if not target.startswith("http://site/"):
            continue
        relative = target.removeprefix("http://site/")
        folder = not relative or relative.endswith("/")
        file = built.site_dir / relative / "index.html" if folder else built.site_dir / relative
        assert file.is_file(), (path, href)
        if fragment and file.suffix == ".html":
            assert fragment in ids_of(file.read_text(encoding="utf-8")), (path, href)
            into_blocks += relative.startswith("models/")
    return into_blocks


def test_walkthrough_follows_one_model_and_photo_through_every_step(imagenet_site):
    start = imagenet_site.html("start/index.html")
    text = _text(_article(start))
    # The first model of the table (AlphaNet) and its first photo, said and explained.
    assert "The example: the model AlphaNet and the photo cat." in text
    assert "first model of the models table (3 models in this build)" in text
    ids = ids_of(start)
    steps = ["prediction", "filters", "feature-maps", "explanations", "trust", "neurons", "next"]
    assert [i for i in ids if i in steps] == steps
    # One section per family of the photo's methods, in the pages' order.
    assert [i for i in ids if i in ("class-maps", "guided")] == ["class-maps", "guided"]
    pictures = [a["src"] for tag, a in parse(_article(start)).tags if tag == "img"]
    assert pictures[0] == "../assets/alphanet/cat/crop.webp"
    tiles = [src for src in pictures if re.search(r"/cat/[a-z-]+-1\.webp$", src)]
    # Each method's map of the top class, methods in the one order (families, then catalog).
    assert [src.split("/")[-1] for src in tiles] == [
        "grad-cam-1.webp",
        "score-cam-1.webp",
        "guided-grad-cam-1.webp",
        "guided-backprop-1.webp",
        "deconvnet-1.webp",
    ]
    assert all(src.startswith("../assets/alphanet/") for src in pictures if "legend" not in src)
    # Every picture links to its place in the gallery, and every link resolves.
    assert _check_links_resolve(imagenet_site, "start/") >= len(SHOWN) + 4
    links = _links(start)
    assert "../models/alphanet/#cat--tabby-cat--grad-cam" in links
    assert "../methods/#grad-cam" in links
    # What the neurons look for: stage grids and the top class's picture, linked to the section.
    assert any("neurons/" in src for src in pictures)
    assert any(link.startswith("../models/alphanet/#neurons--") for link in links)
    # Without trust checks the page says so and points at their explanation.
    assert "did not run the checks" in text and "../methods/#trust-checks" in links


def _built(work: Path, change) -> str:
    """The walkthrough, built strictly, of the hand-built contexts as `change` changes them."""
    docs = work / "docs"
    write_site(docs, *change(*make_contexts(docs, "imagenet")))
    result = mkdocs_build(docs, work)
    assert result.returncode == 0 and "WARNING" not in result.stderr, result.stderr
    return (work / "site" / "start" / "index.html").read_text(encoding="utf-8")


def test_walkthrough_of_one_model_and_of_no_photo_is_a_valid_page(tmp_path):
    one = _built(tmp_path / "one", lambda s, m, p, i: (s, m[1:2], p[1:2], i))
    assert "the model BetaNet" in visible_text(one)
    assert "It is the one model of this build" in visible_text(one)

    def without_photos(site, models, pages, images):
        return site, models, [dataclasses.replace(page, images=[]) for page in pages], []

    empty = _built(tmp_path / "bare", without_photos)
    text = visible_text(_article(empty))
    assert "nothing to walk through yet" in text and "<img" not in _article(empty)


def test_walkthrough_shows_the_random_weights_banner(random_site):
    text = visible_text(random_site.html("start/index.html"))
    assert "These models have random, untrained weights" in text
    assert "the photo's edges and colours" in text and "the architecture's structure" in text


def test_about_page_tells_the_provenance_and_the_home_page_links_it(imagenet_site):
    about = visible_text(_article(imagenet_site.html("about/index.html")))
    assert "Built by CNN Gallery 0.1.0 with Keras 3.15.0 and TensorFlow 2.21.0" in about
    assert "Weights: ImageNet (Keras)" in about
    assert "on the reference machine (4 CPU cores" in about
    assert "imagenet-simple-labels" in about
    home = imagenet_site.html("index.html")
    assert "Built by CNN Gallery" not in visible_text(_article(home))
    assert "about/" in _links(home)
    card = visible_text(_article(imagenet_site.html("models/alphanet/index.html")))
    assert "reference machine" not in card and "how it is measured" in card


def test_every_page_is_described_by_the_methods_of_its_build(imagenet_site):
    wanted = site_description(imagenet_site.contexts[0])
    assert wanted.endswith("class explanations by Grad-CAM, Guided Backprop and DeConvNet.")
    pages = imagenet_site.pages_html()
    assert len(pages) > 10
    for path, page in pages.items():
        described = re.findall(r'<meta name="description" content="([^"]*)"', page)
        assert [d.replace("&#39;", "'") for d in described] == [wanted], path
    # The project's own description names no method: the build's pages do.
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    titles = ("Grad-CAM", "Guided Backpropagation", "DeConvNet", "Occlusion")
    assert not any(title in config["site_description"] for title in titles)
    assert len(CATALOG) > 4


def test_the_description_names_any_method_set_and_survives_yaml(tmp_path):
    site = make_contexts(tmp_path, "imagenet")[0]
    for methods, expected in (
        (("Occlusion sensitivity",), "class explanations by Occlusion sensitivity."),
        (("Grad-CAM++", "Gradient × Input"), "by Grad-CAM++ and Gradient × Input."),
        ((), "predictions, filters, feature maps."),
    ):
        info = dataclasses.replace(site, methods=methods)
        text = site_description(info)
        assert text.endswith(expected), text
        # A method title with YAML's syntax in it ("a: b", quotes, '#') reads back unchanged.
        hostile = text + ' "quoted" # not a comment: x'
        assert yaml.safe_load(f"description: {front_matter_value(hostile)}") == {
            "description": hostile
        }


def test_cite_box_and_bibtex_leave_the_access_date_to_the_browser(imagenet_site):
    script = (REPO / "site_src" / "javascripts" / "access-date.js").read_text(encoding="utf-8")
    assert f'"{ACCESS_DATE}"' in script  # the placeholder the script replaces
    for path, page in imagenet_site.pages_html().items():
        box = page[page.index('class="gallery-cite"') :]
        assert '<time class="gallery-accessed">' in box, path
        code = re.sub(r"<[^>]+>", "", box[box.index("<code") :])
        assert re.search(r"urldate\s+=\s+\{" + re.escape(ACCESS_DATE) + r"\},", code), path
        scripts = [a.get("src", "") for tag, a in parse(page).tags if tag == "script"]
        assert any(src.endswith("javascripts/access-date.js") for src in scripts), path


def test_every_figure_has_a_visible_permalink_to_itself(imagenet_site):
    counted = 0
    for path, page in imagenet_site.pages_html().items():
        for figure in re.findall(r"<figure\b.*?</figure>", page, re.DOTALL):
            if "glightbox" not in figure:  # a colour scale, a photo as a link: not a figure
                continue
            found = re.match(r'<figure[^>]*\bid="([^"]+)"', figure)
            assert found, (path, figure[:200])
            assert f'class="gallery-permalink" href="#{found.group(1)}"' in figure, path
            counted += 1
        ids = ids_of(page)
        assert len(ids) == len(set(ids)), (path, sorted(i for i in ids if ids.count(i) > 1))
    assert counted > 100


def test_walkthrough_skips_a_model_page_this_build_did_not_write(tmp_path):
    """A user's file at the first model's address: the walkthrough and the methods page's
    examples take the next model, whose blocks are there to link to."""
    site, models, pages, images = make_contexts(tmp_path, "imagenet")

    def refuse_alphanet(path: Path, text: str) -> bool:
        if path.name == "alphanet.md":
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return True

    write_site(tmp_path, site, models, pages, images, write_text=refuse_alphanet)
    start = (tmp_path / "start.md").read_text(encoding="utf-8")
    methods = (tmp_path / "methods.md").read_text(encoding="utf-8")
    assert "[BetaNet](models/betanet.md)" in start and "alphanet" not in start
    assert "models/betanet.md#cat--" in methods and "models/alphanet.md" not in methods
