"""Build times measured on one reference machine: the figures the pages show.

A build's own times depend on its machine and load, so writing them into pages would make two
builds of the same inputs differ. Pages show these published figures instead (like the
accuracies in `model_facts`); every build prints its own and records them in
`<out>/.gallery-cache/build-times.json`, in this file's format. After a full build of the
sample images on the reference machine, copy that file to `generator/data/build_times.json`.
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
from generator.render import atomic_write_text


@dataclass(frozen=True)
class BuildTimes:
    """Compute seconds per model for `images` images, and where they were measured."""

    machine: str
    generator: str
    images: int
    seconds: dict[str, float]


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


def record_build_times(path: Path, seconds: dict[str, float], images: int) -> None:
    """Write this build's figures in the reference file's format."""
    times = BuildTimes(this_machine(), __version__, images, dict(sorted(seconds.items())))
    atomic_write_text(path, json.dumps(asdict(times), indent=1) + "\n")
