"""A model's page record and its row of the home table, from what the build knows of it.

The build makes these for every model (built now, reused whole from the cache, or failed), the
model processes for the models they compute; both take them from here, beside no computation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from generator.options import BuildOptions
from generator.plan import ModelCard
from generator.reference_times import reference_times
from generator.site_records import (
    FilterFigure,
    ModelPage,
    ModelSummary,
    ModelTrust,
    NeuronSection,
    OwnModelFacts,
)

if TYPE_CHECKING:
    from generator.registry import ModelSpec
    from generator.sections import ImageOutcome


@dataclass(frozen=True)
class ComputedPage:
    """A model's page context, its recorded compute seconds, and what this build computed."""

    page: ModelPage
    seconds: float  # as recorded when each part was made
    computed: dict[str, int]  # method slug -> images whose pictures of it were computed now
    left_out: dict[str, str] = field(default_factory=dict)  # slug -> why (memory)
    # trust check -> how many of its parts were computed now ("deletion and insertion": maps
    # scored on a photo; "randomization": methods)
    checked: dict[str, int] = field(default_factory=dict)


def model_page(
    spec: ModelSpec,
    options: BuildOptions,
    card: ModelCard,
    outcomes: list[ImageOutcome],
    left_out: Sequence[str] = (),
    trust: ModelTrust | None = None,
    neurons: NeuronSection | None = None,
) -> ComputedPage:
    """The page context, the model's compute seconds as recorded when they were spent, and
    what of it was computed in this build; `left_out` says which methods the memory budget
    left out, and why; `trust` is the trust section (None: the build did not check); `neurons`
    what the neurons look for (None: `--no-neurons`)."""
    mode, label = spec.weights_label(options.weights)
    page = ModelPage(
        summary=model_summary(spec, card.target.name, "built", None),
        paper=spec.paper,
        paper_url=spec.paper_url,
        preprocessing=spec.preprocessing,
        weights_random=mode == "random",
        weights_label=label,
        nonlinearity_report=card.report,
        target=card.target,
        stages=card.stages,
        filters=card.filters,
        images=[outcome.section for outcome in outcomes],
        left_out=list(left_out),
        trust=trust,
        own=card.own,
        neurons=neurons,
    )
    computed = Counter(slug for outcome in outcomes for slug in outcome.computed)
    seconds = card.seconds + sum(outcome.seconds for outcome in outcomes)
    seconds += neurons.seconds if neurons is not None else 0.0
    return ComputedPage(page, seconds, dict(computed))


def limited_page(
    spec: ModelSpec,
    options: BuildOptions,
    filters: list[FilterFigure],
    own: OwnModelFacts,
    not_drawn: list[str],
    seconds: float,
) -> ComputedPage:
    """The page of an own model the gallery cannot explain (several inputs, no spatial layer,
    ...): its card and filters, and what is not drawn, and why."""
    page = ModelPage(
        summary=model_summary(spec, None, "built", None),
        paper=None,
        paper_url=None,
        preprocessing=spec.preprocessing,
        weights_random=False,
        weights_label=spec.weights_label(options.weights)[1],
        nonlinearity_report=[],
        target=None,
        stages=[],
        filters=filters,
        images=[],
        own=own,
        not_drawn=not_drawn,
    )
    return ComputedPage(page, seconds, {})


def model_summary(
    spec: ModelSpec,
    target: str | None,
    status: str,
    failure: str | None,
) -> ModelSummary:
    """The model's row of the home-page table, with the reference machine's build time."""
    return ModelSummary(
        name=spec.name,
        slug=spec.slug,
        family=spec.family,
        year=spec.year,
        params=spec.params,
        input_size=spec.input_size,
        top1=spec.top1,
        top5=spec.top5,
        target_layer=target,
        status=status,
        failure=failure,
        reference_seconds=reference_times().seconds.get(spec.name) if status == "built" else None,
    )
