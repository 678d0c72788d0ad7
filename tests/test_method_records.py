"""The methods page's records say what each method runs, from its own declarations."""

from __future__ import annotations

import dataclasses

from generator.method_records import describe_needs, method_record, short_citation
from generator.methods import catalog
from generator.methods.base import (
    Activations,
    HeadGradients,
    InputGradients,
    Logits,
    Noise,
    Same,
    StraightPath,
)


def test_short_citations_name_one_two_or_the_first_of_many_authors():
    assert short_citation("K. Simonyan", 2014, "ICLR") == "Simonyan (2014), ICLR"
    assert short_citation("M. D. Zeiler, R. Fergus", 2014, "ECCV") == "Zeiler & Fergus (2014), ECCV"
    many = "R. R. Selvaraju, M. Cogswell, A. Das"
    assert short_citation(many, 2017, "ICCV") == "Selvaraju et al. (2017), ICCV"


def test_passes_are_described_from_the_needs_with_their_counts_and_rules():
    target = "the target layer"
    assert describe_needs([Activations(target), HeadGradients(target)]) == (
        "backward from the class logits to the target layer"
    )
    assert describe_needs([InputGradients("guided", 5, Same())]) == (
        "backward to the pixels for 5 classes, guided rule"
    )
    path = describe_needs([InputGradients("plain", 1, StraightPath(32))])
    assert path.startswith("forward and backward of 33 points") and path.endswith("for 1 class")
    assert "16 noisy copies" in describe_needs([InputGradients("plain", 1, Noise(0.1, 16))])
    assert (
        describe_needs([Logits(Noise(0.1, 1))]) == "forward of 1 noisy copy, once for every class"
    )


def test_many_pass_methods_explain_the_top_1_and_options_follow_the_method():
    for method in catalog.METHODS:
        record = method_record(method, top=5)
        assert record.classes == (1 if method.many_passes else 5)
        assert record.paragraph == f"methods/{method.slug}.md.j2"
        assert [option.name for option in record.options] == list(method.options())
    steps = next(m for m in catalog.METHODS if "steps" in m.options())
    record = method_record(dataclasses.replace(steps, steps=8), top=5)
    assert ("steps", "8") in [(option.name, option.value) for option in record.options]
    assert "9 points" in record.passes
