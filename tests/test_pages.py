"""Page generation: contexts in, Markdown out, and the result must survive `mkdocs build --strict`.

The contexts are built by hand with tiny placeholder images, including an image and a failure
message whose text is hostile HTML and Markdown; the checks run on the built HTML, where it counts.
"""

from __future__ import annotations

import dataclasses
import html
import html.parser
import json
import re
from pathlib import Path, PurePosixPath

import markdown
import pytest
import yaml
from PIL import Image
from sitekit import mkdocs_build

from generator import __release_date__, __version__, pages, render, site_config
from generator.comparisons import ClassCount, Top1Choice, agreement
from generator.method_records import MissingParagraph, catalog_records
from generator.methods import catalog
from generator.methods.families import FAMILIES
from generator.page_ids import PredictionRow, anchor, image_blocks, method_anchor
from generator.pages import bibtex_escape, escape_md, page_url, write_site
from generator.site_records import (
    ChosenTensor,
    ClassExplanation,
    FeatureMapFigure,
    Figure,
    FilterFigure,
    ImageSection,
    MethodTile,
    ModelPage,
    ModelSummary,
    Prediction,
    ProjectionFigure,
    SiteInfo,
    Thumbnail,
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
MODELS = {"AlphaNet": "Testnets", "BetaNet": "Testnets", "DeltaNet": None}  # built, by family
# Top-1 class per model and image: AlphaNet and DeltaNet agree, BetaNet differs.
TOP1 = {"AlphaNet": "tabby cat", "BetaNet": "Egyptian cat", "DeltaNet": "tabby cat"}
OTHER = {"tabby cat": (281, "Egyptian cat", 285), "Egyptian cat": (285, "tabby cat", 281)}
# The methods the hand-built model pages show, in the catalog's order; Score-CAM explains the
# top class only, as the many-pass methods do by default.
SHOWN = ("Grad-CAM", "Guided Grad-CAM", "Score-CAM", "Guided Backprop", "DeConvNet")
TOP1_ONLY = ("Score-CAM",)
# The families of SHOWN (methods/families.py) in catalog order, and their methods.
FAMILY_METHODS = {
    "class-maps": ("Grad-CAM", "Score-CAM"),
    "guided": ("Guided Grad-CAM", "Guided Backprop", "DeConvNet"),
}
# crop, one legend per family, 2 classes x 5 methods but one top-1-only, one feature map, one
# projection (the printable grid is a link)
PICTURES_PER_IMAGE = 1 + len(FAMILY_METHODS) + 2 * len(SHOWN) - len(TOP1_ONLY) + 2
SITE_URL = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))["site_url"]


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
    first = TOP1[model]
    first_index, second, second_index = OTHER[first]
    predictions = [
        Prediction(1, first_index, first, 0.1234),
        Prediction(2, second_index, second, 0.05),
    ]
    classes = [
        ClassExplanation(
            prediction,
            [
                MethodTile(
                    method,
                    _figure(
                        root,
                        f"{base}/{anchor(method)}-{prediction.rank}.webp",
                        f"{what}: {method} for class {prediction.rank}, '{prediction.label}'",
                        (10 * prediction.rank, 20, 30),
                    ),
                )
                for method in SHOWN
                if prediction.rank == 1 or method not in TOP1_ONLY
            ],
        )
        for prediction in predictions
    ]
    return ImageSection(
        slug=slug,
        title=title,
        crop=_figure(root, f"{base}/crop.webp", f"{what}: crop", (200, 10, 10)),
        predictions=predictions,
        explanations=_figure(root, f"{base}/explanations.webp", f"{what}: explanations", (9, 9, 9)),
        gradcam_legend=legend,
        feature_maps=[
            FeatureMapFigure(
                "block1_conv2",
                (56, 56, 64),
                _figure(root, f"{base}/features-a.webp", f"{what}: fm", (1, 2, 3)),
            )
        ],
        projections=[
            ProjectionFigure(
                "block1_conv2", _figure(root, f"{base}/projections-a.png", f"{what}: pr", (4, 5, 6))
            )
        ],
        classes=classes,
    )


