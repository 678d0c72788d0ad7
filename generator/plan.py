"""What to build, and what of it the cache already holds, decided before any model is built.

The build looks every model's page up here first, so weights are resolved and model processes
started only for what is missing, and a no-op rebuild starts none. A page is cached in parts: the
model's card; per image, the part no method changes, one part per method (keyed by that method's
options, so a changed option recomputes that method only), and the printable grid of the
selected methods. Cache keys name every input a part depends on; an entry that cannot be read
back is a miss, never a failure.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from functools import cache, partial
from pathlib import Path, PurePosixPath
from types import UnionType
from typing import Any

import keras
import numpy as np

from generator import __version__, render
from generator.cache import Cache, content_key, folder_fingerprint
from generator.figures import DISPLAY_SIDE, FEATURE_CHANNELS, PROJECTION_CHANNELS
from generator.files import file_sha256
from generator.images import SourceImage
from generator.methods import SELECTION_VERSION, catalog
from generator.methods.base import Method
from generator.options import BuildOptions
from generator.registry import ModelSpec
from generator.site_records import (
    ChosenTensor,
    FamilySheet,
    FeatureMapFigure,
    Figure,
    FilterFigure,
    MethodTile,
    NeuronSection,
    OwnModelFacts,
    Prediction,
    ProjectionFigure,
    RandomizationPart,
    Scores,
    Similarity,
)
from generator.trust_summary import BASELINES

# The JSON shape of the cached records (`site_records`); a change makes old entries misses.
RECORDS_VERSION = 6


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
    """The key of a model's card; every image's keys extend it.

    The methods are not in it: each method's pictures of an image have a key of their own
    (`method_key`), so a changed option recomputes that method only. An own model is keyed by
    its file's hash, class names and preprocessing, not by the build's `--weights`: a retrained
    file is recomputed, an unchanged one is not.
    """
    own = {}
    if spec.file is not None:
        own = {"file": spec.file_sha256, "classes": spec.class_names, "pre": spec.preprocessing}
    return content_key(
        model=spec.name,
        weights=_weights_identity(options.weights) if spec.file is None else ["file"],
        **own,
        generator=__version__,
        keras=keras.__version__,
        top=options.top,
        features=FEATURE_CHANNELS,
        projections=PROJECTION_CHANNELS,
        display=DISPLAY_SIDE,
        figures=render.FIGURE_STYLE,
        gradcam_layer=spec.gradcam_layer,
        selection=SELECTION_VERSION,
        records=RECORDS_VERSION,
    )


def image_key(model_key: str, source: SourceImage) -> str:
    """The key of the part of an image's section that no method changes (`SharedPart`)."""
    return content_key(model=model_key, image=source.sha256, slug=source.slug, title=source.title)


# The packages of the methods' own code (`generator/methods/<package>/`). A method's key holds
# its own code's digest, so a change to one method recomputes that method only, even where the
# cache outlives a code change: the Pages workflow keeps its cache across changes to these
# packages, and starts clean when any other code of the generator changes.
METHOD_PACKAGES = ("cam", "gradient", "perturb", "wrap")


def _method_module(name: str) -> bool:
    parts = name.split(".")
    return len(parts) > 2 and parts[:2] == ["generator", "methods"] and parts[2] in METHOD_PACKAGES


