"""Page generation: contexts in, Markdown out, and the result must survive `mkdocs build --strict`.

The contexts are built by hand with tiny placeholder images, including an image and a failure
message whose text is hostile HTML and Markdown; the checks run on the built HTML, where it counts.
"""

from __future__ import annotations

import html.parser
import json
import re
from pathlib import Path, PurePosixPath

import markdown
import pytest
from PIL import Image

from generator import pages
from sitekit import mkdocs_build
from generator.pages import (
    Figure,
    ImageSection,
    ModelPage,
    ModelSummary,
    Prediction,
    SiteInfo,
    escape_md,
    page_url,
    write_site,
)

REPO = Path(__file__).resolve().parent.parent
HOSTILE_TITLE = "<img src=x onerror=alert(1)>"
MARKDOWN_TITLE = "*bold* [x](y) #h"
HOSTILE_FAILURE = "OSError: <script>alert(2)</script> in [weights](http://evil.example) | *x*"
BANNER = "These models have random, untrained weights"
IMAGES = [  # (slug, title); "filters" is also a fixed heading id of the model page
    ("cat", "cat"),
    ("img-src-x-onerror-alert-1", HOSTILE_TITLE),
    ("bold-x-y-h", MARKDOWN_TITLE),
    ("filters", "Filters"),
]
PICTURES_PER_IMAGE = 5  # crop, explanations, legend, one feature map, one projection


# --- building contexts ----------------------------------------------------------------------


def _figure(root: Path, relative: str, what: str, colour: tuple[int, int, int]) -> Figure:
    """A real (tiny) image file under `root` and its Figure; WebP or PNG by the suffix."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)
    return Figure(path=relative, caption=f"{what} (caption)", alt=f"{what} (alt)")


def _section(root: Path, model: str, slug: str, title: str, legend: Figure) -> ImageSection:
    base = f"assets/{model.lower()}/{slug}"
    what = f"{model}, image '{title}'"
    return ImageSection(
        slug=slug,
        title=title,
        crop=_figure(root, f"{base}/crop.webp", f"{what}: crop", (200, 10, 10)),
        predictions=[
            Prediction(1, 281, "tabby cat", 0.1234),
            Prediction(2, 285, "Egyptian cat", 0.05),
        ],
        explanations=_figure(root, f"{base}/explanations.webp", f"{what}: explanations", (9, 9, 9)),
        gradcam_legend=legend,
        feature_maps=[
            (
                "block1_conv2",
                (56, 56, 64),
                _figure(root, f"{base}/features-a.webp", f"{what}: fm", (1, 2, 3)),
            )
        ],
        projections=[
            ("block1_conv2", _figure(root, f"{base}/projections-a.png", f"{what}: pr", (4, 5, 6)))
        ],
    )


def _summary(name: str, status: str, failure: str | None, titles: list[str]) -> ModelSummary:
    return ModelSummary(
        name=name,
        slug=name.lower(),
        family="Testnets",
        year=2015,
        params=25.6,
        input_size=(224, 224),
        top1=None if name == "BetaNet" else 76.0,
        top5=92.9,
        target_layer="conv5_block3_out" if status == "built" else None,
        status=status,
        failure=failure,
        build_seconds=12.34 if status == "built" else None,
        top1_by_image={title: "tabby cat" for title in titles},
    )


def make_contexts(root: Path, weights_mode: str):
    """(site, models, pages, images) for two built models and one failed one."""
    random = weights_mode == "random"
    site = SiteInfo(
        title="CNN Gallery",
        version="0.1.0",
        weights_mode=weights_mode,
        weights_label="random, untrained (seeded)" if random else "ImageNet (Keras)",
        keras_version="3.15.0",
        tensorflow_version="2.21.0",
    )
    legend = _figure(root, "assets/legend-gradcam.webp", "Grad-CAM colour scale", (0, 0, 0))
    thumbnails = [
        (slug, title, _figure(root, f"assets/images/{slug}.webp", f"Sample '{title}'", (7, 7, 7)))
        for slug, title in IMAGES
    ]
    titles = [title for _, title in IMAGES]
    model_pages = []
    for name in ("AlphaNet", "BetaNet"):
        model_pages.append(
            ModelPage(
                summary=_summary(name, "built", None, titles),
                paper="Deep Residual Learning for Image Recognition",
                paper_url="https://arxiv.org/abs/1512.03385",
                preprocessing="caffe: BGR, ImageNet mean subtracted",
                weights_random=random,
                weights_label=site.weights_label,
                nonlinearity_report=["49 of 49 ReLU modified"],
                stage_layers=["conv1_relu", "conv5_block3_out"],
                filters=[
                    (
                        "conv1_conv",
                        "All 64 kernels of the first convolution (7x7x3x64).",
                        _figure(
                            root,
                            f"assets/{name.lower()}/filters-conv1-conv.webp",
                            f"{name}: filters",
                            (3, 3, 3),
                        ),
                    )
                ],
                images=[_section(root, name, slug, title, legend) for slug, title in IMAGES],
            )
        )
    failed = _summary("GammaNet", "failed", HOSTILE_FAILURE, [])
    models = [page.summary for page in model_pages] + [failed]
    return site, models, model_pages, thumbnails


class Built:
    """A generated and mkdocs-built site."""

    def __init__(self, work: Path, weights_mode: str) -> None:
        self.docs = work / "docs"
        self.site_dir = work / "site"
        self.contexts = make_contexts(self.docs, weights_mode)
        self.written = write_site(self.docs, *self.contexts)
        self.result = mkdocs_build(self.docs, work)

    def html(self, relative: str) -> str:
        return (self.site_dir / relative).read_text(encoding="utf-8")

    def pages_html(self) -> dict[str, str]:
        """Every generated page's HTML by its site path (index, methods, models)."""
        return {
            path.relative_to(self.site_dir).as_posix(): path.read_text(encoding="utf-8")
            for path in sorted(self.site_dir.rglob("index.html"))
            if path.parent.name != "404"
        }


