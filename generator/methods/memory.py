"""How much memory a model's passes take, and so how many inputs each pass may hold at once.

A model process holds a fixed part (Python, TensorFlow, the model's weights, its traced graph,
the build's arrays) and, during a pass over R inputs, R inputs' worth of the model's
activations: a backward pass keeps what its gradient reads of every layer; a forward-only pass
frees each layer's output once the next has read it. The explainer runs its passes one after
another (`batching.after`), so the process's peak is the fixed part plus the largest pass.

One input's activations are read off the model's graph at its real input size: the bytes of
every tensor of one forward pass (`MemoryProfile.activation_bytes`). The factors that turn them
into resident bytes were measured on this project's passes: the peak resident size of one
compiled forward+backward pass (five classes) over 1 and 3 inputs, and of a forward pass over 1
and 9, on ten architectures at 224 px (EfficientNetB0 and V2B0, ConvNeXtTiny, ResNet50,
DenseNet121, VGG16, NASNetMobile, MobileNetV3Small, InceptionV3, Xception):

- backward, per input: from 0.4 (ResNet50, plain: a ReLU's gradient reads only its output) to
  1.74 (ConvNeXtTiny, plain: GELU and LayerNorm keep their inputs) times the activations; the
  guided and DeConvNet rules at most 1.36 (InceptionV3); we plan 2;
- forward only, per input: at most 0.22 times the activations (ConvNeXtTiny); we plan 0.5;
- fixed: 0.73-0.86 GiB for Python, TensorFlow and a small model, the weights up to 2.3 times
  (VGG16: the variables and what a traced call reads of them), and the traced graph, which grows
  with the model's operations: we plan 1.25 GiB, the weights 3 times and 1 MiB per tensor of
  the model's graph.

The plan is what a build relies on: pass chunk sizes follow from it, a method that cannot run
even one input within the budget is left out before anything is computed, and the
per-architecture tests check every model's planned peak against the default budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from math import prod
from typing import Any

from generator.methods.base import Context, HeadGradients, InputGradients, Logits, Method
from generator.methods.budget import GIB
from generator.methods.layers import TensorGraph

BACKWARD_PER_ACTIVATION = 2.0
FORWARD_PER_ACTIVATION = 0.5
RUNTIME_BYTES = int(1.25 * GIB)
WEIGHT_COPIES = 3
GRAPH_BYTES_PER_TENSOR = 1 << 20
# Zeiler & Fergus projections run the image under both rules, guided and DeConvNet.
PROJECTION_ROWS = 2
_FLOAT = 4  # bytes of a float32


@dataclass(frozen=True)
class MemoryProfile:
    """What one model holds in memory, in bytes, at its real input size."""

    weight_bytes: int
    activation_bytes: int  # every tensor of one input's forward pass
    input_bytes: int  # one model input
    input_size: tuple[int, int]  # (height, width)
    tensors: int  # tensors of the model's graph (its traced graph grows with them)

    @classmethod
    def of(cls, model: Any, graph: TensorGraph | None = None) -> MemoryProfile:
        """The profile of a built Keras model, read off its graph (`graph`, if it was already
        read; no pass is run)."""
        graph = graph or TensorGraph(model)
        return cls(
            weight_bytes=sum(prod(int(d) for d in w.shape) for w in model.weights) * _FLOAT,
            activation_bytes=sum(_size(t.shape) for t in graph.order) * _FLOAT,
            input_bytes=_size(model.inputs[0].shape) * _FLOAT,
            input_size=(int(model.inputs[0].shape[1]), int(model.inputs[0].shape[2])),
            tensors=len(graph.order),
        )

    @property
    def fixed(self) -> int:
        """Bytes the process holds whatever the passes: runtime, weights, traced graph."""
        return (
            RUNTIME_BYTES
            + WEIGHT_COPIES * self.weight_bytes
            + GRAPH_BYTES_PER_TENSOR * self.tensors
        )

    def backward_row(self, classes: int) -> int:
        """Bytes one input holds in a forward+backward pass with `classes` gradients out."""
        return int(BACKWARD_PER_ACTIVATION * self.activation_bytes) + classes * self.input_bytes

    def forward_row(self) -> int:
        """Bytes one input holds in a forward-only pass."""
        return int(FORWARD_PER_ACTIVATION * self.activation_bytes) + self.input_bytes


@dataclass(frozen=True)
class PassPeak:
    """One pass of a plan: what it is, how many inputs it runs and at most how many at once,
    and the bytes it adds to the fixed part at its peak (with the results held from before)."""

    what: str  # "forward", "forward and class gradients", "input gradients", ...
    rows: int
    chunk: int
    bytes: int
    classes: int = 0  # for "input gradients": the class gradients each input gives


@dataclass(frozen=True)
class Chunks:
    """How many inputs each chunked pass of one `explain` call holds at once."""

    gradients: dict[int, int]  # classes -> inputs per chunk of that input-gradient pass
    copies: int  # inputs per chunk of the forward pass of copies


@dataclass(frozen=True)
class MemoryPlan:
    """How a model's passes fit a budget (bytes): inputs per chunk, and what does not fit."""

    profile: MemoryProfile
    budget: int

    def _chunk(self, row: int, held: int = 0) -> int:
        """Inputs of `row` bytes that fit beside the fixed part and `held` bytes (at least 1)."""
        return max(1, (self.budget - self.profile.fixed - held) // row)

    def passes(
        self, needs: Sequence[Any], classes: int, images: int = 1, projections: bool = True
    ) -> list[PassPeak]:
        """The passes of one `explain` call that meets `needs` for `classes` classes of
        `images` images, as the explainer runs them (the main pass, then input gradients, then
        forward copies), and, with `projections`, the layer projections a page shows."""
        profile = self.profile
        heads = any(isinstance(n, HeadGradients) for n in needs)
        main = images * (profile.backward_row(classes) if heads else profile.forward_row())
        what = "forward and class gradients" if heads else "forward"
        peaks = [PassPeak(what, images, images, main)]
        held = 0  # bytes of the results of earlier passes, alive while later ones run
        gradient_rows: dict[int, int] = {}
        for need in needs:
            if isinstance(need, InputGradients):
                samples = images * need.inputs.count(*profile.input_size)
                gradient_rows[need.classes] = gradient_rows.get(need.classes, 0) + samples
                held += samples * (1 + need.classes) * profile.input_bytes
        for k, rows in gradient_rows.items():
            row = profile.backward_row(k)
            chunk = min(rows, self._chunk(row, held))
            peaks.append(PassPeak("input gradients", rows, chunk, chunk * row + held, k))
        copies = [n for n in needs if isinstance(n, Logits)]
        rows = sum(images * n.inputs.count(*profile.input_size) for n in copies)
        if rows:
            held += rows * profile.input_bytes
            chunk = min(rows, self._chunk(profile.forward_row(), held))
            peaks.append(PassPeak("forward of copies", rows, chunk,
                                  chunk * profile.forward_row() + held))  # fmt: skip
        if projections:
            row = profile.backward_row(1)
            chunk = min(PROJECTION_ROWS, self._chunk(row))
            peaks.append(PassPeak("layer projections", PROJECTION_ROWS, chunk, chunk * row))
        return peaks

    def chunks(self, needs: Sequence[Any], classes: int, images: int) -> Chunks:
        """The chunk sizes the explainer (and the bench's floors) use for these passes."""
        passes = self.passes(needs, classes, images, projections=False)
        gradients = {p.classes: p.chunk for p in passes if p.what == "input gradients"}
        copies = next((p.chunk for p in passes if p.what == "forward of copies"), 1)
        return Chunks(gradients, copies)

    def forward_chunk(self, rows: int) -> int:
        """Inputs per chunk of a forward pass over `rows` inputs made in the same call (the
        deletion and insertion steps), all of which are held while it runs."""
        held = rows * self.profile.input_bytes
        return min(rows, self._chunk(self.profile.forward_row(), held))

    def projection_chunk(self, objectives: int) -> int:
        """Rules (of guided and DeConvNet) the layer projections run at once."""
        return min(PROJECTION_ROWS, self._chunk(self.profile.backward_row(objectives)))

    def peak(
        self, plan: Iterable[tuple[Method, Context]], projections: bool = True, images: int = 1
    ) -> int:
        """The planned peak of the process for `plan` on `images` images at once (a build
        explains one at a time), in bytes: the fixed part and the largest pass."""
        needs, classes = plan_needs(plan)
        passes = self.passes(needs, classes, images, projections)
        return self.profile.fixed + max(p.bytes for p in passes)

    def images_at_once(self, plan: Iterable[tuple[Method, Context]], most: int) -> int:
        """How many of `most` images one `explain` call of `plan` may take at once (at least
        one): the main pass holds every image's activations."""
        plan = list(plan)
        count = max(1, most)
        while count > 1 and self.peak(plan, projections=False, images=count) > self.budget:
            count -= 1
        return count

    def least(self, plan: Iterable[tuple[Method, Context]], projections: bool = True) -> int:
        """The peak with every pass at one input per chunk: the least `plan` can need."""
        return MemoryPlan(self.profile, 0).peak(plan, projections)

    def left_out(self, plan: Sequence[tuple[Method, Context]]) -> dict[str, str]:
        """Method slug -> why it cannot run within the budget even one input at a time."""
        out = {}
        for method, context in plan:
            least = self.least([(method, context)], projections=False)
            if least > self.budget:
                out[method.slug] = (
                    f"needs about {least / GIB:.2f} GiB at one input per pass, over the "
                    f"memory budget of {self.budget / GIB:.2f} GiB"
                )
        return out

    def projections_fit(self) -> bool:
        """Whether the layer projections can run one rule at a time within the budget."""
        return self.profile.fixed + self.profile.backward_row(1) <= self.budget


def plan_needs(plan: Iterable[tuple[Method, Context]]) -> tuple[list[Any], int]:
    """The distinct needs of a plan in first-seen order (equal needs are one pass), and how
    many classes its main pass explains."""
    plan = list(plan)
    needs = list(dict.fromkeys(need for method, context in plan for need in method.needs(context)))
    return needs, max((context.classes for _, context in plan), default=1)


def _size(shape: Sequence[Any]) -> int:
    """Elements of one input's tensor of `shape` (batch axis first, unknown sizes as 1)."""
    return prod(int(d) if d else 1 for d in tuple(shape)[1:])
