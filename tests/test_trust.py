"""How far to trust each method (`generator.methods.trust`): the similarity measures against
their textbook formulas, deletion and insertion against an independent loop and on a model whose
evidence is known, randomization in place and back, and the sanity checks of Adebayo et al.
(2018) on the small CNN trained on synthetic shapes (`shapes`)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import shapes
from keras import layers
from scipy import ndimage, stats

from generator.methods.catalog import select
from generator.methods.display import DISPLAYS
from generator.methods.explain import Explainer
from generator.methods.layers import stage_outputs
from generator.methods.trust import (
    BLUR_SIGMA_FRACTION,
    DeletionInsertion,
    auc,
    baseline_maps,
    cascade,
    importance,
    randomized,
    rank_correlation,
    ssim,
)

# ---------------------------------------------------------------------- similarity


def _textbook_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing the mean of the ranks they span."""
    return np.array([(values < v).sum() + ((values == v).sum() + 1) / 2 for v in values])


def test_rank_correlation_is_spearman_with_average_ranks_for_ties():
    a = np.array([[3, 1, 4, 1], [5, 9, 2, 6], [5, 3, 5, 8]], dtype=float)
    b = np.array([[2, 7, 1, 8], [2, 8, 1, 8], [2, 8, 4, 5]], dtype=float)
    expected = np.corrcoef(_textbook_ranks(a.ravel()), _textbook_ranks(b.ravel()))[0, 1]
    assert rank_correlation(a, b) == pytest.approx(expected, abs=1e-12)
    assert rank_correlation(a, b) == pytest.approx(stats.spearmanr(a.ravel(), b.ravel())[0])
    assert rank_correlation(-a, b) == pytest.approx(expected, abs=1e-12)  # |a|: sign ignored
    # Without ties: 1 - 6 sum(d^2) / (n (n^2 - 1)).
    x, y = np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([2.0, 1.0, 4.0, 3.0, 5.0])
    assert rank_correlation(x, y) == pytest.approx(1 - 6 * 4 / (5 * 24), abs=1e-12)
    assert rank_correlation(np.ones((3, 4)), b) == 0.0  # a constant map ranks nothing


def _textbook_ssim(a: np.ndarray, b: np.ndarray, size: int, sigma: float) -> float:
    """Wang et al. (2004), one full window at a time, maps scaled by their own maximum."""
    x, y = np.abs(a) / np.abs(a).max(), np.abs(b) / np.abs(b).max()
    offsets = np.arange(size) - (size - 1) / 2
    weights = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * sigma**2))
    weights /= weights.sum()
    c1, c2 = 0.01**2, 0.03**2
    values = []
    for row in range(x.shape[0] - size + 1):
        for col in range(x.shape[1] - size + 1):
            u = x[row : row + size, col : col + size]
            v = y[row : row + size, col : col + size]
            mu, mv = (weights * u).sum(), (weights * v).sum()
            vu, vv = (weights * (u - mu) ** 2).sum(), (weights * (v - mv) ** 2).sum()
            cov = (weights * (u - mu) * (v - mv)).sum()
            values.append(
                (2 * mu * mv + c1) * (2 * cov + c2) / ((mu**2 + mv**2 + c1) * (vu + vv + c2))
            )
    return float(np.mean(values))


def test_ssim_is_wang_et_al_with_each_map_scaled_by_its_maximum():
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:16, 0:20]
    blob = np.exp(-((rows - 6.0) ** 2 + (cols - 12.0) ** 2) / 20)
    noisy = blob + 0.3 * rng.random(blob.shape)
    assert ssim(blob, noisy) == pytest.approx(_textbook_ssim(blob, noisy, 11, 1.5), abs=1e-9)
    assert ssim(blob, blob) == pytest.approx(1.0, abs=1e-12)
    assert ssim(blob, -5 * blob) == pytest.approx(1.0, abs=1e-12)  # |.| and own maximum
    assert ssim(blob, rng.random(blob.shape)) < 0.2
    assert ssim(np.zeros((12, 12)), np.zeros((12, 12))) == pytest.approx(1.0)
    small, other = blob[:8, 8:16], noisy[:8, 8:16]  # the window clipped to 7x7
    assert ssim(small, other) == pytest.approx(_textbook_ssim(small, other, 7, 1.5), abs=1e-9)