@cache
def _imported_method_modules(module: str) -> frozenset[str]:
    """`module` and the method modules it imports, directly or not (read from the source)."""
    found, pending = {module}, [module]
    while pending:
        for node in ast.walk(ast.parse(_module_source(pending.pop()))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            else:
                continue
            for name in names:
                if _method_module(name) and name not in found:
                    found.add(name)
                    pending.append(name)
    return frozenset(found)


def _method_modules(method: Method) -> set[str]:
    """The modules of a method's code: its classes', a wrapped method's, and what they import."""
    modules = {cls.__module__ for cls in type(method).__mro__ if _method_module(cls.__module__)}
    for option in fields(method):
        value = getattr(method, option.name)
        if isinstance(value, Method):
            modules |= _method_modules(value)
    return set().union(*(_imported_method_modules(module) for module in modules))


def _module_source(module: str) -> bytes:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, (
        f"no source file for {module}, a generator module"
    )
    return Path(spec.origin).read_bytes()


@cache
def _source_digest(modules: frozenset[str]) -> str:
    digest = hashlib.sha256()
    for module in sorted(modules):
        digest.update(module.encode() + b"\0" + _module_source(module))
    return digest.hexdigest()[:16]


def method_code(method: Method) -> str:
    """A digest of the method's own code, for its cache key (see `METHOD_PACKAGES`)."""
    return _source_digest(frozenset(_method_modules(method)))


def method_key(image_key: str, method: Method, options: BuildOptions) -> str:
    """The key of one method's pictures of one image: its options and its own code, for a
    method that needs many passes how many classes it explains (`--many-pass-top`), and the
    code that compares its maps of the classes (`MethodPart.class_similarity`)."""
    return content_key(
        image=image_key,
        method=method.slug,
        options=method.options(),
        code=method_code(method),
        classes=options.many_pass_top if method.many_passes else None,
        similarity=_source_digest(frozenset({SIMILARITY_MODULE})),
    )


# The trust checks' code (`generator/methods/trust/`): in the keys of their parts, so a change to
# it recomputes the checks only; the class similarities live in the methods' parts.
TRUST_PACKAGE = "generator.methods.trust"
SIMILARITY_MODULE = f"{TRUST_PACKAGE}.similarity"


@cache
def package_code(package: str) -> str:
    """A digest of a package's code, read from its source files."""
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, f"{package} is missing"
    folder = Path(next(iter(spec.submodule_search_locations)))
    modules = {f"{package}.{path.stem}" for path in folder.glob("*.py")}
    return _source_digest(frozenset(modules - {f"{package}.__init__"}) | {package})


def trust_code() -> str:
    """A digest of the trust checks' code."""
    return package_code(TRUST_PACKAGE)


# What the neurons look for: the optimisation (`generator/methods/neurons/`), what the model
# process does with it and how its figures are drawn; a change recomputes that section only.
NEURON_PACKAGE = "generator.methods.neurons"
NEURON_MODULES = frozenset({"generator.neuron_work", "generator.render.neurons"})


def neurons_key(model_key: str, image_keys: Iterable[str], options: BuildOptions) -> str:
    """The key of a model's neurons section: its photos (the channels their figures show, their
    top classes) and the section's options."""
    return content_key(
        model=model_key,
        images=list(image_keys),
        steps=options.neuron_steps,
        size=options.neuron_size,
        channels=options.neuron_channels,
        classes=list(options.neuron_classes),
        code=package_code(NEURON_PACKAGE),
        work=_source_digest(NEURON_MODULES),
    )


def scores_key(image_key: str, scored: str, options: BuildOptions) -> str:
    """The key of one map's deletion and insertion scores on one photo: `scored` is the
    method's key, or a baseline's name."""
    return content_key(image=image_key, scored=scored, steps=options.trust_steps, code=trust_code())


def randomization_key(image_key: str, method_key: str, options: BuildOptions) -> str:
    """The key of one method's randomization strip and similarities on the stated photo."""
    return content_key(
        image=image_key,
        method=method_key,
        steps=options.randomization_steps,
        code=trust_code(),
    )


def grid_key(image_key: str, method_keys: Iterable[str]) -> str:
    """The key of an image's printable grid, which shows exactly these methods, in this order."""
    return content_key(image=image_key, methods=list(method_keys))


# --- cached entries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelCard:
    """The per-model part of a page that does not depend on the images; cached as JSON."""

    target: ChosenTensor
    stages: list[ChosenTensor]
    report: list[str]
    filters: list[FilterFigure]
    seconds: float  # building the model, tracing its functions, rendering its filters
    own: OwnModelFacts | None = None  # a user's own model: what its file holds

    @classmethod
    def from_json(cls, data: dict) -> ModelCard:
        filters = [FilterFigure.from_json(f) for f in data["filters"]]
        target = ChosenTensor.from_json(data["target"])
        stages = [ChosenTensor.from_json(s) for s in data["stages"]]
        own = OwnModelFacts(**data["own"]) if data.get("own") else None
        return cls(target, stages, data["report"], filters, data["seconds"], own)


@dataclass(frozen=True)
class SharedPart:
    """What an image's section shows whatever the methods: the crop, the predictions (the
    classes every method explains), feature maps and projections; cached as JSON."""

    crop: Figure
    predictions: list[Prediction]
    feature_maps: list[FeatureMapFigure]
    projections: list[ProjectionFigure]
    seconds: float  # its share of the compute that made it

    @classmethod
    def from_json(cls, data: dict) -> SharedPart:
        return cls(
            crop=Figure(**data["crop"]),
            predictions=[Prediction(**p) for p in data["predictions"]],
            feature_maps=[FeatureMapFigure.from_json(f) for f in data["feature_maps"]],
            projections=[ProjectionFigure.from_json(p) for p in data["projections"]],
            seconds=data["seconds"],
        )

    def figures(self) -> list[Figure]:
        return [
            self.crop,
            *(f.figure for f in self.feature_maps),
            *(p.figure for p in self.projections),
        ]


@dataclass(frozen=True)
class MethodPart:
    """One method's pictures of one image, one per class it explains (best first); cached as
    JSON, with the method's cells of the printable grid stored beside it (`CELLS`)."""

    tiles: list[MethodTile]
    seconds: float  # its share of the compute that made it
    # its map of the top class against its map of each next class (`trust_work`); empty when
    # it explains one class, or draws one map for every class
    class_similarity: list[Similarity] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict) -> MethodPart:
        return cls(
            [MethodTile.from_json(tile) for tile in data["tiles"]],
            data["seconds"],
            [Similarity.from_json(s) for s in data["class_similarity"]],
        )


