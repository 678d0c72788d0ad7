"""The bench's floors: derived from each method's declared needs, for every catalog method, and
run on the graph the explainer runs (its rewired graph, not the model's own)."""

import keras
import numpy as np
import pytest
from explainkit import input_gradients
from keras import layers

from generator.floors import floor_call, plan_needs
from generator.methods import catalog
from generator.methods.backward_rules import RewiredModel
from generator.methods.base import InputGradients, Logits, Same
from generator.methods.explain import Explainer
from generator.methods.perturb.occlusion import Occlusion


@pytest.fixture(scope="module")
def explainer():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    # One group per channel: the explainer's graph runs it as a depthwise convolution.
    x = layers.Conv2D(4, 3, padding="same", groups=4, name="grouped")(x)
    x = layers.MaxPooling2D(name="pool")(x)
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="top_conv")(x)
    x = layers.GlobalAveragePooling2D()(x)
    # A softmax classifier: the explainer's graph bypasses it (logits), the model's does not.
    model = keras.Model(inputs, layers.Dense(5, activation="softmax", name="logits")(x))
    return Explainer(model, target_layer="top_conv", stage_layers=("conv", "top_conv"))


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).uniform(0, 255, (1, 16, 16, 3)).astype("float32")


@pytest.mark.parametrize("method", catalog.METHODS, ids=catalog.SLUGS)
def test_every_catalog_method_gets_a_floor_that_runs(explainer, image, method):
    classes = explainer.explain(image, top=3, methods=(method,)).classes
    floor = floor_call(explainer, image, classes, plan_needs(explainer.plan((method,), top=3)))
    sums = floor.run()
    assert len(sums) == len(floor.passes) and np.isfinite(sums).all()
    assert floor.passes[0] == "forward of 1 image"
    # The plain forward's sum is that of the explainer's logits (the model's own graph would
    # give softmax probabilities, summing to 1): the floor runs the explainer's graph.
    logits = explainer.explain(image, top=3, methods=()).logits
    assert not np.isclose(logits.sum(), 1.0)
    np.testing.assert_allclose(sums[0], logits.sum(), rtol=1e-5)


def test_floors_follow_the_needs_and_their_sizes(explainer, image):
    classes = np.array([[0, 1, 2]])

    def passes(*methods):
        needs = plan_needs(explainer.plan(methods, top=3))
        return floor_call(explainer, image, classes, needs).passes

    by_slug = {method.slug: method for method in catalog.METHODS}
    assert passes(by_slug["grad-cam"]) == (
        "forward of 1 image",
        "gradients of 3 classes w.r.t. 'top_conv'",
    )
    guided = "guided forward+backward of 1 copy per image, 3 classes"
    assert passes(by_slug["guided-backprop"]) == ("forward of 1 image", guided)
    # Guided Grad-CAM shares Grad-CAM's head gradients and Guided Backprop's pass: once each.
    assert passes(by_slug["grad-cam"], by_slug["guided-grad-cam"], by_slug["guided-backprop"]) == (
        "forward of 1 image",
        "gradients of 3 classes w.r.t. 'top_conv'",
        guided,
    )
    # Occlusion explains the top-1 class with one forward pass of its 7 x 7 occluded copies.
    assert passes(Occlusion()) == ("forward of 1 image", "forward of 49 copies per image")
    assert passes(Occlusion(window=0.5, stride=0.25)) == (
        "forward of 1 image",
        "forward of 9 copies per image",
    )


def test_a_need_without_a_floor_is_named(explainer, image):
    with pytest.raises(TypeError, match="floors.py"):
        floor_call(explainer, image, np.array([[0]]), [Logits(Same()), "a new kind of pass"])


def test_the_floor_runs_every_pass_on_the_explainers_rewired_graph(explainer, image, monkeypatch):
    calls = []
    original = RewiredModel.__call__

    def recorded(self, images, rule="plain"):
        calls.append((self, rule))
        return original(self, images, rule)

    monkeypatch.setattr(RewiredModel, "__call__", recorded)
    needs = [InputGradients("guided", 2), InputGradients("plain", 2), Logits(Same())]
    floor_call(explainer, image, np.array([[0, 1, 2]]), needs).run()
    assert calls and all(rewired is explainer.rewired for rewired, _ in calls)
    # Each input-gradient pass follows its need's backward rule: plain where the need is plain.
    assert {rule for _, rule in calls} == {"plain", "guided"}


@pytest.mark.parametrize("rule", ["guided", "deconvnet"])
def test_a_floors_gradients_are_the_explainers(explainer, image, rule):
    """The floor's input-gradient pass computes what the explainer's does (same graph, same
    rule): the sum of its gradients is that of the explainer's maps."""
    classes = np.array([[3, 0]])
    sums = floor_call(explainer, image, classes, [InputGradients(rule, 2)]).run()
    theirs = input_gradients(explainer, image, classes, rule)
    assert np.abs(theirs).sum() > 0
    np.testing.assert_allclose(sums[1], theirs.sum(), rtol=1e-4, atol=1e-5)
