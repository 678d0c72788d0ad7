"""The built site in a real browser: Debian's headless Chromium driven by Playwright.

A small random-weights gallery (three models, two photos) is generated and built with
`mkdocs build --strict`, served on localhost, and every page is loaded: no console error, no
broken picture, no broken internal link or anchor, every picture with its width and height, every
lightbox picture with a caption naming its model and method, a title no other page has, nothing
wider than a 390 px phone. Then what a reader does: search for a model, open a picture in the
lightbox (enlarged, captioned), switch image tabs, filter the models table, follow a cited link
into a hidden tab, follow a link to "Cite this page". Screenshots of pages (desktop and phone,
light and dark), the lightbox and the print view go to `test-artifacts/`.

Skipped, with the reason, when Chromium or the `playwright` package is missing (`.ci/run`
installs both). Playwright's own browser download is never used.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit
from urllib.request import urlopen

import numpy as np
import pytest
from sheetkit import PAPER, label_points
from sitekit import BUILD_COMMAND, REPO, mkdocs_build

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MODELS = ("MobileNetV3Small", "MobileNetV2", "ResNet50")
# One method of every display kind, and one that explains the top class only (the page layout of
# a row with fewer pictures), without the minutes that every method would add.
SHOWN = (
    "grad-cam",
    "guided-grad-cam",
    "guided-backprop",
    "deconvnet",
    "saliency",
    "gradient-x-input",
    "layer-cam",
    "occlusion",
)
IMAGES = ("cat.jpg", "cat-and-cup.jpg")  # slugs "cat" and "cat-and-cup"; tabs sort by slug
ARTIFACTS = REPO / "test-artifacts"
VIEWPORT = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
# What a lightbox caption may name as the picture's method (models.md.j2 and build captions).
METHODS = (
    "Grad-CAM",
    "Guided Grad-CAM",
    "Guided Backprop",
    "DeConvNet",
    "Gradient saliency",
    "Gradient × Input",
    "LayerCAM",
    "Occlusion sensitivity",
    "feature maps",
    "projections",
    "filters",
    "input crop",
    "feature visualization",  # what the neurons look for
    "class visualization",
    "DeepDream",
    "inverted representations",
)

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is missing (pip install playwright)"
)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output free of one line per request."""


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A browser that navigates away drops its open connections; that is no failure."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A generated, strictly built gallery of two random-weights models and two photos."""
    work = tmp_path_factory.mktemp("browser")
    images = work / "images"
    images.mkdir()
    for name in IMAGES:
        shutil.copy(REPO / "sample_images" / name, images / name)
    docs = work / "docs"
    generated = subprocess.run(
        [
            *BUILD_COMMAND,
            "--models",
            *MODELS,
            "--weights",
            "random",
            "--images",
            str(images),
            "--top",
            "3",
            "--methods",
            *SHOWN,
            "--out",
            str(docs),
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=900,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    built = mkdocs_build(docs, work)
    assert built.returncode == 0, built.stderr
    assert "WARNING" not in built.stderr, built.stderr
    return work / "site"


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    """The built site served over HTTP on a free localhost port (search needs HTTP, not file:)."""
    server = _Server(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=site))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator:
    context = browser.new_context(viewport=VIEWPORT, color_scheme="light")
    yield context.new_page()
    context.close()


def _page_paths(site: Path) -> list[str]:
    """Every page's URL path, e.g. "", "models/mobilenetv2/", "compare/cat/grad-cam/"."""
    folders = [path.parent.relative_to(site) for path in site.rglob("index.html")]
    return sorted("" if f == Path(".") else f"{f.as_posix()}/" for f in folders if f.name != "404")


def _load_all_pictures(page) -> None:
    """Make lazy pictures (also those in hidden tabs) load now, and wait until all have."""
    page.evaluate("document.querySelectorAll('img').forEach(img => { img.loading = 'eager'; })")
    page.wait_for_function("Array.from(document.images).every(img => img.complete)")


def _status(url: str) -> int:
    with urlopen(url) as response:  # raises HTTPError for 4xx/5xx
        return response.status


def test_every_page_loads_cleanly_with_working_pictures_links_and_anchors(site, base_url, page):
    paths = _page_paths(site)
    assert {
        "",
        "methods/",
        "models/mobilenetv2/",
        "compare/",
        "compare/cat/",
        "compare/cat-and-cup/deconvnet/",
    } <= set(paths)
    errors: list[str] = []
    page.on(
        "console",
        lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on(
        "response",
        lambda r: errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
    )

    links: dict[str, set[str]] = {}  # same-origin URL without fragment -> fragments linked to
    ids: dict[str, set[str]] = {}
    pictures = 0
    for path in paths:
        url = base_url + path
        page.goto(url, wait_until="load")
        _load_all_pictures(page)
        broken = page.evaluate(
            "Array.from(document.images).filter(img => !(img.naturalWidth > 0))"
            ".map(img => img.getAttribute('src'))"
        )
        assert not broken, (path, broken)
        pictures += page.evaluate("document.images.length")
        ids[url] = set(page.evaluate("Array.from(document.querySelectorAll('[id]'), e => e.id)"))
        for href in page.evaluate("Array.from(document.querySelectorAll('a[href]'), a => a.href)"):
            target, fragment = urldefrag(urljoin(url, href))
            if urlsplit(target).netloc == urlsplit(base_url).netloc:
                links.setdefault(target, set()).add(fragment)
    assert not errors, errors
    assert pictures > 100  # crops, 3 classes x 4 methods, feature maps, filters, comparisons

    for target, fragments in sorted(links.items()):
        assert _status(target) == 200, target
        if target in ids:  # a page: every anchor linked to must exist on it
            missing = {f for f in fragments if f and f not in ids[target]}
            assert not missing, (target, missing)


def _visit(page, base_url: str, site: Path) -> Iterator[str]:
    """Load every page in turn (its pictures too) and yield its path."""
    for path in _page_paths(site):
        page.goto(base_url + path, wait_until="load")
        _load_all_pictures(page)
        yield path


def test_every_picture_reserves_its_size_and_every_title_is_unique(site, base_url, page):
    titles: dict[str, str] = {}
    for path in _visit(page, base_url, site):
        unsized = page.evaluate(
            "Array.from(document.images).filter(img => !(img.getAttribute('width') > 0 &&"
            " img.getAttribute('height') > 0)).map(img => img.getAttribute('src'))"
        )
        assert not unsized, (path, unsized)
        # The attributes are the file's own size, so the reserved box has the picture's shape.
        wrong = page.evaluate(
            "Array.from(document.images).filter(img => img.naturalWidth !=="
            " +img.getAttribute('width') || img.naturalHeight !== +img.getAttribute('height'))"
            ".map(img => img.getAttribute('src'))"
        )
        assert not wrong, (path, wrong)
        title = page.title()
        assert title not in titles, f"{path!r} and {titles[title]!r} share the title {title!r}"
        titles[title] = path
    assert "Grad-CAM on cat - CNN Gallery" in titles
    assert "DeConvNet on cat-and-cup - CNN Gallery" in titles


def test_every_lightbox_picture_has_a_caption_naming_its_model_and_method(site, base_url, page):
    models = [name for name in MODELS]
    counted = 0
    for path in _visit(page, base_url, site):
        captions = page.evaluate(
            "Array.from(document.querySelectorAll('a.glightbox'),"
            " a => [a.getAttribute('href'), a.getAttribute('data-description') || ''])"
        )
        for href, caption in captions:
            text = caption.replace("&amp;", "&")
            assert any(name in text for name in models), (path, href, caption)
            assert any(method in text for method in METHODS), (path, href, caption)
        counted += len(captions)
    assert counted > 100


def test_no_figure_is_wider_than_a_phone(site, base_url, browser):
    context = browser.new_context(viewport=PHONE, color_scheme="light")
    page = context.new_page()
    for path in _visit(page, base_url, site):
        # Every image tab at once, as if each were open.
        page.add_style_tag(content=".tabbed-block { display: block !important; }")
        too_wide = page.evaluate(
            """Array.from(document.querySelectorAll('figure, img'))
                .map(e => [e.tagName, e.getAttribute('src') || e.id, e.getBoundingClientRect()])
                .filter(([, , r]) => r.width > 0 && (r.right > 390.5 || r.left < -0.5))
                .map(([tag, what, r]) => `${tag} ${what}: ${r.left}..${r.right}`)"""
        )
        assert not too_wide, (path, too_wide)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
        # No table hides its key column (its first) off the screen, and the predictions table
        # (probability first) fits whole: nothing to scroll sideways.
        hidden = page.evaluate(
            """Array.from(document.querySelectorAll('table'))
                .map(t => [t.querySelector('th, td'), t.closest('.gallery-predictions')])
                .filter(([cell]) => cell && cell.getBoundingClientRect().width > 0)
                .filter(([cell, p]) => cell.getBoundingClientRect().right > 390.5 || (p &&
                    (cell.closest('table').scrollWidth > cell.closest('table').clientWidth + 1
                     || cell.closest('table').getBoundingClientRect().right > 390.5)))
                .map(([cell]) => cell.textContent.trim())"""
        )
        assert not hidden, (path, hidden)
        if path.startswith("models/"):
            heads = page.evaluate(
                "Array.from(document.querySelectorAll('.gallery-predictions th'),"
                " th => th.textContent.trim())"
            )
            assert heads[:2] == ["Rank", "Probability"], heads
    context.close()


def test_a_link_to_cite_shows_the_cite_box(base_url, page):
    for path in ("models/mobilenetv2/", "compare/cat/grad-cam/", "methods/"):
        page.goto(base_url + path + "#cite", wait_until="load")
        _load_all_pictures(page)
        page.wait_for_timeout(300)
        box = page.locator(".gallery-cite").bounding_box()
        height = page.viewport_size["height"]
        assert box is not None and box["y"] >= 0 and box["y"] < height * 0.5, (path, box)
        heading = page.locator("#cite").bounding_box()
        assert heading["y"] >= 0, (path, heading)


def test_search_finds_a_model_by_name(base_url, page):
    page.goto(base_url, wait_until="load")
    search = page.locator(".md-search__input")
    search.click()
    search.press_sequentially("MobileNetV3Small")  # Material searches on key events
    result = page.locator(".md-search-result__link[href*='models/mobilenetv3small/']").first
    result.wait_for(state="visible", timeout=20_000)
    result.click()
    page.wait_for_url("**/models/mobilenetv3small/**")
    assert page.title().startswith("MobileNetV3Small")


@pytest.mark.parametrize("viewport", [VIEWPORT, PHONE], ids=["desktop", "phone"])
def test_clicking_a_picture_opens_it_enlarged_and_captioned_in_the_lightbox(
    browser, base_url, viewport
):
    context = browser.new_context(viewport=viewport, color_scheme="dark")
    page = context.new_page()
    page.goto(base_url + "models/mobilenetv2/", wait_until="load")
    tile = page.locator(".gallery-tile a.glightbox >> visible=true").first
    href = tile.get_attribute("href")
    assert href.endswith(".webp")
    tile.click()
    opened = page.locator(".glightbox-container .gslide-image img").first
    opened.wait_for(state="visible", timeout=10_000)
    assert opened.get_attribute("src").split("/")[-1] == href.split("/")[-1]
    assert opened.evaluate("img => img.naturalWidth") > 0
    # Enlarged (object-fit: contain draws the picture at this scale): on a desktop to at least
    # twice its file's size, on a phone to nearly the screen's width.
    scale = opened.evaluate(
        "img => Math.min(img.clientWidth / img.naturalWidth, img.clientHeight / img.naturalHeight)"
    )
    width = scale * opened.evaluate("img => img.naturalWidth")
    if viewport == PHONE:
        assert width >= 0.9 * PHONE["width"], (scale, width)
    else:
        assert scale >= 2, scale
    caption = page.locator(".glightbox-container .gslide-description").first
    text = caption.inner_text()
    assert "MobileNetV2" in text and "Grad-CAM" in text and "colour" in text, text
    # The enlarged picture carries the figure's alt text; the page behind is hidden by an
    # opaque backdrop (once it has faded in).
    alt = tile.locator("img").get_attribute("alt")
    assert alt and opened.get_attribute("alt") == alt
    page.wait_for_function(
        "getComputedStyle(document.querySelector('.goverlay')).opacity === '1'", timeout=5_000
    )
    backdrop = page.evaluate(
        "getComputedStyle(document.querySelector('.goverlay')).backgroundColor"
    )
    assert backdrop == "rgb(0, 0, 0)", backdrop
    ARTIFACTS.mkdir(exist_ok=True)
    device = "phone" if viewport == PHONE else "desktop"
    page.screenshot(path=str(ARTIFACTS / f"lightbox-{device}-dark.png"))
    page.keyboard.press("Escape")
    page.locator(".glightbox-container").wait_for(state="detached", timeout=10_000)

    # A family's A4 sheet opens in the lightbox too, with its caption and alt text.
    sheet = page.locator("a.gallery-sheet-link >> visible=true").first
    href = sheet.get_attribute("href")
    assert "/sheet-class-maps.webp" in href
    sheet.click()
    opened = page.locator(".glightbox-container .gslide-image img").first
    opened.wait_for(state="visible", timeout=10_000)
    assert opened.get_attribute("src").split("/")[-1] == "sheet-class-maps.webp"
    alt = opened.get_attribute("alt")
    assert "MobileNetV2" in alt and "A4" in alt and "Grad-CAM" in alt, alt
    assert "A4" in page.locator(".glightbox-container .gslide-description").first.inner_text()
    opened.evaluate("img => img.decode()")  # the sheet is large: shown once it is decoded
    page.wait_for_function(
        "getComputedStyle(document.querySelector('.goverlay')).opacity === '1'", timeout=5_000
    )
    page.wait_for_timeout(600)  # the zoom-in animation
    page.screenshot(path=str(ARTIFACTS / f"lightbox-sheet-{device}-dark.png"))
    page.keyboard.press("Escape")
    page.locator(".glightbox-container").wait_for(state="detached", timeout=10_000)
    context.close()


def test_image_tabs_switch_and_cited_links_open_their_tab(base_url, page):
    page.goto(base_url + "models/mobilenetv2/", wait_until="load")
    # The image tabs are the outer set; each image tab holds a set of method-family tabs.
    labels = page.locator(".tabbed-set:not(.tabbed-block .tabbed-set) > .tabbed-labels > label")
    titles = [label.inner_text().strip() for label in labels.all()]
    assert sorted(titles) == ["cat", "cat-and-cup"]
    first, second = (page.locator(f"[id='{title}']") for title in titles)
    assert first.is_visible() and not second.is_visible()
    labels.nth(1).click()
    assert second.is_visible() and not first.is_visible()

    # A cited link to one class's picture in the tab that is not open: the page opens that tab.
    # (Material remembers the chosen tab across pages, so forget it first.)
    page.evaluate("localStorage.clear()")
    comparison = base_url + f"compare/{titles[1]}/grad-cam/"
    page.goto(comparison, wait_until="load")
    href = page.locator("#mobilenetv2 a").first.get_attribute("href")
    fragment = href.split("#")[1]
    assert fragment.startswith(f"{titles[1]}--") and fragment.endswith("--grad-cam")
    page.goto(urljoin(comparison, href), wait_until="load")
    target = page.locator(f"[id='{fragment}']")
    target.wait_for(state="visible", timeout=10_000)
    assert second.is_visible() and not first.is_visible()


@pytest.mark.parametrize("viewport", [VIEWPORT, PHONE], ids=["desktop", "phone"])
def test_family_grids_line_their_heads_up_with_their_tiles(browser, base_url, viewport):
    """Each method family's grid (one nested tab per family): on a desktop, every row has one
    cell per head cell, at the head cell's x and width; on a phone the head is hidden and the
    rows show two pictures a row, inside the screen."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.goto(base_url + "models/mobilenetv2/", wait_until="load")
    page.add_style_tag(content=".tabbed-block { display: block !important; }")  # every tab open
    grids = page.evaluate(
        """Array.from(document.querySelectorAll('.gallery-classes'), grid => {
            const box = e => Array.from(e.children, c => {
                const r = c.getBoundingClientRect();
                return [Math.round(r.left), Math.round(r.width), Math.round(r.right)];
            });
            const [head, ...rows] = grid.children;
            return {
                id: grid.closest('.gallery-family').id,
                headShown: head.getBoundingClientRect().height > 0,
                head: box(head),
                rows: rows.map(box),
            };
        })"""
    )
    families = {grid["id"].split("--", 1)[1] for grid in grids}
    assert families == {"class-maps", "guided", "gradient-size", "attributions"}, families
    for grid in grids:
        assert grid["rows"], grid["id"]
        for row in grid["rows"]:
            assert len(row) == len(grid["head"]), grid["id"]  # the class, then one per method
            if viewport == VIEWPORT:
                assert grid["headShown"]
                assert row == grid["head"], grid["id"]
            else:
                assert not grid["headShown"]
                assert all(right <= PHONE["width"] for _, _, right in row), grid["id"]
                assert len({left for left, _, _ in row[1:]}) == min(2, len(row) - 1), grid["id"]
    context.close()


def test_no_grid_has_an_empty_cell_and_every_picture_in_a_grid_is_150_px_wide(site, base_url, page):
    """Every model page, every tab open, on a desktop: each row of a family's grid has a picture
    under each of its head's methods (the top-1 methods stand in a strip of their own), a map
    drawn at every stage layer has a picture per layer, and every picture shown in a grid is at
    least 150 px wide (the family's colour scale is a legend, not a grid picture)."""
    models = [path for path in _page_paths(site) if path.startswith("models/")]
    assert len(models) == len(MODELS)
    strips = layer_rows = 0
    for path in models:
        page.goto(base_url + path, wait_until="load")
        page.add_style_tag(content=".tabbed-block { display: block !important; }")
        _load_all_pictures(page)
        grids = page.evaluate(
            """Array.from(document.querySelectorAll('.gallery-classes'), grid => {
                const [head, ...rows] = grid.children;
                return {
                    strip: grid.previousElementSibling?.classList.contains('gallery-part-note'),
                    methods: head.children.length - 1,
                    rows: rows.map(row => Array.from(row.children).slice(1).map(
                        cell => cell.querySelectorAll('img').length)),
                };
            })"""
        )
        assert grids, path
        for grid in grids:
            assert grid["rows"], (path, grid)
            for cells in grid["rows"]:
                assert cells == [1] * grid["methods"], (path, grid)  # a picture in every cell
            strips += bool(grid["strip"])
        assert not page.locator(".gallery-missing").count(), path
        stages = page.evaluate(
            """Array.from(document.querySelectorAll('.gallery-layer-row'),
                row => row.querySelectorAll('.gallery-stage img').length)"""
        )
        assert stages and min(stages) >= 4, (path, stages)  # LayerCAM: a picture per stage
        layer_rows += len(stages)
        narrow = page.evaluate(
            """Array.from(document.querySelectorAll('.gallery-family img'))
                .filter(img => !img.closest('.gallery-legend'))
                .map(img => [img.getAttribute('src'), img.getBoundingClientRect().width])
                .filter(([, width]) => width < 150)"""
        )
        assert not narrow, (path, narrow)
        names = page.evaluate(
            """Array.from(document.querySelectorAll('.gallery-stage code'),
                code => parseFloat(getComputedStyle(code).fontSize))"""
        )
        assert min(names) >= 10, names  # the layer's name above its picture, readable
    # Occlusion explains the top class only: a strip in each image's Attributions tab.
    assert strips == len(MODELS) * len(IMAGES)
    assert layer_rows == len(MODELS) * len(IMAGES) * 3  # --top 3


def test_filter_box_narrows_the_models_table(base_url, page):
    page.goto(base_url, wait_until="load")
    rows = page.locator("#models-table tbody tr")
    assert rows.count() == len(MODELS)
    page.locator("#models-filter").fill("mobilenetv3 2019")
    visible = [r.inner_text().split("\t")[0].strip() for r in rows.all() if r.is_visible()]
    assert visible == ["MobileNetV3Small"]
    assert page.locator(".gallery-filter output").inner_text() == f"1 of {len(MODELS)} shown"
    page.locator("#models-filter").fill("")
    assert all(r.is_visible() for r in rows.all())


def _method_order() -> list[str]:
    """The one order of the methods shown: the catalog's, which is grouped by family."""
    from generator.methods.catalog import SLUGS

    return [slug for slug in SLUGS if slug in SHOWN]


def test_methods_are_in_one_order_on_the_methods_page_a_model_page_and_the_comparisons(
    base_url, page
):
    expected = _method_order()
    assert expected != list(SHOWN)  # the build's --methods order is not what decides
    # The methods page: its sections, and its family list, in the one order.
    page.goto(base_url + "methods/", wait_until="load")
    sections = page.evaluate(
        """Array.from(document.querySelectorAll('article h3[id]'), h => h.id)"""
    )
    sections = [s.replace("guided-backpropagation", "guided-backprop") for s in sections]
    assert [s for s in sections if s in SHOWN] == expected
    families = page.evaluate(
        "Array.from(document.querySelectorAll('article h2[id^=\"family-\"]'), h => h.id)"
    )
    assert families == [
        "family-class-maps",
        "family-guided",
        "family-gradient-size",
        "family-attributions",
    ]
    # A model page: its jump bar names every method in the one order; within each grid part
    # the column heads follow it (methods that explain fewer classes, or draw every stage, sit
    # in parts of their own below the family's full grid).
    page.goto(base_url + "models/mobilenetv2/", wait_until="load")
    links = page.evaluate(
        """Array.from(document.querySelector('.tabbed-block').querySelectorAll(
            '.gallery-classes-head a, .gallery-part-note a'), a => [a.getAttribute('href'),
            a.textContent.trim()]).filter(([href]) => href.includes('methods/#'))"""
    )
    titles = {href.split("#")[1]: title for href, title in links}
    assert sorted(titles, key=expected.index) == expected
    parts = page.evaluate(
        """Array.from(document.querySelector('.tabbed-block').querySelectorAll(
            '.gallery-classes-head'), head => Array.from(head.querySelectorAll('a'),
            a => a.getAttribute('href').split('#')[1]))"""
    )
    for part in parts:
        assert part == sorted(part, key=expected.index), part
    jump = page.evaluate(
        """Array.from(document.querySelector('.gallery-jump').querySelectorAll('a'),
            a => a.textContent.trim())"""
    )
    assert jump == [titles[slug] for slug in expected]
    # The comparisons: the sidebar of one photo's pages, and the comparison index.
    page.goto(base_url + "compare/cat/grad-cam/", wait_until="load")
    sidebar = page.evaluate(
        """Array.from(document.querySelectorAll('.md-nav--primary a.md-nav__link[href]'),
            a => new URL(a.href).pathname)"""
    )
    shown = [
        p.split("/")[-2] for p in sidebar if p.startswith("/compare/cat/") and p.count("/") == 4
    ]
    assert list(dict.fromkeys(shown)) == expected
    page.goto(base_url + "compare/", wait_until="load")
    index = page.evaluate(
        """Array.from(document.querySelectorAll('article a[href*="cat/"]'),
            a => a.getAttribute('href'))"""
    )
    listed = [h.split("/")[1] for h in index if h.startswith("cat/") and h.count("/") == 2]
    assert [slug for slug in dict.fromkeys(listed) if slug] == expected


def test_a_jump_link_lands_with_the_column_heads_and_colour_scale_in_view(browser, base_url):
    for viewport in (VIEWPORT, PHONE):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        page.goto(base_url + "models/mobilenetv2/", wait_until="load")
        labels = page.locator(".tabbed-set:not(.tabbed-block .tabbed-set) > .tabbed-labels > label")
        labels.nth(1).click()  # the second photo's tab
        link = page.locator(".gallery-jump >> visible=true").locator("a").last
        target = link.get_attribute("href").lstrip("#")
        link.click()
        page.wait_for_timeout(300)
        grid = page.locator(f"[id='{target}']")
        assert grid.is_visible(), target
        height = viewport["height"]
        legend = grid.locator(".gallery-legend img").bounding_box()
        assert legend and 0 <= legend["y"] and legend["y"] + legend["height"] <= height, legend
        header = page.locator(".md-header").bounding_box()
        assert legend["y"] >= header["height"] - 1, (legend, header)
        if viewport == VIEWPORT:  # phones have no head row: the captions name the methods
            head = grid.locator(".gallery-classes-head").first.bounding_box()
            assert head and header["height"] <= head["y"] and head["y"] + head["height"] <= height
        context.close()


def test_the_walkthrough_is_linked_first_and_its_links_and_pictures_work(base_url, page):
    page.goto(base_url, wait_until="load")
    first = page.locator("article a[href]:not(.headerlink)").first
    assert first.get_attribute("href") == "start/"
    nav = page.evaluate(
        """Array.from(document.querySelectorAll('.md-nav--primary > .md-nav__list >'
            + ' .md-nav__item > a.md-nav__link, .md-nav--primary > .md-nav__list >'
            + ' .md-nav__item > label.md-nav__link'), a => a.textContent.trim())"""
    )
    nav = list(dict.fromkeys(nav))  # the section of the home page names it twice
    assert nav[:2] == ["Home", "Start here"] and nav[-1] == "About this build", nav
    first.click()
    page.wait_for_url("**/start/")
    _load_all_pictures(page)
    # The first model of the table, on the photo its trust checks use.
    text = page.locator("article").inner_text()
    assert "the model MobileNetV3Small" in text, text[:600]
    assert "the photo its trust checks use" in text
    for step in ("prediction", "filters", "feature-maps", "explanations", "trust", "next"):
        assert page.locator(f"article [id='{step}']").count() == 1, step
    # Every picture is loaded and, but for a colour scale, readable: 150 px wide at least.
    widths = page.evaluate(
        """Array.from(document.querySelectorAll('article img'))
            .filter(img => !img.closest('.gallery-legend'))
            .map(img => [img.getAttribute('src'), img.naturalWidth,
                         img.getBoundingClientRect().width])"""
    )
    assert len(widths) >= len(SHOWN) + 4
    assert all(natural > 0 for _, natural, _ in widths), widths
    tiles = [(src, w) for src, _, w in widths if any(f"/{m}-1-" in src for m in SHOWN)]
    assert len(tiles) == len(SHOWN) and all(shown >= 150 for _, shown in tiles), tiles
    # Every link into the gallery resolves, and the anchor is on its page.
    links = page.evaluate("Array.from(document.querySelectorAll('article a[href]'), a => a.href)")
    into = sorted({link for link in links if "/models/" in link and "#" in link})
    assert len(into) >= len(SHOWN) + 3
    for link in into:
        fragment = urldefrag(link).fragment
        page.goto(link, wait_until="load")
        assert page.locator(f"[id='{fragment}']").count() == 1, link
    # The citation's access date is the reader's today, filled in by the browser.
    page.goto(base_url + "start/", wait_until="load")
    accessed = page.locator("time.gallery-accessed").inner_text()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", accessed), accessed
    bibtex = page.locator(".gallery-cite code").inner_text()
    assert f"urldate      = {{{accessed}}}," in bibtex and "YYYY" not in bibtex


def test_every_method_section_has_the_same_parts_and_a_picture_from_this_build(base_url, page):
    page.goto(base_url + "methods/", wait_until="load")
    _load_all_pictures(page)
    sections = page.evaluate(
        """Array.from(document.querySelectorAll('article h3[id]'), h => {
            const parts = [];
            for (let e = h.nextElementSibling; e && !/^H[123]$/.test(e.tagName);
                 e = e.nextElementSibling) parts.push(e);
            return {
                id: h.id,
                bold: parts.flatMap(e => Array.from(e.querySelectorAll('strong'),
                                                    s => s.textContent.trim())),
                text: parts.map(e => e.textContent).join(' '),
                pictures: parts.flatMap(e => Array.from(e.querySelectorAll('img'),
                    img => [img.getAttribute('src'), img.naturalWidth])),
            };
        })"""
    )
    methods = [s for s in sections if s["id"] not in ("stage-layers", "projections")]
    methods = [s for s in methods if "What it shows." in s["bold"] or s["pictures"]]
    assert len(methods) == 13, [s["id"] for s in sections]
    for section in methods:
        for part in ("What it shows.", "Where it misleads.", "Options and cost."):
            assert part in section["bold"], (section["id"], part)
        assert "Paper:" in section["text"], section["id"]
        slug = section["id"].replace("guided-backpropagation", "guided-backprop")
        if slug in SHOWN:
            # This build's picture, the same model and photo for every method.
            [(src, natural)] = section["pictures"]
            assert natural > 0 and f"/mobilenetv3small/cat-and-cup/{slug}-1-" in src, src


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [VIEWPORT, PHONE], ids=["desktop", "phone"])
def test_screenshots_for_review(browser, base_url, scheme, viewport):
    """Not an assertion of looks: the pictures a person checks (see test-artifacts/)."""
    ARTIFACTS.mkdir(exist_ok=True)
    device = "phone" if viewport == PHONE else "desktop"
    context = browser.new_context(viewport=viewport, color_scheme=scheme)
    page = context.new_page()
    for name, path in (
        ("home", ""),
        ("start", "start/"),
        ("methods", "methods/"),
        ("model", "models/mobilenetv2/"),
        ("compare", "compare/cat/grad-cam/"),
    ):
        page.goto(base_url + path, wait_until="load")
        _load_all_pictures(page)
        shown = page.evaluate("document.body.getAttribute('data-md-color-scheme')")
        assert shown == ("slate" if scheme == "dark" else "default")
        out = ARTIFACTS / f"{name}-{device}-{scheme}.png"
        page.screenshot(path=str(out), full_page=True)
        assert out.stat().st_size > 10_000
    # One projection figure as it sits in the page, and the page as printed.
    page.goto(base_url + "models/mobilenetv2/", wait_until="load")
    _load_all_pictures(page)
    projection = page.locator("figure:has(img[src*='/projections-']) >> visible=true").first
    projection.screenshot(path=str(ARTIFACTS / f"projection-{device}-{scheme}.png"))
    if device == "desktop" and scheme == "light":
        page.emulate_media(media="print")
        page.screenshot(path=str(ARTIFACTS / "model-print.png"), full_page=True)
        # A print sheet as Chromium prints it, to the edges of one A4 landscape page.
        sheet = base_url + "assets/mobilenetv2/cat/sheet-attributions.webp"
        page.set_content(
            "<style>@page { size: A4 landscape; margin: 0 } body { margin: 0 }"
            " img { display: block; width: 297mm; height: 210mm }</style>"
            f'<img src="{sheet}" alt="">'
        )
        page.wait_for_function("document.images[0].complete")
        page.pdf(path=str(ARTIFACTS / "sheet-print.pdf"), prefer_css_page_size=True)
    context.close()


def test_printable_grid_and_sheets_print_on_white_and_are_saved_for_review(site):
    """The explanation grid, and one A4 landscape sheet at 300 dpi per photo and method family
    with every label at least 8 pt printed, on opaque white: saved for review."""
    from PIL import Image

    ARTIFACTS.mkdir(exist_ok=True)
    grid = next((site / "assets" / "mobilenetv2").glob("*/explanations.webp"))
    with Image.open(grid) as picture:
        assert picture.width >= 900 and picture.mode == "RGB"
        assert min(picture.getpixel((0, 0))) >= PAPER  # white (as lossy WebP keeps it)
        picture.save(ARTIFACTS / "printable-grid.png")
    families = {"class-maps", "guided", "gradient-size", "attributions"}
    for model in MODELS:
        for image in ("cat", "cat-and-cup"):
            folder = site / "assets" / model.lower() / image
            assert {p.stem.removeprefix("sheet-") for p in folder.glob("sheet-*.webp")} == families
    for path in sorted((site / "assets" / "mobilenetv2" / "cat").glob("sheet-*.webp")):
        with Image.open(path) as sheet:
            assert sheet.size == (3508, 2480) and sheet.mode == "RGB", path  # A4 at 300 dpi
            exif = sheet.getexif()
            assert (exif[0x011A], exif[0x011B], exif[0x0128]) == (300, 300, 2), path
            corners = [(0, 0), (3507, 0), (0, 2479), (3507, 2479)]
            assert min(min(sheet.getpixel(xy)) for xy in corners) >= PAPER, path
            assert (np.asarray(sheet).min(-1) >= PAPER).mean() > 0.3, path  # mostly paper
            assert label_points(sheet) >= 8, path
            sheet.save(ARTIFACTS / f"{path.stem}.png")
