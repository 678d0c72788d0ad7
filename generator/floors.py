"""The floor a method is judged against: the passes it declares it needs, and nothing else, run
as one batched compiled call on the graph the explainer runs them on.

The floor is derived from the needs (`base.Activations`, `HeadGradients`, `InputGradients`,
`Logits`), one piece per need type, so a new method built from these needs gets its floor
without any change here:

- the plain forward pass of the images, always (every method needs the class scores);
- `Activations`: nothing more (read during that forward pass);
- `HeadGradients(tensor)`: that forward pass under a tape, then the K explained classes'
  gradients w.r.t. every such tensor, one backward pass per class (it crosses the later
  tensors on its way to the earliest);
- `InputGradients(rule, k, inputs)`: a forward+backward pass of the S copies its input maker
  makes of each image, with the k class gradients w.r.t. those copies, under the need's own
  backward rule (the plain gradient where the need is plain);
- `Logits(inputs)`: a forward pass of the S copies.

Every pass runs on the explainer's own graph (`Explainer.rewired`: the model's graph re-run by
`backward_rules`, with e.g. a grouped convolution run in its depthwise form and a final softmax
bypassed), through the same call as the explainer's passes, so a floor costs what the passes
cost the explainer and no method can beat its floor by running a cheaper graph. The copies are
made before the timed call (making them is the method's work, not a pass); the passes run one
after another, those over many copies in the explainer's memory-bounded chunks (`batching`), so
what the explainer adds on top of the passes themselves (mixing rules in one pass, making the
copies, the methods' own arithmetic) shows as the method's ratio to its floor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from generator.methods import memory
from generator.methods.backward_rules import Rule
from generator.methods.base import (
    Activations,
    Context,
    HeadGradients,
    InputGradients,
    Logits,
    Method,
)
from generator.methods.batching import after, flat, in_chunks, score_gradients
from generator.methods.explain import Explainer

NEED_TYPES = (Activations, HeadGradients, InputGradients, Logits)


def plan_needs(plan: Iterable[tuple[Method, Context]]) -> list[Any]:
    """The distinct needs of a plan, in first-seen order (equal needs are one pass)."""
    return memory.plan_needs(plan)[0]


@dataclass(frozen=True)
class Floor:
    """The floor of some needs for some images: `run()` does the passes (compiled, traced on
    the first call) and returns one sum per pass; `passes` says what they are, e.g. "forward of
    49 copies"."""

    run: Callable[[], list[float]]
    passes: tuple[str, ...]


def floor_call(
    explainer: Explainer, images: np.ndarray, classes: np.ndarray, needs: Sequence[Any]
) -> Floor:
    """The floor of `needs` for `images` (N, H, W, 3) and the explained `classes` (N, K), on
    `explainer.rewired`."""
    unknown = [need for need in needs if not isinstance(need, NEED_TYPES)]
    if unknown:
        raise TypeError(
            f"no floor for need {unknown[0]!r}: add a piece for its type to generator/floors.py"
        )
    rewired = explainer.rewired  # values of (target, *stages), then the logits
    names = (explainer.target_layer, *explainer.stage_layers)
    x = tf.constant(np.asarray(images, np.float32))
    picked = tf.constant(np.asarray(classes), tf.int32)
    values, _ = rewired(x, "plain")
    results = {Activations(name): value for name, value in zip(names, values)}
    references = explainer.references  # the black and grey photos the explainer compares with

    def copies(maker: Any) -> tuple[tf.Tensor, int]:
        """The maker's copies of every image as one flat batch (N*S, H, W, 3), and S."""
        made = maker.make(x, references, results)
        return flat(made), int(made.shape[1])

    heads = list(dict.fromkeys(n.tensor for n in needs if isinstance(n, HeadGradients)))
    chunks = explainer.memory.chunks(needs, int(picked.shape[1]), int(picked.shape[0]))
    gradient_batches = [
        (*copies(n.inputs), n.classes, n.rule) for n in needs if isinstance(n, InputGradients)
    ]
    logit_batches = [copies(n.inputs)[0] for n in needs if isinstance(n, Logits)]

    def gradients_of(rule: Rule) -> Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
        def step(batch: tf.Tensor, repeated: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(batch)
                _, scores = rewired(batch, rule)
                chosen = tf.gather(scores, repeated, batch_dims=1)
            (gradients,) = score_gradients(tape, chosen, [batch])
            return scores, gradients

        return step

    def scores_of(batch: tf.Tensor) -> tuple[tf.Tensor]:
        return (rewired(batch, "plain")[1],)

    def step() -> list[tf.Tensor]:
        done = []  # one small sum per pass, so the call returns without copying big results
        with tf.GradientTape(watch_accessed_variables=False, persistent=True) as tape:
            tape.watch(x)
            tensors, scores = rewired(x, "plain")
            selected = tf.gather(scores, picked, batch_dims=1)
        done.append(tf.reduce_sum(scores))
        if heads:  # one backward pass per class reaches every head tensor
            sources = [tensors[names.index(name)] for name in heads]
            gradients = score_gradients(tape, selected, sources)
            done.extend(tf.reduce_sum(value) for value in gradients)
        del tape
        # Each pass starts when the one before it is done, as in the explainer: their memory
        # peaks do not add up. Passes over many copies run in its memory-bounded chunks.
        for batch, samples, k, rule in gradient_batches:
            repeated = tf.repeat(picked[:, :k], samples, axis=0)
            most = chunks.gradients[k]
            inputs = (after(done, batch), repeated)
            _, gradients = in_chunks(gradients_of(rule), inputs, most, outputs=2)
            done.append(tf.reduce_sum(gradients))
        for batch in logit_batches:
            most = chunks.copies
            logits = in_chunks(scores_of, (after(done, batch),), most, outputs=1)[0]
            done.append(tf.reduce_sum(logits))
        return done

    compiled = tf.function(step, autograph=False)
    n, top = picked.shape
    passes = (
        f"forward of {_count(n, 'image')}",
        *(f"gradients of {_count(top, 'class')} w.r.t. {name!r}" for name in heads),
        *(
            ("" if rule == "plain" else f"{rule} ")
            + f"forward+backward of {_count(samples, 'copy')} per image, {_count(k, 'class')}"
            for _, samples, k, rule in gradient_batches
        ),
        *(f"forward of {_count(int(b.shape[0]) // n, 'copy')} per image" for b in logit_batches),
    )
    return Floor(lambda: [float(value) for value in compiled()], passes)


def _count(number: int, noun: str) -> str:
    plural = {"copy": "copies", "class": "classes"}.get(noun, noun + "s")
    return f"{number} {noun if number == 1 else plural}"


def forward_floor(explainer: Explainer, inputs: np.ndarray, chunk: int) -> Floor:
    """The floor of a forward pass over many inputs made in the same call (the deletion and
    insertion steps): the inputs, made before the timed call, in chunks of `chunk`."""
    batch = tf.constant(np.asarray(inputs, np.float32))

    def scores_of(images: tf.Tensor) -> tuple[tf.Tensor]:
        return (explainer.rewired(images, "plain")[1],)

    compiled = tf.function(
        lambda: tf.reduce_sum(in_chunks(scores_of, (batch,), chunk, outputs=1)[0]),
        autograph=False,
    )
    return Floor(lambda: [float(compiled())], (f"forward of {_count(len(inputs), 'copy')}",))