@pytest.fixture(scope="module")
def imagenet_site(tmp_path_factory) -> Built:
    return Built(tmp_path_factory.mktemp("imagenet"), "imagenet")


@pytest.fixture(scope="module")
def random_site(tmp_path_factory) -> Built:
    return Built(tmp_path_factory.mktemp("random"), "random")


# --- parsing the built HTML -----------------------------------------------------------------


class _Elements(html.parser.HTMLParser):
    """Start tags with their attributes, and the visible text, of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def parse(text: str) -> _Elements:
    parser = _Elements()
    parser.feed(text)
    return parser


def visible_text(text: str) -> str:
    return " ".join(" ".join(parse(text).text).split())


# --- tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("site_fixture", ["imagenet_site", "random_site"])
def test_mkdocs_strict_build_passes_without_warnings(site_fixture, request):
    built = request.getfixturevalue(site_fixture)
    assert built.result.returncode == 0, built.result.stderr
    warnings = [line for line in built.result.stderr.splitlines() if "WARNING" in line]
    assert not warnings, built.result.stderr
    assert (built.site_dir / "models" / "alphanet" / "index.html").is_file()


def test_write_site_returns_the_pages_it_wrote(imagenet_site):
    docs = imagenet_site.docs
    expected = {
        docs / "index.md",
        docs / "methods.md",
        docs / "models" / "alphanet.md",
        docs / "models" / "betanet.md",
    }
    assert set(imagenet_site.written) == expected
    assert all(path.is_file() for path in expected)
    assert not (docs / "models" / "gammanet.md").exists()  # failed: no page


def test_index_table_has_every_model_links_built_ones_and_marks_failures(imagenet_site):
    index = imagenet_site.html("index.html")
    links = {attrs.get("href") for tag, attrs in parse(index).tags if tag == "a"}
    assert "models/alphanet/" in links and "models/betanet/" in links
    assert not any(link and "gammanet" in link for link in links)
    rows = [visible_text(row) for row in re.findall(r"<tr>.*?</tr>", index, re.S)]
    model_rows = {
        name: next(row for row in rows if row.startswith(name))
        for name in ("AlphaNet", "BetaNet", "GammaNet")
    }
    assert "25.6 M" in model_rows["AlphaNet"] and "224×224" in model_rows["AlphaNet"]
    assert "76.0%" in model_rows["AlphaNet"] and "92.9%" in model_rows["AlphaNet"]
    assert "built in 12.3 s" in model_rows["AlphaNet"]
    assert "unknown" in model_rows["BetaNet"]  # top-1 is None
    assert "failed" in model_rows["GammaNet"] and HOSTILE_FAILURE in model_rows["GammaNet"]


def test_random_weights_banner_on_every_page_only_when_random(random_site, imagenet_site):
    for site, expected in ((random_site, True), (imagenet_site, False)):
        for page in ("index.html", "models/alphanet/index.html", "models/betanet/index.html"):
            text = visible_text(site.html(page))
            assert (BANNER in text) is expected, (page, expected)
    # The banner is an admonition, visible before the content, not a footnote.
    model = random_site.html("models/alphanet/index.html")
    assert model.index('class="admonition danger"') < model.index('id="model-card"')


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


def test_search_index_keeps_hostile_text_escaped(imagenet_site):
    """Material's search shows its index as HTML, so the names must be escaped there too."""
    index = json.loads((imagenet_site.site_dir / "search" / "search_index.json").read_text())
    blob = json.dumps(index)
    assert "onerror" in blob  # the hostile title was indexed ...
    assert "<img src=x" not in blob and "<script>alert" not in blob  # ... as text


