"""What one model computes to say how far to trust each method, in its model process.

The checks reuse what the photos' sections computed: each method's map of each photo's top
class (`ImageOutcome.top_maps`); a method whose pictures came from the cache is asked again
for that one map. Then, per photo, every missing map's deletion and insertion curves run in one
compiled call (`methods.trust.DeletionInsertion`, with the random and Gaussian baselines), and
on the stated photo (the first by name) the weights are re-initialised from the top down
(`methods.trust.randomized`), every method explaining the photo again at each step. The model's
weights are the trained ones again afterwards, bit for bit.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import keras
import numpy as np

from generator.cache import Cache
from generator.figures import FigureWriter, randomization_strip
from generator.images import SourceImage, center_crop
from generator.methods import trust
from generator.methods.base import Method
from generator.methods.explain import Explainer
from generator.methods.layers import TensorGraph
from generator.plan import ImagePlan, Plan, put_entry
from generator.registry import ModelSpec
from generator.site_records import Prediction, RandomizationPart, Scores, Similarity
from generator.trust_summary import BASELINES


def class_similarity(method: Method, maps: np.ndarray) -> list[Similarity]:
    """A method's map of the top class against its map of each next class (`maps` (K, ...));
    none for a method whose map does not depend on the class, or that explains one class."""
    if not method.class_specific or len(maps) < 2:
        return []
    return _against_first(method, np.asarray(maps))


def _against_first(method: Method, maps: np.ndarray) -> list[Similarity]:
    """How similar each of a method's maps after the first is to the first (`maps` (K, ...))."""
    shown = trust.importance(maps, method.display)
    return [Similarity(trust.rank_correlation(shown[0], other), trust.ssim(shown[0], other))
            for other in shown[1:]]  # fmt: skip


@dataclass(frozen=True)
class TrustInputs:
    """What the checks of one model read: the model, its explainer and the photos' results."""

    spec: ModelSpec
    model: keras.Model
    graph: TensorGraph
    explainer: Explainer
    methods: Sequence[Method]  # the methods computed for this model (none left out)
    images: Sequence[SourceImage]
    predictions: Mapping[str, Sequence[Prediction]]  # photo slug -> its predictions
    # photo slug -> method slug -> its map of the top class: the sections' own, and those the
    # checks ask for (kept here, so that no map is asked for twice)
    top_maps: dict[str, dict[str, np.ndarray]]


def _top_maps(inputs: TrustInputs, source: SourceImage, slugs: Sequence[str]) -> dict:
    """The methods' maps of the photo's top class: reused, or computed in one call."""
    known = inputs.top_maps.setdefault(source.slug, {})
    missing = [m for m in inputs.methods if m.slug in slugs and m.slug not in known]
    if missing:
        top = inputs.predictions[source.slug][0].class_index
        result = inputs.explainer.explain(
            _batch(inputs, source), classes=np.array([[top]]), methods=missing
        )
        known |= {m.slug: result.methods[m.slug].maps[0, 0] for m in missing}
    return {slug: known[slug] for slug in slugs if slug in known}


def _batch(inputs: TrustInputs, source: SourceImage) -> np.ndarray:
    crop = center_crop(source.pixels, inputs.spec.input_size)
    return np.asarray(inputs.spec.preprocess(crop[None]), np.float32)


