"""Structural facts of a built model: which tensors of its graph the gallery looks at.

Grad-CAM needs the last tensor with a spatial grid that every path from the image to the
logits passes through (it "dominates" the classifier); the feature-map and projection sections
need one such tensor per resolution stage. Both are read off the model's graph of *tensors*,
not its list of layers: Keras builds some block outputs with operations that are not layers
(ConvNeXt's residual `inputs + x` is a bare `Add` operation, absent from `model.layers`), and
the output of a block is what the next block and the classifier read.

Tensors are named by what produces them: a layer's name, or for an operation that is not a
layer a canonical name (`add_17`: the operation's kind and its rank among the model's
operations of that kind, in graph order), so names do not depend on what else the process
built before.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import keras

# Layers that change the spatial size without being part of what the network "sees".
_GEOMETRY_ONLY = (
    keras.layers.InputLayer,
    keras.layers.ZeroPadding2D,
    keras.layers.Cropping2D,
    keras.layers.Rescaling,
    keras.layers.Normalization,
)
# Local pooling only coarsens a grid. The Grad-CAM paper targets the last convolutional layer's
# rectified maps, so a pooling between them and the classifier (VGG's block5_pool) is skipped.
_LOCAL_POOLING = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)

# A new stage starts when the spatial size falls at least this much below the stage's first size
# (Inception's unpadded 3x3 convolutions shrink 149 -> 147 without changing stage).
_STAGE_SHRINK = 1.5


@dataclass(frozen=True)
class TensorChoice:
    """A tensor of the model's graph the gallery reads, and why it was chosen (plain text)."""

    name: str  # the producing layer's name, or an operation's canonical name (`add_17`)
    shape: tuple[int, int, int]  # (height, width, channels)
    reason: str


