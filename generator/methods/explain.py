"""The explainer: runs the passes the selected methods need, once each, in one compiled call.

Every method (see `base.Method` and `catalog`) declares the passes it needs; an `Explainer`
compiles one function per model that runs the plain forward pass, then each distinct needed
pass once (head gradients, input gradients under a backward rule at inputs made from the image,
forward passes of perturbed inputs), then every method's maps from those results. Gradients of
all K classes (or all P channels) come from one forward pass and a graph loop of backward
passes (`batching.score_gradients`), because a gallery explains many images and classes per
model and per-class eager passes would dominate. Input gradients under every rule and at every
kind of input made from the image run as one chunked pass per class count and rule family
(plain, or guided and DeConvNet rows mixed), so each traces one backward graph. The passes run
one after another, each over as many inputs at once as the model's memory plan allows
(`memory.MemoryPlan`), so the call's peak is that of its largest pass. Class scores are
pre-softmax logits: a saturated softmax has near-zero gradients, logits do not. Zeiler & Fergus
layer projections (`projections.LayerProjections`) run on the same rewired graph.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import keras
import numpy as np
import tensorflow as tf

from generator.methods.backward_rules import NonlinearityReport, RewiredModel
from generator.methods.base import (
    Activations,
    Context,
    HeadGradients,
    InputGradients,
    Logits,
    Method,
    Passes,
    Sampled,
)
from generator.methods.batching import after, flat, in_chunks, references, score_gradients
from generator.methods.budget import DEFAULT_BUDGET_GIB, budget_bytes
from generator.methods.catalog import METHODS
from generator.methods.layers import TensorGraph, gradcam_target
from generator.methods.memory import MemoryPlan, MemoryProfile

_T = TypeVar("_T", bound=Hashable)


@dataclass(frozen=True)
class MethodMaps:
    """One method's maps for N images and its K classes, and its per-map notes (N, K)."""

    maps: np.ndarray
    notes: dict[str, np.ndarray]


@dataclass(frozen=True)
class Explanations:
    """Every selected method's maps for N images, and what the plain forward pass gave."""

    logits: np.ndarray  # (N, C) pre-softmax class scores
    probabilities: np.ndarray  # (N, C) softmax of logits
    classes: np.ndarray  # (N, K) explained classes, by logit order when chosen as top-K
    methods: dict[str, MethodMaps]  # method slug -> maps of its first k <= K classes
    stage_activations: dict[str, np.ndarray]  # tensor name -> (N, h, w, c)


