"""Deletion and insertion curves (Petsiuk et al. 2018, RISE): does the model's confidence follow
the map?

Deletion removes the pixels a map ranks most important first (replaced by the black photo) and
records the class probability after each step: a faithful map makes it fall fast (low area
under the curve). Insertion reveals them first over a blurred copy of the photo: a faithful
map makes it rise fast (high area). Maps are compared with two baselines that know nothing of
the model (`baseline_maps`).

Everything runs in model space: keras.applications preprocessing is a per-channel affine map,
so mixing or blurring model inputs is mixing or blurring the photo. All steps of all maps of a
photo run in one compiled call, the masks built inside it from the maps' pixel ranks.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from generator.methods.backward_rules import RewiredModel
from generator.methods.batching import in_chunks

# Insertion's start: the photo blurred by a Gaussian of standard deviation 5/224 of its width
# (5 pixels at 224, as in RISE), truncated at 4 standard deviations (scipy's default).
BLUR_SIGMA_FRACTION = 5 / 224
_BLUR_TRUNCATE = 4.0


def baseline_maps(height: int, width: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Maps that know nothing of the model, (H, W) float32 each: "random" (uniform, seeded) and
    "gaussian" (a bump at the centre, standard deviation a quarter of each side), the centre
    bias a photographer gives most photos."""
    rows = (np.arange(height) - (height - 1) / 2) / (height / 4)
    cols = (np.arange(width) - (width - 1) / 2) / (width / 4)
    bump = np.exp(-0.5 * (rows[:, None] ** 2 + cols[None, :] ** 2))
    return {
        "random": np.random.default_rng(seed).random((height, width)).astype(np.float32),
        "gaussian": bump.astype(np.float32),
    }


def auc(curves: np.ndarray) -> np.ndarray:
    """Trapezoidal area under each curve (last axis: evenly spaced points over x in [0, 1])."""
    curves = np.asarray(curves, dtype=np.float64)
    steps = curves.shape[-1] - 1
    return (curves.sum(axis=-1) - (curves[..., 0] + curves[..., -1]) / 2) / steps


