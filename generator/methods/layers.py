"""Structural facts of a built model: which layers the gallery looks at.

Grad-CAM needs the last layer that still has a spatial grid; the feature-map section needs one
representative layer per resolution stage. Both are read off the model's graph so that any
architecture, including ones Keras adds later, gets a sensible default.
"""

from __future__ import annotations

from collections.abc import Iterator

import keras

# Layers that change the spatial size without being part of what the network "sees".
_GEOMETRY_ONLY = (
    keras.layers.InputLayer,
    keras.layers.ZeroPadding2D,
    keras.layers.Cropping2D,
    keras.layers.Rescaling,
    keras.layers.Normalization,
)

# A new stage starts when the spatial size falls at least this much below the stage's first size
# (Inception's unpadded 3x3 convolutions shrink 149 -> 147 without changing stage).
_STAGE_SHRINK = 1.5


def iter_layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """Every layer in graph order, descending into nested models (e.g. ConvNeXt's stem)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from iter_layers(layer)
        else:
            yield layer


def _spatial_size(layer: keras.layers.Layer) -> tuple[int, int] | None:
    """(h, w) of a top-level layer's single 4-D output, or None."""
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):  # layers with several or no outputs
        return None
    if len(shape) != 4 or shape[1] is None or shape[2] is None:
        return None
    return int(shape[1]), int(shape[2])


def _spatial_layers(model: keras.Model) -> list[tuple[str, tuple[int, int]]]:
    """Top-level layers with a spatial output larger than 1x1, in graph order."""
    found = []
    for layer in model.layers:
        if isinstance(layer, _GEOMETRY_ONLY):
            continue
        size = _spatial_size(layer)
        if size is not None and size[0] * size[1] > 1:
            found.append((layer.name, size))
    return found


def gradcam_target_layer(model: keras.Model) -> str:
    """The last layer with a spatial output (larger than 1x1) before the classifier head.

    Squeeze-and-excitation branches and MobileNetV3's 1x1 head convolutions have 1x1 outputs and
    are therefore skipped.
    """
    spatial = _spatial_layers(model)
    if not spatial:
        raise ValueError(
            f"model {model.name!r} has no layer with a fixed spatial output larger than 1x1 for "
            "Grad-CAM; build it with a fixed input_shape, e.g. (224, 224, 3)"
        )
    return spatial[-1][0]


def stage_layers(model: keras.Model) -> list[str]:
    """One representative layer per resolution stage: the last layer at that resolution.

    Stages are formed from the spatial sizes in graph order; the representative is the last layer
    (in graph order) whose size belongs to the stage, i.e. the stage's output.
    """
    stages: list[tuple[int, list[str]]] = []  # (area at stage start, layer names)
    for name, (height, width) in _spatial_layers(model):
        area = height * width
        if not stages or area * _STAGE_SHRINK**2 <= stages[-1][0]:
            stages.append((area, [name]))
        elif area <= stages[-1][0]:
            stages[-1][1].append(name)
        else:
            # A layer larger than the current stage (a side branch created late): it belongs to
            # the earlier stage of its size, whose representative stays that stage's last layer.
            continue
    return [names[-1] for _, names in stages]
