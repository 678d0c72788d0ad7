"""The explanation methods as plain records for the pages: what the methods page says of each.

Templates never compute, so everything the methods page shows of a method (its short citation,
the passes it runs per image, its options, how many classes it explains, the file of its
paragraph) is worked out here from the method's own declarations (`methods.base.Method`):
a method added to the catalog appears on the page without a change here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.methods.base import (
    Activations,
    Context,
    HeadGradients,
    InputGradients,
    Logits,
    Method,
    Noise,
    Paper,
    Same,
    StraightPath,
)
from generator.methods.catalog import METHODS

# Where a method's paragraph for the methods page lives, relative to the templates folder.
PARAGRAPH = "methods/{slug}.md.j2"
# Stand-ins for the tensors a method reads: its needs are described, not run.
_TARGET = "the target layer"
_STAGES = tuple(f"stage layer {number}" for number in range(1, 6))


class MissingParagraph(ValueError):
    """A catalog method without its paragraph for the methods page."""


@dataclass(frozen=True)
class OptionRecord:
    name: str
    value: str


@dataclass(frozen=True)
class MethodRecord:
    """One method as the methods page shows it."""

    slug: str  # its anchor on the methods page and in file names
    title: str
    paper: Paper
    citation: str  # short: "Selvaraju et al. (2017), ICCV"
    kind: str  # "class map" | "input attribution"
    display: str  # a `methods.display.Display`
    options: tuple[OptionRecord, ...]
    many_passes: bool
    classes: int  # how many of the top classes it explains by default
    passes: str  # what it runs per image, besides the shared forward pass
    paragraph: str  # its template, e.g. "methods/grad-cam.md.j2"


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


def _count(number: int, singular: str, plural: str) -> str:
    return f"{number} {singular if number == 1 else plural}"


def _copies(maker: Any) -> str:
    """What an input maker makes of each image, e.g. "33 points on the path from black"."""
    if isinstance(maker, Same):
        return "the image"
    if isinstance(maker, StraightPath):
        return f"{maker.steps + 1} points on the straight path from the black photo"
    if isinstance(maker, Noise):
        return _count(maker.samples, "noisy copy", "noisy copies")
    fields = ", ".join(f"{name} = {_option_text(value)}" for name, value in vars(maker).items())
    words = "".join(f" {c.lower()}" if c.isupper() else c for c in type(maker).__name__).strip()
    return f"{words} ({fields})" if fields else words


def describe_needs(needs: Iterable[Any]) -> str:
    """The passes a method's needs ask for per image, besides the forward pass all share."""
    needs = list(dict.fromkeys(needs))
    parts = []
    heads = [need.tensor for need in needs if isinstance(need, HeadGradients)]
    if _TARGET in heads:
        parts.append("backward from the class logits to the target layer")
    stages = [tensor for tensor in heads if tensor in _STAGES]
    if stages:
        parts.append("backward from the class logits to each stage layer")
    for need in needs:
        if isinstance(need, InputGradients):
            rule = "" if need.rule == "plain" else f", {need.rule} rule"
            where = _copies(need.inputs)
            if where == "the image":
                parts.append(
                    f"backward to the pixels for {_count(need.classes, 'class', 'classes')}{rule}"
                )
            else:
                parts.append(
                    f"forward and backward of {where}, for {_count(need.classes, 'class', 'classes')}{rule}"
                )
        elif isinstance(need, Logits):
            parts.append(f"forward of {_copies(need.inputs)}, once for every class")
        elif not isinstance(need, (Activations, HeadGradients)):
            parts.append(repr(need))
    return "; ".join(parts) or "nothing beyond the forward pass"


def _option_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def method_record(method: Method, top: int, many_pass_top: int = 1) -> MethodRecord:
    """The page's record of `method` when the build explains the `top` classes (methods that
    need many passes: `many_pass_top`)."""
    classes = min(top, many_pass_top) if method.many_passes else top
    context = Context(target=_TARGET, stages=_STAGES, classes=classes)
    paper = method.paper
    return MethodRecord(
        slug=method.slug,
        title=method.title,
        paper=paper,
        citation=short_citation(paper.authors, paper.year, paper.venue),
        kind=method.kind,
        display=method.display,
        options=tuple(
            OptionRecord(name, _option_text(value)) for name, value in method.options().items()
        ),
        many_passes=method.many_passes,
        classes=classes,
        passes=describe_needs(method.needs(context)),
        paragraph=PARAGRAPH.format(slug=method.slug),
    )


def check_paragraphs(records: Sequence[MethodRecord], templates: Path) -> None:
    """Stop the build with a clear message when a method has no paragraph to show."""
    for record in records:
        if not (templates / record.paragraph).is_file():
            raise MissingParagraph(
                f"the method {record.slug!r} has no paragraph for the methods page: write "
                f"templates/{record.paragraph} (heading '## {record.title} {{ #{record.slug} }}', "
                "formula, paper, what it shows, where it misleads, options, cost)"
            )


def catalog_records(top: int = 5, many_pass_top: int = 1) -> tuple[MethodRecord, ...]:
    """Every catalog method's record, in catalog order (the order pages show them)."""
    return tuple(method_record(method, top, many_pass_top) for method in METHODS)