@dataclass(frozen=True)
class PrintPart:
    """An image's pictures for print, drawn from its methods' cells without a model: the
    printable grid of every method, and one A4 sheet per method family; cached as JSON."""

    grid: Figure
    sheets: list[FamilySheet]

    def figures(self) -> list[Figure]:
        return [self.grid, *(sheet.figure for sheet in self.sheets)]

    @classmethod
    def from_json(cls, data: dict) -> PrintPart:
        return cls(Figure(**data["grid"]), [FamilySheet.from_json(s) for s in data["sheets"]])


CELLS = "cells"  # the name of a method part's array of grid cells (`render.CellColumn.cells`)


def load_cells(cache: Cache, key: str, part: MethodPart) -> np.ndarray | None:
    """A method part's grid cells, or None when they cannot be read back (then it is redone)."""
    arrays = cache.get_arrays(key)
    cells = None if arrays is None else arrays.get(CELLS)
    valid = (
        cells is not None
        and cells.dtype == np.uint8
        and cells.ndim == 5
        and len(cells) == len(part.tiles)
        and cells.shape[-1] == 3
    )
    return cells if valid else None


# The types a cached entry's fields must have for the pages to use it.
_FIELD_TYPES: dict[type, dict[str, type | UnionType]] = {
    Figure: {"path": str, "caption": str, "alt": str},
    Prediction: {"rank": int, "class_index": int, "label": str, "probability": int | float},
}


def _well_formed(value: object, kind: type) -> bool:
    """A Figure or Prediction read from JSON whose fields have the types the pages expect."""
    return isinstance(value, kind) and all(
        isinstance(getattr(value, name), wanted) for name, wanted in _FIELD_TYPES[kind].items()
    )


_UNREADABLE = (KeyError, TypeError, ValueError, AttributeError, IndexError, OSError)


def put_entry(cache: Cache, out: Path, key: str, record: dict, figures: Iterable[Figure]) -> None:
    """Cache `record` with the sha256 of each file it names, as written (call it once they are).

    Paths are stable, so another build may since have written other bytes at the same path
    (another option of a method, another set of methods in the grid); the digests tell.
    """
    files = {figure.path: file_sha256(out / figure.path) for figure in figures}
    cache.put(key, {**record, "files": files})


