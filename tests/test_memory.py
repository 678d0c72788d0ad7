"""Memory plans: passes run in chunks that follow a model's own memory per input, uneven counts
included; what cannot fit is left out, named, before anything is computed; every architecture's
default build is planned within the default budget; and a real build stays under a tight one.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import archkit
import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers
from sitekit import quick_build_options

from generator.build import build
from generator.methods import catalog
from generator.methods.batching import in_chunks
from generator.methods.budget import DEFAULT_BUDGET_GIB, GIB, budget_bytes
from generator.methods.explain import Explainer
from generator.methods.layers import stage_outputs
from generator.methods.memory import MemoryPlan, MemoryProfile, plan_needs
from generator.methods.projections import LayerProjections
from generator.registry import build_model, discover

REPO = Path(__file__).resolve().parent.parent


def _model() -> keras.Model:
    """A small seeded CNN whose activations outweigh its inputs, as a real model's do."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((24, 24, 3))
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="gelu", name="conv3")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(4, name="logits")(x))


def test_uneven_chunks_equal_one_batch():
    rows = tf.constant(np.random.default_rng(0).normal(size=(7, 5)).astype("float32"))
    weights = tf.constant(np.random.default_rng(1).normal(size=(5, 3)).astype("float32"))

    def step(x):
        return (tf.tanh(x @ weights), tf.reduce_sum(x, axis=1))

    whole = step(rows)
    for most in (1, 2, 3, 4, 6, 7, 50):
        chunked = tf.function(lambda x, most=most: in_chunks(step, (x,), most, outputs=2))(rows)
        for expected, got in zip(whole, chunked):
            assert got.shape == expected.shape, most
            np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6, atol=1e-6)


