"""How far to trust each method (#20): the model pages' trust sections, the leaderboard
`trust.md`, the methods page's findings, and the figures `render.trust` draws for them.

The hand-built contexts come from `pagekit.py`; the trust sections are summed up here by
`trust_summary.model_trust` from hand-made cached parts, with real rendered figures: AlphaNet and
BetaNet are evaluated, DeltaNet was not (`--no-evaluate`: `trust` None).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from pagekit import make_contexts, parse, tree, visible_text, write_site
from PIL import Image
from sitekit import mkdocs_build

from generator import render
from generator.method_records import catalog_records
from generator.render.webp import encode_webp
from generator.site_records import (
    Figure,
    ModelPage,
    RandomizationPart,
    Scores,
    ShownMethod,
    Similarity,
    TrustSettings,
)
from generator.trust_summary import BASELINES, RANDOMIZATION_MARK, model_trust

CASCADE = ["head", "stage 2 (conv5_block3_out)", "all layers"]
# A class map that passes every check; a class-independent map that survives randomization
# (marked); a top-1-only class map that is no better than the random map (marked).
GRAD_CAM = ShownMethod("grad-cam", "Grad-CAM", "class-maps")
GUIDED = ShownMethod("guided-backprop", "Guided Backprop", "guided", class_specific=False)
SCORE_CAM = ShownMethod("score-cam", "Score-CAM", "class-maps")
METHODS = (GRAD_CAM, GUIDED, SCORE_CAM)
RANDOMIZED = {"grad-cam": (0.6, 0.3, 0.05), "guided-backprop": (0.97, 0.93, 0.9)}
EVALUATED = ("alphanet", "betanet")  # DeltaNet was built with --no-evaluate


def _curves(start: float, rate: float, rising: bool) -> list[float]:
    x = np.linspace(0.0, 1.0, 11)
    falling = start * np.exp(-rate * x)
    return [float(v) for v in (start - falling + 0.05 if rising else falling)]


def _scores(rate: float) -> Scores:
    deletion, insertion = _curves(0.8, rate, False), _curves(0.8, rate, True)
    return Scores(deletion, insertion, float(np.mean(deletion)), float(np.mean(insertion)))


def _save(root: Path, relative: str, picture: Image.Image, caption: str) -> Figure:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    render.save_image(path, picture)
    return Figure(relative, f"{caption} (caption)", f"{caption} (alt)")


def with_trust(root: Path, page: ModelPage) -> ModelPage:
    """`page` with a trust section summed up from hand-made parts and real figures."""
    name, slug = page.summary.name, page.summary.slug
    crop = np.full((32, 32, 3), 128, np.uint8)
    maps = np.random.default_rng(0).random((len(CASCADE) + 1, 32, 32))
    parts = {
        method: RandomizationPart(
            steps=CASCADE,
            similarities=[Similarity(value, value / 2) for value in values],
            strip=_save(
                root,
                f"assets/{slug}/trust/randomization-{method}.webp",
                render.randomization_strip("heatmap", crop, maps, ["trained", *CASCADE]),
                f"{name}, photo 'cat', class 'tabby cat': {method} after each randomization step",
            ),
            seconds=1.0,
        )
        for method, values in RANDOMIZED.items()
    }
    scores = {
        "grad-cam": [_scores(6.0), _scores(5.0)],
        "guided-backprop": [_scores(3.0), _scores(2.5)],
        "score-cam": [_scores(0.5), _scores(0.4)],
        "random": [_scores(1.0), _scores(1.1)],
        "gaussian": [_scores(1.5), _scores(1.6)],
    }
    plot = render.similarity_plot(
        CASCADE,
        [(m.title, [s.spearman for s in parts[m.slug].similarities]) for m in METHODS[:2]],
        threshold=RANDOMIZATION_MARK,
    )
    titles = {**{m.slug: m.title for m in METHODS}, **BASELINES}
    curves = render.curves_plot(
        [
            (titles[key], s[0].deletion, s[0].insertion, key in BASELINES)
            for key, s in scores.items()
        ]
    )
    figures = (
        _save(root, f"assets/{slug}/trust/similarity.webp", plot, f"{name}: similarity plot"),
        _save(root, f"assets/{slug}/trust/curves.webp", curves, f"{name}: curves on 'cat'"),
    )
    trust = model_trust(
        TrustSettings("cat", 2, 10, CASCADE, "mid-grey", "the photo blurred"),
        METHODS,
        parts,
        {"grad-cam": [Similarity(0.2, 0.3), Similarity(0.4, 0.5)]},
        scores,
        figures,
        notes=["Occlusion: its map needs more memory than the budget"],
    )
    return dataclasses.replace(page, trust=trust)


class TrustSite:
    """A site whose AlphaNet and BetaNet pages have trust sections, generated and built."""

    def __init__(self, work: Path, weights_mode: str) -> None:
        self.docs, self.site_dir = work / "docs", work / "site"
        site, models, pages, images = make_contexts(self.docs, weights_mode)
        pages = [
            with_trust(self.docs, page) if page.summary.slug in EVALUATED else page
            for page in pages
        ]
        # Guided Backprop draws one map for every class here, as the methods page says.
        methods = [
            dataclasses.replace(record, class_specific=record.slug != GUIDED.slug)
            for record in catalog_records()
        ]
        self.written = write_site(self.docs, site, models, pages, images, methods=methods)
        self.result = mkdocs_build(self.docs, work)

    def html(self, relative: str) -> str:
        return (self.site_dir / relative).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def trust_site(tmp_path_factory) -> TrustSite:
    return TrustSite(tmp_path_factory.mktemp("trust"), "imagenet")


@pytest.fixture(scope="module")
def random_trust_site(tmp_path_factory) -> TrustSite:
    return TrustSite(tmp_path_factory.mktemp("random-trust"), "random")


@pytest.mark.parametrize("fixture", ["trust_site", "random_trust_site"])
def test_sites_with_trust_sections_build_strictly(fixture, request):
    built = request.getfixturevalue(fixture)
    assert built.result.returncode == 0, built.result.stderr
    assert "WARNING" not in built.result.stderr, built.result.stderr
    assert built.docs / "trust.md" in built.written
    assert (built.site_dir / "trust" / "index.html").is_file()


def test_model_page_trust_section_has_its_rows_ids_marks_and_figures(trust_site):
    model = trust_site.html("models/alphanet/index.html")
    page = tree(model)
    ids = [attrs["id"] for _, attrs in parse(model).tags if "id" in attrs]
    assert len(ids) == len(set(ids)), "duplicate ids"
    rows = {}
    for slug in ("grad-cam", "guided-backprop", "score-cam", "random", "gaussian"):
        anchor = page.find(f"trust--{slug}")
        assert anchor is not None, slug
        row = next(n for n in page.descendants() if n.tag == "tr" and anchor in n.descendants())
        rows[slug] = [cell.all_text() for cell in row.children]
    assert rows["grad-cam"][:2] == ["Grad-CAM", "0.050 / 0.025"]
    assert rows["grad-cam"][2] == "0.30 ± 0.10"
    assert rows["guided-backprop"][1] == "0.90 / 0.45 ⚠"
    assert rows["guided-backprop"][2] == "same map for every class by construction"
    assert rows["score-cam"][1] == "not measured"
    assert rows["score-cam"][2] == "explained for one class only"
    assert rows["score-cam"][3].endswith("⚠") and rows["score-cam"][4].endswith("⚠")
    assert rows["random"][0] == "Random map (baseline)"
    # The marks: one warning per flagged method, naming it and the check.
    warnings = [n for n in page.descendants() if {"admonition", "warning"} <= set(n.classes)]
    titles = [w.children[0].all_text() for w in warnings]
    assert [t.split(":")[0] for t in titles] == ["Guided Backprop", "Score-CAM"]
    assert "Model randomization" in warnings[0].all_text()
    assert "Deletion and insertion" in warnings[1].all_text()
    assert "Grad-CAM" not in " ".join(w.all_text() for w in warnings)
    # Settings, notes, the two plots and one strip per randomized method, captioned.
    text = visible_text(model)
    assert "head → stage 2 (conv5_block3_out) → all layers" in text
    assert "Not measured: Occlusion: its map needs more memory than the budget" in text
    section = model[model.index('id="trust"') : model.index('id="filters"')]
    sources = re.findall(r'<img [^>]*src="([^"]+)"', section)
    assert [PurePosixPath(s).name for s in sources] == [
        "similarity.webp",
        "curves.webp",
        "randomization-grad-cam.webp",
        "randomization-guided-backprop.webp",
    ]
    assert "AlphaNet: similarity plot (caption)" in text
    assert page.find("trust--guided-backprop--strip") is not None
    assert "Untrained" not in section and "untrained network" not in text


def test_a_page_without_trust_says_the_methods_were_not_evaluated(trust_site):
    model = trust_site.html("models/deltanet/index.html")
    section = model[model.index('id="trust"') : model.index('id="filters"')]
    assert "were not evaluated in this build" in visible_text(section)
    assert "trust--" not in section


def test_random_weights_say_the_numbers_describe_an_untrained_network(random_trust_site):
    model = random_trust_site.html("models/alphanet/index.html")
    section = model[model.index('id="trust"') : model.index('id="filters"')]
    assert 'class="admonition danger"' in section
    assert "Measured on an untrained network" in visible_text(section)
    board = visible_text(random_trust_site.html("trust/index.html"))
    assert "Every number on this page describes an untrained network" in board


def test_leaderboard_links_reach_the_model_pages_rows_and_flags_marked_cells(trust_site):
    board = trust_site.html("trust/index.html")
    tables = re.findall(r"<table>.*?</table>", board, re.DOTALL)
    assert len(tables) == 4  # one per measure
    heads = [visible_text(re.search(r"<thead>.*?</thead>", t, re.DOTALL)[0]) for t in tables]
    assert [h.split(")")[0] + ")" for h in heads] == [
        "Model (lower is better)",
        "Model (lower is better)",
        "Model (lower is better)",
        "Model (higher is better)",
    ]
    assert "Random map (baseline)" in heads[2] and "Random map" not in heads[0]
    assert not any("DeltaNet" in table for table in tables)  # not evaluated: left out
    links = 0
    for href in re.findall(r'href="(\.\./models/[^"]+)"', "".join(tables)):
        path, _, fragment = href.partition("#")
        target = trust_site.site_dir / "trust" / path / "index.html"
        assert target.resolve().is_file(), href
        assert f'id="{fragment}"' in target.read_text(encoding="utf-8"), href
        links += 1
    # Per model: its name in each of the 4 tables, and each measured cell: 2 methods were
    # randomized, 1 compared across classes (Guided Backprop draws one map for every class,
    # Score-CAM explains one), 3 methods and 2 baselines deleted and inserted.
    assert links == 2 * (4 + 2 + 1 + 5 + 5)
    marked = re.findall(r'<span class="trust-marked"[^>]*>([^<]*)</span>', board)
    assert len(marked) == 2 * (1 + 2)  # Guided Backprop randomized, Score-CAM's two AUCs
    assert all(text.endswith(" ⚠") for text in marked)
    assert 'class="gallery-sortable trust-leaderboard"' in board


def test_home_and_methods_pages_link_the_leaderboard_and_say_what_the_checks_found(trust_site):
    assert 'href="trust/"' in trust_site.html("index.html")
    methods = trust_site.html("methods/index.html")
    assert 'href="../trust/"' in methods and 'id="trust-checks"' in methods
    for cited in ("1810.03292", "1806.07421", "1912.09818"):
        assert f"https://arxiv.org/abs/{cited}" in methods
    text = visible_text(methods)
    assert "What the checks found for Grad-CAM on the 2 models measured" in text
    assert (
        "Similarity after randomizing every layer (lower is better): 0.90; flagged on 2 of 2"
        in (text)
    )
    guided = text[text.index("What the checks found for Guided Backprop") :]
    assert "Similarity across classes (lower is better): the same map for every class" in guided


def test_without_trust_no_leaderboard_is_written_or_linked(tmp_path):
    docs = tmp_path / "docs"
    written = write_site(docs, *make_contexts(docs, "imagenet"))
    assert docs / "trust.md" not in written and not (docs / "trust.md").exists()
    index = (docs / "index.md").read_text(encoding="utf-8")
    methods = (docs / "methods.md").read_text(encoding="utf-8")
    assert "trust.md" not in index and "trust.md" not in methods
    assert "What the checks found" not in methods and "## How far to trust each method" in methods
    model = (docs / "models" / "alphanet.md").read_text(encoding="utf-8")
    assert "were not evaluated in this build" in model


# --- the figures ------------------------------------------------------------------------------


def test_randomization_strip_is_one_row_of_a_tile_per_step():
    crop = np.zeros((40, 40, 3), np.uint8)
    labels = ["trained", "head", "stage 3 (block_13_expand_relu)", "all layers"]
    for display, shape in (("heatmap", (40, 40)), ("gradient", (40, 40, 3))):
        maps = np.random.default_rng(1).random((len(labels), *shape))
        strip = render.randomization_strip(display, crop, maps, labels)
        assert strip.mode == "RGBA"
        assert strip.width == len(labels) * (render.STRIP_TILE + 6) + 6
        assert render.STRIP_TILE < strip.height < 2 * render.STRIP_TILE
    with pytest.raises(ValueError, match="3 maps but 4"):
        render.randomization_strip("heatmap", crop, np.zeros((3, 40, 40)), labels)


def test_plots_are_deterministic_and_sized_for_their_legends():
    steps = ["head", "stage 2 (top)", "all layers"]
    few = [("Grad-CAM", [0.8, 0.4, 0.1])]
    many = [(f"Method {i}", [0.9, 0.5 - i / 40, -0.1]) for i in range(15)]
    for draw in (
        lambda: render.similarity_plot(steps, few, threshold=0.5),
        lambda: render.similarity_plot(steps, many, measure="SSIM"),
        lambda: render.curves_plot([("A", [0.9, 0.5, 0.1], [0.1, 0.5, 0.9], False)] * 15),
    ):
        first, second = draw(), draw()
        assert first.mode == "RGBA" and first.getpixel((0, 0)) == (255, 255, 255, 255)
        assert encode_webp(first) == encode_webp(second)
    assert render.similarity_plot(steps, many).height > render.similarity_plot(steps, few).height
    with pytest.raises(ValueError, match="2 values for 3 steps"):
        render.similarity_plot(steps, [("A", [0.1, 0.2])])


def test_walkthrough_shows_the_first_models_trust_checks_on_its_photo(trust_site):
    start = trust_site.html("start/index.html")
    article = start[start.index("<article") : start.index("</article>")]
    pictures = [a["src"] for tag, a in parse(article).tags if tag == "img"]
    # The photo the checks use ('cat'), the catalog's first method's strip, and the curves.
    assert pictures[0] == "../assets/alphanet/cat/crop.webp"
    assert "../assets/alphanet/trust/randomization-grad-cam.webp" in pictures
    assert "../assets/alphanet/trust/curves.webp" in pictures
    links = [a.get("href") for tag, a in parse(article).tags if tag == "a"]
    assert "../models/alphanet/#trust--grad-cam" in links
    assert "../models/alphanet/#trust" in links and "../trust/" in links
    model = trust_site.html("models/alphanet/index.html")
    assert 'id="trust--grad-cam"' in model and 'id="trust"' in model
    text = visible_text(article)
    assert "did not run the checks" not in text and "the photo its trust checks use" in text
