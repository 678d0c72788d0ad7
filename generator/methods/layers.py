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
built before. A transfer model's base (a nested model) is opened: its tensors are named by
the path to them, `mobilenetv2_1.00_224/out_relu`, so the choices reach inside it.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
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

    name: str  # the producing layer's name, or an operation's (`add_17`); a path when nested
    shape: tuple[int, int, int]  # (height, width, channels)
    reason: str


def iter_layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """Every layer in graph order, descending into nested models (e.g. ConvNeXt's stem)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from iter_layers(layer)
        else:
            yield layer


def functional_graph(model: Any) -> Any:
    """The functional graph a model runs, or None (a layer, or a subclassed model). A Sequential
    keeps its graph in the Functional it builds, `_functional`: Keras gives it no public name."""
    if isinstance(model, keras.Sequential):
        return model._functional
    if isinstance(model, keras.Model) and hasattr(model, "_nodes_by_depth"):
        return model
    return None


# Layers that are nonlinear activations whatever their configuration.
_ACTIVATION_LAYERS = (
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
    keras.layers.Softmax,
)


def _holds_activation(model: keras.Model) -> bool:
    """Whether a nested model applies an activation anywhere inside (an activation layer, or a
    layer with a nonlinear `activation`): a network, as opposed to a block of linear layers and
    normalisations such as ConvNeXt's stem and downsampling blocks."""
    for layer in iter_layers(model):
        activation = getattr(layer, "activation", None)
        if isinstance(layer, _ACTIVATION_LAYERS) or (
            activation is not None and getattr(activation, "__name__", "") != "linear"
        ):
            return True
    return False


def graph_nodes(graph: Any) -> list[Any]:
    """A functional graph's nodes, producers before consumers (largest depth first)."""
    by_depth = graph._nodes_by_depth
    return [node for depth in sorted(by_depth, reverse=True) for node in by_depth[depth]]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _dims(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape)


class _Namer:
    """Stable names of the tensors one functional graph makes, prefixed by its place (`base/`).

    A layer's output is named by the layer (`@i` for its i-th call); an operation that is not
    a layer by its kind and rank among the graph's operations of that kind, in graph order
    (`add_17`); `:i` marks the i-th output of a call with several."""

    def __init__(self, graph: Any, prefix: str):
        self.prefix = prefix
        self.layer_names = {layer.name for layer in graph.layers}
        self.counted: dict[str, int] = {}  # operation kind -> how many are named so far
        self.operation_names: dict[int, str] = {}  # id(operation) -> its name

    def __call__(self, tensor: Any, outputs: int) -> str:
        op, node_index, tensor_index = tensor._keras_history
        if isinstance(op, keras.layers.Layer):
            name = op.name + (f"@{node_index}" if node_index else "")
        else:
            if id(op) not in self.operation_names:
                kind = _snake(type(op).__name__)
                rank = self.counted.get(kind, 0)
                self.counted[kind] = rank + 1
                candidate = kind if rank == 0 else f"{kind}_{rank}"
                while candidate in self.layer_names:
                    candidate += "_op"
                self.operation_names[id(op)] = candidate
            name = self.operation_names[id(op)]
        if outputs > 1:
            name += f":{tensor_index}"
        return self.prefix + name


@dataclass(frozen=True)
class Call:
    """One call of an operation in the graph: its Keras node, and its input tensors as tensors
    of the graph (inside an opened nested model, its input is the tensor fed to it)."""

    node: Any
    inputs: tuple[Any, ...]

    @property
    def operation(self) -> Any:
        return self.node.operation

    @property
    def outputs(self) -> list[Any]:
        return list(self.node.output_tensors)


