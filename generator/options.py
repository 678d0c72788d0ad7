"""What a build is asked to do, and which models a shard of it builds (TensorFlow-free).

The command line fills `BuildOptions` before TensorFlow loads; the build, the cache keys and the
model processes read them. `methods` are slugs, checked and put in catalog order once, here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from generator.methods import catalog
from generator.methods.budget import DEFAULT_BUDGET_GIB

if TYPE_CHECKING:
    from generator.registry import ModelSpec


# How far to trust each method (`trust_work`): the defaults keep the checks within the compute
# the explanations themselves take (measured per model; see README).
DEFAULT_TRUST_STEPS = 6  # deletion and insertion: pixels removed or revealed in 6 equal steps
DEFAULT_RANDOMIZATION_STEPS = 2  # the head, then every layer

# What the neurons look for (`neuron_work`): the defaults keep the section within half of a
# model's explanation compute (measured per model; see README). A publishing build on a bigger
# machine raises them.
DEFAULT_NEURON_STEPS = 20  # Adam steps per picture and per inversion
DEFAULT_NEURON_SIZE = 80  # a channel's picture, in pixels (class pictures: 4/3 of that)
DEFAULT_NEURON_CHANNELS = 6  # pictures per stage tensor, of the channels the page shows


class BuildRefused(RuntimeError):
    """The build cannot go on as asked; the message names the culprit and the fix."""


@dataclass(frozen=True)
class BuildOptions:
    """What to build; mirrors the command line of `python -m generator build`."""

    specs: tuple[ModelSpec, ...]
    images: Path
    out: Path
    weights: str | Path  # "imagenet", "random" or a folder of Keras weight files
    top: int = 5
    methods: tuple[str, ...] = catalog.SLUGS  # explanation methods, by slug (`methods.catalog`)
    many_pass_top: int = 1  # classes explained by the methods that need many passes per image
    memory_budget: float = DEFAULT_BUDGET_GIB  # GiB a model process may use (`methods.memory`)
    force: bool = False  # write into a non-empty folder the generator did not create
    isolate: bool = False  # compute each model in its own process (bounded memory; CLI default)
    evaluate: bool = True  # check how far to trust each method (`trust_work`)
    trust_steps: int = DEFAULT_TRUST_STEPS  # deletion and insertion steps
    randomization_steps: int = DEFAULT_RANDOMIZATION_STEPS  # cascade steps, at most one a stage
    neurons: bool = True  # what the neurons look for (`neuron_work`)
    neuron_steps: int = DEFAULT_NEURON_STEPS
    neuron_size: int = DEFAULT_NEURON_SIZE
    neuron_channels: int = DEFAULT_NEURON_CHANNELS
    neuron_classes: tuple[int, ...] = ()  # classes pictured besides each photo's top-1
    repeated: tuple[str, ...] = field(init=False, default=())  # models asked for more than once

    def __post_init__(self) -> None:
        """Each model once, in the order first asked for; the methods in catalog order, each
        once; an unknown slug is an error."""
        unique: dict[str, ModelSpec] = {}
        for spec in self.specs:
            unique.setdefault(spec.name, spec)
        names = [spec.name for spec in self.specs]
        object.__setattr__(self, "specs", tuple(unique.values()))
        object.__setattr__(self, "repeated", tuple(n for n in unique if names.count(n) > 1))
        known = [slug for slug in catalog.SLUGS if slug in self.methods]
        unknown = sorted(set(self.methods) - set(known))
        if unknown:
            raise catalog.UnknownMethod(
                f"unknown method {unknown[0]!r}; choose from: {', '.join(catalog.SLUGS)}"
            )
        object.__setattr__(self, "methods", tuple(known))


def select_shard(specs: Iterable[ModelSpec], index: int, count: int) -> tuple[ModelSpec, ...]:
    """Shard `index` (1-based) of `count`: a deterministic split of the models, balanced by cost.

    Cost is estimated as parameters x input pixels; models are dealt, costliest first, to the
    shard with the least cost so far (ties by name), so every machine gets the same answer.
    """
    if not 1 <= index <= count:
        raise ValueError(f"shard {index}/{count} does not exist: use 1/{count} to {count}/{count}")

    def cost(spec: ModelSpec) -> float:
        return (spec.params or 1.0) * spec.input_size[0] * spec.input_size[1]

    loads = [0.0] * count
    chosen: list[ModelSpec] = []
    for spec in sorted(specs, key=lambda s: (-cost(s), s.name)):
        shard = min(range(count), key=lambda i: (loads[i], i))
        loads[shard] += cost(spec)
        if shard == index - 1:
            chosen.append(spec)
    return tuple(sorted(chosen, key=lambda s: s.name))
