"""Model pages: predictions, the model card, the class explanations as one grid per method
family, and the stable anchors citations link to.

The hand-built contexts and the sites these tests read: `pagekit.py`, `pagesites.py`.
"""

from __future__ import annotations

import re

from pagekit import (
    FAMILY_METHODS,
    IMAGES,
    SHOWN,
    SHOWN_METHODS,
    TOP1_ONLY,
    _summary,
    ids_of,
    method_anchor,
    plain,
    tree,
    visible_text,
)

from generator import render
from generator.methods import catalog
from generator.methods.families import FAMILIES
from generator.page_ids import PredictionRow, anchor, image_blocks
from generator.site_records import (
    ClassExplanation,
    Figure,
    ImageSection,
    MethodTile,
    ModelPage,
    Prediction,
)

pytest_plugins = ("pagesites",)  # the built sites, shared by the session


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


def test_class_explanations_are_one_grid_per_method_family(imagenet_site):
    """One nested tab per family (methods/families.py), each a grid whose head has one cell per
    method and whose rows, one per class, have one picture per method under it; the methods
    that explain the top class only stand in a strip of their own below. Ids of classes and
    pictures are those cited links use."""
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
        # The methods that explain every class, then those of the top class in a strip of
        # their own, said why: no cell is empty.
        parts = [
            ([m for m in methods if m not in TOP1_ONLY], classes),
            ([m for m in methods if m in TOP1_ONLY], classes[:1]),
        ]
        parts = [(shown, ranks) for shown, ranks in parts if shown]
        tables = [n for n in grid.descendants() if "gallery-classes" in n.classes]
        assert len(tables) == len(parts)
        notes = [n.all_text() for n in grid.descendants() if "gallery-part-note" in n.classes]
        assert notes == [
            f"Top-1 class only ({', '.join(shown)}): it runs the model many times per class, "
            "so the build explains fewer classes with it (option --many-pass-top)."
            for shown, ranks in parts
            if len(ranks) < len(classes)
        ]
        assert not [n for n in grid.descendants() if "gallery-missing" in n.classes]
        for table, (shown, ranks) in zip(tables, parts):
            head, *rows = table.children
            assert "gallery-classes-head" in head.classes
            assert [cell.all_text() for cell in head.children] == ["Class", *shown]
            links = [n.attrs["href"] for n in head.descendants() if n.tag == "a"]
            assert links == [f"../../methods/#{method_anchor(m)}" for m in shown]
            assert len(rows) == len(ranks)
            for row, (rank, label, probability) in zip(rows, ranks):
                assert "gallery-class" in row.classes
                # The class's id is on its first row of the page (the tab shown first), once.
                first = family == next(iter(FAMILY_METHODS)) and table is tables[0]
                assert row.attrs.get("id") == (f"cat--{anchor(label)}" if first else None)
                name, *cells = row.children
                assert label in name.all_text() and probability in name.all_text()
                assert len(cells) == len(head.children) - 1 == len(shown)
                for method, cell in zip(shown, cells):
                    seen[rank, method] += 1
                    slug = method_anchor(method)
                    assert cell.tag == "figure"
                    assert cell.attrs["id"] == f"cat--{anchor(label)}--{slug}"
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
    # Every method once per class it explains, in its family's grid.
    assert {key for key, count in seen.items() if count} == {
        (rank, method)
        for rank, _, _ in classes
        for method in SHOWN
        if rank == 1 or method not in TOP1_ONLY
    }
    assert set(seen.values()) <= {0, 1}
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
        classes=[
            ClassExplanation(p, [MethodTile(SHOWN_METHODS["Grad-CAM"], figure)]) for p in twins
        ],
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