def test_asset_urls_in_pages_resolve_to_existing_files(imagenet_site):
    targets = 0
    for page in imagenet_site.written:
        for url in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            assert not url.startswith("/") and "://" not in url
            assert (page.parent / url).resolve().is_file(), (page, url)
            targets += 1
    # two model pages (pictures per image, filters), home thumbnails
    assert targets == 2 * (len(IMAGES) * PICTURES_PER_IMAGE + 1) + len(IMAGES)
    # And after MkDocs has rewritten them for its directory URLs:
    site_dir = imagenet_site.site_dir
    for page, text in imagenet_site.pages_html().items():
        for tag, attrs in parse(text).tags:
            if tag == "img":
                target = site_dir / PurePosixPath(page).parent / attrs["src"]
                assert target.resolve().is_file(), (page, attrs)


def test_every_picture_has_alt_text_and_a_caption(imagenet_site):
    model = imagenet_site.html("models/alphanet/index.html")
    images = [attrs for tag, attrs in parse(model).tags if tag == "img"]
    figures = re.findall(r"<figure>.*?</figure>", model, re.S)
    assert len(images) == len(IMAGES) * PICTURES_PER_IMAGE + 1  # + the filters
    assert all(attrs.get("alt") and "(alt)" in attrs["alt"] for attrs in images)
    assert len(figures) == len(images)
    assert all("<figcaption>" in figure and "(caption)" in figure for figure in figures)


def test_model_page_shows_predictions_card_and_stable_anchors(imagenet_site):
    model = imagenet_site.html("models/alphanet/index.html")
    text = visible_text(model)
    assert "12.3%" in text and "5.0%" in text  # probabilities 0.1234 and 0.05
    assert "tabby cat" in text and "281" in text
    assert "Deep Residual Learning for Image Recognition" in text
    assert "49 of 49 ReLU modified" in text and "conv5_block3_out" in text
    ids = [attrs["id"] for _, attrs in parse(model).tags if "id" in attrs]
    assert len(ids) == len(set(ids)), "duplicate ids"
    for wanted in ("cat", "cat--predictions", "cat--explanations", "cat--features--block1-conv2",
                   "bold-x-y-h", "filters", "filters-image", "filters--conv1-conv"):
        assert wanted in ids, wanted
    tabs = re.findall(r'<label for="__tabbed_[^"]+">(.*?)</label>', model)
    assert [visible_text(label) for label in tabs] == [title for _, title in IMAGES]


def test_methods_page_has_formulas_and_references(imagenet_site):
    methods = imagenet_site.html("methods/index.html")
    assert methods.count('class="arithmatex"') >= 8
    for cited in ("1610.02391", "1412.6806", "1311.2901", "1810.03292"):
        assert f"https://arxiv.org/abs/{cited}" in methods
    ids = {attrs["id"] for _, attrs in parse(methods).tags if "id" in attrs}
    explanations = {"grad-cam", "guided-backpropagation", "deconvnet", "guided-grad-cam"}
    assert explanations | {"filters", "feature-maps", "stage-layers", "backward-rules"} <= ids
    scripts = [attrs.get("src", "") for tag, attrs in parse(methods).tags if tag == "script"]
    mathjax = [s for s in scripts if "mathjax-3.2.2-tex-svg.js" in s]
    assert mathjax and (imagenet_site.site_dir / "methods" / mathjax[0]).resolve().is_file()


def test_methods_page_includes_the_rules_file_when_present(tmp_path, monkeypatch):
    site, models, model_pages, images = make_contexts(tmp_path, "imagenet")
    rules = tmp_path / "rules.md"
    rules.write_text("For swish, the guided rule keeps $f'(x)$ <b>unescaped</b>.\n", "utf-8")
    monkeypatch.setattr(pages, "METHODS_RULES_PATH", rules)
    write_site(tmp_path, site, models, model_pages, images)
    text = (tmp_path / "methods.md").read_text(encoding="utf-8")
    assert "For swish, the guided rule keeps $f'(x)$ <b>unescaped</b>." in text

    monkeypatch.setattr(pages, "METHODS_RULES_PATH", tmp_path / "missing.md")
    write_site(tmp_path, site, models, model_pages, images)
    text = (tmp_path / "methods.md").read_text(encoding="utf-8")
    assert "For swish" not in text and "## Backward rules on non-ReLU activations" in text


def test_rendering_twice_gives_identical_bytes(tmp_path):
    outputs = []
    for run in ("first", "second"):
        root = tmp_path / run
        written = write_site(root, *make_contexts(root, "random"))
        outputs.append({p.relative_to(root).as_posix(): p.read_bytes() for p in written})
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) == 4


def test_write_site_rejects_a_page_without_a_table_row(tmp_path):
    site, models, model_pages, images = make_contexts(tmp_path, "imagenet")
    with pytest.raises(ValueError, match="alphanet"):
        write_site(tmp_path, site, models[1:], model_pages, images)


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


def test_page_url_is_relative_to_the_page_folder():
    url = page_url("assets/resnet50/cat/explanations.webp", "models")
    assert url == "../assets/resnet50/cat/explanations.webp"
    assert page_url("assets/images/cat.webp", "") == "assets/images/cat.webp"
    for bad in ("/etc/passwd", "assets/../../x.webp"):
        with pytest.raises(ValueError):
            page_url(bad, "models")
