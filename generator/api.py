"""The gallery's explanation methods on any Keras model: the public API.

    from generator import api

    api.methods()  # the methods' slugs, in the order the gallery shows them
    result = api.explain(model, images, ["grad-cam", "integrated-gradients"], top=3)
    result.methods["grad-cam"].maps  # (N, 3, H, W): each image's top-3 classes
    maps = api.maps(model, images, classes, "guided-backprop")  # (N, H, W, 3) for classes[n]

`model` is any Keras functional model with one output of class scores (pre-softmax logits, or
the model's own output if it has no softmax layer to read before); `images` are its inputs
(N, H, W, 3), already preprocessed; `preprocess` maps 0-255 photos to inputs, for the methods
that compare against a black or grey photo. Each call builds and compiles an `Explainer`: for
many batches of one model, make one `explain.Explainer` and call its `explain` instead. The
model is only read, never changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np

from generator.methods import catalog
from generator.methods.budget import budget_bytes
from generator.methods.explain import Explainer, Explanations


def methods() -> tuple[str, ...]:
    """Every method's slug, in the order the gallery shows them."""
    return catalog.SLUGS


def explain(
    model: keras.Model,
    images: np.ndarray,
    methods: Sequence[str] = ("grad-cam",),
    *,
    top: int = 5,
    classes: np.ndarray | None = None,
    many_passes_top: int = 1,
    preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
    target_layer: str | None = None,
    memory_budget_gib: float | None = None,
) -> Explanations:
    """The named methods' maps for the `top` classes of each image (or `classes`, (N, K)),
    with the predictions; the methods that need many passes explain `many_passes_top` of them.
    `target_layer` overrides the tensor Grad-CAM and its kin read (chosen from the graph)."""
    explainer = Explainer(
        model,
        target_layer=target_layer,
        methods=catalog.select(methods),
        preprocess=preprocess,
        memory_budget=None if memory_budget_gib is None else budget_bytes(memory_budget_gib),
    )
    return explainer.explain(images, top=top, classes=classes, many_passes_top=many_passes_top)


def maps(
    model: keras.Model,
    images: np.ndarray,
    classes: np.ndarray,
    method: str,
    *,
    preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
    target_layer: str | None = None,
) -> np.ndarray:
    """One method's map of class `classes[n]` for each image n: (N, H, W) or (N, H, W, 3),
    as the method's display needs (a class map, or an attribution per colour channel)."""
    columns = np.asarray(classes)[:, None]
    result = explain(
        model, images, [method], classes=columns, preprocess=preprocess, target_layer=target_layer
    )
    return result.methods[method].maps[:, 0]