def iter_layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """Every layer in graph order, descending into nested models (e.g. ConvNeXt's stem)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from iter_layers(layer)
        else:
            yield layer


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _dims(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape)


class TensorGraph:
    """The model's top-level graph as tensors: names, producers, consumers and dominators.

    Nested models (ConvNeXt's stem and downsampling blocks) count as one operation: their
    outputs are tensors of this graph, their insides are not.
    """

    def __init__(self, model: keras.Model):
        if len(model.outputs) != 1:
            raise ValueError(f"{model.name} has {len(model.outputs)} outputs; one expected")
        self.model = model
        by_depth = model._nodes_by_depth
        self.nodes = [node for depth in sorted(by_depth, reverse=True) for node in by_depth[depth]]
        self.order: list[Any] = []  # every tensor, producers before consumers
        self._position: dict[int, int] = {}
        self._node_of: dict[int, Any] = {}
        self._consumers: dict[int, list[Any]] = {}
        for node in self.nodes:
            for tensor in node.output_tensors:
                self._position[id(tensor)] = len(self.order)
                self._node_of[id(tensor)] = node
                self.order.append(tensor)
            for tensor in [] if node.is_input else node.input_tensors:
                self._consumers.setdefault(id(tensor), []).append(node)
        self.output = model.outputs[0]
        self._names = self._name_tensors()
        self._by_name = {name: self.order[i] for i, name in self._names.items()}

    # ------------------------------------------------------------------ naming

    def _name_tensors(self) -> dict[int, str]:
        """Position -> stable name of every tensor."""
        layer_names = {layer.name for layer in self.model.layers}
        counted: dict[str, int] = {}  # operation kind -> how many are named so far
        operation_names: dict[int, str] = {}  # id(operation) -> its name
        names = {}
        for position, tensor in enumerate(self.order):
            op, node_index, tensor_index = tensor._keras_history
            if isinstance(op, keras.layers.Layer):
                name = op.name + (f"@{node_index}" if node_index else "")
            else:
                if id(op) not in operation_names:
                    kind = _snake(type(op).__name__)
                    rank = counted.get(kind, 0)
                    counted[kind] = rank + 1
                    candidate = kind if rank == 0 else f"{kind}_{rank}"
                    while candidate in layer_names:
                        candidate += "_op"
                    operation_names[id(op)] = candidate
                name = operation_names[id(op)]
            if len(self._node_of[id(tensor)].output_tensors) > 1:
                name += f":{tensor_index}"
            names[position] = name
        return names

    def name(self, tensor: Any) -> str:
        return self._names[self._position[id(tensor)]]

    def tensor(self, name: str) -> Any:
        """The tensor of this name; a clear error lists where the names come from."""
        if name not in self._by_name:
            raise ValueError(
                f"{self.model.name} has no layer or operation output named {name!r}; names are "
                "layer names, or for operations that are not layers e.g. 'add_17'"
            )
        return self._by_name[name]

    # ------------------------------------------------------------------ structure

    def producer(self, tensor: Any) -> Any:
        return tensor._keras_history.operation

    def inputs_of(self, tensor: Any) -> list[Any]:
        node = self._node_of[id(tensor)]
        return [] if node.is_input else list(node.input_tensors)

    def consumers(self, tensor: Any) -> list[Any]:
        return self._consumers.get(id(tensor), [])

    def _reach(self, starts: list[Any], forward: bool) -> set[int]:
        """ids of the tensors reachable from `starts` (downstream if forward, else upstream)."""
        seen = {id(t) for t in starts}
        stack = list(starts)
        while stack:
            tensor = stack.pop()
            if forward:
                following = [t for node in self.consumers(tensor) for t in node.output_tensors]
            else:
                following = self.inputs_of(tensor)
            for other in following:
                if id(other) not in seen:
                    seen.add(id(other))
                    stack.append(other)
        return seen

    def relevant(self) -> set[int]:
        """ids of the tensors on some path from the inputs to the output."""
        return self._reach(list(self.model.inputs), True) & self._reach([self.output], False)

    def bypasses(self) -> dict[int, int]:
        """For every tensor on an input-to-output path: how many other such tensors are made
        before it and still read after it, i.e. how many connections bypass it.

        Zero means every path from the inputs to the output passes through the tensor (it
        "dominates" the output): positions increase along every path in a topological order,
        so a path avoiding the tensor must take an edge that jumps over its position, and
        such an edge's source is made before it and read after it.
        """
        relevant = self.relevant()
        last_read: dict[int, int] = {}
        for node in self.nodes:
            if node.is_input or not any(id(t) in relevant for t in node.output_tensors):
                continue
            reader = max(self._position[id(t)] for t in node.output_tensors if id(t) in relevant)
            for tensor in node.input_tensors:
                if id(tensor) in relevant:
                    last_read[id(tensor)] = max(last_read.get(id(tensor), 0), reader)
        live = [0] * (len(self.order) + 1)
        for tensor in self.order:
            start, end = self._position[id(tensor)] + 1, last_read.get(id(tensor), 0)
            if start < end:
                live[start] += 1
                live[end] -= 1
        counts, running = {}, 0
        for position, tensor in enumerate(self.order):
            running += live[position]
            if id(tensor) in relevant:
                counts[id(tensor)] = running
        return counts

    def dominators(self) -> list[Any]:
        """The tensors every path from the inputs to the output passes through, in order."""
        bypasses = self.bypasses()
        return [tensor for tensor in self.order if bypasses.get(id(tensor)) == 0]

    def ancestors(self, tensor: Any) -> set[int]:
        """ids of the tensors `tensor` is computed from, itself included."""
        return self._reach([tensor], False)

    def is_ancestor(self, earlier: Any, later: Any) -> bool:
        return id(earlier) in self.ancestors(later)

    def residual_parts(self, tensor: Any) -> tuple[Any, Any] | None:
        """(skip, branch) if `tensor` is a two-input sum whose one input is computed from the other."""
        if type(self.producer(tensor)).__name__ != "Add":
            return None
        parts = self.inputs_of(tensor)
        if len(parts) != 2:
            return None
        first, second = parts
        if self.is_ancestor(first, second):
            return first, second
        if self.is_ancestor(second, first):
            return second, first
        return None

    def describe(self, tensor: Any) -> str:
        """What produces `tensor`, in a few words, e.g. "the residual sum a + b"."""
        op = self.producer(tensor)
        kind = type(op).__name__
        residual = self.residual_parts(tensor)
        if residual is not None:
            skip, branch = residual
            return (
                f"output of a residual block, after its sum {self.name(tensor)} = "
                f"{self.name(skip)} (the block's input) + {self.name(branch)}"
            )
        inputs = self.inputs_of(tensor)
        if isinstance(op, (keras.layers.Activation, keras.layers.ReLU)) and len(inputs) == 1:
            what = "ReLU" if isinstance(op, keras.layers.ReLU) else op.get_config()["activation"]
            if self.residual_parts(inputs[0]) is not None:
                return f"output of a residual block: {what} of its sum {self.name(inputs[0])}"
            return f"{what} activation of {self.name(inputs[0])}"
        activation = getattr(op, "activation", None)
        if isinstance(op, keras.layers.Layer) and activation is not None:
            function = getattr(activation, "__name__", "")
            if function not in ("", "linear"):
                return f"{kind} output after its {function}"
        if kind == "Concatenate":
            return f"concatenation of {len(inputs)} branches"
        if isinstance(op, keras.Model):
            return f"output of the nested model {op.name}"
        return f"{kind} output"

    def followers(self, tensor: Any) -> list[str]:
        """Kinds of the operations between `tensor` and the output, in graph order."""
        downstream = self._reach([tensor], True) & self._reach([self.output], False)
        downstream.discard(id(tensor))
        kinds = []
        for node in self.nodes:
            if not node.is_input and any(id(t) in downstream for t in node.output_tensors):
                kind = type(node.operation).__name__
                if kind not in kinds:
                    kinds.append(kind)
        return kinds


def spatial_shape(tensor: Any) -> tuple[int, int, int] | None:
    """(h, w, c) of a 4-D tensor with a fixed grid larger than 1x1, else None."""
    shape = tuple(tensor.shape)
    if len(shape) != 4 or None in shape[1:3] or shape[1] * shape[2] <= 1:
        return None
    return int(shape[1]), int(shape[2]), int(shape[3])


def _grid(tensor: Any) -> tuple[int, int, int]:
    """`spatial_shape` of a tensor known to have a grid: one `_seen_tensors` kept, or the input
    of a local pooling over one (pooling only shrinks the grid)."""
    shape = spatial_shape(tensor)
    assert shape is not None, f"{tensor!r} was expected to have a spatial grid"
    return shape


def _seen_tensors(graph: TensorGraph, tensors: list[Any]) -> list[Any]:
    """The tensors with a spatial grid larger than 1x1, input and padding excluded."""
    return [
        tensor
        for tensor in tensors
        if spatial_shape(tensor) is not None
        and not isinstance(graph.producer(tensor), _GEOMETRY_ONLY)
    ]


def gradcam_target(model: keras.Model, graph: TensorGraph | None = None) -> TensorChoice:
    """The tensor Grad-CAM reads, and why.

    The last tensor with a spatial grid (larger than 1x1) that every path to the classifier
    passes through; for a residual network that is the last block's output after the sum.
    Squeeze-and-excitation branches and MobileNetV3's 1x1 head convolutions have 1x1 outputs
    and are therefore skipped. Local pooling right before the head (VGG's block5_pool) is
    stepped over to the rectified convolution maps it pools, as in the Grad-CAM paper.
    `graph` is the model's, if it was already read (`TensorGraph`).
    """
    graph = graph or TensorGraph(model)
    spatial = _seen_tensors(graph, graph.dominators())
    if not spatial:
        raise ValueError(
            f"model {model.name!r} has no tensor with a fixed spatial grid larger than 1x1 for "
            "Grad-CAM; build it with a fixed input_shape, e.g. (224, 224, 3)"
        )
    target = spatial[-1]
    pooled = []
    while isinstance(graph.producer(target), _LOCAL_POOLING):
        pooled.append(target)
        target = graph.inputs_of(target)[0]
    reason = graph.describe(target)
    if pooled:
        last = pooled[0]
        reason += (
            ": the last convolutional layer's rectified maps, as in the Grad-CAM paper "
            f"(Selvaraju et al. 2017); the {type(graph.producer(last)).__name__} {graph.name(last)} "
            f"that follows only coarsens them to {_dims(_grid(last)[:2])}"
        )
    else:
        reason += (
            ": the last tensor with a spatial grid that every path from the image to the "
            "logits passes through"
        )
    reason += "; followed only by " + ", ".join(graph.followers(target))
    return TensorChoice(graph.name(target), _grid(target), reason)


def stage_outputs(model: keras.Model, graph: TensorGraph | None = None) -> list[TensorChoice]:
    """One tensor per resolution stage: the stage's output.

    Stages group the spatial sizes of the tensors on the input-to-output paths: a new stage
    starts where the side falls by `_STAGE_SHRINK` or more. A stage's output is its last
    tensor that every path passes through. Where there is none (NASNet's cells each read the
    two cells before them, so no single tensor carries everything), it is the tensor fewest
    connections bypass, the last of them on a tie: the last cell's output. `graph` is the
    model's, if it was already read (`TensorGraph`).
    """
    graph = graph or TensorGraph(model)
    bypasses = graph.bypasses()
    tensors = _seen_tensors(graph, [t for t in graph.order if id(t) in bypasses])
    areas = sorted({h * w for h, w, _ in map(_grid, tensors)}, reverse=True)
    starts: list[int] = []  # the largest area of each stage
    stage_of: dict[int, int] = {}  # area -> stage number
    for area in areas:
        if not starts or area * _STAGE_SHRINK**2 <= starts[-1]:
            starts.append(area)
        stage_of[area] = len(starts) - 1
    by_stage: dict[int, list[Any]] = {}
    for tensor in tensors:
        height, width, _ = _grid(tensor)
        by_stage.setdefault(stage_of[height * width], []).append(tensor)
    chosen = {}
    for stage, members in by_stage.items():
        fewest = min(bypasses[id(t)] for t in members)
        candidates = [t for t in members if bypasses[id(t)] == fewest]
        if fewest == 0:  # dominators lie on one chain: the last is the stage's output
            chosen[stage] = candidates[-1]
        else:  # the one that has seen the most of the network
            chosen[stage] = max(candidates, key=lambda t: len(graph.ancestors(t)))
    choices = []
    for stage in sorted(chosen):
        tensor = chosen[stage]
        reason = graph.describe(tensor)
        if bypasses[id(tensor)]:
            reason += (
                f"; no single tensor at this resolution carries every path, and this one is "
                f"bypassed by the fewest ({bypasses[id(tensor)]})"
            )
        choices.append(TensorChoice(graph.name(tensor), _grid(tensor), reason))
    return choices
