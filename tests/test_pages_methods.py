"""The methods page: formulas and references, one section per method in the order given, the
paragraph every method must have, and the backward-rules file.

The hand-built contexts and the sites these tests read: `pagekit.py`, `pagesites.py`.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
from pagekit import (
    SHOWN_METHODS,
    make_contexts,
    parse,
    visible_text,
    write_site,
)

from generator import pages
from generator.method_records import catalog_records
from generator.methods.families import FAMILIES
from generator.pages import MissingParagraph

pytest_plugins = ("pagesites",)  # the built sites, shared by the session


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


def test_methods_page_shows_each_method_once_by_family_in_the_order_given(tmp_path):
    site, models, model_pages, images = make_contexts(tmp_path, "imagenet")
    records = list(reversed(catalog_records()))
    write_site(tmp_path, site, models, model_pages, images, methods=records)
    text = (tmp_path / "methods.md").read_text(encoding="utf-8")
    # Families in their order, each under its heading, its methods in the order given.
    family_order = [family.slug for family in FAMILIES]
    grouped = sorted(records, key=lambda record: family_order.index(record.family))
    assert [r.slug for r in grouped] != [r.slug for r in records]  # the grouping is seen
    families = [text.index(f"{{ #family-{slug} }}") for slug in family_order]
    assert families == sorted(families)
    headings = [f"{{ #{record.slug} }}" for record in grouped]
    # guided-backprop keeps the anchor it was cited by, and gets its slug's as well.
    headings = [h.replace("#guided-backprop ", "#guided-backpropagation ") for h in headings]
    places = [text.index(heading) for heading in headings]
    assert places == sorted(places) and all(text.count(h) == 1 for h in headings)
    for record, place in zip(grouped, places):  # each method under its own family's heading
        above = [slug for slug, at in zip(family_order, families) if at < place]
        assert above[-1] == record.family, record.slug
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


def test_every_method_section_has_the_same_parts_and_this_builds_example(imagenet_site):
    methods = imagenet_site.html("methods/index.html")
    article = methods[methods.index("<article") : methods.index("</article>")]
    records = catalog_records()
    shown = {SHOWN_METHODS[title].slug for title in SHOWN_METHODS}
    heads = [f'id="{record.slug}"' for record in records]
    heads = [h.replace('"guided-backprop"', '"guided-backpropagation"') for h in heads]
    starts = [article.index(head) for head in heads]
    # A section ends where the next method's, the next family's or the next part's begins.
    bounds = starts + [m.start() for m in re.finditer(r'id="family-', article)]
    bounds.append(article.index('id="backward-rules"'))
    ends = [min(b for b in bounds if b > start) for start in starts]
    for record, start, end in zip(records, starts, ends):
        section = article[start:end]
        text = visible_text(section)
        for part in ("Paper:", "What it shows.", "Where it misleads.", "Options and cost."):
            assert part in text, (record.slug, part)
        pictures = [a["src"] for tag, a in parse(section).tags if tag == "img"]
        if record.slug in shown:
            # The same model and photo for every method: the walkthrough's, its top class.
            assert pictures == [f"../assets/alphanet/cat/{record.slug}-1.webp"], record.slug
            links = [a.get("href") for tag, a in parse(section).tags if tag == "a"]
            assert f"../models/alphanet/#cat--tabby-cat--{record.slug}" in links, record.slug
        else:
            assert not pictures and "this build did not compute" in text, record.slug


def test_a_paragraph_without_every_part_stops_the_pages(tmp_path):
    templates = tmp_path / "templates"
    (templates / "methods").mkdir(parents=True)
    record = catalog_records()[0]
    source = (pages.TEMPLATES_DIR / record.paragraph).read_text(encoding="utf-8")
    assert all(f"\n{part}" in source for part in pages.PARAGRAPH_PARTS)
    pages.check_paragraphs(catalog_records(), pages.TEMPLATES_DIR)  # every catalog one passes
    for part in pages.PARAGRAPH_PARTS:
        (templates / record.paragraph).write_text(source.replace(f"\n{part}", "\n"), "utf-8")
        with pytest.raises(MissingParagraph, match="lacks a part"):
            pages.check_paragraphs([record], templates)