class _Cached:
    """Looks up a model's card and its images' parts, counting only entries whose files still
    hold the bytes the entry recorded (`put_entry`).

    An entry that cannot be read back (edited, truncated, from an incompatible version) is a
    miss like a missing one: it is recomputed and replaced, never a failure of its model.
    """

    def __init__(self, cache: Cache, out: Path, key: str) -> None:
        self.cache, self.out, self.key = cache, out, key

    def _complete(self, figures: Iterable[Figure], files: dict) -> bool:
        return all(
            _well_formed(figure, Figure)
            and not PurePosixPath(figure.path).is_absolute()
            and ".." not in PurePosixPath(figure.path).parts
            and (self.out / figure.path).is_file()
            and files.get(figure.path) == file_sha256(self.out / figure.path)
            for figure in figures
        )

    def card(self) -> ModelCard | None:
        try:
            data = self.cache.get(self.key)
            if data is None:  # a miss
                return None
            card = ModelCard.from_json(data)
            valid = (
                all(isinstance(chosen.name, str) for chosen in [card.target, *card.stages])
                and all(isinstance(text, str) for text in card.report)
                and all(isinstance(f.layer, str) and isinstance(f.note, str) for f in card.filters)
                and isinstance(card.seconds, int | float)
                and self._complete((f.figure for f in card.filters), data["files"])
            )
        except _UNREADABLE:
            return None
        return card if valid else None

    def shared(self, key: str) -> SharedPart | None:
        try:
            data = self.cache.get(key)
            if data is None:  # a miss
                return None
            shared = SharedPart.from_json(data)
            valid = (
                isinstance(shared.seconds, int | float)
                and bool(shared.predictions)
                and all(_well_formed(p, Prediction) for p in shared.predictions)
                and all(isinstance(shown.layer, str) for shown in shared.feature_maps)
                and self._complete(shared.figures(), data["files"])
            )
        except _UNREADABLE:
            return None
        return shared if valid else None

    def method(self, key: str, slug: str) -> MethodPart | None:
        try:
            data = self.cache.get(key)
            if data is None:  # a miss
                return None
            part = MethodPart.from_json(data)
            valid = (
                isinstance(part.seconds, int | float)
                and all(tile.method.slug == slug for tile in part.tiles)
                and self._complete(
                    (f for tile in part.tiles for f in tile.figures()), data["files"]
                )
            )
        except _UNREADABLE:
            return None
        return part if valid and self.cache.has_arrays(key) else None

    def scores(self, key: str) -> Scores | None:
        try:
            data = self.cache.get(key)
            scores = None if data is None else Scores.from_json(data)
        except _UNREADABLE:
            return None
        valid = scores is not None and all(
            isinstance(value, float)
            for value in [*scores.deletion, *scores.insertion, scores.deletion_auc,
                          scores.insertion_auc]
        )  # fmt: skip
        return scores if valid else None

    def randomization(self, key: str) -> RandomizationPart | None:
        try:
            data = self.cache.get(key)
            if data is None:  # a miss
                return None
            part = RandomizationPart.from_json(data)
            valid = all(
                isinstance(s.spearman, float) and isinstance(s.ssim, float)
                for s in part.similarities
            ) and self._complete([part.strip], data["files"])
        except _UNREADABLE:
            return None
        return part if valid else None

    def neurons(self, key: str) -> NeuronSection | None:
        try:
            data = self.cache.get(key)
            if data is None:  # a miss
                return None
            section = NeuronSection.from_json(data)
            if section is None:
                return None
            valid = all(isinstance(stage.tensor, str) for stage in section.stages)
            valid = valid and self._complete(section.figures(), data["files"])
        except _UNREADABLE:
            return None
        return section if valid else None

    def grid(self, key: str) -> PrintPart | None:
        try:
            data = self.cache.get(key)
            if data is None:  # a miss
                return None
            part = PrintPart.from_json(data)
            valid = all(isinstance(sheet.family, str) for sheet in part.sheets) and self._complete(
                part.figures(), data["files"]
            )
        except _UNREADABLE:
            return None
        return part if valid else None


@dataclass(frozen=True)
class ImagePlan:
    """What the cache holds of one image's section, and the keys of its parts."""

    key: str  # of the shared part
    shared: SharedPart | None
    method_keys: dict[str, str]  # method slug -> key, the selected methods in catalog order
    methods: dict[str, MethodPart | None]  # method slug -> its cached pictures
    grid_key: str
    grid: PrintPart | None  # the printable grid and sheets of exactly these methods
    # method slug or baseline name -> key of its deletion and insertion scores (`--no-evaluate`:
    # none), and the scores cached
    scores_keys: dict[str, str] = field(default_factory=dict)
    scores: dict[str, Scores | None] = field(default_factory=dict)

    @property
    def missing_methods(self) -> list[str]:
        return [slug for slug, part in self.methods.items() if part is None]

    @property
    def missing_scores(self) -> list[str]:
        return [name for name, scores in self.scores.items() if scores is None]

    @property
    def needs_model(self) -> bool:
        return self.shared is None or bool(self.missing_methods) or bool(self.missing_scores)