def test_a_tight_budget_chunks_every_pass_and_changes_no_map():
    model = _model()
    images = np.random.default_rng(2).uniform(-1, 1, (1, 24, 24, 3)).astype("float32")
    roomy = Explainer(model, stage_layers=["conv1", "conv2"])
    profile = roomy.memory.profile
    # Room for about three inputs of a backward pass beside the fixed part.
    tight = profile.fixed + 3 * profile.backward_row(2)
    narrow = Explainer(model, stage_layers=["conv1", "conv2"], memory_budget=tight)
    needs, classes = plan_needs(roomy.plan(roomy.methods, top=2, many_passes_top=2))
    for explainer, chunked in ((roomy, False), (narrow, True)):
        passes = explainer.memory.passes(needs, classes, projections=False)[1:]
        assert [(p.what, p.classes) for p in passes] == [
            ("input gradients", 2),
            ("forward of copies", 0),
        ]
        assert all((1 <= p.chunk < p.rows) if chunked else p.chunk == p.rows for p in passes)
    assert (
        narrow.memory.projection_chunk(3)
        == 2
        > Explainer(
            model, memory_budget=profile.fixed + profile.backward_row(3)
        ).memory.projection_chunk(3)
    )
    expected = roomy.explain(images, top=2, many_passes_top=2)
    got = narrow.explain(images, top=2, many_passes_top=2)
    for slug, maps in expected.methods.items():
        np.testing.assert_allclose(got.methods[slug].maps, maps.maps, rtol=1e-4, atol=1e-5)
    channels = {"conv1": [0, 3], "conv2": [1]}
    for layer, (guided, deconv) in LayerProjections(roomy).project(images, channels).items():
        narrow_guided, narrow_deconv = LayerProjections(narrow).project(images, channels)[layer]
        np.testing.assert_allclose(narrow_guided, guided, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(narrow_deconv, deconv, rtol=1e-5, atol=1e-6)


def test_images_beyond_the_budget_are_explained_a_few_at_a_time_with_the_same_maps():
    model = _model()
    images = np.random.default_rng(4).uniform(-1, 1, (3, 24, 24, 3)).astype("float32")
    methods = catalog.select(("grad-cam", "saliency"))
    roomy = Explainer(model, methods=methods)
    plan = roomy.plan(methods, top=2)
    assert roomy.memory.images_at_once(plan, 3) == 3
    # Room for the passes of one image, not of two.
    budget = roomy.memory.least(plan, projections=False)
    narrow = Explainer(model, methods=methods, memory_budget=budget)
    assert narrow.memory.images_at_once(plan, 3) == 1
    expected, got = roomy.explain(images, top=2), narrow.explain(images, top=2)
    np.testing.assert_array_equal(got.classes, expected.classes)
    np.testing.assert_allclose(got.logits, expected.logits, rtol=1e-5, atol=1e-5)
    for slug, maps in expected.methods.items():
        np.testing.assert_allclose(got.methods[slug].maps, maps.maps, rtol=1e-4, atol=1e-5)


def test_methods_that_cannot_fit_one_input_are_left_out_with_the_reason():
    model = _model()
    profile = MemoryProfile.of(model)
    explainer = Explainer(model, stage_layers=["conv1", "conv3"])
    methods = catalog.select(("grad-cam", "integrated-gradients", "occlusion"))
    plan = explainer.plan(methods, top=2)
    forward_only = [(m, c) for m, c in plan if m.slug == "occlusion"]
    # Room for the forward-only methods one copy at a time, not for one input's backward pass.
    budget = explainer.memory.least(forward_only, projections=False) + profile.forward_row() // 2
    assert budget < profile.fixed + profile.backward_row(1)
    narrow = MemoryPlan(profile, budget)
    left_out = narrow.left_out(plan)
    assert set(left_out) == {"grad-cam", "integrated-gradients"}
    assert all(
        f"over the memory budget of {budget / GIB:.2f} GiB" in why for why in left_out.values()
    )
    assert not narrow.projections_fit()
    # What is left fits, and the same model leaves nothing out under the default budget.
    assert narrow.peak(forward_only, projections=False) <= budget
    assert explainer.memory.left_out(plan) == {}


def test_memory_budget_must_be_a_positive_number(tmp_path):
    for value in ("0", "-3", "lots", "inf"):
        result = subprocess.run(
            [sys.executable, "-m", "generator", "build", "--memory-budget", value,
             "--out", str(tmp_path / "out")],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 2, value
        assert "--memory-budget" in result.stderr and value in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_full_size_build_under_a_tight_budget_stays_under_it(tmp_path, capsys):
    """MobileNetV3Small at 224 px in its own process, under a budget with room for Grad-CAM and
    for occlusion's copies a few at a time, but not for one chunk of Integrated Gradients: the
    build leaves that out, says so on the terminal and the page, builds the rest, and the
    measured peak of the model's process stays under the budget."""
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(REPO / "sample_images" / "cat.jpg", images / "cat.jpg")
    model = build_model(discover()["MobileNetV3Small"], "random")
    explainer = Explainer(model)
    methods = catalog.select(("grad-cam", "integrated-gradients", "occlusion"))
    plan = {method.slug: (method, context) for method, context in explainer.plan(methods, top=2)}
    least = {slug: explainer.memory.least([step]) for slug, step in plan.items()}
    budget = (max(least["grad-cam"], least["occlusion"]) + least["integrated-gradients"]) // 2
    narrow = MemoryPlan(explainer.memory.profile, budget)
    assert narrow.projections_fit() and list(narrow.left_out(list(plan.values()))) == [
        "integrated-gradients"
    ]
    copies = narrow.passes(*plan_needs([plan["occlusion"]]))[1]
    assert copies.what == "forward of copies" and 1 <= copies.chunk < copies.rows
    options = quick_build_options(
        images,
        tmp_path / "out",
        top=2,
        methods=tuple(plan),
        memory_budget=budget / GIB,
        isolate=True,
    )
    report = build(options)
    assert report.ok, report.summary()
    assert 0 < report.peak_gib["MobileNetV3Small"] <= budget / GIB
    assert "left out for memory: integrated-gradients" in capsys.readouterr().out
    page = (tmp_path / "out" / "models" / "mobilenetv3small.md").read_text(encoding="utf-8")
    assert "Left out for lack of memory" in page and "Integrated Gradients" in page
    pictures = {
        p.name for p in (tmp_path / "out" / "assets" / "mobilenetv3small" / "cat").iterdir()
    }
    assert any(n.startswith("occlusion-1-") for n in pictures)
    assert any(n.startswith("grad-cam-2-") for n in pictures)
    assert not any(n.startswith("integrated-gradients") for n in pictures)


@pytest.mark.per_architecture
@pytest.mark.slow
@pytest.mark.parametrize("name", archkit.architectures())
def test_default_build_is_planned_within_the_default_budget(name):
    archkit.assert_check_passed(name, check_planned_peak_within_default_budget)


def check_planned_peak_within_default_budget(name: str) -> None:
    """At the model's real input size, the default build (every method, top 5, many-pass top 1,
    one photo at a time) leaves nothing out and its planned peak is within the default budget
    (run in the architecture's own process by archkit; nothing is traced or run)."""
    spec = discover()[name]
    model = archkit.full_size_model(name)
    assert tuple(model.inputs[0].shape[1:3]) == tuple(spec.input_size)
    stages = [stage.name for stage in stage_outputs(model)]
    explainer = Explainer(model, stage_layers=stages, preprocess=spec.preprocess)
    assert explainer.memory.budget == budget_bytes(DEFAULT_BUDGET_GIB)
    plan = explainer.plan(catalog.METHODS, top=5, many_passes_top=1)
    assert explainer.memory.left_out(plan) == {}, name
    assert explainer.memory.projections_fit(), name
    peak = explainer.memory.peak(plan)
    assert peak <= explainer.memory.budget, f"{name}: planned {peak / GIB:.2f} GiB"
