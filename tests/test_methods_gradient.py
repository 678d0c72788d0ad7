"""Gradient saliency, Gradient × Input, Integrated Gradients and SmoothGrad on tiny
hand-weighted models, checked against an independent numpy computation of the input gradient
(`test_explain_analytic._reference`, itself checked against finite differences there).

Images are in a "model space" where the black photo is -1 (the Explainer gets a preprocess
p / 127.5 - 1), so a method that forgot the black reference and used x itself would fail.
"""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers
from test_explain_analytic import _chain_model, _reference
from test_explain_learned import OBJECT, trained  # noqa: F401 (a fixture)

from generator.methods import catalog
from generator.methods.base import Context, InputGradients
from generator.methods.cam.grad_cam import GradCAM
from generator.methods.explain import Explainer
from generator.methods.gradient.gradient_x_input import GradientXInput
from generator.methods.gradient.guided_backprop import GuidedBackprop
from generator.methods.gradient.integrated_gradients import IntegratedGradients
from generator.methods.gradient.saliency import Saliency
from generator.methods.wrap.smooth_grad import SmoothGrad

BLACK = -1.0


def _to_model_space(pixels: np.ndarray) -> np.ndarray:
    return pixels / 127.5 - 1.0


def _setup(activation: str = "swish", seed: int = 7):
    rng = np.random.default_rng(seed)
    model, convs, denses = _chain_model(activation, True, rng)
    images = rng.uniform(-1, 1, (2, 6, 6, 3)).astype("float32")
    explainer = Explainer(model, preprocess=_to_model_space)
    return model, convs, denses, images, explainer


def _run(explainer, images, classes, method):
    result = explainer.explain(images, classes=classes, methods=(method,), many_passes_top=5)
    return result.methods[method.slug]


def _plain(x, convs, denses, activation="swish"):
    """(logits (C,), plain input gradient of every class (C, H, W, 3)), float64 numpy."""
    return _reference(x, convs, denses, activation, "plain")


def test_saliency_is_max_over_colours_of_the_absolute_logit_gradient():
    _, convs, denses, images, explainer = _setup()
    classes = np.array([[0, 2, 1], [1, 0, 2]])
    got = _run(explainer, images, classes, Saliency()).maps
    assert got.shape == (2, 3, 6, 6)
    for n in range(2):
        _, gradients = _plain(images[n], convs, denses)
        for k, c in enumerate(classes[n]):
            expected = np.abs(gradients[c]).max(axis=-1)
            np.testing.assert_allclose(got[n, k], expected, rtol=1e-3, atol=1e-6)
    # The map is the largest channel, not e.g. their sum: the two differ on these weights.
    _, gradients = _plain(images[0], convs, denses)
    assert np.abs(np.abs(gradients[0]).sum(-1) - got[0, 0]).max() > 0.1 * got[0, 0].max()


def test_gradient_x_input_sums_gradient_times_offset_from_black():
    _, convs, denses, images, explainer = _setup()
    classes = np.array([[2, 0], [0, 1]])
    got = _run(explainer, images, classes, GradientXInput()).maps
    assert got.shape == (2, 2, 6, 6)
    for n in range(2):
        _, gradients = _plain(images[n], convs, denses)
        for k, c in enumerate(classes[n]):
            expected = (gradients[c] * (images[n] - BLACK)).sum(axis=-1)
            np.testing.assert_allclose(got[n, k], expected, rtol=1e-3, atol=1e-5)
    assert (got < 0).any() and (got > 0).any()  # signed


def _integrated_gradients(x, convs, denses, steps):
    """Trapezoid-rule IG of every class from the black image, written out with numpy."""
    alphas = np.linspace(0, 1, steps + 1)
    path = [_plain(BLACK + a * (x - BLACK), convs, denses)[1] for a in alphas]
    weights = np.full(steps + 1, 1.0 / steps)
    weights[[0, -1]] /= 2
    mean_gradient = np.tensordot(weights, np.stack(path), axes=1)  # (C, H, W, 3)
    return (mean_gradient * (x - BLACK)).sum(axis=-1)  # (C, H, W)


def test_integrated_gradients_matches_numpy_trapezoid_rule():
    model, convs, denses, images, explainer = _setup()
    classes = np.array([[1, 2], [2, 0]])
    got = _run(explainer, images, classes, IntegratedGradients(steps=8))
    assert got.maps.shape == (2, 2, 6, 6)
    black = np.full((1, 6, 6, 3), BLACK, "float32")
    for n in range(2):
        expected = _integrated_gradients(images[n], convs, denses, 8)
        change = model(images[n : n + 1]).numpy()[0] - model(black).numpy()[0]
        for k, c in enumerate(classes[n]):
            np.testing.assert_allclose(got.maps[n, k], expected[c], rtol=1e-3, atol=1e-5)
            np.testing.assert_allclose(got.notes["logit_change"][n, k], change[c], rtol=1e-4)
            error = abs(expected[c].sum() - change[c]) / abs(change[c])
            np.testing.assert_allclose(
                got.notes["completeness_error"][n, k], error, rtol=1e-2, atol=1e-5
            )


