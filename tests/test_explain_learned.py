"""Explanations of a small CNN trained here, in seconds, on synthetic scenes with known objects.

Scenes are 32x32 noise holding a bright filled square (class 0) and/or a bright cross (class 1)
at random, non-overlapping places. The labels are multi-label (is each object present?) so
that each class logit must find its own object; a two-way softmax could instead decide "cross"
from the absence of square evidence, and Grad-CAM would then rightly point at the background.
"""

import keras
import numpy as np
import pytest
from keras import layers
from scipy.stats import spearmanr

from generator.methods.explain import Explainer

SIZE = 32
OBJECT = 8
SQUARE, CROSS = 0, 1


def _draw(image: np.ndarray, kind: int, row: int, col: int) -> None:
    if kind == SQUARE:
        image[row : row + OBJECT, col : col + OBJECT] = 1.0
    else:
        mid = OBJECT // 2
        image[row + mid - 1 : row + mid + 1, col : col + OBJECT] = 1.0
        image[row : row + OBJECT, col + mid - 1 : col + mid + 1] = 1.0


def _scenes(present: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
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
            _draw(images[i], kind, row, col)
            corners[i, kind] = row, col
    return images, corners


def _peak_inside(heatmap: np.ndarray, corner: np.ndarray) -> bool:
    row, col = np.unravel_index(np.argmax(heatmap), heatmap.shape)
    return corner[0] <= row < corner[0] + OBJECT and corner[1] <= col < corner[1] + OBJECT


def _classifier() -> keras.Model:
    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="top_conv")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(2, name="logits")(x))


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    present = rng.random((2000, 2)) < 0.5
    images, _ = _scenes(present, rng)
    model = _classifier()
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy(threshold=0.0)],
    )
    model.fit(images, present.astype("float32"), batch_size=64, epochs=5, verbose=0)
    # Held-out scenes with exactly one object, and their class.
    labels = rng.integers(0, 2, 100)
    test_images, corners = _scenes(np.eye(2, dtype=bool)[labels], rng)
    pairs, pair_corners = _scenes(np.ones((30, 2), dtype=bool), rng)
    return model, test_images, labels, corners, pairs, pair_corners


def test_model_learned_the_task(trained):
    model, images, labels, _, pairs, _ = trained
    logits = model.predict(images, verbose=0)
    assert (np.argmax(logits, axis=1) == labels).mean() >= 0.95
    assert (model.predict(pairs, verbose=0) > 0).all(axis=1).mean() >= 0.9


def test_grad_cam_peaks_inside_the_object(trained):
    model, images, labels, corners, _, _ = trained
    explainer = Explainer(model)
    assert explainer.target_layer == "top_conv"
    maps, evidence = explainer.grad_cam(images, labels[:, None])
    hits = [_peak_inside(maps[i, 0], corners[i, labels[i]]) for i in range(len(images))]
    assert np.mean(hits) >= 0.9
    assert evidence.all()


def test_each_class_map_peaks_at_its_own_object(trained):
    model, _, _, _, pairs, corners = trained
    maps, _ = Explainer(model).grad_cam(pairs, np.tile([SQUARE, CROSS], (len(pairs), 1)))
    square_hits = [_peak_inside(maps[i, SQUARE], corners[i, SQUARE]) for i in range(len(pairs))]
    cross_hits = [_peak_inside(maps[i, CROSS], corners[i, CROSS]) for i in range(len(pairs))]
    assert np.mean(square_hits) >= 0.9 and np.mean(cross_hits) >= 0.9


def test_guided_backprop_concentrates_on_the_object(trained):
    model, images, labels, corners, _, _ = trained
    gradients = Explainer(model).input_gradients(images, labels[:, None], "guided")[:, 0]
    energy = np.abs(gradients).sum(axis=-1)
    concentration = []
    for i, (row, col) in enumerate(corners[np.arange(len(images)), labels]):
        box = (slice(max(row - 1, 0), row + OBJECT + 1), slice(max(col - 1, 0), col + OBJECT + 1))
        share_of_energy = energy[i][box].sum() / energy[i].sum()
        share_of_area = energy[i][box].size / energy[i].size  # about 10%
        concentration.append(share_of_energy / share_of_area)
    # Evidence spread evenly would give 1; the object (with its edge pixels) should dominate.
    assert np.median(concentration) > 3


def _mean_spearman(maps_a: np.ndarray, maps_b: np.ndarray) -> float:
    return float(np.mean([spearmanr(a.ravel(), b.ravel())[0] for a, b in zip(maps_a, maps_b)]))


def test_grad_cam_depends_on_the_learned_weights(trained):
    """Adebayo et al. (2018) cascading randomisation, top layers: the maps must change."""
    model, images, labels, _, _, _ = trained
    classes = labels[:, None]
    maps, _ = Explainer(model).grad_cam(images, classes)
    rerun, _ = Explainer(model).grad_cam(images, classes)

    randomised = keras.models.clone_model(model)
    randomised.set_weights(model.get_weights())
    initializer = keras.initializers.GlorotUniform(seed=1)
    for name in ("top_conv", "logits"):
        layer = randomised.get_layer(name)
        kernel, bias = layer.get_weights()
        layer.set_weights([initializer(kernel.shape).numpy(), np.zeros_like(bias)])
    random_maps, random_evidence = Explainer(randomised).grad_cam(images, classes)
    assert random_evidence.mean() > 0.5  # the maps exist; they just no longer agree

    agreement = _mean_spearman(maps[:, 0], rerun[:, 0])
    after_randomisation = _mean_spearman(maps[:, 0], random_maps[:, 0])
    assert agreement > 0.99
    assert after_randomisation < 0.5 and after_randomisation < agreement - 0.4