# (N, K, ...) maps of every display kind, as `display.py` describes them.
_SHAPES = {
    "heatmap": (2, 3, 8, 9),
    "magnitude": (2, 3, 8, 9),
    "signed": (2, 3, 8, 9),
    "gradient": (2, 3, 8, 9, 3),
    "heatmaps by layer": (2, 3, 4, 8, 9),
}


def test_importance_reads_each_display_kind():
    assert set(_SHAPES) == set(DISPLAYS)
    rng = np.random.default_rng(0)
    for display, shape in _SHAPES.items():
        maps = rng.normal(size=shape).astype(np.float32)
        assert importance(maps, display).shape == (2, 3, 8, 9), display
        assert importance(maps[0, 0], display).shape == (8, 9), display
    signed = rng.normal(size=(8, 9))
    np.testing.assert_array_equal(importance(signed, "signed"), signed.astype(np.float32))
    gradient = rng.normal(size=(8, 9, 3)).astype(np.float32)
    np.testing.assert_allclose(importance(gradient, "gradient"), np.abs(gradient).sum(-1))
    by_layer = rng.random((4, 8, 9)).astype(np.float32)
    np.testing.assert_allclose(importance(by_layer, "heatmaps by layer"), by_layer.mean(0))
    with pytest.raises(ValueError, match="'sketch'"):
        importance(signed, "sketch")


# ---------------------------------------------------------------------- deletion and insertion


def test_curves_equal_an_independent_loop_over_masked_images():
    """Every step of every map built with numpy (argsort, mask, mix; scipy's blur), run through
    the model one image at a time: the model's own softmax is its output, so the curves must
    apply softmax to the logits exactly once."""
    size, steps = 24, 5
    inputs = keras.Input((size, size, 3))
    x = layers.Conv2D(4, 3, activation="relu", kernel_initializer=keras.initializers.HeNormal(1))(
        inputs
    )
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(
        3, activation="softmax", kernel_initializer=keras.initializers.RandomNormal(0, 3, seed=2)
    )(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, (size, size, 3)).astype(np.float32)
    reference = np.full_like(image, -1.0)
    maps = np.stack(
        [
            rng.normal(size=(size, size)),
            rng.integers(0, 4, (size, size)),  # many ties: broken by pixel index
            np.zeros((size, size)),
        ]
    ).astype(np.float32)
    label = 2
    curves = DeletionInsertion(model, steps=steps, chunk=5)  # passes of 4: a map has 8 inner rows
    deletion, insertion = curves.curves(image, reference, maps, label)

    sigma = BLUR_SIGMA_FRACTION * size
    blurred = ndimage.gaussian_filter(image, (sigma, sigma, 0), mode="mirror", truncate=4.0)
    assert np.abs(blurred - image).max() > 0.1  # the blur does something
    expected = np.zeros((2, len(maps), steps + 1))
    for m, ranking in enumerate(maps):
        order = np.argsort(-ranking.ravel(), kind="stable")
        for t in range(steps + 1):
            changed = np.zeros(size * size, bool)
            changed[order[: round(t / steps * size * size)]] = True
            changed = changed.reshape(size, size, 1)
            for kind, mixed in enumerate(
                (np.where(changed, reference, image), np.where(changed, image, blurred))
            ):
                expected[kind, m, t] = model(mixed[None], training=False).numpy()[0, label]
    assert deletion.shape == insertion.shape == (3, steps + 1)
    np.testing.assert_allclose(deletion, expected[0], atol=2e-5)
    np.testing.assert_allclose(insertion, expected[1], atol=2e-5)
    assert np.ptp(expected[0]) > 0.05 and np.ptp(expected[1]) > 0.05  # curves that move

    # A map's curves come from passes of its own inputs: scored alone, the same bits.
    alone = curves.curves(image, reference, maps[1:2], label)
    assert np.array_equal(alone[0][0], deletion[1]) and np.array_equal(alone[1][0], insertion[1])

    # One trace per map count and size: other photos and classes reuse it.
    curves.curves(blurred, reference, maps, 0)
    assert curves._curves.experimental_get_tracing_count() == 2  # three maps, and one
    curves.curves(image, reference, maps[:2], label)
    assert curves._curves.experimental_get_tracing_count() == 3


