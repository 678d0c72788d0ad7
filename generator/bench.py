"""`python -m generator bench`: the gallery's cost per image against the hardware's floor.

For each model: the floor (one compiled forward pass; one compiled forward+backward pass to the
input) and the time of each stage the gallery runs per image, as a multiple of the floor; the
wall time of rendering and writing; the peak resident memory; and, when tf-keras-vis is
installed (`pip install -e ".[bench]"`), its Grad-CAM for the same top-5 classes of the same
image. Times are medians of several runs after one warm-up run (tracing is set-up, paid once per
model, and reported apart).
"""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from generator import render
from generator.images import center_crop, load_image
from generator.methods.explain import Explainer
from generator.methods.feature_maps import strongest_channels
from generator.methods.layers import gradcam_target, stage_outputs
from generator.registry import ModelSpec, build_model

DEFAULT_MODELS = ("MobileNetV2", "ResNet50", "VGG16", "EfficientNetB0", "InceptionV3")


def _median_seconds(run: Callable[[], object], repeats: int) -> float:
    """Median wall time of `run` after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _tf_keras_vis_gradcam(model: keras.Model, batch: np.ndarray, classes: np.ndarray, layer: str):
    """A callable running tf-keras-vis' Grad-CAM for the same classes, or None if absent."""
    try:
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError:
        return None
    gradcam = Gradcam(model, clone=True)
    images = np.repeat(batch, len(classes), axis=0)
    score = CategoricalScore(list(int(c) for c in classes))
    return lambda: gradcam(score, images, penultimate_layer=layer)


def bench_model(spec: ModelSpec, image_path: Path, repeats: int = 5, top: int = 5) -> dict:
    """Every figure of the table for one model (seconds unless named otherwise)."""
    start = time.perf_counter()
    model = build_model(spec, "random")
    target = gradcam_target(model).name
    stages = [stage.name for stage in stage_outputs(model)]
    explainer = Explainer(model, target_layer=target, stage_layers=stages)
    crop = center_crop(load_image(image_path).pixels, spec.input_size)
    batch = spec.preprocess(crop[None])
    x = tf.constant(batch)

    forward = tf.function(lambda images: model(images, training=False))

    @tf.function
    def forward_backward(images):
        with tf.GradientTape() as tape:
            tape.watch(images)
            score = tf.reduce_max(model(images, training=False), axis=1)
        return tape.gradient(score, images)

    result = explainer.explain(batch, top=top)  # traces every function once
    classes = result.classes
    channels = {
        layer: [int(c) for c in strongest_channels(act[0], layer, 16).channels[:4]]
        for layer, act in result.stage_activations.items()
    }
    explainer.project_layers(batch, channels)
    setup = time.perf_counter() - start

    figures = {
        "forward": _median_seconds(lambda: forward(x).numpy(), repeats),
        "forward+backward": _median_seconds(lambda: forward_backward(x).numpy(), repeats),
        "predict+Grad-CAM+features": _median_seconds(
            lambda: explainer.grad_cam(batch, classes), repeats
        ),
        "guided+deconvnet": _median_seconds(
            lambda: (
                explainer.input_gradients(batch, classes, "guided"),
                explainer.input_gradients(batch, classes, "deconvnet"),
            ),
            repeats,
        ),
        "all four methods": _median_seconds(lambda: explainer.explain(batch, top=top), repeats),
        "layer projections": _median_seconds(
            lambda: explainer.project_layers(batch, channels), repeats
        ),
    }
    with tempfile.TemporaryDirectory() as folder:
        labels = [f"class {c}" for c in classes[0]]
        methods = ("gradcam", "guided_gradcam", "guided_backprop", "deconvnet")
        maps = [getattr(result, method)[0] for method in methods]
        grid = partial(render.explanation_grid, crop, *maps, labels)
        figures["render+write"] = _median_seconds(
            lambda: render.save_image(Path(folder) / "grid.webp", grid()), repeats
        )
    theirs = _tf_keras_vis_gradcam(model, batch, classes[0], target)
    figures["tf-keras-vis Grad-CAM"] = _median_seconds(theirs, repeats) if theirs else None
    figures["setup (build+trace)"] = setup
    figures["peak RSS GiB"] = _peak_rss_gib()
    return figures


def format_rows(spec: ModelSpec, figures: dict) -> list[str]:
    """Table rows: each stage's time and its multiple of the floor it is judged against."""
    floor_f, floor_fb = figures["forward"], figures["forward+backward"]
    rows = [f"{spec.name} ({spec.input_size[0]}x{spec.input_size[1]}, random weights)"]
    judged = {
        "forward": floor_f,
        "forward+backward": floor_fb,
        "predict+Grad-CAM+features": floor_f,
        "guided+deconvnet": floor_fb,
        "all four methods": floor_fb,
        "layer projections": floor_fb,
        "render+write": floor_fb,
        "tf-keras-vis Grad-CAM": floor_f,
    }
    for name, floor in judged.items():
        value = figures[name]
        if value is None:
            rows.append(f"  {name:<28} {'not installed':>10}")
            continue
        unit = "fwd" if floor is floor_f else "fwd+bwd"
        rows.append(f"  {name:<28} {value * 1000:9.1f} ms  {value / floor:6.2f}x {unit}")
    ours = figures["predict+Grad-CAM+features"]
    if figures["tf-keras-vis Grad-CAM"]:
        rows.append(
            f"  {'speed-up over tf-keras-vis':<28} {figures['tf-keras-vis Grad-CAM'] / ours:9.1f}x"
        )
    rows.append(f"  {'setup (build+trace)':<28} {figures['setup (build+trace)']:9.1f} s")
    rows.append(f"  {'peak RSS so far':<28} {figures['peak RSS GiB']:9.2f} GiB")
    return rows


def run(specs: list[ModelSpec], image_path: Path, repeats: int) -> None:
    """Benchmark each model in turn (one in memory at a time) and print its rows."""
    for spec in specs:
        figures = bench_model(spec, image_path, repeats)
        print("\n".join(format_rows(spec, figures)), flush=True)
        keras.backend.clear_session()
