"""Re-run a Keras functional model with the backward rule of every nonlinearity replaced.

Guided Backprop (Springenberg et al. 2015) and DeConvNet (Zeiler & Fergus 2014) differ from the
plain gradient only in what each nonlinearity passes backwards. Instead of cloning or editing the
model, `RewiredModel` runs the calls of the model's own graph (`layers.TensorGraph`: a transfer
model's base opened, so every layer inside it is a call) and maps every nonlinear operation to a
wrapper whose forward value is unchanged and whose gradient follows the chosen rule. A nested
block the graph keeps closed runs its own graph with Keras'
`Functional._run_through_graph(inputs, operation_fn=...)` under the same mapping. The model's
layers, activations and weights are never touched, and `NonlinearityReport` says what was changed
and what was not. The rules are TensorFlow `tf.custom_gradient`s (the project's Keras backend).
See docs/methods_rules.md for why each rule is what it is.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import keras
import tensorflow as tf
from keras import layers

from generator.methods.layers import TensorGraph, functional_graph, graph_nodes

Rule = Literal["plain", "guided", "deconvnet"]
RULES: tuple[Rule, ...] = ("plain", "guided", "deconvnet")

# Elementwise activations, by the name of the Keras function, and the kind they are reported as.
# Every one gets the same generic rule, because the guided rule uses the autodiff slope f'(x).
_ELEMENTWISE_KINDS = {
    "relu": "ReLU",
    "relu6": "ReLU6",
    "leaky_relu": "leaky_relu",
    "elu": "elu",
    "selu": "selu",
    "celu": "celu",
    "gelu": "gelu",
    "silu": "swish",
    "swish": "swish",
    "hard_silu": "hard_swish",
    "hard_swish": "hard_swish",
    "mish": "mish",
    "sigmoid": "sigmoid",
    "hard_sigmoid": "hard_sigmoid",
    "log_sigmoid": "log_sigmoid",
    "tanh": "tanh",
    "hard_tanh": "hard_tanh",
    "tanh_shrink": "tanh_shrink",
    "soft_shrink": "soft_shrink",
    "hard_shrink": "hard_shrink",
    "softplus": "softplus",
    "softsign": "softsign",
    "sparse_plus": "sparse_plus",
    "squareplus": "squareplus",
    "exponential": "exponential",
}
# Keras operations (not layers) that functional code may call directly, e.g. `keras.ops.relu(x)`.
_OPERATION_KINDS = {
    "Relu": "ReLU",
    "Relu6": "ReLU6",
    "LeakyRelu": "leaky_relu",
    "Elu": "elu",
    "Selu": "selu",
    "Celu": "celu",
    "Gelu": "gelu",
    "Silu": "swish",
    "HardSilu": "hard_swish",
    "Sigmoid": "sigmoid",
    "HardSigmoid": "hard_sigmoid",
    "LogSigmoid": "log_sigmoid",
    "Tanh": "tanh",
    "HardTanh": "hard_tanh",
    "TanhShrink": "tanh_shrink",
    "SoftShrink": "soft_shrink",
    "HardShrink": "hard_shrink",
    "Softplus": "softplus",
    "Softsign": "softsign",
    "SparsePlus": "sparse_plus",
    "Squareplus": "squareplus",
}
# Nonlinear operations that are not elementwise: no rule applies, they are reported.
_UNSUPPORTED_OPERATIONS = {"Softmax", "LogSoftmax", "Sparsemax", "Glu", "SparseSigmoid"}
_SQUASHING_KINDS = {"sigmoid", "hard_sigmoid"}
# Layers whose `call` is "linear part, then `self.activation` if not None".
_FUSED_LAYERS = (
    layers.Conv1D,
    layers.Conv2D,
    layers.Conv3D,
    layers.Conv1DTranspose,
    layers.Conv2DTranspose,
    layers.Conv3DTranspose,
    layers.DepthwiseConv1D,
    layers.DepthwiseConv2D,
    layers.SeparableConv1D,
    layers.SeparableConv2D,
    layers.Dense,
)
_GLOBAL_POOLING = (
    layers.GlobalAveragePooling1D,
    layers.GlobalAveragePooling2D,
    layers.GlobalAveragePooling3D,
    layers.GlobalMaxPooling1D,
    layers.GlobalMaxPooling2D,
    layers.GlobalMaxPooling3D,
)

# Nonlinear at inference, yet given no rule: their true gradient is the right backward pass.
# Why, per class (the methods page, docs/methods_rules.md, says the same at more length).
_TRUE_GRADIENT_LAYERS: dict[type, str] = {
    layers.LayerNormalization: (
        "divides each position by the spread of its own channels: a rescaling, not a "
        "rectifier, so there is no unit to switch off"
    ),
    layers.GroupNormalization: (
        "divides by the spread of its own group of channels: a rescaling, not a rectifier"
    ),
    layers.MaxPooling2D: "passes the gradient to the winning position: Zeiler & Fergus' switches",
    layers.GlobalMaxPooling2D: "passes the gradient to the winning position",
}
# The same classes, for isinstance (type[Any]: an operation it narrows keeps its attributes).
_TRUE_GRADIENT_TYPES: tuple[type[Any], ...] = tuple(_TRUE_GRADIENT_LAYERS)

# What "modified" means, per treatment, for the report.
RULE_REPLACED = "backward rule replaced"
HELD_CONSTANT = "held constant (SE gate)"
INSIDE_HELD_GATE = "inside a held SE gate: no gradient reaches it"
TRUE_GRADIENT = "true gradient kept"
BYPASSED = "bypassed: pre-softmax logits used"
LEFT_UNMODIFIED = "left unmodified"
# The kind under which a nonlinearity inside a held gate's branch is counted.
IN_GATE_SUFFIX = " (inside SE gates)"


@dataclass(frozen=True)
class KindCount:
    """How many nonlinearities of one kind a model has and how many were given a new rule.

    A rectifier inside a held SE gate's branch is counted under its own kind, e.g.
    "swish (inside SE gates)", apart from the same rectifier on the image-to-class path.
    """

    kind: str
    found: int
    modified: int
    treatment: str
    why: str = ""  # for TRUE_GRADIENT: why no rule is needed


@dataclass(frozen=True)
class NonlinearityReport:
    """What `RewiredModel` changed in a model's backward pass - and, never silently, what not."""

    counts: tuple[KindCount, ...]
    unmodified: tuple[str, ...]  # "layer_name (kind)" of every nonlinearity left as it is

    def count(self, kind: str) -> KindCount:
        """The count of one kind (zero if the model has none)."""
        for entry in self.counts:
            if entry.kind == kind:
                return entry
        return KindCount(kind, 0, 0, "")

    def lines(self) -> list[str]:
        """The report as a few lines of text, one per treatment, e.g.
        "Image-to-class path: 33 of 33 swish modified"."""
        by_treatment: dict[str, list[KindCount]] = {}
        for entry in self.counts:
            by_treatment.setdefault(entry.treatment, []).append(entry)
        lines = []
        acting = by_treatment.get(RULE_REPLACED, [])
        if acting:
            lines.append(
                "Image-to-class path: "
                + ", ".join(f"{e.modified} of {e.found} {e.kind} modified" for e in acting)
            )
        gates = by_treatment.get(HELD_CONSTANT, [])
        if gates:
            inside = by_treatment.get(INSIDE_HELD_GATE, [])
            held = ", ".join(
                f"{e.found} SE gates ({e.kind.removesuffix(' (SE gate)')}) held constant"
                for e in gates
            )
            if inside:
                held += "; inside their branches, without effect since no gradient reaches them: "
                held += ", ".join(
                    f"{e.found} {e.kind.removesuffix(IN_GATE_SUFFIX)}" for e in inside
                )
            lines.append(held)
        for entry in by_treatment.get(TRUE_GRADIENT, []):
            lines.append(f"True gradient kept: {entry.found} {entry.kind} ({entry.why})")
        for entry in by_treatment.get(BYPASSED, []):
            lines.append(f"Classifier {entry.kind} bypassed (logits used)")
        if self.unmodified:
            lines.append(f"{len(self.unmodified)} left unmodified: " + ", ".join(self.unmodified))
        return lines or ["No nonlinearities found"]

    def summary(self) -> str:
        """The lines joined into one, for logs and error messages."""
        return "; ".join(self.lines())

    @property
    def softmax_bypassed(self) -> bool:
        """Whether the model ends in a softmax read before it (class scores are the logits it
        normalises); False: the model's output already is its class scores."""
        return any(entry.treatment == BYPASSED for entry in self.counts)


