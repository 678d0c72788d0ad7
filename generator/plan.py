"""What to build, and what of it the cache already holds, decided before any model is built.

The build looks every model's page up here first, so weights are resolved and model processes
started only for what is missing, and a no-op rebuild starts none. Cache keys name every input a
cached page depends on; an entry that cannot be read back is a miss, never a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import keras

from generator import __version__, render
from generator.cache import Cache, content_key, folder_fingerprint
from generator.figures import DISPLAY_SIDE, FEATURE_CHANNELS, PROJECTION_CHANNELS
from generator.images import SourceImage
from generator.methods import SELECTION_VERSION, catalog
from generator.registry import ModelSpec
from generator.site_records import ChosenTensor, Figure, FilterFigure, ImageSection, Prediction

CACHE_DIR = ".gallery-cache"  # in --out; MkDocs skips dot-folders, so it is never published
# The JSON shape of the cached records (`site_records`); a change makes old entries misses.
RECORDS_VERSION = 2


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
    force: bool = False  # write into a non-empty folder the generator did not create
    isolate: bool = False  # compute each model in its own process (bounded memory; CLI default)


def weights_label(weights: str | Path) -> tuple[str, str]:
    """(mode, human label) for the pages."""
    if weights == "random":
        return "random", "random, untrained (seeded)"
    if weights == "imagenet":
        return "imagenet", "ImageNet (Keras)"
    return "folder", f"ImageNet, from the folder {Path(weights).name}"


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


# --- cache keys -------------------------------------------------------------------------------


def _weights_identity(weights: str | Path) -> list:
    """What the model's weights depend on, for cache keys.

    ImageNet weights are fixed by the Keras release (Keras checks each download's hash), so
    the Keras version in the key covers them, and sharded builds on other machines agree.
    A user's folder may change at any time: its files' names, sizes and times count.
    """
    if weights in ("random", "imagenet"):
        return [str(weights)]
    folder = Path(weights).resolve()
    return ["folder", str(folder), folder_fingerprint(folder)]


def model_key(spec: ModelSpec, options: BuildOptions) -> str:
    """The key of a model's card; every image section's key extends it."""
    return content_key(
        model=spec.name,
        weights=_weights_identity(options.weights),
        generator=__version__,
        keras=keras.__version__,
        top=options.top,
        # Each method's options: a changed option makes a new key.
        methods=[[m.slug, m.options()] for m in catalog.select(options.methods)],
        many_pass_top=options.many_pass_top,
        features=FEATURE_CHANNELS,
        projections=PROJECTION_CHANNELS,
        display=DISPLAY_SIDE,
        figures=render.FIGURE_STYLE,
        gradcam_layer=spec.gradcam_layer,
        selection=SELECTION_VERSION,
        records=RECORDS_VERSION,
    )


def image_key(model_key: str, source: SourceImage) -> str:
    return content_key(model=model_key, image=source.sha256, slug=source.slug, title=source.title)


# --- cached entries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelCard:
    """The per-model part of a page that does not depend on the images; cached as JSON."""

    target: ChosenTensor
    stages: list[ChosenTensor]
    report: list[str]
    filters: list[FilterFigure]
    seconds: float  # building the model, tracing its functions, rendering its filters

    @classmethod
    def from_json(cls, data: dict) -> ModelCard:
        filters = [FilterFigure.from_json(f) for f in data["filters"]]
        target = ChosenTensor.from_json(data["target"])
        stages = [ChosenTensor.from_json(s) for s in data["stages"]]
        return cls(target, stages, data["report"], filters, data["seconds"])


@dataclass(frozen=True)
class CachedSection:
    """One image's section of a model page and the compute seconds it took when it was made."""

    section: ImageSection
    seconds: float


# The types a cached entry's fields must have for the pages to use it.
_FIELD_TYPES = {
    Figure: {"path": str, "caption": str, "alt": str},
    Prediction: {"rank": int, "class_index": int, "label": str, "probability": int | float},
}


def _well_formed(value: object, kind: type) -> bool:
    """A Figure or Prediction read from JSON whose fields have the types the pages expect."""
    return isinstance(value, kind) and all(
        isinstance(getattr(value, name), wanted) for name, wanted in _FIELD_TYPES[kind].items()
    )


class _Cached:
    """Looks up a model's card and image sections, counting only entries whose files exist.

    An entry that cannot be read back (edited, truncated, from an incompatible version) is a
    miss like a missing one: it is recomputed and replaced, never a failure of its model.
    """

    def __init__(self, cache: Cache, out: Path, key: str) -> None:
        self.cache, self.out, self.key = cache, out, key

    def _complete(self, figures: Iterable[Figure]) -> bool:
        return all(
            _well_formed(figure, Figure)
            and not PurePosixPath(figure.path).is_absolute()
            and ".." not in PurePosixPath(figure.path).parts
            and (self.out / figure.path).is_file()
            for figure in figures
        )

    def card(self) -> ModelCard | None:
        try:
            card = ModelCard.from_json(self.cache.get(self.key))
            valid = (
                all(isinstance(chosen.name, str) for chosen in [card.target, *card.stages])
                and all(isinstance(text, str) for text in card.report)
                and all(isinstance(f.layer, str) and isinstance(f.note, str) for f in card.filters)
                and isinstance(card.seconds, int | float)
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        return card if valid and self._complete(f.figure for f in card.filters) else None

    def section(self, source: SourceImage) -> CachedSection | None:
        try:
            data = self.cache.get(image_key(self.key, source))
            section, seconds = ImageSection.from_json(data["section"]), data["seconds"]
            valid = (
                isinstance(seconds, int | float)
                and isinstance(section.title, str)
                and section.slug == source.slug
                and all(_well_formed(p, Prediction) for p in section.predictions)
                and all(_well_formed(c.prediction, Prediction) for c in section.classes)
                and all(isinstance(shown.layer, str) for shown in section.feature_maps)
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        complete = valid and self._complete(section.figures())
        return CachedSection(section, seconds) if complete else None


@dataclass(frozen=True)
class Plan:
    """What the cache already holds of one model's page."""

    key: str
    card: ModelCard | None
    found: dict[str, CachedSection | None]  # image slug -> cached section

    @property
    def complete(self) -> bool:
        return self.card is not None and all(self.found.values())

    @property
    def missing_images(self) -> int:
        return sum(section is None for section in self.found.values())


def plan_model(
    cache: Cache, spec: ModelSpec, options: BuildOptions, images: list[SourceImage]
) -> Plan:
    """Looked up before any model is computed, so weights are resolved only where needed.

    An entry that cannot be read back (edited, or from another generator) counts as missing:
    it is recomputed and replaced, and the lookup never fails the build.
    """
    cached = _Cached(cache, options.out, model_key(spec, options))

    def read(lookup: Callable[[], Any]) -> Any:
        try:
            return lookup()
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            return None

    return Plan(
        cached.key, read(cached.card), {s.slug: read(partial(cached.section, s)) for s in images}
    )
