"""The 1000 ImageNet-1k class names shipped in `generator/data/` (no download, works offline)."""

from __future__ import annotations

import functools
import importlib.resources
import json
import operator

NUM_CLASSES = 1000


@functools.cache
def imagenet_labels() -> tuple[str, ...]:
    """All 1000 class names in Keras' class-index order, read once from the package data."""
    text = (importlib.resources.files("generator") / "data" / "imagenet_labels.json").read_text(
        encoding="utf-8"
    )
    labels = json.loads(text)
    if len(labels) != NUM_CLASSES or not all(isinstance(name, str) for name in labels):
        raise RuntimeError(
            f"generator/data/imagenet_labels.json must hold {NUM_CLASSES} strings, "
            f"found {len(labels)} entries; restore the file from the repository"
        )
    return tuple(labels)


def label_for(index: int) -> str:
    """Name of ImageNet class `index` (0..999); accepts numpy integers such as an argmax."""
    position = operator.index(index)
    if not 0 <= position < NUM_CLASSES:
        raise IndexError(
            f"ImageNet class index {position} is out of range: "
            f"valid indices are 0..{NUM_CLASSES - 1}"
        )
    return imagenet_labels()[position]
