"""DeepDream and inverted representations: optimising a photo, or an image towards a photo.

DeepDream (Mordvintsev, Olah & Tyka 2015) climbs the gradient of the squared activations of a
middle tensor with respect to the photo itself: whatever the tensor half-sees in the photo is
amplified. It works over octaves (the photo at a few sizes, smallest first) so that patterns
grow larger than the tensor's receptive field, and shifts the image by a seeded random roll at
every step so no pixel grid is favoured.

Inversion (Mahendran & Vedaldi 2015) starts from noise and seeks an image whose activations at
one tensor match the photo's: the relative squared error of the activations plus a total
variation prior (natural images are mostly smooth). An early tensor keeps nearly the whole
photo; a late one keeps what the classifier needs, and the rest is free to differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from generator.images import center_crop
from generator.methods.layers import TensorGraph
from generator.methods.neurons.ascent import LEARNING_RATE, Ascent
from generator.methods.neurons.channels import SEED, identity
from generator.methods.neurons.prefix import Prefix, Preprocess
from generator.methods.neurons.transforms import NONE, rounded_up

DREAM_OCTAVES = 3
DREAM_OCTAVE_SCALE = 1.4
DREAM_STEPS = 12  # per octave
DREAM_STEP_SIZE = 3.0  # pixels (0-255) per step, along the gradient normalised to mean 1
INVERSION_STEPS = 100
INVERSION_SIZE = 128  # the photo's side for inversion: a quarter of the cost of 224 px
INVERSION_TV_WEIGHT = 1e-4  # of the total variation per pixel pair, in squared 0-1 units
DREAM_SETTINGS = (
    f"{DREAM_OCTAVES} octaves {DREAM_OCTAVE_SCALE:g}x apart, {DREAM_STEPS} steps each of "
    f"{DREAM_STEP_SIZE:g} levels along the normalised gradient, a seeded random roll per step"
)


def inversion_settings(steps: int) -> str:
    """How an inversion of `steps` steps is made, in words, for its caption."""
    return (
        f"{steps} Adam steps from seeded noise on a {INVERSION_SIZE}x{INVERSION_SIZE} centre "
        f"crop, relative squared error plus {INVERSION_TV_WEIGHT:g} x total variation"
    )


class DeepDream:
    """DeepDream at one tensor of one model; its step is traced once for every photo size."""

    def __init__(
        self,
        model: keras.Model,
        tensor_name: str,
        preprocess: Preprocess,
        graph: TensorGraph | None = None,
    ):
        self.tensor = tensor_name
        self.prefix = Prefix(model, [tensor_name], graph)
        self._preprocess = preprocess
        self.traces = 0
        signature = [
            tf.TensorSpec((1, None, None, 3), tf.float32),
            tf.TensorSpec((2,), tf.int32),
        ]
        self._step = tf.function(self._step_function, input_signature=signature, autograph=False)

    def _step_function(self, photo: tf.Tensor, shift: tf.Tensor) -> tf.Tensor:
        self.traces += 1  # runs only while tracing
        rolled = tf.roll(photo, shift, axis=(1, 2))
        with tf.GradientTape() as tape:
            tape.watch(rolled)
            activation = self.prefix(self._preprocess(rolled))[0]
            loss = tf.reduce_mean(tf.square(activation))
        gradient = tape.gradient(loss, rolled)
        # Normalised whatever its scale (an untrained network's can be 1e-13); zero stays zero.
        gradient = tf.math.divide_no_nan(gradient, tf.reduce_mean(tf.abs(gradient)))
        dreamed = tf.clip_by_value(rolled + DREAM_STEP_SIZE * gradient, 0.0, 255.0)
        return tf.roll(dreamed, -shift, axis=(1, 2))

    def run(
        self,
        photo: np.ndarray,
        steps: int = DREAM_STEPS,
        octaves: int = DREAM_OCTAVES,
        seed: int = SEED,
        multiple: int = 1,
    ) -> np.ndarray:
        """The dreamed photo (h, w, 3) uint8 of `photo` (h, w, 3) uint8; each octave's sides
        rounded up to a multiple of `multiple` (`prefix.size_multiple`)."""
        height, width = photo.shape[:2]
        rng = np.random.default_rng(seed)
        image = tf.constant(photo[None], tf.float32)
        for octave in reversed(range(octaves)):
            factor = DREAM_OCTAVE_SCALE**octave
            size = tuple(rounded_up(max(round(side / factor), 8), multiple)
                         for side in (height, width))  # fmt: skip
            image = tf.image.resize(image, size)
            for _ in range(steps):
                shift = rng.integers(-16, 17, size=2).astype(np.int32)
                image = self._step(image, tf.constant(shift))
        image = tf.image.resize(image, (height, width))
        return np.round(image[0].numpy()).clip(0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Inversion:
    """An image optimised from noise to reproduce one tensor's activations of a photo."""

    tensor: str
    pixels: np.ndarray  # (size, size, 3) uint8
    relative_error: float  # ||a(image) - a(photo)|| / ||a(photo)||, on the returned pixels