def score_photos(
    inputs: TrustInputs, plan: Plan, steps: int, writer: FigureWriter, cache: Cache
) -> dict[str, dict[str, Scores]]:
    """Every photo's deletion and insertion scores by method slug and baseline name: cached,
    or computed (one compiled call per photo) and cached."""
    displays = {m.slug: m.display for m in inputs.methods}
    scored: dict[str, dict[str, Scores]] = {}
    evaluator: trust.DeletionInsertion | None = None
    reference = inputs.explainer.references.black.numpy()[0]  # deleted pixels become black
    for source in inputs.images:
        image: ImagePlan = plan.images[source.slug]
        scores = {name: s for name, s in image.scores.items() if s is not None}
        # (a method the memory budget left out has no map to score)
        missing = [n for n in image.scores if n not in scores and (n in displays or n in BASELINES)]
        if missing:
            maps = _top_maps(inputs, source, [n for n in missing if n in displays])
            batch = _batch(inputs, source)
            height, width = batch.shape[1:3]
            baselines = trust.baseline_maps(height, width)
            importances = np.stack(
                [trust.importance(maps[n], displays[n]) if n in displays else baselines[n]
                 for n in missing]
            )  # fmt: skip
            if evaluator is None:
                rows = len(missing) * 2 * steps  # at most: DeletionInsertion.rows_per_map
                chunk = inputs.explainer.memory.forward_chunk(rows)
                evaluator = trust.DeletionInsertion(
                    inputs.model, steps, chunk, rewired=inputs.explainer.rewired
                )
            top = inputs.predictions[source.slug][0].class_index
            deletion, insertion = evaluator.curves(batch[0], reference, importances, top)
            areas = trust.auc(deletion), trust.auc(insertion)
            for row, name in enumerate(missing):
                scores[name] = Scores(
                    [float(v) for v in deletion[row]],
                    [float(v) for v in insertion[row]],
                    float(areas[0][row]),
                    float(areas[1][row]),
                )
                record = dataclasses.asdict(scores[name])
                writer.then(
                    partial(put_entry, cache, writer.out, image.scores_keys[name], record, [])
                )
        scored[source.slug] = scores
    return scored


def _chosen_steps(steps: Sequence[trust.CascadeStep], count: int) -> list[trust.CascadeStep]:
    """`count` steps of the cascade, evenly spread from the head to every layer (both kept)."""
    if count >= len(steps):
        return list(steps)
    if count == 1:
        return [steps[-1]]
    picks = np.linspace(0, len(steps) - 1, count).round().astype(int)
    return [steps[i] for i in sorted(set(picks))]


def randomize(
    inputs: TrustInputs, plan: Plan, count: int, writer: FigureWriter, cache: Cache
) -> dict[str, RandomizationPart]:
    """Every method's randomization part on the stated photo: cached, or computed (one
    `explain` call of every missing method per cascade step) and cached."""
    parts = {slug: p for slug, p in plan.randomization.items() if p is not None}
    missing = [m for m in inputs.methods if m.slug in plan.randomization and m.slug not in parts]
    if not missing or plan.randomization_photo is None:
        return parts
    began = time.perf_counter()
    source = next(s for s in inputs.images if s.slug == plan.randomization_photo)
    stage_names = inputs.explainer.stage_layers
    steps = _chosen_steps(trust.cascade(inputs.model, stage_names, inputs.graph), count)
    trained = _top_maps(inputs, source, [m.slug for m in missing])
    top = inputs.predictions[source.slug][0]
    batch = _batch(inputs, source)
    randomized: list[dict[str, np.ndarray]] = []
    for step in steps:
        with trust.randomized(inputs.model, step.layers):
            result = inputs.explainer.explain(batch, classes=np.array([[top.class_index]]),
                                              methods=missing)  # fmt: skip
        randomized.append({m.slug: result.methods[m.slug].maps[0, 0] for m in missing})
    labels = [step.label for step in steps]
    crop = center_crop(source.pixels, inputs.spec.input_size)
    seconds = round((time.perf_counter() - began) / len(missing), 2)
    for method in missing:
        maps = np.stack([trained[method.slug], *(m[method.slug] for m in randomized)])
        similarities = _against_first(method, maps)
        strip = randomization_strip(
            writer,
            (inputs.spec.name, inputs.spec.slug),
            source,
            top.label,
            method,
            crop,
            maps,
            labels,
            stage_names,
        )
        parts[method.slug] = RandomizationPart(labels, similarities, strip, seconds)
        record = dataclasses.asdict(parts[method.slug])
        key = plan.randomization_keys[method.slug]
        writer.then(partial(put_entry, cache, writer.out, key, record, [strip]))
    return parts
