"""The built site in a real browser: Debian's headless Chromium driven by Playwright.

A small random-weights gallery (two models, two photos) is generated and built with
`mkdocs build --strict`, served on localhost, and every page is loaded: no console error, no
broken picture, no broken internal link or anchor. Then what a reader does: search for a model,
open a picture in the lightbox, switch image tabs, filter the models table, follow a cited link
into a hidden tab. Screenshots of three pages, light and dark, go to `test-artifacts/`.

Skipped, with the reason, when Chromium or the `playwright` package is missing (`.ci/run`
installs both). Playwright's own browser download is never used.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit
from urllib.request import urlopen

import pytest
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
MODELS = ("MobileNetV3Small", "MobileNet")
IMAGES = ("cat.jpg", "cat-and-cup.jpg")  # slugs "cat" and "cat-and-cup"; tabs sort by slug
ARTIFACTS = REPO / "test-artifacts"
VIEWPORT = {"width": 1440, "height": 900}

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
    """Every page's URL path, e.g. "", "models/mobilenet/", "compare/cat/grad-cam/"."""
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
        "models/mobilenet/",
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


def test_clicking_a_picture_opens_it_in_the_lightbox(base_url, page):
    page.goto(base_url + "models/mobilenet/", wait_until="load")
    tile = page.locator(".gallery-tile a.glightbox >> visible=true").first
    href = tile.get_attribute("href")
    assert href.endswith(".webp")
    tile.click()
    opened = page.locator(".glightbox-container .gslide-image img").first
    opened.wait_for(state="visible", timeout=10_000)
    assert opened.get_attribute("src").split("/")[-1] == href.split("/")[-1]
    assert opened.evaluate("img => img.naturalWidth") > 0
    page.keyboard.press("Escape")
    page.locator(".glightbox-container").wait_for(state="detached", timeout=10_000)


def test_image_tabs_switch_and_cited_links_open_their_tab(base_url, page):
    page.goto(base_url + "models/mobilenet/", wait_until="load")
    labels = page.locator(".tabbed-labels label")
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
    href = page.locator("#mobilenet a").first.get_attribute("href")
    fragment = href.split("#")[1]
    assert fragment.startswith(f"{titles[1]}--") and fragment.endswith("--grad-cam")
    page.goto(urljoin(comparison, href), wait_until="load")
    target = page.locator(f"[id='{fragment}']")
    target.wait_for(state="visible", timeout=10_000)
    assert second.is_visible() and not first.is_visible()


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


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots_for_review(browser, base_url, scheme):
    """Not an assertion of looks: the pictures a person checks (see test-artifacts/)."""
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport=VIEWPORT, color_scheme=scheme)
    page = context.new_page()
    for name, path in (("home", ""), ("model", "models/mobilenet/"), ("compare", "compare/cat/")):
        page.goto(base_url + path, wait_until="load")
        _load_all_pictures(page)
        shown = page.evaluate("document.body.getAttribute('data-md-color-scheme')")
        assert shown == ("slate" if scheme == "dark" else "default")
        out = ARTIFACTS / f"{name}-{scheme}.png"
        page.screenshot(path=str(out), full_page=True)
        assert out.stat().st_size > 10_000
    context.close()