@dataclass(frozen=True)
class _Plan:
    """How one operation of the graph is run under the guided / deconvnet rules."""

    name: str
    kind: str
    action: Literal[
        "rule",
        "fused_rule",
        "gate",
        "in_gate",
        "hold",
        "true_gradient",
        "bypass",
        "keep",
        "nested",
        "depthwise",
    ]
    gate_index: int = -1  # for "hold": which input of the Multiply is the gate
    graph: Any = None  # for "nested": the inner Functional of a block the graph keeps closed


class _WithoutActivation:
    """Read-only stand-in for a fused layer whose activation is None.

    Calling the layer class's own `call` on it gives the pre-activation with the layer's own code
    and variables, without ever setting `layer.activation` on the real layer.
    """

    activation = None

    def __init__(self, layer: layers.Layer):
        object.__setattr__(self, "_layer", layer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._layer, name)


class RewiredModel:
    """A model's own layers run as a graph whose nonlinearities follow a chosen backward rule.

    Outputs are the values of `tensors` (symbolic tensors of the model's `TensorGraph`: layer
    outputs, outputs of operations that are not layers such as ConvNeXt's residual sums, or
    tensors inside a nested base) and the pre-softmax logits. "plain" is the model's true
    gradient (only a final softmax is bypassed so that logits come out); "guided" and
    "deconvnet" replace the backward rule of every nonlinearity the report lists as modified.
    `graph` is the model's, if it was already read.
    """

    def __init__(
        self, model: keras.Model, tensors: Sequence[Any] = (), graph: TensorGraph | None = None
    ):
        # The model's own calls, run one by one: nothing is cloned, nothing is edited.
        self._graph = graph or TensorGraph(model)
        if len(self._graph.inputs) != 1:
            raise ValueError(f"{model.name} has {len(self._graph.inputs)} inputs; one expected")
        self._tensors = [self._graph.same(tensor) for tensor in tensors]
        classifier = self._graph.producer(self._graph.output)
        self._plans = _plan_graph([call.node for call in self._graph.calls], classifier)
        self.report = _report(self._plans)

    def __call__(
        self, images: tf.Tensor, rule: Rule | tuple[Rule, ...] | tf.Tensor = "plain"
    ) -> tuple[list[tf.Tensor], tf.Tensor]:
        """(values of `tensors`, logits) of `images`, differentiable under `rule`.

        A tuple of rules, e.g. ("guided", "deconvnet"), splits the batch into that many equal
        parts, part i following rule i; a boolean tensor (batch,) gives each row its own rule
        (True: guided, False: deconvnet). One forward pass over a mixed batch then serves
        several rules, and one compiled function does the work of several.
        """
        guided = _guided_rows(images, rule)
        values: dict[int, tf.Tensor] = {}  # id of a symbolic tensor -> its value in this run
        for tensor in self._graph.inputs:
            values.update((id(same), images) for same in self._graph.aliases(tensor))
        for call in self._graph.calls:
            args, kwargs = call.node.arguments.fill_in(values)
            outputs = self._operation(call.operation, guided)(*args, **kwargs)
            for tensor, value in zip(call.outputs, keras.tree.flatten(outputs)):
                values.update((id(same), value) for same in self._graph.aliases(tensor))
        return [values[id(t)] for t in self._tensors], values[id(self._graph.output)]

    def _operation(self, op: Any, guided: GuidedRows) -> Callable:
        """The callable that replaces `op` in a run where rows follow `guided` (None: plain)."""
        plan = self._plans.get(id(op))
        if plan is None:  # an operation no rule concerns: run as Keras would
            return _in_inference_mode(op)
        action = plan.action
        if action == "bypass":
            return lambda *args, **kwargs: _pre_activation(op, args, kwargs)
        if action == "depthwise":
            return lambda x, *args, **kwargs: _grouped_as_depthwise(op, x)
        if guided is None or action in ("keep", "gate", "in_gate", "true_gradient"):
            return _in_inference_mode(op)
        if action == "rule":
            return lambda x, *args, **kwargs: _rectified(
                lambda t: op(t, *args, **kwargs), x, guided
            )
        if action == "fused_rule":
            return lambda *args, **kwargs: _rectified(
                op.activation, _pre_activation(op, args, kwargs), guided
            )
        if action == "hold":
            return lambda inputs, **kwargs: op(
                [tf.stop_gradient(x) if i == plan.gate_index else x for i, x in enumerate(inputs)],
                **kwargs,
            )
        # "nested": a block the graph keeps closed; run its own graph with the same mapping.
        return lambda *args, **kwargs: _single(
            plan.graph._run_through_graph(
                args[0], operation_fn=lambda inner: self._operation(inner, guided)
            )
        )


