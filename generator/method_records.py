"""The explanation methods as plain records for the pages: what the methods page says of each.

Templates never compute, so everything the methods page shows of a method (its short citation,
the passes it runs per image, its options, how many classes it explains, the file of its
paragraph) is worked out here from the method's own declarations (`methods.base.Method`):
a method added to the catalog appears on the page without a change here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from generator.methods.base import Context, Method, Need
from generator.methods.catalog import METHODS
from generator.site_records import MethodRecord, OptionRecord

# Where a method's paragraph for the methods page lives, relative to the templates folder.
PARAGRAPH = "methods/{slug}.md.j2"
# Stand-ins for the tensors a method reads: its needs are described, not run. Every stage is
# "each stage layer", so the passes to the five stages are described once.
_TARGET = "the target layer"
_STAGES = ("each stage layer",) * 5


def short_citation(authors: str, year: int, venue: str) -> str:
    """ "Selvaraju et al. (2017), ICCV" from "R. R. Selvaraju, M. Cogswell, ..." """
    names = [name.strip() for name in authors.replace(" and ", ", ").split(",") if name.strip()]
    surnames = [name.split()[-1] for name in names]
    if len(surnames) == 1:
        who = surnames[0]
    elif len(surnames) == 2:
        who = f"{surnames[0]} & {surnames[1]}"
    else:
        who = f"{surnames[0]} et al."
    return f"{who} ({year}), {venue}"


def describe_needs(needs: Iterable[Need]) -> str:
    """The passes a method's needs ask for per image, besides the forward pass all share."""
    described = dict.fromkeys(need.describe() for need in needs)
    return "; ".join(text for text in described if text) or "nothing beyond the forward pass"


def _option_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def method_record(method: Method, top: int, many_pass_top: int = 1) -> MethodRecord:
    """The page's record of `method` when the build explains the `top` classes (methods that
    need many passes: `many_pass_top`)."""
    classes = method.classes_explained(top, many_pass_top)
    context = Context(target=_TARGET, stages=_STAGES, classes=classes)
    paper = method.paper
    return MethodRecord(
        slug=method.slug,
        title=method.title,
        paper=paper,
        citation=short_citation(paper.authors, paper.year, paper.venue),
        kind=method.kind,
        display=method.display,
        family=method.family.slug,
        options=tuple(
            OptionRecord(name, _option_text(value)) for name, value in method.options().items()
        ),
        many_passes=method.many_passes,
        class_specific=method.class_specific,
        classes=classes,
        passes=describe_needs(method.needs(context)),
        paragraph=PARAGRAPH.format(slug=method.slug),
    )


def catalog_records(top: int = 5, many_pass_top: int = 1) -> tuple[MethodRecord, ...]:
    """Every catalog method's record, in catalog order (the order pages show them)."""
    return tuple(method_record(method, top, many_pass_top) for method in METHODS)