def test_auc_is_the_trapezoid_over_zero_to_one():
    curves = np.array([[1.0, 1.0, 1.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(auc(curves), [1.0, 0.5, 0.25])
    np.testing.assert_allclose(auc(np.linspace(0, 1, 17) ** 2), 1 / 3, atol=1e-3)


def test_baseline_maps():
    maps = baseline_maps(20, 30, seed=3)
    assert {name: (m.shape, m.dtype) for name, m in maps.items()} == {
        "random": ((20, 30), np.float32),
        "gaussian": ((20, 30), np.float32),
    }
    np.testing.assert_array_equal(maps["random"], baseline_maps(20, 30, seed=3)["random"])
    assert not np.array_equal(maps["random"], baseline_maps(20, 30, seed=4)["random"])
    bump = maps["gaussian"]
    assert bump[9:11, 14:16].min() == bump.max()  # peaks at the centre
    # A quarter of the side: one standard deviation (5 rows) from the centre, exp(-1/2).
    assert bump[9, 15] / bump[4, 15] == pytest.approx(np.exp(0.5), rel=0.15)


def _evidence_model(size: int, corner: tuple[int, int], side: int) -> keras.Model:
    """Class 0's logit is a checkerboard of weights over one square of pixels, nothing else;
    class 1's is zero. Softmax output (bypassed for the logits)."""
    row, col = corner
    weights = np.zeros((size, size, 3, 2), np.float32)
    checker = (np.add.outer(np.arange(side), np.arange(side)) % 2) * 2.0 - 1.0
    weights[row : row + side, col : col + side, :, 0] = 0.05 * checker[..., None]
    inputs = keras.Input((size, size, 3))
    dense = layers.Dense(2, activation="softmax")
    model = keras.Model(inputs, dense(layers.Flatten()(inputs)))
    dense.set_weights([weights.reshape(-1, 2), np.zeros(2, np.float32)])
    return model


def test_a_map_of_the_true_evidence_beats_the_random_map_which_beats_its_inverse():
    size, corner, side = 32, (5, 18), 8
    model = _evidence_model(size, corner, side)
    rng = np.random.default_rng(0)
    image = rng.uniform(0.0, 0.4, (size, size, 3)).astype(np.float32)
    checker = np.add.outer(np.arange(side), np.arange(side)) % 2
    image[corner[0] : corner[0] + side, corner[1] : corner[1] + side] = checker[..., None]
    truth = np.zeros((size, size), np.float32)
    truth[corner[0] : corner[0] + side, corner[1] : corner[1] + side] = 1.0
    maps = np.stack([truth, baseline_maps(size, size)["random"], 1.0 - truth])
    deletion, insertion = DeletionInsertion(model, 16).curves(image, np.zeros_like(image), maps, 0)
    assert deletion[0, 0] > 0.9  # the photo: class 0 is sure
    # The square is 64 of 1024 pixels: gone after the first of 16 steps, class 0 at chance.
    np.testing.assert_allclose(deletion[0, 1:], 0.5, atol=1e-6)
    np.testing.assert_allclose(insertion[0, 1:], deletion[0, 0], atol=1e-6)
    deleted, inserted = auc(deletion), auc(insertion)
    assert deleted[0] < deleted[1] < deleted[2]
    assert inserted[0] > inserted[1] > inserted[2]


# ---------------------------------------------------------------------- randomization


class _Scale(layers.Layer):
    """A per-channel scale without an initializer attribute (as ConvNeXt's layer scale)."""

    def build(self, input_shape: tuple) -> None:
        self.factors = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.factors


def _mixed_model() -> keras.Model:
    """Every kind of weight keras.applications has, a nested model and a residual sum."""
    inputs = keras.Input((16, 16, 3))
    stem = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            layers.Conv2D(8, 3, padding="same"),
            layers.BatchNormalization(),
        ],
        name="stem",
    )
    x = layers.ReLU(name="stem_relu")(stem(inputs))
    y = layers.DepthwiseConv2D(3, padding="same", name="depthwise")(x)
    y = layers.BatchNormalization(name="depthwise_bn")(y)
    x = x + y  # an operation that is not a layer, as ConvNeXt's residual sums
    x = layers.MaxPooling2D(name="pool")(x)
    x = layers.SeparableConv2D(8, 3, padding="same", name="separable")(x)
    x = _Scale(name="scale")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(3, name="head")(x))


