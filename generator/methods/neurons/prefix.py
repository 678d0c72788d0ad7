"""The part of a model's graph that computes chosen tensors, and nothing after them.

Visualising a channel of an early tensor needs only the layers before it: running the whole
network would multiply the cost of every optimisation step for nothing. The prefix is read off
the model's `layers.TensorGraph` (so tensors inside a nested base and operations that are not
layers are reachable by their gallery names), and runs the model's own calls, in inference
mode: nothing is cloned or rebuilt.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from generator.methods.layers import TensorGraph
from generator.own_models import NO_PREPROCESSING

Preprocess = Callable[[tf.Tensor], tf.Tensor]


class Prefix:
    """The calls of `model` that the tensors named `names` are computed from."""

    def __init__(self, model: keras.Model, names: Sequence[str], graph: TensorGraph | None = None):
        self._graph = graph or TensorGraph(model)
        if len(self._graph.inputs) != 1:
            raise ValueError(f"{model.name} has {len(self._graph.inputs)} inputs; one expected")
        self.names = tuple(names)
        self.tensors = [self._graph.tensor(name) for name in self.names]
        needed: set[int] = set()
        for tensor in self.tensors:
            needed |= self._graph.ancestors(tensor)
        self.calls = [
            call for call in self._graph.calls if any(id(t) in needed for t in call.outputs)
        ]

    def __call__(self, inputs: tf.Tensor) -> list[tf.Tensor]:
        """The values of the named tensors for a batch of model inputs."""
        values: dict[int, tf.Tensor] = {}  # id of a symbolic tensor -> its value in this run
        for tensor in self._graph.inputs:
            values.update((id(same), inputs) for same in self._graph.aliases(tensor))
        for call in self.calls:
            args, kwargs = call.node.arguments.fill_in(values)
            op = call.operation
            if "training" in getattr(op, "_call_context_args", ()):
                kwargs["training"] = False
            outputs = op(*args, **kwargs)
            for tensor, value in zip(call.outputs, keras.tree.flatten(outputs)):
                values.update((id(same), value) for same in self._graph.aliases(tensor))
        return [values[id(t)] for t in self.tensors]


# What NASNet needs: its two branches meet only where every stride divides the input's side.
STRIDES = 32


def size_multiple(model: keras.Model, graph: TensorGraph, tensor: str, side: int) -> int:
    """1 if the graph up to `tensor` runs on a `side`-wide input, else `STRIDES`: what the
    model is shown (channel and class pictures, DeepDream's octaves) is rounded up to it."""
    try:
        Prefix(model, [tensor], graph)(tf.zeros((1, side, side, 3)))
    except (ValueError, tf.errors.OpError):
        return STRIDES
    return 1


def tensor_preprocess(preprocessing: str | None) -> Preprocess:
    """The in-graph form of a `registry.ModelSpec.preprocessing` string: 0-255 pixels (a
    tensor) to model inputs, differentiable, as `ModelSpec.preprocess` does on arrays."""
    if preprocessing is None or preprocessing == NO_PREPROCESSING:
        return lambda pixels: pixels
    if preprocessing.startswith("scale:"):
        factor = float(preprocessing[len("scale:") :])  # stored as a plain number
        return lambda pixels: pixels * factor
    if preprocessing.startswith("mean-std:"):
        mean, std = (
            tf.constant(np.array(part.split(","), np.float32))
            for part in preprocessing[len("mean-std:") :].split("/")
        )
        return lambda pixels: (pixels - mean) / std
    module_name, function_name = preprocessing.rsplit(".", 1)
    function = getattr(importlib.import_module(module_name), function_name)
    return lambda pixels: function(pixels)