@dataclass(frozen=True)
class Plan:
    """What the cache already holds of one model's page."""

    key: str
    card: ModelCard | None
    images: dict[str, ImagePlan]  # image slug -> what its section has
    methods: tuple[str, ...]  # the selected methods' slugs, in catalog order
    # The model randomization check (`--no-evaluate`: none): the photo it explains, and per
    # method slug the key of its part and the part cached
    randomization_photo: str | None = None
    randomization_keys: dict[str, str] = field(default_factory=dict)
    randomization: dict[str, RandomizationPart | None] = field(default_factory=dict)
    # The neurons section (`--no-neurons`: no key): its key, and the section cached
    neurons_key: str | None = None
    neurons: NeuronSection | None = None

    @property
    def missing_randomization(self) -> list[str]:
        return [slug for slug, part in self.randomization.items() if part is None]

    @property
    def missing_neurons(self) -> bool:
        return self.neurons_key is not None and self.neurons is None

    @property
    def needs_model(self) -> bool:
        """Something must be computed; otherwise at most grids are redrawn from stored cells."""
        return (
            self.card is None
            or any(image.needs_model for image in self.images.values())
            or bool(self.missing_randomization)
            or self.missing_neurons
        )

    @property
    def complete(self) -> bool:
        return not self.needs_model and all(image.grid for image in self.images.values())


def plan_model(
    cache: Cache, spec: ModelSpec, options: BuildOptions, images: list[SourceImage]
) -> Plan:
    """Looked up before any model is computed, so weights are resolved only where needed.

    An entry that cannot be read back (edited, or from another generator) counts as missing:
    it is recomputed and replaced, and the lookup never fails the build. Where only a grid is
    missing (a method was removed), the other methods' cells must be readable, since the
    grid is then redrawn without the model; a method whose cells are not is recomputed.
    """
    cached = _Cached(cache, options.out, model_key(spec, options))
    methods = catalog.select(options.methods)

    def read(lookup: Callable[[], Any]) -> Any:
        try:
            return lookup()
        except _UNREADABLE:
            return None

    planned = {}
    for source in images:
        key = image_key(cached.key, source)
        keys = {method.slug: method_key(key, method, options) for method in methods}
        shared = read(partial(cached.shared, key))
        parts = {m.slug: read(partial(cached.method, keys[m.slug], m.slug)) for m in methods}
        grid = read(partial(cached.grid, grid_key(key, keys.values())))
        if grid is None and shared is not None and all(parts.values()):
            parts = {
                slug: part if load_cells(cache, keys[slug], part) is not None else None
                for slug, part in parts.items()
            }
        scored = {**keys, **{name: name for name in BASELINES}} if options.evaluate else {}
        scores_keys = {name: scores_key(key, of, options) for name, of in scored.items()}
        scores = {name: read(partial(cached.scores, k)) for name, k in scores_keys.items()}
        planned[source.slug] = ImagePlan(
            key, shared, keys, parts, grid_key(key, keys.values()), grid, scores_keys, scores
        )
    slugs = tuple(m.slug for m in methods)
    neurons = {}
    if options.neurons and images:
        key = neurons_key(cached.key, (image.key for image in planned.values()), options)
        neurons = {"neurons_key": key, "neurons": read(partial(cached.neurons, key))}
    if not options.evaluate or not images:
        return Plan(cached.key, read(cached.card), planned, slugs, **neurons)
    photo = planned[images[0].slug]  # the first photo by name: stated on the page
    randomization_keys = {
        slug: randomization_key(photo.key, photo.method_keys[slug], options) for slug in slugs
    }
    randomization = {
        slug: read(partial(cached.randomization, key)) for slug, key in randomization_keys.items()
    }
    return Plan(
        cached.key,
        read(cached.card),
        planned,
        slugs,
        images[0].slug,
        randomization_keys,
        randomization,
        **neurons,
    )
