"""Cascading model-parameter randomization (Adebayo et al. 2018): does a map depend on what the
model learned?

The weights are re-initialised from the top down, a few layers more at each step (`cascade`),
and each step's maps are compared with the trained model's (`similarity`). A method whose maps
stay the same while the model forgets everything it learned shows the photo, not the model.

`randomized` changes the model's variables in place and puts the trained values back on exit:
compiled functions (the `Explainer`'s) read the variables when they run, so they explain the
randomized model without being traced again.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from generator.methods.layers import TensorGraph, iter_layers


@dataclass(frozen=True)
class CascadeStep:
    """One step of the cascade: its label and every layer randomized at it (cumulative)."""

    label: str  # "head", "stage 3 (top_conv)", ..., "all layers"
    layers: tuple[str, ...]  # top-level layer names, in the model's order of layers


def cascade(
    model: keras.Model, stage_names: Sequence[str], graph: TensorGraph | None = None
) -> list[CascadeStep]:
    """The cascade from the top down: "head" (every weighted layer after the last stage tensor),
    then per stage from the last to the first the weighted layers that compute it (after the
    stage tensor before it, up to the stage tensor's producer); the last step, "all layers",
    also takes everything before the first stage, so it randomizes every weighted layer.

    `stage_names` name tensors as `layers.stage_outputs` does. Layers are the model's top-level
    layers and those of the nested models its graph opens (a transfer model's base); a nested
    block the graph keeps closed (ConvNeXt's stem) is one layer, randomized whole. A step that adds
    no layer to the one before it is left out (the deeper label is kept). The input's Normalization (EfficientNet) is not a weighted layer
    here: its statistics describe the photos, not what the model learned.
    """
    graph = graph or TensorGraph(model)
    position = {id(tensor): index for index, tensor in enumerate(graph.order)}
    # A layer's place: its last output in the graph (a layer used twice belongs to its later use).
    place: dict[str, int] = {}
    for call in graph.calls:
        layer = call.operation
        if _is_weighted(layer):
            at = max(position[id(tensor)] for tensor in call.outputs)
            place[layer.name] = max(place.get(layer.name, at), at)
    stages = sorted(
        ((position[id(graph.tensor(name))], name) for name in stage_names), reverse=True
    )
    everything = [layer.name for layer in graph.layers() if _is_weighted(layer)]
    # Thresholds p_S, ..., p_1, then none: a step takes every layer placed after its threshold.
    labels = ["head", *(f"stage {len(stages) - i} ({name})" for i, (_, name) in enumerate(stages))]
    steps = [
        CascadeStep(label, tuple(name for name in everything if place[name] > at))
        for label, (at, _) in zip(labels, stages)
    ]
    steps.append(CascadeStep("all layers", tuple(everything)))
    # A step that adds nothing says less than the next one with the same layers.
    return [
        step
        for step, following in zip(steps, [*steps[1:], None])
        if step.layers and (following is None or following.layers != step.layers)
    ]


@contextmanager
def randomized(model: keras.Model, layers: Sequence[str], seed: int = 0) -> Iterator[None]:
    """Inside the block, every weight of the named layers (anywhere in the model; a nested
    model's every layer) is re-initialised in place; on exit, also on an exception, the
    trained values are assigned back bit for bit.

    Each weight is drawn by its layer's own initializer where the layer has one for it
    (`kernel_initializer`, `depthwise_initializer`, `gamma_initializer`,
    `moving_variance_initializer`, ...), as when the model was built; a weight without one
    (ConvNeXt's layer scale) from a normal distribution with the trained values' mean and
    standard deviation. Draws are seeded by `seed` and the weight's place among the model's
    weights (not its name: Keras numbers unnamed layers by what the process built before), so
    a weight gets the same values at every step of a cascade and in every process. Integer
    state (a Normalization's count) is left alone.
    """
    owners = {layer.name: layer for layer in _every_layer(model)}
    unknown = [name for name in layers if name not in owners]
    if unknown:
        raise ValueError(f"{model.name} has no layer named {', '.join(map(repr, unknown))}")
    chosen: dict[int, tuple[keras.layers.Layer, Any]] = {}
    for name in layers:
        top = owners[name]
        for layer in iter_layers(top) if isinstance(top, keras.Model) else [top]:
            for variable in layer.weights:
                if "float" in str(variable.dtype):
                    chosen.setdefault(id(variable), (layer, variable))
    place = {id(variable): index for index, variable in enumerate(model.weights)}
    trained = [np.array(variable.numpy(), copy=True) for _, variable in chosen.values()]
    try:
        for layer, variable in chosen.values():
            own_seed = zlib.crc32(f"{seed}/{place[id(variable)]}".encode()) % (2**31 - 1)
            variable.assign(_drawn(layer, variable, own_seed))
        yield
    finally:
        for (_, variable), value in zip(chosen.values(), trained):
            variable.assign(value)


def _every_layer(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """Every layer, nested models themselves included, and every layer inside them."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _every_layer(layer)


def _is_weighted(layer: Any) -> bool:
    """Whether the cascade randomizes `layer` (an operation of the graph): a layer with weights,
    other than the input's Normalization."""
    return (
        isinstance(layer, keras.layers.Layer)
        and bool(layer.weights)
        and not isinstance(layer, keras.layers.Normalization)
    )


def _drawn(layer: keras.layers.Layer, variable: Any, seed: int) -> np.ndarray:
    """Fresh values for one weight: its layer's initializer, reseeded, or a matching normal."""
    initializer = _initializer(layer, variable.name)
    shape, dtype = tuple(variable.shape), variable.dtype
    if initializer is not None:
        config = initializer.get_config()
        if "seed" in config:
            initializer = type(initializer).from_config({**config, "seed": seed})
        return np.asarray(keras.ops.convert_to_numpy(initializer(shape, dtype=dtype)))
    values = variable.numpy()
    drawn = np.random.default_rng(seed).normal(values.mean(), values.std(), shape)
    return drawn.astype(values.dtype)


def _initializer(layer: keras.layers.Layer, weight: str) -> Any:
    """The layer's initializer of the weight named `weight`, or None: `<weight>_initializer`
    (kernel, bias, gamma, moving_mean, ...), `depthwise_initializer` for `depthwise_kernel`
    and for a DepthwiseConv2D's `kernel`, `pointwise_initializer` for `pointwise_kernel`."""
    names = [f"{weight}_initializer", f"{weight.removesuffix('_kernel')}_initializer"]
    if weight == "kernel":
        names.append("depthwise_initializer")
    for name in names:
        initializer = getattr(layer, name, None)
        if initializer is not None:
            return keras.initializers.get(initializer)
    return None