# Which rows of a modified run follow "guided" (the rest "deconvnet"): one Python bool for the
# whole batch, or a boolean tensor (batch,); None for the plain rule (the true gradient).
GuidedRows: TypeAlias = bool | tf.Tensor | None


def _guided_rows(images: tf.Tensor, rule: Rule | tuple[Rule, ...] | tf.Tensor) -> GuidedRows:
    """`rule` in the form `_rectified` takes, checked."""
    if isinstance(rule, tf.Tensor):
        if rule.dtype != tf.bool or rule.shape.rank != 1:
            raise ValueError(f"per-row rules must be a boolean vector, got {rule!r}")
        return rule
    rules = (rule,) if isinstance(rule, str) else tuple(rule)
    if not rules or any(r not in RULES for r in rules):
        raise ValueError(f"unknown rule {rule!r}; expected one of {RULES} or a tuple of them")
    if "plain" in rules:
        if len(rules) > 1:
            raise ValueError("'plain' cannot be mixed with other rules in one pass")
        return None
    if len(set(rules)) == 1:
        return rules[0] == "guided"
    part = tf.shape(images)[0] // len(rules)
    return tf.repeat(tf.constant([r == "guided" for r in rules]), part)


def is_depthwise_grouped(op: Any) -> bool:
    """A linear Conv2D with one group per input channel: a depthwise convolution in disguise
    (ConvNeXt's 7x7). On CPU, TensorFlow 2.21 gives no input gradient (None) for such a
    grouped convolution, and could not vectorise it over classes; the same depthwise
    convolution has both."""
    return (
        isinstance(op, layers.Conv2D)
        and op.groups > 1
        and op.data_format == "channels_last"
        and _activation_name(op.activation) == "linear"
        and op.groups == op.input.shape[-1]
        and op.strides[0] == op.strides[1]
    )


