"""Occlusion sensitivity on a hand-weighted model that reads only one patch of its input,
against a numpy loop over the window positions."""

import dataclasses

import keras
import numpy as np
import pytest
from keras import layers

from generator.methods.explain import Explainer
from generator.methods.perturb.occlusion import Occlusion, window_bands

SIDE = 16
PATCH = (slice(4, 8), slice(9, 13))  # the only pixels the model reads (rows, columns)
GREY = 128.0  # the grey photo without preprocessing


def _patch_model(rng):
    """crop to PATCH -> 1x1 conv (2 channels) + ReLU -> flatten -> dense (3 logits)."""
    kernel = rng.uniform(0.0, 0.02, (3, 2))
    dense = rng.uniform(0.5, 1.5, (4 * 4 * 2, 3)) * np.array([1.0, 0.5, -1.0])
    inputs = keras.Input((SIDE, SIDE, 3))
    x = layers.Cropping2D(((4, SIDE - 8), (9, SIDE - 13)))(inputs)
    conv = layers.Conv2D(2, 1, activation="relu", use_bias=False)
    x = layers.Flatten(name="flat")(conv(x))
    head = layers.Dense(3, use_bias=False)
    outputs = head(x)
    model = keras.Model(inputs, outputs)
    conv.set_weights([kernel[None, None].astype("float32")])
    head.set_weights([dense.astype("float32")])

    def logits(image):
        patch = image[PATCH[0], PATCH[1]].astype(float)
        return np.maximum(patch @ kernel, 0).reshape(-1) @ dense

    return model, logits


def _numpy_occlusion(image, logits, width, step):
    """(C, H, W) mean logit drop over the windows covering each pixel, window by window."""
    total = np.zeros((3, SIDE, SIDE))
    count = np.zeros((SIDE, SIDE))
    clean = logits(image)
    for top in range(0, SIDE - width + 1, step):
        for left in range(0, SIDE - width + 1, step):
            occluded = image.astype(float).copy()
            occluded[top : top + width, left : left + width] = GREY
            total[:, top : top + width, left : left + width] += (clean - logits(occluded))[
                :, None, None
            ]
            count[top : top + width, left : left + width] += 1
    return total / count


def test_occlusion_peaks_on_the_patch_the_model_reads_and_matches_numpy():
    rng = np.random.default_rng(3)
    model, logits = _patch_model(rng)
    image = rng.uniform(0, 255, (1, SIDE, SIDE, 3)).astype("float32")
    image[0, PATCH[0], PATCH[1]] = rng.uniform(200, 255, (4, 4, 3))  # brighter than grey
    method = Occlusion()  # window 1/4 -> 4 px, stride 1/8 -> 2 px: 7 x 7 positions
    explainer = Explainer(model, target_layer="flat", methods=(method,))
    result = explainer.explain(image, classes=np.array([[0, 1, 2]]), many_passes_top=3)
    maps = result.methods["occlusion"].maps[0]  # (3, H, W)
    assert maps.shape == (3, SIDE, SIDE)
    np.testing.assert_allclose(maps, _numpy_occlusion(image[0], logits, 4, 2), rtol=1e-4, atol=1e-3)
    inside = np.zeros((SIDE, SIDE), bool)
    inside[PATCH] = True
    for k, sign in enumerate([1, 1, -1]):  # class 2's weights are negative: its logit rises
        peak = np.unravel_index(np.argmax(sign * maps[k]), maps[k].shape)
        assert inside[peak], (k, peak)
        assert sign * maps[k][inside].min() > 0
    # Pixels whose windows all miss the patch (more than a window away) show no drop at all
    # (up to float32 rounding of logits near 100).
    near = np.zeros((SIDE, SIDE), bool)
    near[4 - 3 : 8 + 3, 9 - 3 : 13 + 3] = True
    peaks = np.abs(maps).max(axis=(1, 2))
    assert (peaks > 1.0).all(), peaks
    assert (np.abs(maps[:, ~near]).max(axis=1) < 1e-6 * np.abs(result.logits[0])).all()


def test_many_passes_method_explains_the_top_class_by_default_and_options_change_the_grid():
    rng = np.random.default_rng(4)
    model, logits = _patch_model(rng)
    image = rng.uniform(0, 255, (1, SIDE, SIDE, 3)).astype("float32")
    coarse = dataclasses.replace(Occlusion(), window=0.5, stride=0.25)  # 8 px, 4 px: 3 x 3
    explainer = Explainer(model, target_layer="flat", methods=(coarse,))
    result = explainer.explain(image, top=3)
    maps = result.methods["occlusion"].maps
    assert maps.shape == (1, 1, SIDE, SIDE)  # top-1 only
    top1 = int(result.classes[0, 0])
    np.testing.assert_allclose(
        maps[0, 0], _numpy_occlusion(image[0], logits, 8, 4)[top1], rtol=1e-4, atol=1e-3
    )
    assert coarse.options() == {"window": 0.5, "stride": 0.25}


@pytest.mark.parametrize("side", [224, 299, 107, 2])
def test_windows_cover_every_pixel_and_end_at_both_edges(side):
    bands = window_bands(side, 0.25, 0.125)
    assert bands.shape[0] == (7 if side > 2 else 1) or side == 2
    assert bands.sum(axis=0).min() >= 1
    assert bands[0, 0] == 1 and bands[-1, -1] == 1
    assert set(bands.sum(axis=1)) == {max(1, round(side / 4))}


def test_bad_window_is_refused():
    with pytest.raises(ValueError, match="window"):
        Occlusion(window=0.0)
