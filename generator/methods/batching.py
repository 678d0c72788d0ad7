"""How the explainer (and the bench's floors) run passes inside one compiled call: the gradients
of several class scores from one forward pass, passes over many inputs in memory-bounded chunks
(`memory.MemoryPlan` says how many inputs a chunk holds), one pass after another, and the
reference photos methods compare against.

Gradients of K scores are K backward passes in a graph loop over one-hot seeds, not one
vectorised pass (`batch_jacobian`, `vectorized_map`): the loop traces one backward graph instead
of pfor's rewrite of it, which took 40-60 % longer to trace on every architecture, ran as fast
or faster on CPU (ResNet50, 5 classes, guided: 704 ms against 816 ms), and takes grouped
convolutions that pfor cannot vectorise. The loop runs one backward pass at a time: with
TensorFlow's default of ten in flight, each class's backward temporaries were alive at once
(EfficientNetB0, 4 inputs, 5 classes: 1.63 GiB peak against 1.25), so a pass's memory grew with
the number of classes and could not be planned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from generator.methods.base import References


def score_gradients(
    tape: tf.GradientTape, scores: tf.Tensor, sources: Sequence[tf.Tensor]
) -> list[tf.Tensor]:
    """(B, K, ...) gradients of each of the K scores (B, K) w.r.t. every source (B, ...): one
    backward pass per score, in a graph loop (one pass, no loop, when K is 1). Rows of the
    batch are independent in inference, so row b's gradient is that of its own scores."""
    count = scores.shape[1]
    if count == 1:
        return [g[:, None] for g in tape.gradient(scores, list(sources))]

    def backward(one_hot: tf.Tensor) -> list[tf.Tensor]:
        seed = tf.broadcast_to(one_hot, tf.shape(scores))
        return tape.gradient(scores, list(sources), output_gradients=seed)

    one_hots = tf.eye(count or tf.shape(scores)[1], dtype=scores.dtype)
    per_score = tf.map_fn(
        backward,
        one_hots,
        fn_output_signature=[tf.TensorSpec(None, scores.dtype)] * len(sources),
        parallel_iterations=1,
    )  # each (K, B, ...)
    return [tf.transpose(g, [1, 0, *range(2, g.shape.rank)]) for g in per_score]


def in_chunks(
    step: Callable[..., tuple[tf.Tensor, ...]],
    tensors: tuple[tf.Tensor, ...],
    most: int,
    outputs: int,
) -> tuple[tf.Tensor, ...]:
    """`step` over the leading axis of `tensors` in chunks of at most `most` rows (at least one),
    run one after another in a graph loop so that only one chunk's activations are alive; its
    `outputs` outputs are concatenated back, (count, ...).

    The count is split into as few chunks as `most` allows, of equal size; the last is padded
    with copies of the last row (fewer rows than there are chunks), whose results are dropped.
    A count unknown when tracing runs as one batch.
    """
    count = tensors[0].shape[0]
    most = max(1, int(most))
    if not count or count <= most:
        return step(*tensors)
    chunks = -(-count // most)
    size = -(-count // chunks)
    padding = chunks * size - count
    parts = tuple(
        tf.reshape(
            tf.concat([t, tf.repeat(t[-1:], padding, axis=0)], 0) if padding else t,
            [chunks, size, *t.shape[1:]],
        )
        for t in tensors
    )
    results = tf.map_fn(
        lambda chunk: step(*chunk),
        parts,
        fn_output_signature=(tf.float32,) * outputs,
        parallel_iterations=1,
    )
    return tuple(tf.reshape(r, [chunks * size, *r.shape[2:]])[:count] for r in results)


def after(done: Sequence[tf.Tensor], tensor: tf.Tensor) -> tf.Tensor:
    """`tensor`, available only once every tensor of `done` is computed: a pass fed from it
    starts after the passes that made `done`, so their memory peaks do not add up (the
    executor otherwise runs independent passes side by side)."""
    if not done:
        return tensor
    with tf.control_dependencies(list(done)):
        return tf.identity(tensor)


def flat(samples: tf.Tensor) -> tf.Tensor:
    """(N*S, H, W, 3) from (N, S, H, W, 3), keeping the static size where it is known."""
    n, s, *rest = samples.shape
    if n is None or s is None:
        return tf.reshape(samples, tf.concat([[-1], tf.shape(samples)[2:]], axis=0))
    return tf.reshape(samples, [n * s, *rest])


def references(
    model: keras.Model, preprocess: Callable[[np.ndarray], np.ndarray] | None
) -> References:
    """The black and mid-grey photos (uint8 pixels 0 and 128) in model space: through
    `preprocess`, or the pixel values themselves for a model without one."""
    size = tuple(int(d) for d in model.inputs[0].shape[1:3])

    def photo(value: int) -> tf.Tensor:
        photos = np.full((1, *size, 3), value, np.uint8)
        inputs = preprocess(photos) if preprocess else photos
        return tf.constant(np.asarray(inputs, np.float32))

    return References(black=photo(0), grey=photo(128))
