"""Receptive fields of a model's layers, read off its graph: which input pixels one unit sees.

Zeiler & Fergus show a projection cropped to the receptive field of the unit it starts from,
beside the same crop of the photo. A unit at grid position (i, j) of a layer sees the input
square of side `size` centred on `start + jump * (i, j)` (the usual arithmetic of convolution
arithmetic: every convolution or pooling of kernel k and stride s grows the side by
(k - 1) * jump and multiplies the jump by s; padding shifts the start).

Where branches meet (residual additions, concatenations) the field is the union of the fields of
the inputs. Inputs without a spatial grid (squeeze-and-excitation gates, which pool the whole
image into one number per channel) are left out: they scale a unit, they do not move what it
looks at, and counting them would make every field the whole image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from generator.methods.layers import TensorGraph, functional_graph


@dataclass(frozen=True)
class ReceptiveField:
    """The input square one unit of a layer sees, per spatial axis (rows, columns).

    `size` is the side in input pixels; `jump` the input distance between neighbouring units;
    `start` the input coordinate of the centre of unit 0's field (may be negative or fractional).
    """

    size: tuple[int, int]
    jump: tuple[int, int]
    start: tuple[float, float]

    def box(self, row: int, column: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) in input pixels, bottom/right exclusive, of the field of
        the unit at (row, column); not clipped to the image, so its size is always `size`."""
        top = round(self.start[0] + self.jump[0] * row - (self.size[0] - 1) / 2)
        left = round(self.start[1] + self.jump[1] * column - (self.size[1] - 1) / 2)
        return top, left, top + self.size[0], left + self.size[1]


_PIXEL = ReceptiveField((1, 1), (1, 1), (0.0, 0.0))


def _pair(value: int | Sequence[Any]) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    first, second = value
    return int(first), int(second)


def _window(layer: keras.layers.Layer) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(kernel, stride, dilation) of a convolution or pooling layer."""
    kernel = getattr(layer, "kernel_size", None) or layer.pool_size
    dilation = getattr(layer, "dilation_rate", 1)
    return _pair(kernel), _pair(layer.strides or kernel), _pair(dilation)


def _spatial(tensor: object) -> tuple[int, int] | None:
    shape = getattr(tensor, "shape", None)
    if shape is None or len(shape) != 4 or shape[1] is None or shape[2] is None:
        return None
    return int(shape[1]), int(shape[2])


def _through_window(
    layer: keras.layers.Layer,
    field: ReceptiveField,
    size_in: tuple[int, int],
    size_out: tuple[int, int],
) -> ReceptiveField:
    kernel, stride, dilation = _window(layer)
    sizes, jumps, starts = [], [], []
    for axis in (0, 1):
        extent = dilation[axis] * (kernel[axis] - 1) + 1
        if getattr(layer, "padding", "valid") == "same":  # TensorFlow puts the odd pixel after
            total = max((size_out[axis] - 1) * stride[axis] + extent - size_in[axis], 0)
            before = total // 2
        else:
            before = 0
        jump = field.jump[axis]
        sizes.append(field.size[axis] + (extent - 1) * jump)
        jumps.append(jump * stride[axis])
        starts.append(field.start[axis] + ((extent - 1) / 2 - before) * jump)
    return ReceptiveField((sizes[0], sizes[1]), (jumps[0], jumps[1]), (starts[0], starts[1]))


def _shifted(layer: keras.layers.Layer, field: ReceptiveField) -> ReceptiveField:
    """ZeroPadding2D moves unit 0 before the image; Cropping2D moves it inside."""
    if isinstance(layer, keras.layers.ZeroPadding2D):
        (top, _), (left, _) = layer.padding
        sign = -1
    else:
        (top, _), (left, _) = layer.cropping
        sign = 1
    return ReceptiveField(
        field.size,
        field.jump,
        (
            field.start[0] + sign * top * field.jump[0],
            field.start[1] + sign * left * field.jump[1],
        ),
    )


def _union(fields: list[ReceptiveField]) -> ReceptiveField:
    """The smallest field covering all of `fields` (they share a grid where branches meet)."""
    sizes, starts = [], []
    for axis in (0, 1):
        low = min(f.start[axis] - (f.size[axis] - 1) / 2 for f in fields)
        high = max(f.start[axis] + (f.size[axis] - 1) / 2 for f in fields)
        sizes.append(round(high - low) + 1)
        starts.append((low + high) / 2)
    jump = max(f.jump for f in fields)
    return ReceptiveField((sizes[0], sizes[1]), jump, (starts[0], starts[1]))


_WINDOWED = (
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
)


def _propagate(model: keras.Model, known: dict[int, ReceptiveField | None]) -> None:
    """Fill `known` (id of a tensor -> its field, None for tensors without a grid) for every
    tensor of `model`'s graph whose inputs are known, descending into nested models (a
    transfer model's base, ConvNeXt's stem), so fields of their inner tensors are known too."""
    for operation in functional_graph(model).operations:
        for node in operation._inbound_nodes:
            inputs = list(node.input_tensors)
            if not inputs or not all(id(t) in known for t in inputs):
                continue  # a node of another graph that reuses this layer
            outputs = list(node.output_tensors)
            if isinstance(operation, keras.Model):
                for inner, outer in zip(operation.inputs, inputs):
                    known[id(inner)] = known[id(outer)]
                _propagate(operation, known)
                for inner, outer in zip(operation.outputs, outputs):
                    known[id(outer)] = known.get(id(inner))
                continue
            fields = [f for t in inputs if _spatial(t) and (f := known[id(t)]) is not None]
            field = None
            if fields and (size_out := _spatial(outputs[0])):
                field = fields[0] if len(fields) == 1 else _union(fields)
                if isinstance(operation, _WINDOWED):
                    size_in = _spatial(inputs[0])
                    assert size_in is not None, "its one input has a field, so it has a grid"
                    field = _through_window(operation, fields[0], size_in, size_out)
                elif isinstance(operation, (keras.layers.ZeroPadding2D, keras.layers.Cropping2D)):
                    field = _shifted(operation, fields[0])
            for tensor in outputs:
                known[id(tensor)] = field


def receptive_fields(
    model: keras.Model, layers: list[str], graph: TensorGraph | None = None
) -> dict[str, ReceptiveField]:
    """The receptive field of each named tensor (a `TensorGraph` name: a layer's output, or an
    operation's, such as ConvNeXt's residual sum `add_17`) with a 2-D grid; `graph` is the
    model's, if it was already read."""
    known: dict[int, ReceptiveField | None] = {id(t): _PIXEL for t in model.inputs}
    _propagate(model, known)
    graph = graph or TensorGraph(model)
    fields = {}
    for name in layers:
        field = known.get(id(graph.tensor(name)))
        if field is None:
            raise ValueError(
                f"layer {name!r} of {model.name!r} has no spatial grid over the input, so no "
                "receptive field: choose a layer with a 4-D output"
            )
        fields[name] = field
    return fields