class Explainer:
    """The selected explanation methods of one model, compiled once and reused for every image.

    `target_layer` names the tensor Grad-CAM reads (default: `layers.gradcam_target`);
    `stage_layers` name the tensors whose values `explain` returns (and whose channels
    `projections.LayerProjections` projects back to the input; `stage_widths` gives their
    channel counts). Names are those of `layers.TensorGraph`: a
    layer's name for its output, or e.g. "add_17" for an operation that is not a layer; inside
    a nested base, its path, e.g. "mobilenetv2_1.00_224/out_relu".
    `preprocess` maps photos (0-255) to model inputs; methods that compare against a black or
    grey photo use it (identity when absent). `memory_budget` (bytes; default
    `budget.DEFAULT_BUDGET_GIB`) bounds how many inputs each pass holds at once
    (`self.memory`). `graph` is the model's `layers.TensorGraph` if the caller already read it
    (it is read once per model). The model is only read, never changed.
    """

    def __init__(
        self,
        model: keras.Model,
        target_layer: str | None = None,
        stage_layers: Sequence[str] = (),
        methods: Sequence[Method] = METHODS,
        preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
        memory_budget: int | None = None,
        graph: TensorGraph | None = None,
    ):
        self.model = model
        graph = graph or TensorGraph(model)
        self.target_layer = target_layer or gradcam_target(model, graph).name
        self.stage_layers = tuple(stage_layers)
        self.methods = tuple(methods)
        self._names = (self.target_layer, *self.stage_layers)
        tensors = [graph.tensor(name) for name in self._names]
        self.stage_widths = {
            name: int(tensor.shape[-1]) for name, tensor in zip(self.stage_layers, tensors[1:])
        }
        self._rewired = RewiredModel(model, tensors, graph)
        self.references = references(model, preprocess)
        self.report: NonlinearityReport = self._rewired.report
        # True: the model ends in a softmax, and class scores are the logits before it;
        # False: its output is used as it is (it already gives logits).
        self.softmax_bypassed = self.report.softmax_bypassed
        self.memory = MemoryPlan(
            MemoryProfile.of(model, graph),
            budget_bytes(DEFAULT_BUDGET_GIB) if memory_budget is None else memory_budget,
        )
        # One trace per plan (methods and their contexts), reused for every later image.
        self._plans: dict[tuple[tuple[Method, Context], ...], int] = {}
        self._explain = tf.function(self._explain_step, reduce_retracing=True, autograph=False)

    # ------------------------------------------------------------------ public methods

    @property
    def rewired(self) -> RewiredModel:
        """The graph every pass of this explainer runs on: the model's own, re-run by
        `backward_rules` (values of the target and stage tensors, then the logits). The bench's
        floors run on it too."""
        return self._rewired

    def plan(
        self, methods: Sequence[Method], top: int, many_passes_top: int = 1
    ) -> tuple[tuple[Method, Context], ...]:
        """Each method with its context: the classes it explains (`Method.classes_explained`)."""
        return tuple(
            (
                method,
                Context(
                    self.target_layer,
                    self.stage_layers,
                    method.classes_explained(top, many_passes_top),
                ),
            )
            for method in methods
        )

    def explain(
        self,
        images: np.ndarray,
        top: int = 5,
        classes: np.ndarray | None = None,
        many_passes_top: int = 1,
        methods: Sequence[Method] | None = None,
    ) -> Explanations:
        """Every method (this explainer's, or `methods`) for the `top` classes by logit of each
        image, or for `classes` (N, K); methods that need many passes explain the first
        `many_passes_top` of them. Images are explained as many at a time as the memory plan
        allows (all of them at once where they fit)."""
        x = as_images(images)
        chosen = None if classes is None else self._classes(classes, len(images))
        if chosen is None and not 1 <= top <= self._class_count():
            raise ValueError(f"top must be in 1..{self._class_count()}, got {top}")
        count = top if chosen is None else int(chosen.shape[1])
        if many_passes_top < 1:
            raise ValueError(f"many_passes_top must be at least 1, got {many_passes_top}")
        plan = self.plan(self.methods if methods is None else methods, count, many_passes_top)
        # tf.function tells Python objects apart by identity, ints by value: the compiled step
        # gets the plan's number, so an equal plan reuses its trace.
        number = self._plans.setdefault(plan, len(self._plans))
        step = self.memory.images_at_once(plan, len(images))
        parts = [
            self._explain(x[i : i + step], None if chosen is None else chosen[i : i + step],
                          count, number)
            for i in range(0, len(images), step)
        ]  # fmt: skip
        logits, picked, stages, computed = tf.nest.map_structure(
            lambda *values: tf.concat(values, axis=0), *parts
        )
        return Explanations(
            logits=logits.numpy(),
            probabilities=tf.nn.softmax(logits).numpy(),
            classes=picked.numpy(),
            methods={
                method.slug: MethodMaps(
                    maps.numpy(), {name: note.numpy() for name, note in notes.items()}
                )
                for (method, _), (maps, notes) in zip(plan, computed)
            },
            stage_activations={
                name: value.numpy() for name, value in zip(self.stage_layers, stages)
            },
        )

    # ------------------------------------------------------------------ compiled steps

    def _explain_step(
        self,
        images: tf.Tensor,
        classes: tf.Tensor | None,
        top: int,
        number: int,
    ) -> tuple[tf.Tensor, tf.Tensor, list[tf.Tensor], list[tuple[tf.Tensor, dict[str, Any]]]]:
        """The plain forward pass, then every distinct pass the methods need, each once, then
        each method's maps from them: all in one compiled call."""
        plan = next(plan for plan, n in self._plans.items() if n == number)
        needs = _unique(need for method, context in plan for need in method.needs(context))
        heads = _unique(need.tensor for need in needs if isinstance(need, HeadGradients))
        with tf.GradientTape(watch_accessed_variables=False, persistent=True) as tape:
            tape.watch(images)
            tensors, logits = self._rewired(images, "plain")
            values = dict(zip(self._names, tensors))
            if classes is None:
                classes = tf.math.top_k(logits, k=top).indices
            selected = tf.gather(logits, classes, batch_dims=1)  # (N, K)
        results: dict[Any, Any] = {Activations(name): values[name] for name in self._names}
        if heads:
            results.update(self._head_gradients(tape, selected, {n: values[n] for n in heads}))
        del tape
        # Each pass starts when the one before it is done: their memory peaks do not add up.
        done = [logits, *results.values()]
        chunks = self.memory.chunks(needs, top, int(images.shape[0] or 1))
        gradients = self._input_gradients(
            after(done, images),
            classes,
            results,
            [n for n in needs if isinstance(n, InputGradients)],
            chunks.gradients,
        )
        results.update(gradients)
        done = [r.gradients for r in gradients.values()] or done
        results.update(
            self._logits(
                after(done, images),
                results,
                [n for n in needs if isinstance(n, Logits)],
                chunks.copies,
            )
        )
        passes = Passes(images, logits, classes, self.references, results)
        attributions = [method.compute(passes, context) for method, context in plan]
        computed = [(a.maps, dict(a.notes)) for a in attributions]  # tf.function returns these
        stages = [values[name] for name in self.stage_layers]
        return logits, classes, stages, computed

    def _head_gradients(
        self, tape: tf.GradientTape, selected: tf.Tensor, sources: dict[str, tf.Tensor]
    ) -> dict[HeadGradients, tf.Tensor]:
        """(N, K, h, w, c) gradients of the K selected logits w.r.t. every named tensor. The pass
        to the earliest tensor crosses every later one on its way, so gradients w.r.t. several
        stages (LayerCAM) cost one backward pass per class, not one per stage and class."""
        names = list(sources)
        gradients = score_gradients(tape, selected, [sources[n] for n in names])
        return {HeadGradients(name): value for name, value in zip(names, gradients)}

    def _input_gradients(
        self,
        images: tf.Tensor,
        classes: tf.Tensor,
        results: dict[Any, Any],
        needs: list[InputGradients],
        chunks: dict[int, int],
    ) -> dict[InputGradients, Sampled]:
        """Every input-gradient need: the inputs each needs made from the images, as rows of one
        pass per class count k and rule family (plain; guided and DeConvNet rows mixed, each
        row following its own rule), so all of them trace one or two backward graphs; in
        chunks of `chunks[k]` rows."""
        out: dict[InputGradients, Sampled] = {}
        for k, plain in _unique((n.classes, n.rule == "plain") for n in needs):
            if out:  # one rule family's pass after the other's
                images = after([s.gradients for s in out.values()], images)
            group = [n for n in needs if (n.classes, n.rule == "plain") == (k, plain)]
            made = {
                maker: maker.make(images, self.references, results)  # (N, S, H, W, 3)
                for maker in _unique(n.inputs for n in group)
            }
            rows = [flat(made[n.inputs]) for n in group]
            sizes = [tf.shape(r)[0] for r in rows]
            tensors = [
                tf.concat(rows, axis=0),
                tf.concat(
                    [tf.repeat(classes[:, :k], tf.shape(made[n.inputs])[1], axis=0) for n in group],
                    axis=0,
                ),
            ]
            if not plain:
                tensors.append(
                    tf.concat(
                        [tf.fill([size], n.rule == "guided") for n, size in zip(group, sizes)], 0
                    )
                )
            logits, gradients = in_chunks(
                self._input_gradient_step,
                tuple(tensors),
                chunks[k],
                outputs=2,
            )
            for need, need_logits, need_gradients in zip(
                group, tf.split(logits, sizes), tf.split(gradients, sizes)
            ):
                inputs = made[need.inputs]
                shape = tf.shape(inputs)
                out[need] = Sampled(
                    inputs,
                    tf.reshape(need_logits, tf.concat([shape[:2], [-1]], axis=0)),
                    tf.reshape(need_gradients, tf.concat([shape[:2], [k], shape[2:]], axis=0)),
                )
        return out

    def _input_gradient_step(
        self, images: tf.Tensor, classes: tf.Tensor, guided: tf.Tensor | None = None
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """(logits (B, C), gradients (B, K, H, W, 3)) of a batch of rows: the plain rule, or each
        row guided or DeConvNet as `guided` (B,) says."""
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(images)
            _, logits = self._rewired(images, "plain" if guided is None else guided)
            selected = tf.gather(logits, classes, batch_dims=1)
        (gradients,) = score_gradients(tape, selected, [images])
        return logits, gradients

    def _logits(
        self, images: tf.Tensor, results: dict[Any, Any], needs: list[Logits], chunk: int
    ) -> dict[Logits, Sampled]:
        """(N, S, C) plain logits of the inputs every `Logits` need makes, forward only: all of
        them as rows of one pass, in chunks of `chunk` rows."""
        if not needs:
            return {}
        made = [need.inputs.make(images, self.references, results) for need in needs]
        rows = [flat(inputs) for inputs in made]
        sizes = [tf.shape(r)[0] for r in rows]
        batch = tf.concat(rows, axis=0)
        (logits,) = in_chunks(lambda x: (self._rewired(x, "plain")[1],), (batch,), chunk, outputs=1)
        return {
            need: Sampled(inputs, tf.reshape(part, tf.concat([tf.shape(inputs)[:2], [-1]], axis=0)))
            for need, inputs, part in zip(needs, made, tf.split(logits, sizes))
        }

    # ------------------------------------------------------------------ input checks

    def _class_count(self) -> int:
        return int(self.model.outputs[0].shape[-1])

    def _classes(self, classes: np.ndarray, n: int) -> tf.Tensor:
        classes = np.asarray(classes)
        if classes.ndim != 2 or classes.shape[0] != n:
            raise ValueError(f"classes must be (N, K) with N={n}, got shape {classes.shape}")
        if classes.min() < 0 or classes.max() >= self._class_count():
            raise ValueError(f"class indices must be in 0..{self._class_count() - 1}")
        return tf.constant(classes, tf.int32)


def as_images(images: np.ndarray) -> tf.Tensor:
    """A batch of model inputs (N, H, W, 3) as a float32 tensor; any other shape is an error."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be (N, H, W, 3), got shape {images.shape}")
    return tf.constant(images)


def _unique(items: Iterable[_T]) -> list[_T]:
    """Items in first-seen order, each once: equal needs are one pass."""
    return list(dict.fromkeys(items))