class DeletionInsertion:
    """Deletion and insertion curves of one model, compiled once per map count and image size.

    The class probability is the softmax of the pre-softmax logits that `RewiredModel` reads
    (a model's final softmax is bypassed, then applied here once). `rewired` shares an
    `Explainer`'s graph (`Explainer.rewired`); without it one is made from `model`. `steps`
    is the number of steps per curve; `chunk` how many inputs one forward pass holds at most.
    A pass never mixes two maps' inputs (it holds a divisor of `rows_per_map`), so a map's
    curves come from the same passes whichever maps are scored with it: a rebuild that scores
    another set of maps gives the same numbers, to the bit.
    """

    def __init__(
        self,
        model: keras.Model,
        steps: int,
        chunk: int = 32,
        rewired: RewiredModel | None = None,
    ):
        if steps < 1 or chunk < 1:
            raise ValueError(f"steps and chunk must be at least 1, got {steps} and {chunk}")
        self.steps = steps
        self.chunk = chunk
        self._rewired = rewired or RewiredModel(model)
        self._curves = tf.function(self._curves_step, autograph=False)

    def curves(
        self, image: np.ndarray, reference: np.ndarray, importances: np.ndarray, class_index: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(deletion, insertion), each (M, steps + 1): the probability of `class_index` with the
        `round(t / steps * H * W)` most important pixels of each of the M maps `importances`
        (M, H, W) removed (replaced by `reference`, the black photo in model space) or revealed
        (shown over the blurred `image`), t = 0..steps. Higher values are more important; ties
        go to the lower pixel index (row-major), so curves are deterministic. `image` and
        `reference` are (H, W, 3) model inputs."""
        image = np.asarray(image, dtype=np.float32)
        reference = np.asarray(reference, dtype=np.float32)
        importances = np.asarray(importances, dtype=np.float32)
        if image.ndim != 3 or image.shape[-1] != 3 or reference.shape != image.shape:
            raise ValueError(
                f"image and reference must be one (H, W, 3), got {image.shape}, {reference.shape}"
            )
        if importances.ndim != 3 or importances.shape[1:] != image.shape[:2]:
            raise ValueError(
                f"importances must be (M, *{image.shape[:2]}), got {importances.shape}"
            )
        deletion, insertion = self._curves(
            tf.constant(image), tf.constant(reference), tf.constant(importances),
            tf.constant(class_index, tf.int32),
        )  # fmt: skip
        return deletion.numpy(), insertion.numpy()

    @property
    def rows_per_map(self) -> int:
        """Inputs one map adds to the call: its curves' inner points. Every curve's ends are
        the same for every map (the photo, the black photo, the blurred photo): those three
        inputs run once per call, in a pass of their own."""
        return 2 * (self.steps - 1)

    def _curves_step(
        self, image: tf.Tensor, reference: tf.Tensor, importances: tf.Tensor, class_index: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Both curves of every map: the shared ends, then rows (map, deletion or insertion,
        inner step), each row's input made from the map's pixel ranks inside its chunk, so
        only a chunk of inputs exists at once."""
        maps, height, width = importances.shape
        pixels = height * width
        blurred = _blur(image, BLUR_SIGMA_FRACTION * width)

        def probabilities(inputs: tf.Tensor) -> tf.Tensor:
            _, logits = self._rewired(inputs, "plain")
            return tf.gather(tf.nn.softmax(logits), class_index, axis=1)

        photo, black, blur = tf.unstack(probabilities(tf.stack([image, reference, blurred])))
        inner = self.steps - 1
        if inner:
            order = tf.argsort(
                tf.reshape(importances, [maps, pixels]), direction="DESCENDING", stable=True
            )
            ranks = tf.argsort(order)  # each pixel's place in its map's order (inverse permutation)
            counts = tf.constant(
                [round(t * pixels / self.steps) for t in range(1, self.steps)], tf.int32
            )
            rows = (
                tf.repeat(tf.range(maps), 2 * inner),  # the map
                tf.tile(tf.repeat([True, False], inner), [maps]),  # deletion, else insertion
                tf.tile(counts, [2 * maps]),  # how many pixels are changed
            )

            def changed_inputs(
                map_index: tf.Tensor, deleting: tf.Tensor, count: tf.Tensor
            ) -> tuple[tf.Tensor]:
                changed = tf.gather(ranks, map_index) < count[:, None]  # (B, pixels)
                changed = tf.reshape(changed, [-1, height, width, 1])
                deleting = deleting[:, None, None, None]
                start = tf.where(deleting, image, blurred)
                end = tf.where(deleting, reference, image)
                return (probabilities(tf.where(changed, end, start)),)

            per_map = self.rows_per_map
            most = max(d for d in range(1, per_map + 1) if per_map % d == 0 and d <= self.chunk)
            (probability,) = in_chunks(changed_inputs, rows, most, outputs=1)
            middle = tf.reshape(probability, [maps, 2, inner])
        else:
            middle = tf.zeros([maps, 2, 0])
        ends = tf.ones([maps, 1])
        deletion = tf.concat([photo * ends, middle[:, 0], black * ends], axis=1)
        insertion = tf.concat([blur * ends, middle[:, 1], photo * ends], axis=1)
        return deletion, insertion


def _blur(image: tf.Tensor, sigma: float) -> tf.Tensor:
    """(H, W, 3) `image` blurred by a Gaussian of standard deviation `sigma` pixels, each channel
    alone, edges mirrored (no pixel is repeated: scipy's "mirror"), truncated at
    `_BLUR_TRUNCATE` standard deviations and at the image's size."""
    height, width, channels = image.shape
    radius = min(int(_BLUR_TRUNCATE * sigma + 0.5), height - 1, width - 1)
    if radius < 1:
        return image
    offsets = np.arange(-radius, radius + 1)
    taps = np.exp(-0.5 * (offsets / sigma) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    padded = tf.pad(image[None], [[0, 0], [radius, radius], [radius, radius], [0, 0]], "REFLECT")
    across = np.tile(taps[:, None, None, None], [1, 1, channels, 1])  # (taps, 1, C, 1)
    down = tf.nn.depthwise_conv2d(padded, across, [1, 1, 1, 1], "VALID")
    sideways = np.transpose(across, [1, 0, 2, 3])
    return tf.nn.depthwise_conv2d(down, sideways, [1, 1, 1, 1], "VALID")[0]
