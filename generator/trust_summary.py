"""How far to trust each method: the cached parts of the checks summed up for a model page, the
leaderboard and the methods page (TensorFlow-free; the records are in `site_records`).

Three checks, each from the literature (the methods page explains them):
- model randomization (Adebayo et al. 2018): how similar a method's map stays while the model's
  weights are re-initialised from the top down; a map that survives a random network shows
  the photo, not what the network learned;
- class sensitivity: how similar a method's maps of the top class and the next classes are; a
  map that is the same for every class cannot say why the model chose one;
- deletion and insertion (Petsiuk et al. 2018): how fast the class probability falls when the
  map's most important pixels are removed, and rises when they are revealed, against a random
  and a centred Gaussian map.

The model's process computes the cached parts (`Scores`, `RandomizationPart`, class
similarities in each method's part); `model_trust` sums them up for the model page, and
`leaderboard` and `method_findings` sum the model pages up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from generator.site_records import (
    Figure,
    LeaderCell,
    LeaderRow,
    LeaderTable,
    Measure,
    MethodFindings,
    ModelTrust,
    RandomizationPart,
    Scores,
    ShownMethod,
    Similarity,
    Spread,
    TrustRow,
    TrustSettings,
)

# A map whose rank correlation with the trained model's map stays at or above this after every
# weight was re-initialised is marked: it barely depends on what the network learned.
RANDOMIZATION_MARK = 0.5
# A method whose maps of the top class and the next classes correlate at or above this on
# average is marked: it draws nearly the same map for every class.
CLASS_MARK = 0.9
BASELINES = {"random": "Random map", "gaussian": "Centred Gaussian map"}
# Deletion and insertion flag no method when no curve of the model moves by this much: the class
# probability then ignores the pixels (as in an untrained network), whatever the map.
STILL = 0.01


def _spread(values: Sequence[float]) -> Spread | None:
    """Mean and standard deviation of `values` (None when there are none)."""
    if not values:
        return None
    mean = sum(values) / len(values)
    return Spread(mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)), len(values))


def _marks(
    method: ShownMethod,
    randomized: Sequence[Similarity],
    classes: Spread | None,
    deletion: Spread | None,
    insertion: Spread | None,
    random: TrustRow | None,
) -> dict[str, str]:
    """The plain sentences that flag a method on this model, by check."""
    marks = {}
    if randomized and randomized[-1].spearman >= RANDOMIZATION_MARK:
        marks["randomization"] = (
            "Barely changes when every weight of the network is replaced by a random one: "
            "this map shows the photo (its edges and textures) more than what the network "
            "learned."
        )
    if method.class_specific and classes is not None and classes.mean >= CLASS_MARK:
        marks["class-sensitivity"] = (
            "Draws nearly the same map for every class: it shows where the network looks, "
            "not why it chose this class over the others."
        )
    if (
        random is not None
        and deletion is not None
        and insertion is not None
        and random.deletion is not None
        and random.insertion is not None
        and deletion.mean >= random.deletion.mean
        and insertion.mean <= random.insertion.mean
    ):
        marks["faithfulness"] = (
            "Its most important pixels matter no more to the network than randomly chosen "
            "ones: removing them lowers the class probability no faster than a random map."
        )
    return marks


def model_trust(
    settings: TrustSettings,
    methods: Sequence[ShownMethod],
    randomization: Mapping[str, RandomizationPart | None],
    class_similarities: Mapping[str, Sequence[Similarity]],
    scores: Mapping[str, Sequence[Scores]],
    figures: tuple[Figure | None, Figure | None],
    notes: Sequence[str] = (),
) -> ModelTrust:
    """Sum the cached parts up for the page: `class_similarities` by method slug (every
    photo's top class against each next class), `scores` by method slug and baseline name
    (one per photo), `figures` the similarity plot and the curves plot."""

    def spreads(slug: str) -> tuple[Spread | None, Spread | None]:
        photos = scores.get(slug, ())
        return (
            _spread([s.deletion_auc for s in photos]),
            _spread([s.insertion_auc for s in photos]),
        )

    baselines = [
        TrustRow(slug, title, None, [], None, *spreads(slug), None, {})
        for slug, title in BASELINES.items()
        if scores.get(slug)
    ]
    random = next((row for row in baselines if row.slug == "random"), None)
    curves = [c for photos in scores.values() for s in photos for c in (s.deletion, s.insertion)]
    still = bool(curves) and all(max(c) - min(c) < STILL for c in curves)
    notes = list(notes)
    if still:
        random = None  # no method is flagged against the random map
        notes.append(
            f"Deletion and insertion cannot tell the maps apart on this model: the class "
            f"probability moves by less than {STILL:g} whatever pixels are removed or revealed, "
            "so no method is flagged by them."
        )
    rows = []
    for method in methods:
        part = randomization.get(method.slug)
        randomized = part.similarities if part is not None else []
        classes = _spread([s.spearman for s in class_similarities.get(method.slug, ())])
        deletion, insertion = spreads(method.slug)
        marks = _marks(method, randomized, classes, deletion, insertion, random)
        strip = part.strip if part is not None else None
        rows.append(
            TrustRow(
                method.slug,
                method.title,
                method,
                randomized,
                classes,
                deletion,
                insertion,
                strip,
                marks,
            )
        )
    return ModelTrust(settings, rows, baselines, *figures, notes=notes)


# --- across models: the leaderboard and the methods page's summary ------------------------------


MEASURES = (
    Measure(
        "randomization",
        "Similarity after randomizing every layer",
        "lower",
        "Spearman rank correlation between the map of the trained network and the map of the "
        "same network with every weight replaced by a random one (1: unchanged).",
    ),
    Measure(
        "class-sensitivity",
        "Similarity across classes",
        "lower",
        "Mean Spearman rank correlation between the map of the top class and the maps of the "
        "next classes (1: the same map for every class).",
    ),
    Measure(
        "deletion",
        "Deletion AUC",
        "lower",
        "Area under the class probability as the map's most important pixels are removed "
        "(mean over photos; a faithful map makes it fall fast).",
    ),
    Measure(
        "insertion",
        "Insertion AUC",
        "higher",
        "Area under the class probability as the map's most important pixels are revealed "
        "over a blurred photo (mean over photos; a faithful map makes it rise fast).",
    ),
)


def measure_value(row: TrustRow, measure: str) -> float | None:
    """A row's number for one measure (None when it was not measured)."""
    if measure == "randomization":
        last = row.fully_randomized
        return None if last is None else last.spearman
    spread = {
        "class-sensitivity": row.class_similarity,
        "deletion": row.deletion,
        "insertion": row.insertion,
    }[measure]
    return None if spread is None else spread.mean


def _marked(row: TrustRow, measure: str) -> bool:
    """Whether the model page flags this measure of the row's method."""
    check = "faithfulness" if measure in ("deletion", "insertion") else measure
    return check in row.marks


def leaderboard(trusts: Sequence[tuple[str, str, ModelTrust]]) -> list[LeaderTable]:
    """One table per measure over (model name, model slug, trust) in the given order."""
    tables = []
    for measure in MEASURES:
        columns: dict[str, str] = {}
        for _, _, trust in trusts:
            for row in trust.rows:
                columns.setdefault(row.slug, row.title)
        if measure.slug in ("deletion", "insertion"):
            for _, _, trust in trusts:
                for row in trust.baselines:
                    columns.setdefault(row.slug, row.title)
        rows = []
        for name, slug, trust in trusts:
            by_slug = {row.slug: row for row in [*trust.rows, *trust.baselines]}
            cells = [
                LeaderCell(
                    measure_value(by_slug[c], measure.slug), _marked(by_slug[c], measure.slug)
                )
                if c in by_slug
                else LeaderCell(None, False)
                for c in columns
            ]
            rows.append(LeaderRow(name, slug, cells))
        tables.append(LeaderTable(measure, list(columns.items()), rows))
    return tables


def method_findings(trusts: Sequence[ModelTrust]) -> dict[str, MethodFindings]:
    """Per method slug: medians and mark counts of each measure over the models."""
    rows: dict[str, list[TrustRow]] = {}
    for trust in trusts:
        for row in trust.rows:
            rows.setdefault(row.slug, []).append(row)
    findings = {}
    for slug, measured in rows.items():
        medians: dict[str, float | None] = {}
        marked = {}
        for measure in MEASURES:
            values = sorted(
                v for v in (measure_value(r, measure.slug) for r in measured) if v is not None
            )
            medians[measure.slug] = _median(values)
            marked[measure.slug] = sum(_marked(r, measure.slug) for r in measured)
        findings[slug] = MethodFindings(slug, len(measured), medians, marked)
    return findings


def _median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