def _trained(model: keras.Model) -> keras.Model:
    """Every float weight moved away from its initial value, as training would."""
    rng = np.random.default_rng(1)
    for variable in model.weights:
        variable.assign(np.abs(rng.normal(0.5, 0.2, variable.shape)).astype("float32"))
    return model


def _values(model: keras.Model) -> dict[str, np.ndarray]:
    return {variable.path: np.array(variable.numpy(), copy=True) for variable in model.weights}


def _paths(model: keras.Model, names: list[str]) -> set[str]:
    found = set()
    for name in names:
        layer = model.get_layer(name)
        found |= {variable.path for variable in layer.weights}
    return found


def test_randomized_changes_exactly_the_named_layers_and_puts_every_bit_back():
    model = _trained(_mixed_model())
    before = _values(model)
    named = ["stem", "depthwise_bn", "separable", "scale"]
    with randomized(model, named, seed=5):
        inside = _values(model)
    with randomized(model, named, seed=5):
        again = _values(model)
    with randomized(model, named, seed=6):
        other_seed = _values(model)
    changed = _paths(model, named)
    assert changed and set(before) - changed
    for path, value in before.items():
        if path in changed:
            assert (inside[path] != value).all(), path
            np.testing.assert_array_equal(again[path], inside[path])  # seeded
        else:
            np.testing.assert_array_equal(inside[path], value)
    assert any(not np.array_equal(other_seed[p], inside[p]) for p in changed)
    twin = _trained(_mixed_model())  # its nested layers get other names from Keras' counters
    assert [v.path for v in twin.weights] != list(before)
    with randomized(twin, named, seed=5):
        for variable, value in zip(twin.weights, inside.values()):
            np.testing.assert_array_equal(variable.numpy(), value)  # the same draws
    # Each weight by its layer's own initializer where it has one.
    bn = model.get_layer("depthwise_bn")
    with randomized(model, ["depthwise_bn", "separable"]):
        assert (bn.gamma.numpy() == 1).all() and (bn.beta.numpy() == 0).all()
        assert (bn.moving_mean.numpy() == 0).all() and (bn.moving_variance.numpy() == 1).all()
        separable = model.get_layer("separable")
        assert (separable.bias.numpy() == 0).all()
        fans = 3 * 3 * 8 + 3 * 3 * 1  # Glorot uniform of the (3, 3, 8, 1) depthwise kernel
        assert np.abs(separable.depthwise_kernel.numpy()).max() <= np.sqrt(6 / fans)
    after = _values(model)
    assert all(after[p].tobytes() == value.tobytes() for p, value in before.items())

    with pytest.raises(RuntimeError, match="inside"), randomized(model, named):
        raise RuntimeError("inside the block")
    assert all(_values(model)[p].tobytes() == value.tobytes() for p, value in before.items())
    with pytest.raises(ValueError, match="'nowhere'"), randomized(model, ["head", "nowhere"]):
        pass  # pragma: no cover


def test_cascade_goes_from_the_head_to_every_weighted_layer():
    model = _mixed_model()
    stages = [stage.name for stage in stage_outputs(model)]
    assert stages == ["add", "scale"]  # the sum is named by its kind (`layers.TensorGraph`)
    steps = cascade(model, stages)
    assert [(step.label, step.layers) for step in steps] == [
        ("head", ("head",)),
        ("stage 2 (scale)", ("separable", "scale", "head")),
        ("all layers", ("stem", "depthwise", "depthwise_bn", "separable", "scale", "head")),
    ]


# ---------------------------------------------------------------------- the shapes model


@pytest.fixture(scope="module")
def trained():
    return shapes.train()


def test_cascade_of_the_shapes_model(trained):
    model = trained[0]
    first, second, top, head = (layer.name for layer in model.layers if layer.weights)
    assert (top, head) == ("top_conv", "logits")  # the first two are named by Keras' counters
    steps = cascade(model, [stage.name for stage in stage_outputs(model)])
    assert [(step.label, step.layers) for step in steps] == [
        ("head", (head,)),
        ("stage 3 (top_conv)", (top, head)),
        (f"stage 2 ({second})", (second, top, head)),
        ("all layers", (first, second, top, head)),
    ]


