"""The gallery's explanation methods on any Keras model: the public API.

    from generator import api

    api.methods()  # the methods' slugs, in the order the gallery shows them
    result = api.explain(model, images, ["grad-cam", "integrated-gradients"], top=3)
    result.methods["grad-cam"].maps  # (N, 3, H, W): each image's top-3 classes
    maps = api.maps(model, images, classes, "guided-backprop")  # (N, H, W, 3) for classes[n]

`model` is any single-input image classifier built with Keras' functional API or as a
`keras.Sequential`: one image input (N, H, W, 3) and one output of class scores (N, classes).
Nested models are looked into: a transfer model that wraps a `keras.applications` base in a
Sequential or functional model with a new head is explained inside the base (Grad-CAM reads
the base's last spatial tensor; `target_layer` may name a tensor inside it by its path,
"mobilenetv2_1.00_224/out_relu"), and the guided rules reach the base's own layers. Class
scores are the logits: a model ending in a softmax (an activation of its last Dense, or a
separate Activation or Softmax layer) is read before it, a model already giving logits as it
is (`Explainer.softmax_bypassed` tells which). A model with several inputs or outputs, or with
no spatial layer (a convolutional feature map) for Grad-CAM to read, is refused with a
ValueError saying so. `images` are the model's inputs, already preprocessed; `preprocess` maps
0-255 photos to inputs, for the methods that compare against a black or grey photo. Each call
builds and compiles an `Explainer`: for many batches of one model, make one
`explain.Explainer` and call its `explain` instead. The model is only read, never changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np

from generator.methods import catalog
from generator.methods.budget import budget_bytes
from generator.methods.explain import Explainer, Explanations
from generator.methods.layers import functional_graph


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
    check_classifier(model)
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


def check_classifier(model: keras.Model) -> None:
    """Refuse, with what is wrong, a model that is not a single-input image classifier: the
    explainer runs one image input through the model's graph to one vector of class scores."""
    if functional_graph(model) is None:
        raise ValueError(
            f"{model.name} is not a functional or Sequential Keras model (a subclassed model "
            "has no graph of layers to read); build it with keras.Model(inputs, outputs)"
        )
    if len(model.inputs) != 1:
        raise ValueError(f"{model.name} has {len(model.inputs)} inputs; one image input expected")
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[-1] != 3:
        raise ValueError(
            f"{model.name}'s input has shape {shape}; an image input (batch, height, width, 3) "
            "expected"
        )
    if len(model.outputs) != 1:
        raise ValueError(
            f"{model.name} has {len(model.outputs)} outputs; one output of class scores expected"
        )
    if len(model.outputs[0].shape) != 2:
        raise ValueError(
            f"{model.name}'s output has shape {tuple(model.outputs[0].shape)}; class scores "
            "(batch, classes) expected"
        )
