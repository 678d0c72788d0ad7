"""`python -m generator bench`: each explanation method's cost per image against its own floor.

For each model, every selected method (default: all of `catalog.METHODS`) is timed alone on one
image, beside its floor measured in the same run: the passes the method declares it needs, run
as one batched compiled call on the graph the explainer runs them on (`floors`). The ratio says
what the method adds on top of the work it cannot avoid (target: at most 1.3x). All selected methods together are timed against the
floor of their shared passes. For scale: one compiled forward and forward+backward pass; the
Zeiler & Fergus layer projections; rendering and writing the explanation grid; tf-keras-vis'
Grad-CAM when installed (`pip install -e ".[bench]"`); set-up (building and tracing, paid once
per model: the model and one trace of all selected methods, as a build does) and peak memory. Times are the fastest of several runs after one warm-up run (on a
shared machine other processes only ever add time); a method and its floor are timed
alternately, so that a change of load falls on both. Beside each method's time: the process's
peak resident memory while it and its floor ran (Linux; the peak is reset before each method),
and the peak a build's model process is planned to reach for it (`memory.MemoryPlan`). The
bench's process also holds the traces of every method and floor before it, so on small models
its peaks come close to or above the plan's, whose fixed part counts one build's trace.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from generator import render
from generator.floors import floor_call, forward_floor, plan_needs
from generator.images import center_crop, load_image
from generator.methods import trust
from generator.methods.base import Method
from generator.methods.budget import GIB
from generator.methods.explain import Explainer, Explanations
from generator.methods.feature_maps import strongest_channels
from generator.methods.layers import TensorGraph, gradcam_target, stage_outputs
from generator.methods.projections import LayerProjections
from generator.model_process import peak_rss_gib, reset_peak_rss
from generator.options import DEFAULT_RANDOMIZATION_STEPS, DEFAULT_TRUST_STEPS
from generator.registry import ModelSpec, build_model

DEFAULT_MODELS = ("MobileNetV2", "ResNet50", "VGG16", "EfficientNetB0", "InceptionV3")
TARGET_RATIO = 1.3  # a method may take at most this multiple of its floor
BUDGET_PHOTOS = 5  # the sample photos: the trust checks' cost is judged for a build of these


@dataclass(frozen=True)
class Timed:
    """A measured time per image and the floor it is judged against (seconds), and the
    process's measured and planned peak memory meanwhile (GiB; None where not measured)."""

    seconds: float
    floor: float
    peak_gib: float | None = None
    planned_gib: float | None = None

    @property
    def ratio(self) -> float:
        return self.seconds / self.floor


@dataclass
class ModelBench:
    """Every figure of one model's table."""

    spec: ModelSpec
    methods: dict[str, Timed] = field(default_factory=dict)  # slug (or "all ...") -> timing
    figures: dict[str, float] = field(default_factory=dict)  # seconds, unless named otherwise
    skipped: dict[str, str] = field(default_factory=dict)  # figure -> one-line reason


def _fastest_seconds(run: Callable[[], object], repeats: int) -> float:
    """Fastest wall time of `run` after one warm-up call."""
    return paired_fastest(run, lambda: None, repeats)[0]