def strongest_unit_boxes(
    activation: np.ndarray,
    channels: list[int],
    field: ReceptiveField,
    image_size: tuple[int, int],
) -> list[tuple[int, int, int, int]]:
    """For each channel of an (h, w, c) activation, the receptive-field box of its strongest
    unit (the unit whose value the projection traces back; first maximum in row order), clipped
    to the input image of `image_size` (rows, columns)."""
    boxes = []
    for channel in channels:
        plane = np.asarray(activation[:, :, channel])
        row, column = np.unravel_index(int(np.argmax(plane)), plane.shape)
        top, left, bottom, right = field.box(int(row), int(column))
        boxes.append(
            (max(top, 0), max(left, 0), min(bottom, image_size[0]), min(right, image_size[1]))
        )
    return boxes


def projection_box(
    projections: list[np.ndarray],
    field: tuple[int, int, int, int],
    mass: float = 0.99,
    smallest: int = 8,
) -> tuple[int, int, int, int]:
    """The part of a unit's receptive field where its projections lie, square where it can be.

    Deep layers see more than the whole photo, but what their strongest unit responds to sits
    in a much smaller part of it (the "effective" receptive field). This box holds the central
    `mass` of the projections' absolute value along each axis, squared up around its centre, at
    least `smallest` pixels, and never reaches outside `field` (already clipped to the image).
    `projections` are (H, W, 3) input gradients of the same unit; all zero gives `field`.
    """
    top, left, bottom, right = field
    magnitude = sum(np.abs(np.asarray(p, dtype=np.float64)).sum(-1) for p in projections)
    inside = magnitude[top:bottom, left:right]
    total = float(inside.sum())
    if not total > 0:
        return field
    tail = (1.0 - mass) / 2

    def span(marginal: np.ndarray) -> tuple[int, int]:
        cumulative = np.cumsum(marginal) / total
        first = int(np.searchsorted(cumulative, tail, side="right"))
        last = int(np.searchsorted(cumulative, 1.0 - tail, side="left"))
        return first, min(last + 1, marginal.size)

    rows, columns = span(inside.sum(1)), span(inside.sum(0))
    side = max(rows[1] - rows[0], columns[1] - columns[0], smallest)
    height, width = min(side, bottom - top), min(side, right - left)
    centre_row = top + (rows[0] + rows[1]) / 2
    centre_column = left + (columns[0] + columns[1]) / 2
    new_top = int(min(max(round(centre_row - height / 2), top), bottom - height))
    new_left = int(min(max(round(centre_column - width / 2), left), right - width))
    return new_top, new_left, new_top + height, new_left + width


def projection_crops(
    activation: np.ndarray,
    channels: list[int],
    field: ReceptiveField,
    guided: np.ndarray,
    deconv: np.ndarray,
) -> list[tuple[int, int, int, int]]:
    """Per channel, the crop of the photo its Zeiler & Fergus row shows: the part of its
    strongest unit's receptive field that holds its projections. `activation` is the layer's
    (h, w, c) output, `guided` and `deconv` the channels' (P, H, W, 3) projections."""
    fields = strongest_unit_boxes(activation, channels, field, guided.shape[1:3])
    return [projection_box([guided[k], deconv[k]], box) for k, box in enumerate(fields)]