def _summary(name: str, status: str, failure: str | None, titles: list[str]) -> ModelSummary:
    return ModelSummary(
        name=name,
        slug=name.lower(),
        family=MODELS.get(name, "Testnets"),
        year=2015,
        params=25.6,
        input_size=(224, 224),
        top1=None if name == "BetaNet" else 76.0,
        top5=92.9,
        target_layer="conv5_block3_out" if status == "built" else None,
        status=status,
        failure=failure,
        reference_seconds=12.34 if status == "built" else None,
    )


def make_contexts(root: Path, weights_mode: str):
    """(site, models, pages, images) for three built models and one failed one."""
    random = weights_mode == "random"
    site = SiteInfo(
        title="CNN Gallery",
        version="0.1.0",
        weights_mode=weights_mode,
        weights_label="random, untrained (seeded)" if random else "ImageNet (Keras)",
        keras_version="3.15.0",
        tensorflow_version="2.21.0",
        reference_machine="4 CPU cores (x86_64), no GPU, TensorFlow 2.21.0",
        reference_images=5,
        reference_applies=True,
        reference_measured_with="Grad-CAM and DeConvNet only, top 5 classes, 5 images",
        methods=("Grad-CAM", "Guided Backprop", "DeConvNet"),
    )
    legend = _figure(root, "assets/legend-gradcam.webp", "Grad-CAM colour scale", (0, 0, 0))
    thumbnails = [
        Thumbnail(
            slug, title, _figure(root, f"assets/images/{slug}.webp", f"Sample '{title}'", (7, 7, 7))
        )
        for slug, title in IMAGES
    ]
    titles = [title for _, title in IMAGES]
    model_pages = []
    for name in MODELS:
        model_pages.append(
            ModelPage(
                summary=_summary(name, "built", None, titles),
                paper="Deep Residual Learning for Image Recognition",
                paper_url="https://arxiv.org/abs/1512.03385",
                preprocessing="caffe: BGR, ImageNet mean subtracted",
                weights_random=random,
                weights_label=site.weights_label,
                nonlinearity_report=["49 of 49 ReLU modified"],
                target=ChosenTensor(
                    "conv5_block3_out", (7, 7, 2048), "output of a residual block: relu of its sum"
                ),
                stages=[
                    ChosenTensor("conv1_relu", (112, 112, 64), "relu activation of conv1_bn"),
                    ChosenTensor("add_16", (7, 7, 2048), "the residual sum add_16 = a + b"),
                ],
                filters=[
                    FilterFigure(
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


def family_legends(root: Path) -> dict[str, Figure]:
    """The colour scales of the method families' grids, by family slug (figures.family_legends)."""
    return {
        family: _figure(root, f"assets/legend-{family}.webp", f"{family} colour scale", (0, 0, 0))
        for family in FAMILY_METHODS
    }


class Built:
    """A generated and mkdocs-built site."""

    def __init__(self, work: Path, weights_mode: str) -> None:
        self.docs = work / "docs"
        self.site_dir = work / "site"
        self.contexts = make_contexts(self.docs, weights_mode)
        self.written = write_site(self.docs, *self.contexts, legends=family_legends(self.docs))
        self.result = mkdocs_build(self.docs, work)

    def html(self, relative: str) -> str:
        return (self.site_dir / relative).read_text(encoding="utf-8")

    def pages_html(self) -> dict[str, str]:
        """Every generated page's HTML by its site path (index, methods, models, compare)."""
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


def plain(text: str) -> str:
    """The text of an HTML fragment as a browser shows it: tags removed, entities decoded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", text)).split())


def ids_of(text: str) -> list[str]:
    return [attrs["id"] for _, attrs in parse(text).tags if "id" in attrs]


def element_html(text: str, tag: str, element_id: str) -> str:
    """The HTML from the start tag with `element_id` to its matching end tag (no nesting of the
    same tag inside, which holds for the <figure> and <div> blocks tested here except cards,
    whose inner divs are counted)."""
    start = text.index(f'id="{element_id}"')
    start = text.rindex(f"<{tag}", 0, start)
    depth, position = 0, start
    for match in re.finditer(rf"<(/?){tag}\b", text[start:]):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            position = start + match.end()
            break
    return text[start : text.index(">", position) + 1]


def expected_pages(docs: Path) -> set[Path]:
    compare = {docs / "compare" / "index.md"}
    for slug, _ in IMAGES:
        compare.add(docs / "compare" / slug / "index.md")
        compare |= {docs / "compare" / slug / f"{anchor(m)}.md" for m in SHOWN}
    models = {docs / "models" / f"{name.lower()}.md" for name in MODELS}
    return {docs / "index.md", docs / "methods.md"} | models | compare


# --- tests ----------------------------------------------------------------------------------


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
    for slug, title in IMAGES[1:3]:
        for page in (f"compare/{slug}/index.html", f"compare/{slug}/grad-cam/index.html"):
            compared = imagenet_site.html(page)
            assert f"“{title}”" in visible_text(compared), page
            heading = re.search(r"<title>(.*?)</title>", compared, re.DOTALL).group(1)
            assert "<" not in heading.replace("&lt;", ""), page  # the <title> is text


def test_search_index_keeps_hostile_text_escaped(imagenet_site):
    """Material's search shows its index as HTML, so the names must be escaped there too."""
    index = json.loads((imagenet_site.site_dir / "search" / "search_index.json").read_text())
    blob = json.dumps(index)
    assert "onerror" in blob  # the hostile title was indexed ...
    assert "<img src=x" not in blob and "<script>alert" not in blob  # ... as text


def test_asset_urls_in_pages_resolve_to_existing_files(imagenet_site):
    targets = 0
    for page in imagenet_site.written:
        for url in re.findall(r"\]\(([^)\s]+\.(?:webp|png))\)", page.read_text(encoding="utf-8")):
            assert not url.startswith("/") and "://" not in url
            assert (page.parent / url).resolve().is_file(), (page, url)
            targets += 1
    models, images, methods = len(MODELS), len(IMAGES), len(SHOWN)
    per_model_page = images * (PICTURES_PER_IMAGE + 1) + 1  # + the grid link; + the filters
    home_and_compare_index = 2 * images
    per_comparison = 2 + models  # the photo, the colour scales and one picture per model
    expected = (
        models * per_model_page + home_and_compare_index + images * (1 + methods) * per_comparison
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
    assert len(images) == len(IMAGES) * PICTURES_PER_IMAGE + 1  # + the filters


def test_model_page_shows_predictions_card_and_stable_anchors(imagenet_site):
    model = imagenet_site.html("models/alphanet/index.html")
    text = visible_text(model)
    assert "12.3%" in text and "5.0%" in text  # probabilities 0.1234 and 0.05
    assert "tabby cat" in text and "281" in text
    assert "Deep Residual Learning for Image Recognition" in text
    assert "49 of 49 ReLU modified" in text and "conv5_block3_out" in text
    # The chosen tensors, with their shapes and reasons (an operation's output too).
    shown = plain(model)
    assert "conv5_block3_out, 7×7×2048: output of a residual block: relu of its sum" in shown
    assert "add_16, 7×7×2048: the residual sum add_16 = a + b" in shown
    ids = ids_of(model)
    assert len(ids) == len(set(ids)), "duplicate ids"
    for wanted in (
        "cat",
        "cat--predictions",
        "cat--explanations",
        "cat--features--block1-conv2",
        "where-it-looks",
        "bold-x-y-h",
        "filters",
        "filters-image",
        "filters--conv1-conv",
        "cite",
        "cat--tabby-cat",
        "cat--egyptian-cat",
        "cat--tabby-cat--grad-cam",
        "cat--egyptian-cat--guided-backprop",
        "filters-image--tabby-cat--deconvnet",
    ):
        assert wanted in ids, wanted
    # The image tabs: the labels of the page's outer set of tabs (each holds the family tabs).
    outer = next(n for n in tree(model).descendants() if "tabbed-set" in n.classes)
    (labels,) = [n for n in outer.children if "tabbed-labels" in n.classes]
    assert [label.all_text() for label in labels.children] == [title for _, title in IMAGES]


class _Node:
    """An element of a parsed page: tag, attributes, children and its own text."""

    def __init__(self, tag: str, attrs: dict[str, str | None]) -> None:
        self.tag, self.attrs = tag, attrs
        self.children: list[_Node] = []
        self.parts: list[str | _Node] = []  # text and children in document order

    @property
    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()

    def all_text(self) -> str:
        texts = [part if isinstance(part, str) else part.all_text() for part in self.parts]
        return " ".join(" ".join(texts).split())

    def find(self, element_id: str) -> _Node | None:
        if self.attrs.get("id") == element_id:
            return self
        return next((n for c in self.children if (n := c.find(element_id)) is not None), None)

    def descendants(self) -> list[_Node]:
        return [node for c in self.children for node in (c, *c.descendants())]


class _Tree(html.parser.HTMLParser):
    _VOID = frozenset({"img", "br", "input", "hr", "meta", "link", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("", {})
        self._open = [self.root]

    def handle_starttag(self, tag, attrs):
        node = _Node(tag, dict(attrs))
        self._open[-1].children.append(node)
        self._open[-1].parts.append(node)
        if tag not in self._VOID:
            self._open.append(node)

    def handle_endtag(self, tag):
        while len(self._open) > 1 and self._open.pop().tag != tag:
            pass

    def handle_data(self, data):
        self._open[-1].parts.append(data)


def tree(text: str) -> _Node:
    parser = _Tree()
    parser.feed(text)
    return parser.root


def test_class_explanations_are_one_grid_per_method_family(imagenet_site):
    """One nested tab per family (methods/families.py), each a grid whose head has one cell per
    method and whose rows, one per class, have one cell per method under it: the picture or the
    reason it was not computed. Ids of classes and pictures are those cited links use."""
    model = imagenet_site.html("models/alphanet/index.html")
    page = tree(model)
    labels = {"class-maps": "Class maps", "guided": "Guided projections"}
    explanations = model[model.index('id="cat--explanations"') : model.index('id="cat--features"')]
    tabs = re.findall(r'<label for="__tabbed_[^"]+">(.*?)</label>', explanations)
    assert [visible_text(label) for label in tabs] == list(labels.values())
    classes = ((1, "tabby cat", "12.3%"), (2, "Egyptian cat", "5.0%"))
    seen = {(rank, method): 0 for rank, _, _ in classes for method in SHOWN}
    for family, methods in FAMILY_METHODS.items():
        grid = page.find(f"cat--{family}")
        assert grid is not None, family
        legend = next(n for n in grid.descendants() if "gallery-legend" in n.classes)
        assert any(
            f"legend-{family}.webp" in (n.attrs.get("src") or "") for n in legend.descendants()
        )
        (table,) = [n for n in grid.descendants() if "gallery-classes" in n.classes]
        head, *rows = table.children
        assert "gallery-classes-head" in head.classes
        assert [cell.all_text() for cell in head.children] == ["Class", *methods]
        links = [n.attrs["href"] for n in head.descendants() if n.tag == "a"]
        assert links == [f"../../methods/#{method_anchor(m)}" for m in methods]
        assert len(rows) == len(classes)
        for row, (rank, label, probability) in zip(rows, classes):
            assert "gallery-class" in row.classes
            # The class's id is on its row of the first grid (the tab shown first), once.
            first = family == next(iter(FAMILY_METHODS))
            assert row.attrs.get("id") == (f"cat--{anchor(label)}" if first else None)
            name, *cells = row.children
            assert label in name.all_text() and probability in name.all_text()
            assert len(cells) == len(head.children) - 1 == len(methods)
            for method, cell in zip(methods, cells):
                seen[rank, method] += 1
                slug = method_anchor(method)
                if rank > 1 and method in TOP1_ONLY:
                    assert cell.classes == ["gallery-missing"]
                    assert (
                        cell.all_text() == f"{method}: not computed: explains the top-1 class only"
                    )
                    continue
                assert cell.tag == "figure" and cell.attrs["id"] == f"cat--{anchor(label)}--{slug}"
                (link,) = [
                    n for n in cell.descendants() if n.tag == "a" and "glightbox" in n.classes
                ]
                assert link.attrs["href"].endswith(
                    f"assets/alphanet/cat/{anchor(method)}-{rank}.webp"
                )
                # The lightbox steps through this family's grid, row by row.
                assert link.attrs["data-gallery"] == f"cat--{family}"
                assert f"{method} for class {rank}, '{label}' (caption)" in cell.all_text()
                (img,) = [n for n in cell.descendants() if n.tag == "img"]
                assert f"{method} for class {rank}" in img.attrs["alt"]
    # Every method once per class, in its family's grid.
    assert set(seen.values()) == {1}
    # The predictions table links to the class rows; the printable grid is a link, not a picture.
    assert 'href="#cat--egyptian-cat"' in model
    assert "explanations.webp" in explanations
    assert not re.search(r"<img[^>]*explanations\.webp", model)


def test_every_method_has_a_family_whose_grid_has_one_colour_scale_and_few_columns():
    """Families come from the methods' own declarations; each grid is read with one legend's
    colours (heat maps at one layer and at every layer share theirs) and fits a page's width."""
    for family in FAMILIES:
        members = [method for method in catalog.METHODS if method.family == family]
        assert 1 <= len(members) <= 6, (family.slug, [m.slug for m in members])
        colormaps = {render.display_colormap(method.display) for method in members}
        assert len(colormaps) == 1, (family.slug, colormaps)
    assert {method.family for method in catalog.METHODS} == set(FAMILIES)
    assert len({family.slug for family in FAMILIES}) == len(FAMILIES)


def test_anchors_are_made_of_slugs_and_never_counters():
    """Two classes whose names differ only in punctuation get the class index, not a counter."""
    figure = Figure("assets/x.webp", "c", "a")
    twins = [Prediction(1, 517, "crane", 0.4), Prediction(2, 134, "Crane!", 0.3)]
    section = ImageSection(
        slug="images",
        title="images",
        crop=figure,
        predictions=twins,
        explanations=None,
        gradcam_legend=None,
        feature_maps=[],
        projections=[],
        classes=[ClassExplanation(p, [MethodTile("Grad-CAM", figure)]) for p in twins],
    )
    page = ModelPage(
        summary=_summary("AlphaNet", "built", None, []),
        paper=None,
        paper_url=None,
        preprocessing=None,
        weights_random=False,
        weights_label="x",
        nonlinearity_report=[],
        target=None,
        stages=[],
        filters=[],
        images=[section],
    )
    (block,) = image_blocks(page)
    assert block.anchor == "images-image"  # "images" is a fixed id of the model page
    assert [c.anchor for c in block.classes] == [
        "images-image--crane-517",
        "images-image--crane-134",
    ]
    assert block.classes[1].figures[0].anchor == "images-image--crane-134--grad-cam"
    assert block.rows == [
        PredictionRow(twins[0], "images-image--crane-517"),
        PredictionRow(twins[1], "images-image--crane-134"),
    ]


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


def test_methods_page_has_formulas_and_references(imagenet_site):
    methods = imagenet_site.html("methods/index.html")
    assert methods.count('class="arithmatex"') >= 8
    for cited in ("1610.02391", "1412.6806", "1311.2901", "1810.03292"):
        assert f"https://arxiv.org/abs/{cited}" in methods
    ids = {attrs["id"] for _, attrs in parse(methods).tags if "id" in attrs}
    explanations = {"grad-cam", "guided-backpropagation", "deconvnet", "guided-grad-cam"}
    assert explanations | {"filters", "feature-maps", "stage-layers", "backward-rules"} <= ids
    # Every catalog method has its section, anchored by its slug, and a row in the overview
    # table linking to it.
    records = catalog_records()
    assert {record.slug for record in records} <= ids
    overview = methods[methods.index('id="overview"') : methods.index('id="filters"')]
    rows = re.findall(r"<tr>.*?</tr>", overview, re.DOTALL)[1:]
    assert len(rows) == len(records)
    for row, record in zip(rows, records):
        assert f'href="#{record.slug}"' in row and f'href="{record.paper.url}"' in row
        assert f"top-{record.classes}" in row
    scripts = [attrs.get("src", "") for tag, attrs in parse(methods).tags if tag == "script"]
    mathjax = [s for s in scripts if "mathjax-3.2.2-tex-svg.js" in s]
    assert mathjax and (imagenet_site.site_dir / "methods" / mathjax[0]).resolve().is_file()


def test_methods_page_has_no_empty_heading_and_tells_the_truth_about_random_weights(
    imagenet_site,
):
    methods = imagenet_site.html("methods/index.html")
    article = methods.split("<article")[1].split("</article>")[0]
    # A heading directly followed by another heading of the same or a higher level is empty.
    headings = re.findall(r"<h([1-6])[ >].*?</h\1>\s*(<h([1-6]))?", article, re.DOTALL)
    for level, _, following in headings:
        assert not following or int(following) > int(level), headings
    assert len(headings) > 10
    text = visible_text(methods)
    # Random ResNet50 gives 84-100% to one class: the page must not claim near-uniform always.
    assert "predictions are near-uniform" not in text
    assert "not always near-uniform" in text and "ResNet50 gives 84–100%" in text


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


def test_a_method_without_its_paragraph_stops_the_pages_before_any_is_written(tmp_path):
    site, models, model_pages, images = make_contexts(tmp_path, "imagenet")
    before = {path for path in tmp_path.rglob("*")}
    unwritten = dataclasses.replace(
        catalog_records()[-1], slug="no-such-method", paragraph="methods/no-such-method.md.j2"
    )
    with pytest.raises(MissingParagraph, match=r"templates/methods/no-such-method\.md\.j2"):
        write_site(
            tmp_path, site, models, model_pages, images, methods=[*catalog_records(), unwritten]
        )
    assert {path for path in tmp_path.rglob("*")} == before


def test_methods_page_shows_each_method_once_in_the_order_given(tmp_path):
    site, models, model_pages, images = make_contexts(tmp_path, "imagenet")
    records = list(reversed(catalog_records()))
    write_site(tmp_path, site, models, model_pages, images, methods=records)
    text = (tmp_path / "methods.md").read_text(encoding="utf-8")
    headings = [f"{{ #{record.slug} }}" for record in records]
    # guided-backprop keeps the anchor it was cited by, and gets its slug's as well.
    headings = [h.replace("#guided-backprop ", "#guided-backpropagation ") for h in headings]
    places = [text.index(heading) for heading in headings]
    assert places == sorted(places) and all(text.count(h) == 1 for h in headings)
    assert text.count('id="guided-backprop"') == 1


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


def test_home_page_names_the_methods_this_build_shows(tmp_path):
    site, models, model_pages, images = make_contexts(tmp_path, "imagenet")
    for methods in (("Grad-CAM", "Guided Backprop", "DeConvNet"), ("Occlusion",)):
        write_site(tmp_path, dataclasses.replace(site, methods=methods), models, model_pages, images)
        index = " ".join((tmp_path / "index.md").read_text(encoding="utf-8").split())
        count = f"{len(methods)} method{'s' if len(methods) > 1 else ''}"
        assert f"by {count} ({', '.join(methods)}), one tab per family" in index
