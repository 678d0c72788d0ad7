"""A small CNN trained here, in seconds, on synthetic scenes with known objects, for tests that
check where explanations point.

Scenes are 32x32 noise holding a bright filled square (class 0) and/or a bright cross (class 1)
at random, non-overlapping places. The labels are multi-label (is each object present?) so
that each class logit must find its own object; a two-way softmax could instead decide "cross"
from the absence of square evidence, and Grad-CAM would then rightly point at the background.
`train()` trains it once per test process.
"""

import functools

import keras
import numpy as np
from keras import layers

SIZE = 32
OBJECT = 8
SQUARE, CROSS = 0, 1


def draw(image: np.ndarray, kind: int, row: int, col: int) -> None:
    if kind == SQUARE:
        image[row : row + OBJECT, col : col + OBJECT] = 1.0
    else:
        mid = OBJECT // 2
        image[row + mid - 1 : row + mid + 1, col : col + OBJECT] = 1.0
        image[row : row + OBJECT, col + mid - 1 : col + mid + 1] = 1.0


def scenes(present: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 32, 32, 3) with the objects marked in `present` (n, 2); their top-left corners."""
    images = rng.uniform(0.0, 0.4, (len(present), SIZE, SIZE, 3)).astype("float32")
    corners = np.full((len(present), 2, 2), -1)
    for i, flags in enumerate(present):
        for kind in np.flatnonzero(flags):
            while True:
                row, col = rng.integers(0, SIZE - OBJECT + 1, 2)
                others = [corners[i, k] for k in range(2) if k != kind and corners[i, k, 0] >= 0]
                if all(abs(row - r) > OBJECT or abs(col - c) > OBJECT for r, c in others):
                    break
            draw(images[i], kind, row, col)
            corners[i, kind] = row, col
    return images, corners


def peak_inside(heatmap: np.ndarray, corner: np.ndarray) -> bool:
    row, col = np.unravel_index(np.argmax(heatmap), heatmap.shape)
    return corner[0] <= row < corner[0] + OBJECT and corner[1] <= col < corner[1] + OBJECT


def classifier() -> keras.Model:
    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="top_conv")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(2, name="logits")(x))


@functools.cache
def train() -> tuple:
    """(model, one-object test images, their labels, corners, two-object pairs, their corners),
    trained once per test process."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    present = rng.random((2000, 2)) < 0.5
    images, _ = scenes(present, rng)
    model = classifier()
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy(threshold=0.0)],
    )
    model.fit(images, present.astype("float32"), batch_size=64, epochs=5, verbose=0)
    # Held-out scenes with exactly one object, and their class.
    labels = rng.integers(0, 2, 100)
    test_images, corners = scenes(np.eye(2, dtype=bool)[labels], rng)
    pairs, pair_corners = scenes(np.ones((30, 2), dtype=bool), rng)
    return model, test_images, labels, corners, pairs, pair_corners
