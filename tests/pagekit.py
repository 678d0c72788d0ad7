"""The pages' test kit: hand-built contexts, the built sites, and parsers of their HTML.

The contexts are built by hand with tiny placeholder images, including an image and a failure
message whose text is hostile HTML and Markdown; the checks run on the built HTML, where it counts.
The two built sites are fixtures of the whole session, in `pagesites.py`.
"""

from __future__ import annotations

import html
import html.parser
import re
from pathlib import Path

import yaml
from PIL import Image
from sitekit import mkdocs_build

from generator import pages
from generator.method_records import catalog_records
from generator.page_ids import anchor
from generator.site_records import (
    ChannelView,
    ChosenTensor,
    ClassExplanation,
    ClassPicture,
    FeatureMapFigure,
    Figure,
    FilterFigure,
    ImageSection,
    MethodTile,
    ModelPage,
    ModelSummary,
    NeuronSection,
    Prediction,
    ProjectionFigure,
    ShownMethod,
    SiteInfo,
    StageNeurons,
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
SHOWN = ("Grad-CAM", "Score-CAM", "Guided Grad-CAM", "Guided Backprop", "DeConvNet")
TOP1_ONLY = ("Score-CAM",)
# The families of SHOWN (methods/families.py) in catalog order, and their methods.
FAMILY_METHODS = {
    "class-maps": ("Grad-CAM", "Score-CAM"),
    "guided": ("Guided Grad-CAM", "Guided Backprop", "DeConvNet"),
}
# crop, one legend per family, 2 classes x 5 methods but one top-1-only, one feature map, one
# projection (the printable grid is a link)
PICTURES_PER_IMAGE = 1 + len(FAMILY_METHODS) + 2 * len(SHOWN) - len(TOP1_ONLY) + 2
# The methods of SHOWN as the pages know them (slug, title, family), by title.
SHOWN_METHODS = {
    title: ShownMethod(slug, title, family)
    for title, slug, family in (
        ("Grad-CAM", "grad-cam", "class-maps"),
        ("Guided Grad-CAM", "guided-grad-cam", "guided"),
        ("Score-CAM", "score-cam", "class-maps"),
        ("Guided Backprop", "guided-backprop", "guided"),
        ("DeConvNet", "deconvnet", "guided"),
    )
}
# The model with a neurons section ("What the neurons look for") and its channel pages; the
# others have none (a build with --no-neurons, or pages of an older build).
NEURON_MODEL = "AlphaNet"
# The channels each image's feature maps and projections of block1_conv2 label, in the figures'
# order; 99 has no place on the channel page, so its label links nowhere.
LABELLED = (12, 40, 3, 99)
# The channel pages' channels by stage tensor slug; channel 40 has no optimised picture.
NEURON_CHANNELS = {"block1-conv2": (3, 12, 40), "add-16": (7,)}
WITHOUT_PICTURE = 40
NEURON_CLASSES = ((281, "tabby cat"), (285, "Egyptian cat"))
# Pictures of the neuron section on the model page: each photo's top-1 class picture (in its
# tab), a grid per stage, the class pictures, DeepDream and the inversion.
NEURON_PICTURES = len(IMAGES) + len(NEURON_CHANNELS) + len(NEURON_CLASSES) + 2
# Pictures of the channel pages: each channel's card and, but one, its optimised picture.
CHANNEL_PICTURES = 2 * sum(len(channels) for channels in NEURON_CHANNELS.values()) - 1
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
                    SHOWN_METHODS[method],
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
                LABELLED,
            )
        ],
        projections=[
            ProjectionFigure(
                "block1_conv2",
                _figure(root, f"{base}/projections-a.png", f"{what}: pr", (4, 5, 6)),
                LABELLED,
            )
        ],
        classes=classes,
    )


def neuron_section(root: Path, model: str) -> NeuronSection:
    """A neurons section of `model` with two stage tensors (their pictures written under
    `root`), every photo's top-1 class picture, DeepDream and the inversion."""
    base = f"assets/{model.lower()}/neurons"
    stages = []
    for slug, channels in NEURON_CHANNELS.items():
        tensor = {"block1-conv2": "block1_conv2", "add-16": "add_16"}[slug]
        views = [
            ChannelView(
                channel=channel,
                picture=None
                if channel == WITHOUT_PICTURE
                else _figure(
                    root,
                    f"{base}/{slug}/ch-{channel}.webp",
                    f"{model} {tensor} ch {channel}",
                    (90, channel, 9),
                ),
                score=None if channel == WITHOUT_PICTURE else 1.5 + channel,
                card=_figure(
                    root,
                    f"{base}/{slug}/card-{channel}.webp",
                    f"{model} {tensor} card {channel}",
                    (5, channel, 50),
                ),
                means=[0.25 * index + channel for index in range(len(IMAGES))],
                shown_in=[slug for slug, _ in IMAGES] if slug == "block1-conv2" else [],
            )
            for channel in channels
        ]
        grid = _figure(root, f"{base}/{slug}/grid.webp", f"{model} {tensor} grid", (1, 90, 9))
        stages.append(StageNeurons(tensor, slug, (56, 56, 64), grid, views))
    classes = [
        ClassPicture(
            index,
            label,
            _figure(
                root, f"{base}/class-{index}.webp", f"{model} draws {label}", (index % 256, 1, 1)
            ),
            rank,
        )
        for rank, (index, label) in enumerate(NEURON_CLASSES, start=1)
    ]
    return NeuronSection(
        settings="512 steps at 224×224, Fourier 1/f, decorrelated colour, jitter 8 px, seed 0",
        missing=f"ch {WITHOUT_PICTURE}: beyond the first 2 channels of a tensor (--neuron-channels)",
        photos=[slug for slug, _ in IMAGES],
        photo_titles=[title for _, title in IMAGES],
        stages=stages,
        classes=classes,
        top_class={slug: 0 for slug, _ in IMAGES},
        dream=_figure(root, f"{base}/dream.webp", f"{model} DeepDream", (3, 3, 90)),
        inversion=_figure(root, f"{base}/inversion.webp", f"{model} inversion", (3, 90, 90)),
        not_drawn=["Class visualizations of 'Egyptian cat' <b>: an example line"],
        seconds=12.5,
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
                neurons=neuron_section(root, name) if name == NEURON_MODEL else None,
            )
        )
    failed = _summary("GammaNet", "failed", HOSTILE_FAILURE, [])
    models = [page.summary for page in model_pages] + [failed]
    return site, models, model_pages, thumbnails


def method_anchor(title: str) -> str:
    """A shown method's id in addresses and file names: its slug."""
    return SHOWN_METHODS[title].slug


def write_site(out_dir: Path, site, models, model_pages, images, methods=None, **options):
    """`pages.write_site`, describing the catalog's methods on the methods page unless
    `methods` says otherwise."""
    methods = catalog_records() if methods is None else methods
    return pages.write_site(out_dir, site, models, model_pages, images, methods, **options)


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
    models |= {docs / "neurons" / NEURON_MODEL.lower() / f"{s}.md" for s in NEURON_CHANNELS}
    fixed = {docs / "index.md", docs / "start.md", docs / "about.md", docs / "methods.md"}
    return fixed | models | compare


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
