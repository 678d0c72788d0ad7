"""Build times measured on one reference machine: the figures the pages show.

A build's own times depend on its machine and load, so writing them into pages would make two
builds of the same inputs differ. Pages show these published figures instead (like the
accuracies in `model_facts`); every build prints its own and records them in
`<out>/.gallery-cache/build-times.json`, in this file's format. After a full build of the
sample images on the reference machine, copy that file to `generator/data/build_times.json`.

Times grow with what a build computes (each explanation method, the classes explained, the
images), so the file records that configuration too, and pages show its times only for a build
with the same one (`reference_note`); otherwise they name the configuration that was measured.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

import tensorflow as tf

from generator import __version__
from generator.files import write_if_changed
from generator.methods import catalog


@dataclass(frozen=True)
class Configuration:
    """What a build computed, as far as it changes its times: two builds that agree here take
    comparable times on one machine."""

    methods: tuple[str, ...]  # explanation method slugs, in catalog order
    top: int  # classes explained per image
    many_pass_top: int | None  # classes for the many-pass methods; None if none is selected
    images: int


def configuration(
    methods: tuple[str, ...], top: int, many_pass_top: int, images: int
) -> Configuration:
    """A build's configuration, normalised so that equal work compares equal (slug order, and
    `many_pass_top` only when a selected method needs many passes)."""
    selected = catalog.select(methods)
    many_passes = any(method.many_passes for method in selected)
    return Configuration(
        tuple(method.slug for method in selected),
        top,
        min(many_pass_top, top) if many_passes else None,
        images,
    )


@dataclass(frozen=True)
class BuildTimes:
    """Compute seconds per model, where they were measured and for which configuration."""

    machine: str
    generator: str
    images: int
    methods: list[str]
    top: int
    many_pass_top: int | None  # None: no method that needs many passes was computed
    seconds: dict[str, float]

    def configuration(self) -> Configuration:
        return Configuration(tuple(self.methods), self.top, self.many_pass_top, self.images)


@dataclass(frozen=True)
class ReferenceNote:
    """What the pages say about build times: whether the reference figures apply to this build,
    and in words which configuration they were measured with."""

    applies: bool
    measured_with: str  # e.g. "Grad-CAM and DeConvNet only, top 5 classes, 5 images"


def reference_note(build: Configuration, reference: BuildTimes | None = None) -> ReferenceNote:
    """Whether `reference` (the shipped file by default) was measured for `build`'s
    configuration: a time measured for other work would be wrong by the ratio of the work."""
    reference = reference or reference_times()
    measured = reference.configuration()
    titles = [catalog.by_slug(slug).title for slug in measured.methods]
    names = ", ".join(titles[:-1]) + f" and {titles[-1]}" if len(titles) > 1 else titles[0]
    only = "" if set(measured.methods) == set(catalog.SLUGS) else " only"
    many = (
        f" ({measured.many_pass_top} for the methods that need many passes)"
        if measured.many_pass_top is not None
        else ""
    )
    words = f"{names}{only}, top {measured.top} classes{many}, {measured.images} images"
    return ReferenceNote(build == measured, words)


@functools.cache
def reference_times() -> BuildTimes:
    """The shipped reference figures, read once."""
    text = (importlib.resources.files("generator") / "data" / "build_times.json").read_text(
        encoding="utf-8"
    )
    return BuildTimes(**json.loads(text))


def this_machine() -> str:
    """A short description of the machine, e.g. '2 CPU cores (x86_64), no GPU, TensorFlow 2.21.0'."""
    gpus = len(tf.config.list_physical_devices("GPU"))
    return (
        f"{os.cpu_count()} CPU cores ({platform.machine()}), "
        f"{f'{gpus} GPU' if gpus else 'no GPU'}, TensorFlow {tf.__version__}"
    )


def record_build_times(path: Path, seconds: dict[str, float], build: Configuration) -> None:
    """Write this build's figures, with its configuration, in the reference file's format, so
    the file can replace the reference as it is."""
    times = BuildTimes(
        machine=this_machine(),
        generator=__version__,
        images=build.images,
        methods=list(build.methods),
        top=build.top,
        many_pass_top=build.many_pass_top,
        seconds=dict(sorted(seconds.items())),
    )
    write_if_changed(path, (json.dumps(asdict(times), indent=1) + "\n").encode("utf-8"))