class Inverter:
    """Inversion at one tensor of one model; one compiled step (`ascent.traces`)."""

    def __init__(
        self,
        model: keras.Model,
        tensor_name: str,
        preprocess: Preprocess,
        graph: TensorGraph | None = None,
        tv_weight: float = INVERSION_TV_WEIGHT,
        learning_rate: float = LEARNING_RATE,
    ):
        self.tensor = tensor_name
        self.prefix = Prefix(model, [tensor_name], graph)
        self._preprocess = preprocess
        self.tv_weight = tv_weight
        self.ascent = Ascent(self._objective, NONE, learning_rate)

    def activations(self, pixels: np.ndarray | tf.Tensor) -> tf.Tensor:
        return self.prefix(self._preprocess(tf.convert_to_tensor(pixels, tf.float32)))[0]

    def _objective(self, pixels: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
        activation = self.activations(pixels)
        axes = list(range(1, len(activation.shape)))
        error = tf.reduce_sum(tf.square(activation - target), axis=axes) / (
            tf.reduce_sum(tf.square(target), axis=axes) + 1e-12
        )
        unit = pixels / 255.0
        variation = tf.reduce_mean(
            tf.square(unit[:, 1:, :-1] - unit[:, :-1, :-1])
            + tf.square(unit[:, :-1, 1:] - unit[:, :-1, :-1]),
            axis=(1, 2, 3),
        )
        return -(error + self.tv_weight * variation * float(np.prod(unit.shape[1:3])))

    def run(self, photo: np.ndarray, steps: int = INVERSION_STEPS, seed: int = SEED) -> Inversion:
        """Invert `photo` (size, size, 3) uint8: the model sees it at its own size."""
        target = self.activations(photo[None].astype(np.float32))
        size = int(photo.shape[0])
        result = self.ascent.run(target, 1, size, steps, seed)
        reached = self.activations(result.pixels.astype(np.float32))
        error = float(tf.norm(reached - target) / tf.norm(target))
        return Inversion(self.tensor, result.pixels[0], error)


def deep_dream(
    model: keras.Model,
    tensor_name: str,
    photo: np.ndarray,
    preprocess: Preprocess | None = None,
    steps: int = DREAM_STEPS,
    octaves: int = DREAM_OCTAVES,
    seed: int = SEED,
) -> np.ndarray:
    """`photo` (h, w, 3) uint8 dreamed at the tensor `tensor_name`."""
    return DeepDream(model, tensor_name, preprocess or identity).run(photo, steps, octaves, seed)


def invert(
    model: keras.Model,
    tensor_name: str,
    photo: np.ndarray,
    preprocess: Preprocess | None = None,
    steps: int = INVERSION_STEPS,
    seed: int = SEED,
) -> Inversion:
    """An image from seeded noise whose `tensor_name` activations match those of `photo`
    (h, w, 3) uint8, centre-cropped to `INVERSION_SIZE` first."""
    crop = center_crop(photo, (INVERSION_SIZE, INVERSION_SIZE))
    return Inverter(model, tensor_name, preprocess or identity).run(crop, steps, seed)