def paired_fastest(
    first: Callable[[], object], second: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """Fastest wall times of two callables timed alternately (so a busy machine slows both
    alike), after one warm-up call each."""
    first(), second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for run, spent in zip((first, second), times):
            start = time.perf_counter()
            run()
            spent.append(time.perf_counter() - start)
    return min(times[0]), min(times[1])


def _tf_keras_vis_gradcam(
    model: keras.Model, batch: np.ndarray, classes: np.ndarray, layer: str
) -> Callable[[], object] | str:
    """A callable running tf-keras-vis' Grad-CAM for the same classes, or why it cannot run."""
    try:
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError:
        return 'not installed (pip install -e ".[bench]")'
    if layer not in {each.name for each in model.layers}:
        return f"target {layer!r} is an operation, not a layer; tf-keras-vis takes layer names"
    gradcam = Gradcam(model, clone=True)
    images = np.repeat(batch, len(classes), axis=0)
    score = CategoricalScore([int(c) for c in classes])
    return lambda: gradcam(score, images, penultimate_layer=layer)


def bench_model(
    spec: ModelSpec,
    image_path: Path,
    methods: Sequence[Method],
    repeats: int = 5,
    top: int = 5,
    show: Callable[[str], object] = lambda row: None,
) -> ModelBench:
    """Every figure of the table for one model; `show` gets the heading and each method's row
    as soon as they are measured (a slow model's table then fills in line by line)."""
    start = time.perf_counter()
    model = build_model(spec, "random")
    graph = TensorGraph(model)  # read once, as the build does
    target = gradcam_target(model, graph).name
    stages = [stage.name for stage in stage_outputs(model, graph)]
    explainer = Explainer(
        model,
        target_layer=target,
        stage_layers=stages,
        methods=methods,
        preprocess=spec.preprocess,
        graph=graph,
    )
    projections = LayerProjections(explainer)
    crop = center_crop(load_image(image_path).pixels, spec.input_size)
    batch = spec.preprocess(crop[None])
    bench = ModelBench(spec)

    result = explainer.explain(batch, top=top)  # traces the build's one call
    classes = result.classes
    bench.figures["setup (build+trace)"] = time.perf_counter() - start
    for row in heading_rows(spec):
        show(row)
    for name, chosen in [(m.slug, (m,)) for m in methods] + (
        [("all selected, one call", tuple(methods))] if len(methods) > 1 else []
    ):
        plan = explainer.plan(chosen, top)
        measured = reset_peak_rss()
        seconds, floor = paired_fastest(
            partial(explainer.explain, batch, top=top, methods=chosen),
            floor_call(explainer, batch, classes, plan_needs(plan)).run,
            repeats,
        )
        peak = peak_rss_gib() if measured else None
        planned = explainer.memory.peak(plan, projections=False) / GIB
        bench.methods[name] = Timed(seconds, floor, peak, planned)
        show(method_row(name, bench.methods[name]))

    _bench_trust(bench, model, graph, explainer, batch, result, methods, repeats, show)

    # For scale: one plain pass, on the graph every method and floor above runs on.
    x = tf.constant(batch)
    forward = tf.function(lambda images: explainer.rewired(images, "plain")[1])

    @tf.function
    def forward_backward(images: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(images)
            score = tf.reduce_max(explainer.rewired(images, "plain")[1], axis=1)
        return tape.gradient(score, images)

    bench.figures["forward"] = _fastest_seconds(lambda: forward(x).numpy(), repeats)
    bench.figures["forward+backward"] = _fastest_seconds(
        lambda: forward_backward(x).numpy(), repeats
    )
    channels = {
        layer: [int(c) for c in strongest_channels(act[0], layer, 16).channels[:4]]
        for layer, act in result.stage_activations.items()
    }
    bench.figures["layer projections"] = _fastest_seconds(
        lambda: projections.project(batch, channels), repeats
    )
    with tempfile.TemporaryDirectory() as folder:
        labels = [f"class {c}" for c in classes[0]]
        columns = [  # the grid the build draws for these methods
            render.ExplanationColumn(
                method.title, method.display, result.methods[method.slug].maps[0], stages
            )
            for method in methods
        ]
        grid = partial(render.explanation_grid, crop, columns, labels)
        bench.figures["render+write"] = _fastest_seconds(
            lambda: render.save_image(Path(folder) / "grid.webp", grid()), repeats
        )
    if "grad-cam" in bench.methods:
        theirs = _tf_keras_vis_gradcam(model, batch, classes[0], target)
        if isinstance(theirs, str):
            bench.skipped["tf-keras-vis Grad-CAM"] = theirs
        else:
            bench.figures["tf-keras-vis Grad-CAM"] = _fastest_seconds(theirs, repeats)
    bench.figures["peak RSS GiB"] = peak_rss_gib()
    return bench


def _bench_trust(
    bench: ModelBench,
    model: keras.Model,
    graph: TensorGraph,
    explainer: Explainer,
    batch: np.ndarray,
    result: Explanations,
    methods: Sequence[Method],
    repeats: int,
    show: Callable[[str], object],
) -> None:
    """The trust checks of one photo against their floors, at the build's defaults: deletion
    and insertion of every method's top-class map and the two baselines (one compiled call;
    floor: the forward pass of its inputs, in the same chunks), and one randomization step
    (every weight re-initialised, every method explaining the top class again; floor: the
    passes those methods need for one class)."""
    steps = DEFAULT_TRUST_STEPS
    top = int(result.classes[0, 0])
    maps = [trust.importance(result.methods[m.slug].maps[0, 0], m.display) for m in methods]
    importances = np.stack([*maps, *trust.baseline_maps(*batch.shape[1:3]).values()])
    rows = len(importances) * 2 * steps  # at most: the curves' inner points and shared ends
    chunk = explainer.memory.forward_chunk(rows)
    evaluator = trust.DeletionInsertion(model, steps, chunk, rewired=explainer.rewired)
    rows = len(importances) * evaluator.rows_per_map + 3
    reference = explainer.references.black.numpy()[0]
    copies = np.repeat(batch, rows, axis=0)
    seconds, floor = paired_fastest(
        partial(evaluator.curves, batch[0], reference, importances, top),
        forward_floor(explainer, copies, chunk).run,
        repeats,
    )
    bench.methods["trust: deletion+insertion"] = Timed(seconds, floor)
    show(method_row("trust: deletion+insertion", bench.methods["trust: deletion+insertion"]))
    every_layer = trust.cascade(model, explainer.stage_layers, graph)[-1].layers
    classes = np.array([[top]])

    def randomized_step() -> None:
        with trust.randomized(model, every_layer):
            explainer.explain(batch, classes=classes, methods=methods)

    needs = plan_needs(explainer.plan(methods, 1))
    seconds, floor = paired_fastest(
        randomized_step, floor_call(explainer, batch, classes, needs).run, repeats
    )
    bench.methods["trust: randomization step"] = Timed(seconds, floor)
    show(method_row("trust: randomization step", bench.methods["trust: randomization step"]))


def heading_rows(spec: ModelSpec) -> list[str]:
    return [
        f"{spec.name} ({spec.input_size[0]}x{spec.input_size[1]}, random weights)",
        (
            f"  {'method':<28} {'time/image':>11} {'floor':>11} {'ratio':>7} "
            f"{'peak':>9} {'planned':>9}"
        ),
    ]


def method_row(name: str, timed: Timed) -> str:
    """A method's time per image, its floor and their ratio, flagged above the target."""
    flag = "  above target" if timed.ratio > TARGET_RATIO else ""
    peak = "-" if timed.peak_gib is None else f"{timed.peak_gib:.2f} GiB"
    planned = "-" if timed.planned_gib is None else f"{timed.planned_gib:.2f} GiB"
    return (
        f"  {name:<28} {timed.seconds * 1000:8.1f} ms {timed.floor * 1000:8.1f} ms "
        f"{timed.ratio:6.2f}x {peak:>9} {planned:>9}{flag}"
    )


def format_rows(bench: ModelBench, methods: bool = True) -> list[str]:
    """The model's table: the heading and each method's row (unless `methods` is False), then
    the figures for scale."""
    figures = bench.figures
    rows = []
    if methods:
        rows += heading_rows(bench.spec)
        rows += [method_row(name, timed) for name, timed in bench.methods.items()]
    fwd, fwd_bwd = figures["forward"], figures["forward+backward"]
    rows.append(f"  {'forward':<28} {fwd * 1000:8.1f} ms")
    rows.append(f"  {'forward+backward':<28} {fwd_bwd * 1000:8.1f} ms {fwd_bwd / fwd:6.2f}x fwd")
    for name in ("layer projections", "render+write"):
        if name in figures:
            value = figures[name]
            rows.append(f"  {name:<28} {value * 1000:8.1f} ms {value / fwd_bwd:6.2f}x fwd+bwd")
    if "tf-keras-vis Grad-CAM" in figures:
        theirs, ours = figures["tf-keras-vis Grad-CAM"], bench.methods["grad-cam"].seconds
        rows.append(
            f"  {'tf-keras-vis Grad-CAM':<28} {theirs * 1000:8.1f} ms ({theirs / ours:.1f}x ours)"
        )
    deletion = bench.methods.get("trust: deletion+insertion")
    randomization = bench.methods.get("trust: randomization step")
    explained = bench.methods.get("all selected, one call") or next(iter(bench.methods.values()))
    if deletion and randomization:
        photos, steps = BUDGET_PHOTOS, DEFAULT_RANDOMIZATION_STEPS
        checks = photos * deletion.seconds + steps * randomization.seconds
        explanations = photos * explained.seconds
        rows.append(
            f"  {'trust checks, whole build':<28} {checks:8.1f} s  for {photos} photos and "
            f"{steps} randomization steps: {checks / explanations:.2f}x the explanations "
            f"({explanations:.1f} s)"
        )
    for name, reason in bench.skipped.items():
        rows.append(f"  {name:<28} skipped: {reason}")
    rows.append(f"  {'setup (build+trace)':<28} {figures['setup (build+trace)']:8.1f} s")
    rows.append(f"  {'peak RSS so far':<28} {figures['peak RSS GiB']:8.2f} GiB")
    return rows


def run(specs: list[ModelSpec], image_path: Path, repeats: int, methods: Sequence[Method]) -> None:
    """Benchmark each model in turn (one in memory at a time) and print its table.

    Raises `ImageError` before any model is built when `image_path` is not a usable photo.
    """
    load_image(image_path)
    for spec in specs:
        bench = bench_model(spec, image_path, methods, repeats, show=partial(print, flush=True))
        print("\n".join(format_rows(bench, methods=False)), flush=True)
        keras.backend.clear_session()
