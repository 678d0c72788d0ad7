"""One compiled optimisation step for a batch of Fourier-parameterised images.

Every visualisation here (channels, classes, inversion) is the same loop: make pixels from the
spectrum (`image`), transform them at random (`transforms`), score each image with an
objective, and take an Adam step on the spectrum. The step is one `tf.function` traced once per
objective and batch shape; its state (spectrum, Adam moments, step number, seed) goes in and out
as tensors, so new channels, a new seed or a new photo reuse the trace. `traces` counts how
often it was traced (the tests check it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from generator.methods.neurons.image import initial_spectrum, spectrum_scale, spectrum_to_pixels
from generator.methods.neurons.transforms import Transformations, transform

# objective(model-ready pixels (batch, side, side, 3; 0-255), target) -> (batch,) to maximise
Objective = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]

# Adam on the spectrum's coefficients, as the Distill article and lucid use it; they take 512
# steps at 0.05, a build takes a few dozen at twice the rate (pictures of the ImageNet-trained
# MobileNet read the same at 32 steps and 0.1 as at 64 and 0.05).
LEARNING_RATE = 0.1
# Adam's epsilon, relative to the batch's largest gradient: a fixed 1e-8 would make the step
# depend on the objective's scale (an untrained network's deep activations, and so their
# gradients, are around 1e-13, where it stops every step), and none at all would blow a dead
# channel's rounding-error gradient up into full steps of noise.
_BETA1, _BETA2, _RELATIVE_EPSILON = 0.9, 0.999, 1e-3


@dataclass(frozen=True)
class Optimised:
    """Optimised images (batch, size, size, 3; uint8) and each one's final objective."""

    pixels: np.ndarray
    scores: np.ndarray


class Ascent:
    """Gradient ascent of `objective` over images seen through `transformations`.

    `input_side`, when given, resizes what the model sees to that side (a model whose head
    needs its own input size, e.g. a Flatten before Dense); otherwise the model sees the
    transformed image at its own size (size plus the padding).
    """

    def __init__(
        self,
        objective: Objective,
        transformations: Transformations,
        learning_rate: float = LEARNING_RATE,
        input_side: int | None = None,
        decay: float = 1.0,
    ):
        self.objective = objective
        self.transformations = transformations
        self.learning_rate = learning_rate
        self.input_side = input_side
        self.decay = decay
        self.traces = 0
        self._step = tf.function(self._step_function, reduce_retracing=True, autograph=False)

    def seen(self, pixels: tf.Tensor, seed: tf.Tensor, step: tf.Tensor) -> tf.Tensor:
        """What the model sees of `pixels` at this step: transformed, resized if asked."""
        moved = transform(pixels, self.transformations, seed, step)
        if self.input_side is not None:
            moved = tf.image.resize(moved, (self.input_side, self.input_side))
        return moved

    def _step_function(
        self,
        spectrum: tf.Tensor,
        first: tf.Tensor,
        second: tf.Tensor,
        step: tf.Tensor,
        seed: tf.Tensor,
        target: tf.Tensor,
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        self.traces += 1  # runs only while tracing
        scale = tf.constant(spectrum_scale(int(spectrum.shape[3]), self.decay))
        with tf.GradientTape() as tape:
            tape.watch(spectrum)
            pixels = spectrum_to_pixels(spectrum, scale)
            scores = self.objective(self.seen(pixels, seed, step), target)
            loss = -tf.reduce_sum(scores)
        gradient = tape.gradient(loss, spectrum)
        first = _BETA1 * first + (1 - _BETA1) * gradient
        second = _BETA2 * second + (1 - _BETA2) * tf.square(gradient)
        t = tf.cast(step, tf.float32) + 1.0
        rate = self.learning_rate * tf.sqrt(1 - _BETA2**t) / (1 - _BETA1**t)
        epsilon = _RELATIVE_EPSILON * tf.sqrt(tf.reduce_max(second)) + 1e-30
        spectrum = spectrum - rate * first / (tf.sqrt(second) + epsilon)
        return spectrum, first, second, scores

    def run(
        self, target: np.ndarray | tf.Tensor, batch: int, size: int, steps: int, seed: int
    ) -> Optimised:
        """Optimise `batch` images of side `size` for `steps` steps from seeded noise; `target`
        is what the objective reads besides the images (one row per image, e.g. one-hot
        channels)."""
        spectrum = tf.constant(initial_spectrum(batch, size, seed))
        first = tf.zeros_like(spectrum)
        second = tf.zeros_like(spectrum)
        seed_tensor = tf.constant(seed, tf.int64)
        target = tf.convert_to_tensor(target, tf.float32)
        scores = tf.zeros((batch,))
        for step in range(steps):
            spectrum, first, second, scores = self._step(
                spectrum, first, second, tf.constant(step, tf.int64), seed_tensor, target
            )
        scale = tf.constant(spectrum_scale(size, self.decay))
        pixels = spectrum_to_pixels(spectrum, scale).numpy()
        return Optimised(np.round(pixels).clip(0, 255).astype(np.uint8), scores.numpy())