class TensorGraph:
    """The model's graph as tensors: names, producers, consumers and dominators.

    Nested models that apply an activation (a transfer model's `keras.applications` base, at
    any depth, Sequential or functional) are opened: their insides are tensors of this graph,
    named "<nested model>/<inner name>" (e.g. `mobilenetv2_1.00_224/out_relu`), and their
    calls are calls of this graph, so the choices and the rewired pass reach them. The tensor
    a nested model takes is the tensor fed to it, and the tensor it returns is its inner
    output, also known by the nested model's own name. Nested blocks without activations
    (ConvNeXt's stem and downsampling blocks: a convolution and a LayerNorm) stay one
    operation, as a layer does: they make one map, with no rectified map inside to look at.
    So does a nested model called more than once, whose insides would be several tensors each.
    """

    def __init__(self, model: keras.Model):
        root = functional_graph(model)
        if root is None:
            raise ValueError(
                f"{model.name} is not a functional or Sequential Keras model: its graph of "
                "layers cannot be read"
            )
        if len(root.outputs) != 1:
            raise ValueError(f"{model.name} has {len(root.outputs)} outputs; one expected")
        self.model = model
        self.inputs: list[Any] = list(root.inputs)
        self.calls: list[Call] = []  # producers before consumers, opened models' calls inline
        self.order: list[Any] = []  # every tensor, producers before consumers
        self._position: dict[int, int] = {}
        self._call_of: dict[int, Call] = {}
        self._consumers: dict[int, list[Call]] = {}
        self._names: dict[int, str] = {}
        self._by_name: dict[str, Any] = {}
        self._same: dict[int, Any] = {}  # id of a tensor -> the tensor of this graph it equals
        self._aliases: dict[int, list[Any]] = {}  # id of a tensor of this graph -> its aliases
        self._opened: set[int] = set()  # ids of the nested models opened
        namer = _Namer(root, "")
        for tensor in self.inputs:
            self._add(tensor, namer(tensor, 1), None)
        self._open(root, namer)
        self.output = self.same(root.outputs[0])

    def _add(self, tensor: Any, name: str, call: Call | None) -> None:
        self._position[id(tensor)] = len(self.order)
        self.order.append(tensor)
        self._names[id(tensor)] = name
        self._by_name[name] = tensor
        if call is not None:
            self._call_of[id(tensor)] = call

    def _alias(self, tensor: Any, same: Any) -> None:
        """Record that `tensor` (of a nested model's boundary) is `same`, a tensor of this graph."""
        self._same[id(tensor)] = same
        self._aliases.setdefault(id(same), []).append(tensor)

    def _open(self, graph: Any, namer: _Namer) -> None:
        """Add the calls and tensors of `graph`, opening the nested models it calls once."""
        nodes = [node for node in graph_nodes(graph) if not node.is_input]
        calls = Counter(id(node.operation) for node in nodes)
        for node in nodes:
            op = node.operation
            inputs = tuple(self.same(tensor) for tensor in node.input_tensors)
            inner = functional_graph(op)
            if inner is not None and calls[id(op)] == 1 and _holds_activation(op):
                self._opened.add(id(op))
                for inner_input, fed in zip(inner.inputs, inputs):
                    self._alias(inner_input, fed)
                self._open(inner, _Namer(inner, f"{namer.prefix}{op.name}/"))
                for outer, inner_output in zip(node.output_tensors, inner.outputs):
                    same = self.same(inner_output)
                    self._alias(outer, same)
                    self._by_name.setdefault(namer(outer, len(node.output_tensors)), same)
                continue
            call = Call(node, inputs)
            self.calls.append(call)
            for tensor in inputs:
                self._consumers.setdefault(id(tensor), []).append(call)
            for tensor in call.outputs:
                self._add(tensor, namer(tensor, len(call.outputs)), call)

    # ------------------------------------------------------------------ naming

    def name(self, tensor: Any) -> str:
        return self._names[id(self.same(tensor))]

    def names(self) -> list[str]:
        """Every tensor's name, in graph order."""
        return [self._names[id(tensor)] for tensor in self.order]

    def tensor(self, name: str) -> Any:
        """The tensor of this name; a clear error says where names come from and lists the
        names closest to it."""
        if name not in self._by_name:
            known = list(self._by_name)
            last = name.rsplit("/", 1)[-1]
            close = [n for n in known if n != name and n.rsplit("/", 1)[-1] == last]
            close += difflib.get_close_matches(name, known, n=5)
            hint = f"; closest: {', '.join(dict.fromkeys(close))}" if close else ""
            raise ValueError(
                f"{self.model.name} has no layer or operation output named {name!r}; names are "
                "layer names, inside a nested model 'nested_model/layer', or for operations "
                f"that are not layers e.g. 'add_17'{hint}"
            )
        return self._by_name[name]

    def same(self, tensor: Any) -> Any:
        """The tensor of this graph `tensor` is: itself, or for a nested model's input or output
        the tensor it equals."""
        same = self._same.get(id(tensor), tensor)
        if id(same) not in self._position:
            raise ValueError(f"{tensor!r} is not a tensor of {self.model.name}'s graph")
        return same

    def aliases(self, tensor: Any) -> list[Any]:
        """`tensor` and every tensor of a nested model's boundary that equals it: where a run of
        the graph stores its value (`backward_rules.RewiredModel`)."""
        return [tensor, *self._aliases.get(id(tensor), [])]

    def layers(self) -> Iterator[keras.layers.Layer]:
        """The model's layers in its order of layers, each opened nested model replaced by its
        own layers."""
        yield from self._layers_of(self.model)

    def _layers_of(self, model: keras.Model) -> Iterator[keras.layers.Layer]:
        for layer in model.layers:
            if id(layer) in self._opened:
                yield from self._layers_of(layer)
            else:
                yield layer

    # ------------------------------------------------------------------ structure

    def producer(self, tensor: Any) -> Any:
        return self.same(tensor)._keras_history.operation

    def inputs_of(self, tensor: Any) -> list[Any]:
        call = self._call_of.get(id(self.same(tensor)))
        return [] if call is None else list(call.inputs)

    def consumers(self, tensor: Any) -> list[Call]:
        return self._consumers.get(id(self.same(tensor)), [])

    def _reach(self, starts: list[Any], forward: bool) -> set[int]:
        """ids of the tensors reachable from `starts` (downstream if forward, else upstream)."""
        seen = {id(t) for t in starts}
        stack = list(starts)
        while stack:
            tensor = stack.pop()
            if forward:
                following = [t for call in self.consumers(tensor) for t in call.outputs]
            else:
                following = self.inputs_of(tensor)
            for other in following:
                if id(other) not in seen:
                    seen.add(id(other))
                    stack.append(other)
        return seen

    def relevant(self) -> set[int]:
        """ids of the tensors on some path from the inputs to the output."""
        return self._reach(self.inputs, True) & self._reach([self.output], False)

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
        for call in self.calls:
            if not any(id(t) in relevant for t in call.outputs):
                continue
            reader = max(self._position[id(t)] for t in call.outputs if id(t) in relevant)
            for tensor in call.inputs:
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
        for call in self.calls:
            if any(id(t) in downstream for t in call.outputs):
                kind = type(call.operation).__name__
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
        if spatial_shape(graph.inputs[0]) is None:
            raise ValueError(
                f"model {model.name!r} has no tensor with a fixed spatial grid larger than 1x1 "
                "for Grad-CAM; build it with a fixed input_shape, e.g. (224, 224, 3)"
            )
        raise ValueError(
            f"model {model.name!r} has no spatial layer for Grad-CAM: no tensor with a grid "
            "larger than 1x1 (a convolutional feature map) that every path from the image to "
            "the output passes through"
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
