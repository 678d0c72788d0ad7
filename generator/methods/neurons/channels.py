"""What a channel, or a class, looks for: the input that maximises it (activation maximisation).

A channel's objective is its mean activation over the tensor's grid (Erhan et al. 2009; Olah,
Mordvintsev & Schubert 2017), so the picture is the pattern the channel responds to wherever
it appears. All channels of one tensor are one batch (row i maximises channel i) in one
compiled step, and only the graph up to the tensor runs (`prefix.Prefix`). The "negative" view
minimises the same mean: what the channel responds to least. A class's objective is its
pre-softmax logit (Simonyan, Vedaldi & Zisserman 2014): a saturated softmax has no gradient,
and a probability can also rise by lowering the other classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from generator.methods.backward_rules import RewiredModel
from generator.methods.layers import TensorGraph
from generator.methods.neurons.ascent import LEARNING_RATE, Ascent
from generator.methods.neurons.prefix import Prefix, Preprocess
from generator.methods.neurons.transforms import Transformations

# A rectified channel that is zero everywhere on the starting image has no gradient, and its
# picture would stay grey. Where the tensor is a rectifier's output (a separate ReLU layer or
# activation), the objective adds this fraction of the rectifier's input where it is negative:
# the same objective wherever the channel is active, a way out where it is not (the purpose of
# lucid's "redirected" ReLU gradient, without changing any gradient).
LEAK = 0.1

# Defaults: readable pictures at a modest cost (see `bench` for what they cost per model).
STEPS = 32
SIZE = 96
SEED = 0


@dataclass(frozen=True)
class Settings:
    """Everything that decides a picture, for its caption and for a cache key."""

    steps: int = STEPS
    size: int = SIZE
    seed: int = SEED
    learning_rate: float = LEARNING_RATE
    transformations: Transformations = field(default_factory=Transformations)

    def describe(self) -> str:
        return (
            f"{self.steps} Adam steps (rate {self.learning_rate:g}) on a {self.size}×{self.size} "
            "image parameterised by its Fourier spectrum scaled by 1/f in decorrelated colours, "
            f"{self.transformations.describe()}; seed {self.seed}"
        )


@dataclass(frozen=True)
class ChannelPictures:
    """Optimised images of channels of one tensor."""

    tensor: str
    channels: tuple[int, ...]
    positive: np.ndarray  # (n, size, size, 3) uint8: maximise the channel's mean
    # (n,) the objective at the last step: the channel's mean activation on the transformed
    # image (plus the leak, if rectified; <= 0: the channel never fired)
    positive_scores: np.ndarray
    negative: np.ndarray | None  # the same, minimised (None unless asked)
    settings: Settings


class ChannelVisualizer:
    """One model tensor's channels, optimised together in one compiled step (`ascent.traces`)."""

    def __init__(
        self,
        model: keras.Model,
        tensor_name: str,
        preprocess: Preprocess,
        settings: Settings = Settings(),
        graph: TensorGraph | None = None,
    ):
        self.tensor = tensor_name
        self.settings = settings
        graph = graph or TensorGraph(model)
        rectified = rectifier_input(graph, tensor_name)
        self.prefix = Prefix(model, [tensor_name, *rectified], graph)
        self.leaky = bool(rectified)
        self.width = int(self.prefix.tensors[0].shape[-1])  # the tensor's channel count
        self._preprocess = preprocess
        self.ascent = Ascent(self._objective, settings.transformations, settings.learning_rate)

    def _objective(self, pixels: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
        """target (batch, width): a signed one-hot row, +1 to maximise, -1 to minimise."""
        values = self.prefix(self._preprocess(pixels))
        means = tf.reduce_mean(values[0], axis=(1, 2))
        if self.leaky:
            means += LEAK * tf.reduce_mean(tf.minimum(values[1], 0.0), axis=(1, 2))
        return tf.reduce_sum(means * target, axis=1)

    def run(self, channels: Sequence[int], negative: bool = False) -> ChannelPictures:
        """Optimised images of `channels` (and their minimising images if `negative`)."""
        rows = np.eye(self.width, dtype=np.float32)[list(channels)]
        target = np.concatenate([rows, -rows]) if negative else rows
        s = self.settings
        result = self.ascent.run(target, len(target), s.size, s.steps, s.seed)
        n = len(channels)
        return ChannelPictures(
            self.tensor,
            tuple(int(c) for c in channels),
            result.pixels[:n],
            result.scores[:n],
            result.pixels[n:] if negative else None,
            s,
        )


def rectifier_input(graph: TensorGraph, tensor_name: str) -> list[str]:
    """[the name of the tensor a rectifier made `tensor_name` from], or [] if no rectifier
    (a ReLU layer, or an Activation layer applying relu or relu6) made it."""
    tensor = graph.tensor(tensor_name)
    op = graph.producer(tensor)
    function = getattr(getattr(op, "activation", None), "__name__", "")
    rectifier = isinstance(op, keras.layers.ReLU) or (
        isinstance(op, keras.layers.Activation) and function in ("relu", "relu6")
    )
    inputs = graph.inputs_of(tensor)
    return [graph.name(inputs[0])] if rectifier and len(inputs) == 1 else []


def visualize_channels(
    model: keras.Model,
    tensor_name: str,
    channels: Sequence[int],
    steps: int = STEPS,
    size: int = SIZE,
    seed: int = SEED,
    preprocess: Preprocess | None = None,
    negative: bool = False,
) -> ChannelPictures:
    """One optimised image per channel of the tensor `tensor_name` (a `layers.TensorGraph`
    name), each maximising the channel's mean activation; `preprocess` maps 0-255 pixel tensors
    to model inputs (e.g. `keras.applications.mobilenet.preprocess_input`; identity if None)."""
    settings = Settings(steps=steps, size=size, seed=seed)
    visualizer = ChannelVisualizer(model, tensor_name, preprocess or identity, settings)
    return visualizer.run(channels, negative)


def visualize_classes(
    model: keras.Model,
    classes: Sequence[int],
    steps: int = STEPS,
    size: int | None = None,
    seed: int = SEED,
    preprocess: Preprocess | None = None,
    input_side: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One image per class maximising its pre-softmax logit: (n, size, size, 3) uint8 and the
    (n, classes) logits of each final image, resized to what the model sees. The model sees
    `input_side` (default: its own input size, which a Flatten head needs; a pooling head
    takes less, at a fraction of the cost); `size` defaults to it."""
    side = input_side or int(model.inputs[0].shape[1])
    rewired = RewiredModel(model)
    prepare = preprocess or identity

    def objective(pixels: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
        logits = rewired(prepare(pixels), "plain")[1]
        return tf.reduce_sum(logits * target, axis=1)

    ascent = Ascent(objective, Transformations(), input_side=side)
    count = int(model.outputs[0].shape[-1])
    target = np.eye(count, dtype=np.float32)[list(classes)]
    result = ascent.run(target, len(classes), size or side, steps, seed)
    seen = tf.image.resize(tf.constant(result.pixels, tf.float32), (side, side))
    logits = rewired(prepare(seen), "plain")[1].numpy()
    return result.pixels, logits


def identity(pixels: tf.Tensor) -> tf.Tensor:
    return pixels