def test_integrated_gradients_is_complete_on_a_linear_model():
    """A linear logit has a constant gradient: one step is already exact."""
    rng = np.random.default_rng(2)
    inputs = keras.Input((4, 4, 3))
    dense = layers.Dense(3)
    spatial = layers.Identity(name="spatial")(inputs)  # somewhere for Grad-CAM's target to be
    model = keras.Model(inputs, dense(layers.Flatten()(spatial)))
    dense.set_weights([rng.normal(size=(48, 3)).astype("float32"), np.ones(3, "float32")])
    images = rng.uniform(-1, 1, (2, 4, 4, 3)).astype("float32")
    explainer = Explainer(model, preprocess=_to_model_space)
    got = _run(explainer, images, np.array([[0, 1, 2]] * 2), IntegratedGradients(steps=1))
    weight = dense.get_weights()[0].reshape(4, 4, 3, 3)
    expected = np.einsum("nhwc,hwck->nkhw", images - BLACK, weight)
    np.testing.assert_allclose(got.maps, expected, rtol=1e-4, atol=1e-5)
    assert got.notes["completeness_error"].max() < 1e-4


def test_integrated_gradients_completeness_holds_within_its_error_which_falls_with_steps():
    model, _, _, images, explainer = _setup(seed=4)
    black = np.full((1, 6, 6, 3), BLACK, "float32")
    change = model(images).numpy() - model(black).numpy()  # (N, C)
    classes = np.array([[0, 1, 2]] * 2)
    errors = []
    for steps in (4, 16, 64):
        got = _run(explainer, images, classes, IntegratedGradients(steps=steps))
        reported = got.notes["completeness_error"]
        true_change = np.take_along_axis(change, classes, axis=1)
        actual = np.abs(got.maps.sum(axis=(2, 3)) - true_change) / np.abs(true_change)
        # The attributions sum to the logit change within the reported error (float32 slack).
        assert np.all(actual <= reported + 1e-3), (steps, actual, reported)
        errors.append(reported.mean())
    assert errors[0] > 1e-3  # this model is nonlinear enough for 4 steps to be visibly off
    assert errors[0] > 4 * errors[1] > 16 * errors[2], errors  # trapezoid: O(1/steps^2)


def _noisy_copies(images, level, samples, seed):
    """The noise SmoothGrad is documented to draw, written out here: one N(0, 1) draw from a
    stateless seed for every image, times level × the image's value range."""
    noise = tf.random.stateless_normal((samples, *images.shape[1:]), seed=(seed, 0)).numpy()
    spread = images.max(axis=(1, 2, 3)) - images.min(axis=(1, 2, 3))
    return images[:, None] + noise[None] * (level * spread)[:, None, None, None, None]


@pytest.mark.parametrize(
    ("base", "rule"),
    [(Saliency(), "plain"), (GuidedBackprop(), "guided")],
    ids=["saliency", "guided"],
)
def test_smoothgrad_is_the_mean_of_the_base_maps_at_the_noisy_copies(base, rule):
    model, convs, denses, images, explainer = _setup(activation="relu", seed=2)
    classes = np.array([[0, 2], [1, 0]])
    method = SmoothGrad(base, level=0.2, samples=5, seed=3)
    got = _run(explainer, images, classes, method).maps
    assert (np.abs(got).max(axis=(2, 3)) > 0).all()  # every map has something to compare
    copies = _noisy_copies(images, 0.2, 5, 3)
    for n in range(2):
        per_copy = np.stack([_reference(x, convs, denses, "relu", rule)[1] for x in copies[n]])
        maps = np.abs(per_copy).max(axis=-1) if base.slug == "saliency" else per_copy
        for k, c in enumerate(classes[n]):
            expected = maps[:, c].mean(axis=0)
            np.testing.assert_allclose(
                got[n, k], expected, rtol=1e-3, atol=1e-4 * np.abs(expected).max()
            )
    # The same noise on every call and in a new explainer, whatever batch the image is in;
    # another seed draws other noise.
    again = Explainer(model, preprocess=_to_model_space)
    np.testing.assert_array_equal(_run(again, images, classes, method).maps, got)
    alone = _run(again, images[1:], classes[1:], method).maps
    np.testing.assert_allclose(alone, got[1:], rtol=1e-6, atol=1e-7)
    other = _run(explainer, images, classes, dataclasses.replace(method, seed=4)).maps
    assert np.abs(other - got).max() > 1e-3 * np.abs(got).max()
    # Without noise it is the base method itself.
    quiet = _run(explainer, images, classes, dataclasses.replace(method, level=0.0)).maps
    plain = _run(explainer, images, classes, base).maps
    np.testing.assert_allclose(quiet, plain, rtol=1e-5, atol=1e-6)