def test_a_compiled_explainer_explains_the_randomized_model_without_tracing_again(trained):
    """`randomized` assigns the model's variables, which the explainer's compiled call reads
    when it runs: inside the block it gives what an explainer made there gives."""
    model, images, labels, _, _, _ = trained
    photos, classes = images[:4], labels[:4, None]
    methods = select(["grad-cam", "saliency"])
    explainer = Explainer(model, methods=methods)
    before = explainer.explain(photos, classes=classes)
    traced = explainer._explain.experimental_get_tracing_count()
    everything = cascade(model, [stage.name for stage in stage_outputs(model)])[-1].layers
    with randomized(model, everything):
        inside = explainer.explain(photos, classes=classes)
        fresh = Explainer(model, methods=methods).explain(photos, classes=classes)
    after = explainer.explain(photos, classes=classes)
    assert explainer._explain.experimental_get_tracing_count() == traced
    assert not np.allclose(inside.logits, before.logits)
    np.testing.assert_allclose(inside.logits, fresh.logits, rtol=1e-5, atol=1e-5)
    for slug in ("grad-cam", "saliency"):
        maps = inside.methods[slug].maps
        assert not np.allclose(maps, before.methods[slug].maps), slug
        np.testing.assert_allclose(maps, fresh.methods[slug].maps, rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(after.methods[slug].maps, before.methods[slug].maps)


def _edges(photo: np.ndarray) -> np.ndarray:
    """A map that knows nothing of any model: the Sobel gradient magnitude of the photo."""
    grey = photo.mean(axis=-1)
    return np.hypot(ndimage.sobel(grey, axis=0), ndimage.sobel(grey, axis=1))


# Random draws of the weights: one draw of a model this small can keep much of a map's layout
# by chance (Grad-CAM's rank correlation after randomizing every layer ranged from about -0.1
# to 0.5 over single draws), so each cascade step's similarity is a mean over draws.
SEEDS = range(5)


def _with_neither(model: keras.Model) -> keras.Model:
    """The shapes model with a third logit, 0 ("neither object"), beside its two.

    Its logits are multi-label (each says whether its own object is present), so a softmax
    over the two alone can stay sure of a class whose object is gone (both logits negative);
    beside a fixed "neither" a class is probable only while its object is there, as an
    ImageNet class is among a thousand. The layers, and so the weights, are the model's."""
    logits = model.outputs[0]
    neither = layers.Lambda(lambda x: keras.ops.zeros_like(x[:, :1]), name="neither")(logits)
    return keras.Model(model.inputs, layers.Concatenate(name="with_neither")([logits, neither]))


@pytest.fixture(scope="module")
def measured(trained) -> dict:
    """Every catalog method on ten one-object photos the model classifies right (their label is
    its top-1 class) and on twenty two-object scenes: deletion and insertion areas, similarity
    to the trained model's maps after each cascade step, and of the two classes' maps of a
    scene."""
    model, images, labels, _, pairs, _ = trained
    methods = select(None)
    stages = [stage.name for stage in stage_outputs(model)]
    explainer = Explainer(
        model, stage_layers=stages, methods=methods, preprocess=lambda pixels: pixels / 255
    )
    right = np.flatnonzero(model.predict(images, verbose=0).argmax(axis=1) == labels)[:10]
    photos, classes = images[right], labels[right][:, None]

    def maps() -> dict[str, np.ndarray]:
        """(N, H, W) importance of each method's map of the photos' class, and the edges'."""
        result = explainer.explain(photos, classes=classes)
        found = {m.slug: importance(result.methods[m.slug].maps[:, 0], m.display) for m in methods}
        return {**found, "edges (model-independent)": np.stack([_edges(p) for p in photos])}

    trained_maps = maps()
    names = list(trained_maps)
    traced = explainer._explain.experimental_get_tracing_count()
    steps = cascade(model, stages)
    similarity: dict[str, dict[str, dict[str, float]]] = {"rank": {}, "ssim": {}}
    for step in steps:
        drawn = []
        for seed in SEEDS:
            with randomized(model, step.layers, seed=seed):
                drawn.append(maps())
        for key, measure in (("rank", rank_correlation), ("ssim", ssim)):
            similarity[key][step.label] = {
                n: np.mean([_mean(measure, trained_maps[n], m[n]) for m in drawn]) for n in names
            }
    assert explainer._explain.experimental_get_tracing_count() == traced  # no new trace

    count = 20
    both = explainer.explain(
        pairs[:count],
        classes=np.tile([shapes.SQUARE, shapes.CROSS], (count, 1)),
        many_passes_top=2,
    )
    class_rank = {}
    for method in methods:
        if method.class_specific:
            pair_maps = importance(both.methods[method.slug].maps, method.display)
            class_rank[method.slug] = _mean(rank_correlation, pair_maps[:, 0], pair_maps[:, 1])

    baselines = baseline_maps(shapes.SIZE, shapes.SIZE)
    curves = DeletionInsertion(_with_neither(model), 16)
    black = explainer.references.black[0].numpy()
    deletion, insertion = [], []
    for i, photo in enumerate(photos):
        ranked = np.stack([*(trained_maps[name][i] for name in names), *baselines.values()])
        removed, revealed = curves.curves(photo, black, ranked, int(classes[i, 0]))
        deletion.append(auc(removed))
        insertion.append(auc(revealed))
    rows = [*names, *(f"{name} baseline" for name in baselines)]
    return {
        "methods": names,
        "steps": [step.label for step in steps],
        **similarity,
        "class rank": class_rank,
        "deletion": dict(zip(rows, np.mean(deletion, axis=0))),
        "insertion": dict(zip(rows, np.mean(insertion, axis=0))),
    }


def _mean(measure, first: np.ndarray, second: np.ndarray) -> float:
    """`measure` of each image's pair of maps, averaged over the images."""
    return float(np.mean([measure(a, b) for a, b in zip(first, second)]))


def _print_table(measured: dict) -> None:
    """The numbers of every method on the shapes model (shown with `pytest -s`): deletion and
    insertion areas, class rank (rank correlation of the square's and the cross's maps), and
    rank correlation / SSIM with the trained maps after each cascade step."""
    steps = measured["steps"]
    widths = [max(len(label), 15) for label in steps]
    print(
        "\nshapes model, means over 10 photos (deletion: lower is better; insertion: higher), "
        f"20 scenes (class rank) and {len(SEEDS)} draws of the weights (cascade steps)"
    )
    header = f"{'method':<28}{'deletion':>9}{'insertion':>10}{'class rank':>11}"
    print(header + "".join(f"  {label:>{w}}" for label, w in zip(steps, widths)))
    for name in measured["deletion"]:
        line = f"{name:<28}{measured['deletion'][name]:>9.3f}{measured['insertion'][name]:>10.3f}"
        sensitivity = measured["class rank"].get(name)
        line += f"{'-' if sensitivity is None else f'{sensitivity:.3f}':>11}"
        if name in measured["methods"]:
            for step, width in zip(steps, widths):
                pair = f"{measured['rank'][step][name]:.3f} / {measured['ssim'][step][name]:.3f}"
                line += f"  {pair:>{width}}"
        print(line)


def test_sanity_checks_on_the_shapes_model(measured):
    _print_table(measured)
    rank, ssim_after = measured["rank"], measured["ssim"]
    head, everything = measured["steps"][0], measured["steps"][-1]
    assert (head, everything) == ("head", "all layers")
    assert rank[everything]["grad-cam"] < 0.3
    assert rank[everything]["saliency"] < rank[head]["saliency"] - 0.3
    edges = "edges (model-independent)"
    assert all(rank[s][edges] == pytest.approx(1.0) for s in measured["steps"])
    assert all(ssim_after[s][edges] == pytest.approx(1.0) for s in measured["steps"])


def test_class_sensitivity_on_two_object_scenes(measured):
    """Grad-CAM's maps of the square and of the cross differ; the vanilla gradient's hardly."""
    sensitivity = measured["class rank"]
    assert sensitivity["saliency"] > 0.6
    assert sensitivity["grad-cam"] < sensitivity["saliency"] - 0.2


def test_deletion_and_insertion_rank_grad_cam_above_the_random_map(measured):
    deletion, insertion = measured["deletion"], measured["insertion"]
    assert deletion["grad-cam"] < deletion["random baseline"]
    assert insertion["grad-cam"] > insertion["random baseline"]
