"""The neurons section of a model page and its channel pages (`neurons/<model>/<tensor>.md`).

The hand-built site of `pagekit` gives one model (NEURON_MODEL) a neurons section with two stage
tensors; its photos' feature maps and projections label channels (LABELLED) of which one has no
place on a channel page. The checks read the HTML MkDocs built in strict mode (`pagesites`), and
the ledger that deletes pages a later build no longer writes.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from pathlib import Path, PurePosixPath
from urllib.parse import urldefrag

from pagekit import (
    HOSTILE_TITLE,
    IMAGES,
    LABELLED,
    NEURON_CHANNELS,
    NEURON_CLASSES,
    NEURON_MODEL,
    SITE_URL,
    WITHOUT_PICTURE,
    ids_of,
    make_contexts,
    plain,
    tree,
    write_site,
)

from generator.earlier import earlier_output
from generator.manifest import Ledger

pytest_plugins = ("pagesites",)  # the built sites, shared by the session

MODEL = NEURON_MODEL.lower()
MODEL_HTML = f"models/{MODEL}/index.html"
CHANNEL_HTML = {slug: f"neurons/{MODEL}/{slug}/index.html" for slug in NEURON_CHANNELS}


def _links(text: str) -> list[tuple[str, str]]:
    """(href, text) of every link of a page, in order."""
    found = re.findall(r'<a\b[^>]*href="([^"]*)"[^>]*>(.*?)</a>', text, re.DOTALL)
    return [(href, plain(inner)) for href, inner in found]


def _target(site_dir: Path, page: str, href: str) -> tuple[Path, str]:
    """The built HTML file a relative link of `page` reaches, and its fragment."""
    address, fragment = urldefrag(href)
    folder = (site_dir / PurePosixPath(page).parent / address).resolve()
    return folder / "index.html", fragment


def test_every_channel_label_links_an_existing_anchor_of_its_channel_page(imagenet_site):
    site_dir = imagenet_site.site_dir
    model = imagenet_site.html(MODEL_HTML)
    lines = re.findall(r'<p class="gallery-channel-links">(.*?)</p>', model, re.DOTALL)
    # One line under each photo's feature-map figure and each projection figure.
    assert len(lines) == 2 * len(IMAGES)
    placed = set(NEURON_CHANNELS["block1-conv2"])
    for line in lines:
        links = _links(line)
        # The figure's labels in its order, those with a place on the channel page only.
        assert [text for _, text in links] == [f"ch {c}" for c in LABELLED if c in placed]
        for href, text in links:
            page, fragment = _target(site_dir, MODEL_HTML, href)
            assert page == (site_dir / CHANNEL_HTML["block1-conv2"]).resolve(), href
            assert fragment == f"ch-{text.split()[1]}"
            assert fragment in ids_of(page.read_text(encoding="utf-8")), href


def test_a_page_without_neurons_shows_no_section_and_no_channel_links(imagenet_site):
    other = next(name.lower() for name in ("BetaNet", "DeltaNet") if name != NEURON_MODEL)
    text = imagenet_site.html(f"models/{other}/index.html")
    assert "neurons" not in ids_of(text)
    assert "What the neurons look for" not in text and "gallery-channel-links" not in text
    assert "class-picture" not in text
    assert not (imagenet_site.site_dir / "neurons" / other).exists()


def test_the_neurons_section_stands_between_the_photos_and_the_trust_section(imagenet_site):
    text = imagenet_site.html(MODEL_HTML)
    ids = ids_of(text)
    assert ids.index("images") < ids.index("neurons") < ids.index("trust")
    section = text[text.index('id="neurons"') : text.index('id="trust"')]
    assert "512 steps at 224×224" in plain(section)  # the build's settings
    assert f"ch {WITHOUT_PICTURE}: beyond" in plain(section)  # why a channel has no picture
    assert "Class visualizations of 'Egyptian cat' <b>" in plain(section)  # not drawn, escaped
    for slug in NEURON_CHANNELS:
        assert f"neurons--{slug}" in ids
        assert f"{MODEL}/neurons/{slug}/grid.webp" in section
        hrefs = [h for h, _ in _links(section) if f"neurons/{MODEL}/{slug}/" in h]
        assert hrefs and all(
            _target(imagenet_site.site_dir, MODEL_HTML, h)[0].is_file() for h in hrefs
        )
    for index, _ in NEURON_CLASSES:  # every class picture, not only the top-1
        assert f"neurons--class-{index}" in ids
    assert "dream.webp" in section and "inversion.webp" in section
    # Its pictures open in the lightbox, with a permalink each, as every other figure.
    figures = tree(section).descendants()
    grids = [n for n in figures if n.tag == "figure" and "grid" in n.attrs.get("id", "")]
    assert len(grids) == len(NEURON_CHANNELS)
    for figure in grids:
        assert any("glightbox" in n.classes for n in figure.descendants())
        assert any("gallery-permalink" in n.classes for n in figure.descendants())


def test_each_photo_shows_its_top_class_picture_beside_its_predictions(imagenet_site):
    text = imagenet_site.html(MODEL_HTML)
    root = tree(text)
    for slug, _ in IMAGES:
        tab = f"{slug}-image" if slug == "filters" else slug
        figure = root.find(f"{tab}--class-picture")
        assert figure is not None, slug
        sources = [n.attrs.get("src") or "" for n in figure.descendants() if n.tag == "img"]
        assert [src.rsplit("/", 1)[-1] for src in sources] == ["class-281.webp"]  # its top-1
        predictions = next(
            n
            for n in root.descendants()
            if "gallery-predictions" in n.classes and n.find(f"{tab}--class-picture")
        )
        assert "What AlphaNet draws for tabby cat" in predictions.all_text()
        assert any(n.attrs.get("href") == "#neurons--classes" for n in predictions.descendants())


def test_channel_pages_hold_every_channel_with_its_parts(imagenet_site):
    site_dir = imagenet_site.site_dir
    for slug, channels in NEURON_CHANNELS.items():
        page = CHANNEL_HTML[slug]
        text = imagenet_site.html(page)
        ids = ids_of(text)
        assert [i for i in ids if i.startswith("ch-")] == [f"ch-{c}" for c in channels]
        assert "cite" in ids  # the page's own cite box
        assert HOSTILE_TITLE not in text and html.escape(HOSTILE_TITLE, quote=False) in text
        for channel in channels:
            block = text[text.index(f'id="ch-{channel}"') :]
            block = block[: block.index("<h2", 1)]
            assert f"{slug}/card-{channel}.webp" in block
            if channel == WITHOUT_PICTURE:
                assert f"ch-{channel}.webp" not in block and "No optimised picture" in block
            else:
                assert f"{slug}/ch-{channel}.webp" in block
            # One mean per photo, each linking to the photo's tab on the model page.
            rows = re.findall(r"<tr>\s*<td>(.*?)</td>\s*<td[^>]*>(.*?)</td>", block, re.DOTALL)
            assert [plain(title) for title, _ in rows] == [title for _, title in IMAGES]
            for cell, _ in rows:
                href = _links(cell)[0][0]
                target, fragment = _target(site_dir, page, href)
                assert target == (site_dir / MODEL_HTML).resolve()
                assert fragment in ids_of(target.read_text(encoding="utf-8"))
            # Its cite box gives the page's address with the channel's anchor.
            url = f"{SITE_URL}0.1.0/neurons/{MODEL}/{slug}/#ch-{channel}"
            assert f'<a href="{url}">' in block and f"neurons:{MODEL}:{slug}:ch-{channel}" in block
            # In the cite box's style, where the reader's access date is filled in.
            cite = block[block.index('class="gallery-cite"') :]
            assert f"neurons:{MODEL}:{slug}:ch-{channel}" in cite and "gallery-accessed" in cite
        back = [h for h, t in _links(text) if "the neurons of" in t]
        assert back and _target(site_dir, page, back[0])[1] == "neurons"


def test_untrained_weights_are_said_on_the_section_and_the_channel_pages(
    random_site, imagenet_site
):
    for built, random in ((random_site, True), (imagenet_site, False)):
        model = built.html(MODEL_HTML)
        section = model[model.index('id="neurons"') : model.index('id="trust"')]
        assert ("Pictures of an untrained network" in section) is random
        for page in CHANNEL_HTML.values():
            assert ("Random, untrained weights" in built.html(page)) is random


def test_channel_pages_stay_out_of_the_nav_but_are_built_and_searched(imagenet_site):
    home = imagenet_site.html("index.html")
    nav = home[home.index('class="md-nav md-nav--primary"') :]
    assert "neurons/" not in nav
    index = json.loads((imagenet_site.site_dir / "search" / "search_index.json").read_text())
    locations = {doc["location"] for doc in index["docs"]}
    for slug in NEURON_CHANNELS:
        assert f"neurons/{MODEL}/{slug}/" in locations
        assert f"neurons/{MODEL}/{slug}/#ch-{NEURON_CHANNELS[slug][0]}" in locations


def test_the_methods_page_explains_the_pictures_with_the_builds_settings(imagenet_site, tmp_path):
    text = imagenet_site.html("methods/index.html")
    assert "neuron-pictures" in ids_of(text)
    section = plain(text[text.index('id="neuron-pictures"') : text.index('id="backward-rules"')])
    assert "512 steps at 224×224" in section
    hrefs = {href for href, _ in _links(text)}
    for paper in (
        "https://arxiv.org/abs/1312.6034",
        "https://arxiv.org/abs/1412.0035",
        "https://distill.pub/2017/feature-visualization/",
    ):
        assert paper in hrefs
    # A build without neurons says so instead of settings it did not use.
    site, models, pages, images = make_contexts(tmp_path, "imagenet")
    without = [dataclasses.replace(page, neurons=None) for page in pages]
    write_site(tmp_path, site, models, without, images)
    methods = (tmp_path / "methods.md").read_text(encoding="utf-8")
    assert "drew no neuron pictures" in methods and "512 steps" not in methods


def _ledger_write(out: Path, pages) -> Ledger:
    """Write the site through a ledger, as a build does, and close it."""
    site, models, _, images = make_contexts(out, "imagenet")
    ledger = Ledger(out)

    def write_text(path: Path, text: str) -> bool:
        ledger.write_text(path, text)
        return True

    written = write_site(out, site, models, pages, images, write_text=write_text)
    ledger.finish([ledger.relative(path) for path in written])
    return ledger


def test_a_build_without_neurons_removes_the_channel_pages(tmp_path):
    pages = make_contexts(tmp_path, "imagenet")[2]
    _ledger_write(tmp_path, pages)
    channel_pages = [tmp_path / "neurons" / MODEL / f"{slug}.md" for slug in NEURON_CHANNELS]
    assert all(path.is_file() for path in channel_pages)
    _ledger_write(tmp_path, [dataclasses.replace(page, neurons=None) for page in pages])
    assert not any(path.exists() for path in channel_pages)
    assert not (tmp_path / "neurons").exists()  # the folders emptied go too
    assert (tmp_path / "models" / f"{MODEL}.md").is_file()


def test_a_failed_model_keeps_its_channel_pages(tmp_path):
    pages = make_contexts(tmp_path, "imagenet")[2]
    ledger = _ledger_write(tmp_path, pages)
    kept = earlier_output(ledger, MODEL)
    assert {f"neurons/{MODEL}/{slug}.md" for slug in NEURON_CHANNELS} <= set(kept)
    # Written again without the model (it failed), its kept files stay.
    others = [page for page in pages if page.summary.slug != MODEL]
    site, models, _, images = make_contexts(tmp_path, "imagenet")
    written = write_site(tmp_path, site, models, others, images, write_text=lambda p, t: True)
    ledger.finish([*kept, *(ledger.relative(path) for path in written)])
    assert all((tmp_path / path).is_file() for path in kept)