def _grouped_as_depthwise(op: layers.Conv2D, x: tf.Tensor) -> tf.Tensor:
    """`op(x)` computed as a depthwise convolution with the layer's own kernel and bias.

    A grouped kernel is (kh, kw, 1, filters), output channel j reading input channel
    j // multiplier; a depthwise kernel is (kh, kw, channels, multiplier), output channel
    c * multiplier + k reading channel c: the same numbers in the same order.
    """
    height, width, _, filters = op.kernel.shape
    channels = op.groups
    kernel = tf.reshape(op.kernel, (height, width, channels, filters // channels))
    y = tf.nn.depthwise_conv2d(
        x,
        kernel,
        strides=(1, *op.strides, 1),
        padding=op.padding.upper(),
        dilations=op.dilation_rate,
    )
    return y + op.bias if op.use_bias else y


def _in_inference_mode(op: Any) -> Callable:
    """`op` called as Keras' own Functional.call would call it, with training=False."""

    def call(*args: Any, **kwargs: Any) -> Any:
        if "training" in getattr(op, "_call_context_args", ()):
            kwargs["training"] = False
        return op(*args, **kwargs)

    return call


def _single(outputs: Any) -> Any:
    return outputs[0] if isinstance(outputs, list) and len(outputs) == 1 else outputs


def _pre_activation(layer: Any, args: tuple, kwargs: dict) -> tf.Tensor:
    """The value a layer feeds into its activation (the identity for an activation layer, or an
    operation that is not a layer, such as `keras.ops.softmax`)."""
    if isinstance(layer, (layers.Activation, layers.Softmax)) or not isinstance(
        layer, layers.Layer
    ):
        return args[0]
    return type(layer).call(_WithoutActivation(layer), *args, **kwargs)


def _rectified(f: Callable, x: tf.Tensor, guided: bool | tf.Tensor) -> tf.Tensor:
    """f(x) with the backward pass of guided backprop or DeConvNet, per row (`GuidedRows`).

    Both rules are dx = gate * max(dy, 0):
    guided:    gate = max(f'(x), 0)   (f' by autodiff, so any elementwise f works)
    deconvnet: gate = 1               (the forward input is ignored)
    The gate is built in the forward pass, so the backward pass is one multiplication whatever
    the mix of rules, and is shared by every class of the backward passes.
    """

    @tf.custom_gradient
    def forward(x: tf.Tensor) -> tuple[tf.Tensor, Callable[[tf.Tensor], tf.Tensor]]:
        if guided is False:
            return f(x), tf.nn.relu
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = f(x)
        slope = tape.gradient(y, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        gate = tf.nn.relu(slope)
        if guided is not True:
            rows = tf.reshape(guided, [-1] + [1] * (x.shape.rank - 1))
            gate = tf.where(rows, gate, tf.ones_like(gate))
        return y, lambda dy: gate * tf.nn.relu(dy)

    return forward(x)


# --------------------------------------------------------------------------- planning


def _producer(tensor: Any) -> tuple[Any, Any]:
    """(operation, node) that produced a symbolic tensor."""
    history = tensor._keras_history
    return history.operation, history.operation._inbound_nodes[history.node_index]


def _constant_argument(node: Any) -> float | None:
    """The single Python number among a node's arguments (as in `x + 3.0`), else None."""
    numbers = [a for a in node.arguments.args if isinstance(a, (int, float))]
    return float(numbers[0]) if len(numbers) == 1 else None


def _is_operation(op: Any, class_name: str) -> bool:
    """True for a bare Keras operation (not a layer) of this class, e.g. the `+` in `x + 3.0`."""
    return type(op).__name__ == class_name and not isinstance(op, layers.Layer)


def _is_hard_sigmoid(relu: layers.ReLU, node: Any) -> bool:
    """MobileNetV3 builds hard_sigmoid as `ReLU(6.)(x + 3.) * (1. / 6.)`: recognise that ReLU6."""
    add, add_node = _producer(node.input_tensors[0])
    consumers = relu._outbound_nodes
    if not (_is_operation(add, "Add") and _constant_argument(add_node) == 3.0):
        return False
    if len(consumers) != 1 or not _is_operation(consumers[0].operation, "Multiply"):
        return False
    scale = _constant_argument(consumers[0])
    return scale is not None and math.isclose(scale, 1.0 / 6.0, rel_tol=1e-6)


def _activation_name(function: Any) -> str:
    return getattr(function, "__name__", type(function).__name__)


def _classify(op: Any, node: Any) -> tuple[str, str] | None:
    """(kind, how) of a nonlinear operation, or None for a linear one.

    how: "elementwise" (the operation itself is the nonlinearity), "fused" (a layer applying its
    `activation` after a linear part) or "unsupported" (nonlinear, but no rule applies).
    """
    if isinstance(op, layers.ReLU):
        if node is not None and _is_hard_sigmoid(op, node):
            return "hard_sigmoid", "elementwise"
        default_slope = op.negative_slope == 0 and op.threshold == 0
        if default_slope and op.max_value is None:
            return "ReLU", "elementwise"
        if default_slope and op.max_value == 6:
            return "ReLU6", "elementwise"
        params = (
            f"max_value={op.max_value}, negative_slope={op.negative_slope}, "
            f"threshold={op.threshold}"
        )
        return f"ReLU({params})", "elementwise"
    if isinstance(op, layers.LeakyReLU):
        return "leaky_relu", "elementwise"
    if isinstance(op, layers.ELU):
        return "elu", "elementwise"
    if isinstance(op, layers.Softmax):
        return "softmax", "unsupported"
    if isinstance(op, layers.PReLU):
        return "PReLU", "unsupported"
    if isinstance(op, layers.Activation):
        name = _activation_name(op.activation)
        if name == "linear":
            return None
        if name in _ELEMENTWISE_KINDS:
            return _ELEMENTWISE_KINDS[name], "elementwise"
        return name, "unsupported"
    activation = getattr(op, "activation", None)
    if isinstance(op, layers.Layer) and activation is not None:
        name = _activation_name(activation)
        if name == "linear":
            return None
        if isinstance(op, _FUSED_LAYERS) and name in _ELEMENTWISE_KINDS:
            return _ELEMENTWISE_KINDS[name], "fused"
        return f"{name} in {type(op).__name__}", "unsupported"
    if not isinstance(op, layers.Layer):
        name = type(op).__name__
        if name in _OPERATION_KINDS:
            return _OPERATION_KINDS[name], "elementwise"
        if name in _UNSUPPORTED_OPERATIONS:
            return name.lower(), "unsupported"
        return None
    if isinstance(op, layers.Multiply):
        return "product of two tensors", "unsupported"
    inner = [_classify(sub, None) for sub in _sublayers(op)]
    if any(inner):
        return f"{type(op).__name__} holding nonlinear layers", "unsupported"
    return None


def _sublayers(layer: layers.Layer) -> list[layers.Layer]:
    """Layers a custom layer holds (their nonlinearities cannot be rewired, only reported)."""
    return list(layer._flatten_layers(include_self=False, recursive=True))


def _se_gate(node: Any) -> tuple[int, Any, str, list[tuple[Any, Any]]] | None:
    """(gate input index, squashing op, its kind, (op, node) of the whole gate branch) if `node`
    is a squeeze-and-excitation product.

    A gate is a (1, 1, C) input of a two-input Multiply that is computed, through single-input
    operations only, from a global pooling, and whose last nonlinearity is a sigmoid-type squash.
    """
    if not isinstance(node.operation, layers.Multiply) or len(node.input_tensors) != 2:
        return None
    for index, tensor in enumerate(node.input_tensors):
        if len(tensor.shape) < 3 or any(d != 1 for d in tensor.shape[1:-1]):
            continue
        squash = None
        branch = []
        while True:
            op, producer = _producer(tensor)
            if isinstance(op, _GLOBAL_POOLING):
                if squash is not None:
                    return index, squash[0], squash[1], branch
                break
            branch.append((op, producer))
            found = _classify(op, producer) if not producer.is_input else None
            if squash is None and found is not None:
                if found[0] not in _SQUASHING_KINDS:
                    break
                squash = (op, found[0])
            if producer.is_input or len(producer.input_tensors) != 1:
                break
            tensor = producer.input_tensors[0]
    return None


def _plan_graph(nodes: list[Any], classifier: Any = None) -> dict[int, _Plan]:
    """A plan for every nonlinear operation called at `nodes` (Keras nodes, producers first)
    and in the closed blocks they call, by id."""
    plans: dict[int, _Plan] = {}
    gate_kinds: dict[int, str] = {}
    in_gates: set[int] = set()  # every other operation of a held gate's branch
    for node in nodes:
        gate = _se_gate(node)
        if gate is not None:
            index, squash, kind, branch = gate
            plans[id(node.operation)] = _Plan(
                node.operation.name, "SE gate product", "hold", gate_index=index
            )
            gate_kinds[id(squash)] = f"{kind} (SE gate)"
            in_gates.update(id(op) for op, _ in branch)
    for node in nodes:
        op = node.operation
        if node.is_input or id(op) in plans:
            continue
        if id(op) in gate_kinds:
            plans[id(op)] = _Plan(op.name, gate_kinds[id(op)], "gate")
            continue
        if isinstance(op, _TRUE_GRADIENT_TYPES):
            plans[id(op)] = _Plan(op.name, type(op).__name__, "true_gradient")
            continue
        if is_depthwise_grouped(op):  # linear: not a nonlinearity, not in the report
            plans[id(op)] = _Plan(op.name, "grouped convolution", "depthwise")
            continue
        inner = functional_graph(op)
        if inner is not None:
            inner_plans = _plan_graph(graph_nodes(inner))
            if inner_plans:
                plans.update(inner_plans)
                plans[id(op)] = _Plan(op.name, "model", "nested", graph=inner)
            continue
        found = _classify(op, node)
        if found is None:
            continue
        kind, how = found
        if op is classifier and (kind == "softmax" or kind.startswith("softmax in ")):
            plans[id(op)] = _Plan(op.name, "softmax", "bypass")
        elif id(op) in in_gates:
            plans[id(op)] = _Plan(op.name, kind + IN_GATE_SUFFIX, "in_gate")
        elif how == "elementwise":
            plans[id(op)] = _Plan(op.name, kind, "rule")
        elif how == "fused":
            plans[id(op)] = _Plan(op.name, kind, "fused_rule")
        else:
            plans[id(op)] = _Plan(op.name, kind, "keep")
    return plans


_TREATMENTS = {
    "rule": RULE_REPLACED,
    "fused_rule": RULE_REPLACED,
    "gate": HELD_CONSTANT,
    "in_gate": INSIDE_HELD_GATE,
    "true_gradient": TRUE_GRADIENT,
    "bypass": BYPASSED,
    "keep": LEFT_UNMODIFIED,
}
# Treatments under which a nonlinearity's backward pass is changed (the report's "modified").
_MODIFYING = {RULE_REPLACED, HELD_CONSTANT, BYPASSED}


def _report(plans: dict[int, _Plan]) -> NonlinearityReport:
    """Counts per kind, in order of first appearance, and the names of what was left alone."""
    found: Counter = Counter()
    treatment_of: dict[str, str] = {}
    for plan in plans.values():
        if plan.action in _TREATMENTS:
            found[plan.kind] += 1
            treatment_of[plan.kind] = _TREATMENTS[plan.action]
    why = {kind.__name__: reason for kind, reason in _TRUE_GRADIENT_LAYERS.items()}
    counts = tuple(
        KindCount(
            kind,
            n,
            n if treatment_of[kind] in _MODIFYING else 0,
            treatment_of[kind],
            why.get(kind, "") if treatment_of[kind] == TRUE_GRADIENT else "",
        )
        for kind, n in found.items()
    )
    unmodified = tuple(
        f"{plan.name} ({plan.kind})" for plan in plans.values() if plan.action == "keep"
    )
    return NonlinearityReport(counts=counts, unmodified=unmodified)
