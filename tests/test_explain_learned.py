"""Explanations of a small CNN trained here, in seconds, on synthetic scenes with known objects
(see `shapes`)."""

import keras
import numpy as np
import pytest
import shapes
from explainkit import grad_cam, input_gradients
from scipy.stats import spearmanr
from shapes import CROSS, OBJECT, SQUARE, peak_inside

from generator.methods.explain import Explainer
from generator.methods.perturb.occlusion import Occlusion


@pytest.fixture(scope="module")
def trained():
    return shapes.train()


def test_model_learned_the_task(trained):
    model, images, labels, _, pairs, _ = trained
    logits = model.predict(images, verbose=0)
    assert (np.argmax(logits, axis=1) == labels).mean() >= 0.95
    assert (model.predict(pairs, verbose=0) > 0).all(axis=1).mean() >= 0.9


def test_grad_cam_peaks_inside_the_object(trained):
    model, images, labels, corners, _, _ = trained
    explainer = Explainer(model)
    assert explainer.target_layer == "top_conv"
    maps, evidence = grad_cam(explainer, images, labels[:, None])
    hits = [peak_inside(maps[i, 0], corners[i, labels[i]]) for i in range(len(images))]
    assert np.mean(hits) >= 0.9
    assert evidence.all()


def test_each_class_map_peaks_at_its_own_object(trained):
    model, _, _, _, pairs, corners = trained
    maps, _ = grad_cam(Explainer(model), pairs, np.tile([SQUARE, CROSS], (len(pairs), 1)))
    square_hits = [peak_inside(maps[i, SQUARE], corners[i, SQUARE]) for i in range(len(pairs))]
    cross_hits = [peak_inside(maps[i, CROSS], corners[i, CROSS]) for i in range(len(pairs))]
    assert np.mean(square_hits) >= 0.9 and np.mean(cross_hits) >= 0.9


def test_guided_backprop_concentrates_on_the_object(trained):
    model, images, labels, corners, _, _ = trained
    gradients = input_gradients(Explainer(model), images, labels[:, None], "guided")[:, 0]
    energy = np.abs(gradients).sum(axis=-1)
    concentration = []
    for i, (row, col) in enumerate(corners[np.arange(len(images)), labels]):
        box = (slice(max(row - 1, 0), row + OBJECT + 1), slice(max(col - 1, 0), col + OBJECT + 1))
        share_of_energy = energy[i][box].sum() / energy[i].sum()
        share_of_area = energy[i][box].size / energy[i].size  # about 10%
        concentration.append(share_of_energy / share_of_area)
    # Evidence spread evenly would give 1; the object (with its edge pixels) should dominate.
    assert np.median(concentration) > 3


def test_occlusion_peaks_inside_the_object(trained):
    """Hiding the object under the grey window (pixels 0-255 scaled to the scenes' 0-1, so grey
    is 0.5) lowers its class's logit most: the largest drop is on the object."""
    model, images, labels, corners, _, _ = trained
    explainer = Explainer(model, methods=(Occlusion(),), preprocess=lambda pixels: pixels / 255)
    maps = explainer.explain(images, classes=labels[:, None]).methods["occlusion"].maps[:, 0]
    hits = [peak_inside(maps[i], corners[i, labels[i]]) for i in range(len(images))]
    assert np.mean(hits) >= 0.9


def _mean_spearman(maps_a: np.ndarray, maps_b: np.ndarray) -> float:
    return float(np.mean([spearmanr(a.ravel(), b.ravel())[0] for a, b in zip(maps_a, maps_b)]))


def test_grad_cam_depends_on_the_learned_weights(trained):
    """Adebayo et al. (2018) cascading randomisation, top layers: the maps must change."""
    model, images, labels, _, _, _ = trained
    classes = labels[:, None]
    maps, _ = grad_cam(Explainer(model), images, classes)
    rerun, _ = grad_cam(Explainer(model), images, classes)

    randomised = keras.models.clone_model(model)
    randomised.set_weights(model.get_weights())
    initializer = keras.initializers.GlorotUniform(seed=1)
    for name in ("top_conv", "logits"):
        layer = randomised.get_layer(name)
        kernel, bias = layer.get_weights()
        layer.set_weights([initializer(kernel.shape).numpy(), np.zeros_like(bias)])
    random_maps, random_evidence = grad_cam(Explainer(randomised), images, classes)
    assert random_evidence.mean() > 0.5  # the maps exist; they just no longer agree

    agreement = _mean_spearman(maps[:, 0], rerun[:, 0])
    after_randomisation = _mean_spearman(maps[:, 0], random_maps[:, 0])
    assert agreement > 0.99
    assert after_randomisation < 0.5 and after_randomisation < agreement - 0.4
