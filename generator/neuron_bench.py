"""What an optimisation step costs, against one compiled forward+backward pass of the same batch.

Run as `python -m generator.neuron_bench` (MobileNetV2 with random weights, or the
models named with --models, and the ImageNet-trained MobileNet 0.25 if its weights file is
given). Each row also gives what `--steps` steps of the stage's channels cost, and each model
the total over its stages: the figure to hold against the model's explanation compute. The floor is the least a step
can cost: the same prefix of the model, on the same batch at the same size, one gradient of the
same objective with respect to the input. What a step adds is the image parameterisation (an
inverse FFT), the transformations (one resampling op) and the Adam update.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from generator import registry
from generator.bench import paired_fastest
from generator.images import center_crop, load_image
from generator.methods.layers import TensorGraph, stage_outputs
from generator.methods.neurons.channels import (
    STEPS,
    ChannelVisualizer,
    Settings,
    visualize_classes,
)
from generator.methods.neurons.dream import INVERSION_SIZE, DeepDream, Inverter
from generator.methods.neurons.prefix import Preprocess, tensor_preprocess
from generator.options import DEFAULT_NEURON_CHANNELS, DEFAULT_NEURON_SIZE, DEFAULT_NEURON_STEPS


@dataclass(frozen=True)
class StepCost:
    """Seconds per optimisation step of `channels` images, and the forward+backward floor."""

    tensor: str
    channels: int
    size: int
    step: float
    floor: float
    steps: int = STEPS

    @property
    def ratio(self) -> float:
        return self.step / self.floor

    def row(self) -> str:
        return (
            f"{self.tensor:<28} {self.channels:>3} ch  {self.size:>4} px  step "
            f"{1000 * self.step:7.1f} ms  forward+backward {1000 * self.floor:7.1f} ms  "
            f"{self.ratio:4.2f}×  {self.steps} steps: {self.steps * self.step:5.1f} s"
        )


def step_cost(
    model: keras.Model,
    tensor: str,
    preprocess: Preprocess,
    channels: int = 8,
    size: int = 128,
    repeats: int = 10,
    graph: TensorGraph | None = None,
    steps: int = STEPS,
) -> StepCost:
    """The fastest of `repeats` optimisation steps of `channels` images at `size`, and of one
    compiled forward+backward pass of the prefix over the same batch as the model sees it."""
    visualizer = ChannelVisualizer(model, tensor, preprocess, Settings(size=size), graph)
    width = visualizer.width
    target = tf.constant(np.eye(width, dtype=np.float32)[np.arange(channels) % width])
    ascent = visualizer.ascent
    spectrum = tf.zeros((2, channels, 3, size, size // 2 + 1))
    step, seed = tf.constant(0, tf.int64), tf.constant(0, tf.int64)

    def one_step() -> None:
        outputs = ascent._step(spectrum, spectrum, spectrum, step, seed, target)
        outputs[0].numpy()

    side = visualizer.settings.transformations.seen_side(size)
    images = tf.random.uniform((channels, side, side, 3), 0.0, 255.0, seed=0)

    @tf.function(autograph=False)
    def forward_backward(x: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(visualizer._objective(x, target))
        return tape.gradient(score, x)

    seconds, floor = paired_fastest(one_step, lambda: forward_backward(images).numpy(), repeats)
    return StepCost(tensor, channels, size, seconds, floor, steps)


def run(
    model: keras.Model,
    preprocess: Preprocess,
    channels: int,
    sizes: Sequence[int],
    repeats: int,
    steps: int = STEPS,
) -> list[StepCost]:
    """Step costs at every stage tensor of `model`, printed as they come, then per size the
    seconds all stages take."""
    graph = TensorGraph(model)
    costs = []
    print(model.name)
    for choice in stage_outputs(model, graph):
        for size in sizes:
            cost = step_cost(model, choice.name, preprocess, channels, size, repeats, graph, steps)
            print("  " + cost.row())
            costs.append(cost)
    for size in sizes:
        total = sum(c.step * steps for c in costs if c.size == size)
        print(f"  all stages, {channels} channels each, {size} px, {steps} steps: {total:.1f} s")
    return costs


def section_seconds(
    model: keras.Model,
    preprocess: Preprocess,
    photos: np.ndarray,
    channels: int,
    settings: Settings,
    classes: bool = True,
    class_side: int | None = None,
) -> dict[str, float]:
    """Wall seconds (tracing included) of the whole section for one model, as a build would
    run it: `channels` channels of every stage tensor, a class visualisation of each photo's
    top class, DeepDream of the first photo at the middle stage, inversion of it at the first
    and the last stage. `photos` are (n, h, w, 3) uint8 at the model's input size."""
    graph = TensorGraph(model)
    stages = [choice.name for choice in stage_outputs(model, graph)]
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    for name in stages:
        visualizer = ChannelVisualizer(model, name, preprocess, settings, graph)
        visualizer.run(list(range(min(channels, visualizer.width))))
    seconds["channels"] = time.perf_counter() - start
    if classes:
        start = time.perf_counter()
        top = model(preprocess(tf.constant(photos, tf.float32))).numpy().argmax(axis=1)
        visualize_classes(
            model, list(top), settings.steps, None, settings.seed, preprocess, class_side
        )
        seconds["classes"] = time.perf_counter() - start
    start = time.perf_counter()
    DeepDream(model, stages[len(stages) // 2], preprocess, graph).run(photos[0])
    seconds["deep dream"] = time.perf_counter() - start
    start = time.perf_counter()
    crop = center_crop(photos[0], (INVERSION_SIZE, INVERSION_SIZE))
    for name in (stages[0], stages[-1]):
        Inverter(model, name, preprocess, graph).run(crop)
    seconds["inversion"] = time.perf_counter() - start
    seconds["total"] = sum(seconds.values())
    return seconds


def _photos(folder: Path, side: int) -> np.ndarray:
    return np.stack(
        [
            center_crop(load_image(path).pixels, (side, side))
            for path in sorted(folder.glob("*.jpg"))
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["MobileNetV2"], help="random weights")
    # A build's defaults (`options`), unless asked otherwise.
    parser.add_argument("--channels", type=int, default=DEFAULT_NEURON_CHANNELS)
    parser.add_argument("--steps", type=int, default=DEFAULT_NEURON_STEPS)
    parser.add_argument("--sizes", type=int, nargs="+", default=[DEFAULT_NEURON_SIZE])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--mobilenet-weights", type=Path, help="MobileNet 0.25 no-top .h5")
    parser.add_argument("--section", type=Path, help="time the whole section on these photos")
    parser.add_argument("--class-side", type=int, help="input side for class visualisations")
    parser.add_argument("--no-table", action="store_true", help="only the whole section")
    args = parser.parse_args(argv)
    settings = Settings(steps=args.steps, size=args.sizes[0])
    for name in args.models:
        spec = registry.get_spec(name)
        model = registry.build_model(spec, "random")
        preprocess = tensor_preprocess(spec.preprocessing)
        if not args.no_table:
            run(model, preprocess, args.channels, args.sizes, args.repeats, args.steps)
        if args.section:
            photos = _photos(args.section, spec.input_size[0])
            times = section_seconds(
                model, preprocess, photos, args.channels, settings, True, args.class_side
            )
            if args.no_table:
                print(model.name)
            print("  whole section: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
    if args.mobilenet_weights:
        trained = keras.applications.MobileNet(
            alpha=0.25,
            include_top=False,
            input_shape=(224, 224, 3),
            weights=str(args.mobilenet_weights),
        )
        preprocess = keras.applications.mobilenet.preprocess_input
        run(trained, preprocess, args.channels, args.sizes, args.repeats, args.steps)
        if args.section:
            photos = _photos(args.section, 224)
            times = section_seconds(trained, preprocess, photos, args.channels, settings, False)
            print("  whole section: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))


if __name__ == "__main__":
    main()