def test_smoothgrad_declares_itself_from_its_base():
    smooth, guided = SmoothGrad(Saliency()), SmoothGrad(GuidedBackprop())
    assert (smooth.slug, guided.slug) == ("smoothgrad", "smoothgrad-guided")
    assert smooth.title != guided.title
    assert (smooth.display, guided.display) == ("magnitude", "gradient")
    assert guided.kind == "input attribution" and guided.many_passes
    assert smooth.options() == {"base": "saliency", "level": 0.15, "samples": 16, "seed": 0}
    wrapped_ig = SmoothGrad(IntegratedGradients(steps=4), samples=2)
    assert wrapped_ig.options()["base_steps"] == 4
    with pytest.raises(ValueError, match="integrated-gradients"):
        wrapped_ig.needs(Context(target="t", stages=(), classes=1))
    with pytest.raises(ValueError, match="grad-cam"):
        SmoothGrad(GradCAM()).needs(Context(target="t", stages=(), classes=1))


def test_catalog_lists_the_gradient_methods_once_each():
    for slug in (
        "saliency",
        "gradient-x-input",
        "integrated-gradients",
        "smoothgrad",
        "smoothgrad-guided",
    ):
        assert catalog.by_slug(slug).slug == slug
    assert len(set(catalog.SLUGS)) == len(catalog.SLUGS)
    assert len({method.title for method in catalog.METHODS}) == len(catalog.METHODS)
    assert catalog.by_slug("integrated-gradients").options() == {"steps": 32}


@pytest.mark.parametrize(
    ("slug", "least"),
    [
        ("saliency", 3.0),
        ("gradient-x-input", 5.0),
        ("integrated-gradients", 5.0),
        ("smoothgrad", 1.5),
        ("smoothgrad-guided", 1.5),
    ],
)
def test_maps_concentrate_on_the_object_of_a_learned_model(trained, slug, least):  # noqa: F811
    """On the small CNN trained on synthetic squares and crosses, each map's evidence (its
    magnitude, or the positive part of a signed map) lies mostly on the explained object."""
    model, images, labels, corners, _, _ = trained
    method = catalog.by_slug(slug)
    result = Explainer(model, methods=(method,)).explain(images, classes=labels[:, None])
    maps = result.methods[slug].maps[:, 0]
    energy = {"signed": np.maximum(maps, 0), "gradient": np.abs(maps).sum(axis=-1)}.get(
        method.display, maps
    )
    concentration = []
    for i, (row, col) in enumerate(corners[np.arange(len(images)), labels]):
        box = (slice(max(row - 1, 0), row + OBJECT + 1), slice(max(col - 1, 0), col + OBJECT + 1))
        share_of_area = energy[i][box].size / energy[i].size  # about 10%
        concentration.append(energy[i][box].sum() / energy[i].sum() / share_of_area)
    # Evidence spread evenly would give 1.
    assert np.median(concentration) > least, np.median(concentration)
    if slug == "integrated-gradients":  # 32 steps are plenty for this small network
        assert np.percentile(result.methods[slug].notes["completeness_error"], 95) < 0.02


def test_methods_sharing_one_merged_pass_equal_each_method_alone():
    """All input-gradient methods in one explain call run as rows of one pass per class count
    and rule family (guided and DeConvNet rows mixed, image and noisy copies and path points
    side by side); every map must equal that method computed on its own, for top-3 classes
    and for many-pass methods at top-2 and top-1."""
    _, _, _, images, explainer = _setup()
    methods = [
        m
        for m in catalog.METHODS
        if any(isinstance(need, InputGradients) for need in m.needs(Context("", (), 1)))
    ]
    assert {"guided-backprop", "deconvnet", "saliency", "smoothgrad-guided"} <= {
        m.slug for m in methods
    }
    for many in (2, 1):
        together = explainer.explain(images, top=3, methods=methods, many_passes_top=many)
        for method in methods:
            alone = explainer.explain(images, top=3, methods=(method,), many_passes_top=many)
            mine, theirs = together.methods[method.slug], alone.methods[method.slug]
            assert mine.maps.shape[1] == (many if method.many_passes else 3)
            np.testing.assert_allclose(mine.maps, theirs.maps, rtol=1e-5, atol=1e-7)
        # Not all zero (this tiny model's noisy copies and Grad-CAM can be, alone and together).
        nonzero = {slug for slug, m in together.methods.items() if np.abs(m.maps).max() > 0}
        assert {"guided-backprop", "deconvnet", "saliency", "integrated-gradients"} <= nonzero
