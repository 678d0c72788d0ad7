"""Checks of a chosen Grad-CAM target, written against Keras' own graph links (an operation's
`_outbound_nodes`), independently of `generator.methods.layers`, for any architecture."""

from __future__ import annotations

import keras

# What may come after Grad-CAM's target: pooling, flattening, normalisation ...
_POOLING = (
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
)
_FLATTENING = (keras.layers.Flatten, keras.layers.Reshape)
_NORMALISATION = (keras.layers.LayerNormalization, keras.layers.BatchNormalization)


def _consumers(tensor):
    """The nodes that read `tensor`, found from its producer's outbound links."""
    operation = tensor._keras_history.operation
    return [
        node for node in operation._outbound_nodes if any(t is tensor for t in node.input_tensors)
    ]


def _reaches_output(model, start, removed):
    """True if the logits can be reached from `start` without passing through `removed`."""
    output = model.outputs[0]
    stack, seen = [start], {id(start)}
    while stack:
        tensor = stack.pop()
        if tensor is output:
            return True
        for node in _consumers(tensor):
            for following in node.output_tensors:
                if following is not removed and id(following) not in seen:
                    seen.add(id(following))
                    stack.append(following)
    return False


def _spatial(tensor) -> bool:
    shape = tensor.shape
    return len(shape) == 4 and shape[1] * shape[2] > 1


def check_dominates(model: keras.Model, tensor) -> None:
    """Assert that removing `tensor` disconnects the logits from the input."""
    name = tensor._keras_history.operation.name
    assert _reaches_output(model, model.inputs[0], None), "the graph walk itself is broken"
    assert not _reaches_output(model, model.inputs[0], tensor), (
        f"{name} does not dominate the classifier: the logits stay connected without it"
    )


def check_reaches_logits(model: keras.Model, tensor) -> None:
    """Assert that the logits are computed from `tensor`."""
    name = tensor._keras_history.operation.name
    assert _reaches_output(model, tensor, None), f"{name} does not lead to the logits"


def check_gradcam_target(model: keras.Model, target) -> None:
    """Assert that the target tensor dominates the classifier and that only pooling, flattening,
    normalisation and the head (operations on tensors without a spatial grid) follow it."""
    name = target._keras_history.operation.name
    assert _spatial(target), f"{name} has no spatial grid: {target.shape}"
    check_dominates(model, target)
    stack, seen = [target], {id(target)}
    while stack:
        for node in _consumers(stack.pop()):
            operation = node.operation
            spatial = any(_spatial(t) for t in node.output_tensors)
            allowed = isinstance(operation, _POOLING + _FLATTENING + _NORMALISATION)
            assert allowed or not spatial, (
                f"{name} is followed by {operation.name} ({type(operation).__name__}), which "
                f"keeps a spatial grid {node.output_tensors[0].shape}"
            )
            for following in node.output_tensors:
                if id(following) not in seen:
                    seen.add(id(following))
                    stack.append(following)
