"""Receptive fields read off a model's graph, checked against hand arithmetic and against the
support of real input gradients."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from generator.methods.layers import stage_outputs
from generator.methods.receptive_field import (
    ReceptiveField,
    projection_box,
    projection_crops,
    receptive_fields,
)


def _linear_net() -> keras.Model:
    """Convolutions and pooling only, with positive weights: every pixel of a unit's receptive
    field changes it, so the gradient's support is exactly the field."""
    inputs = keras.Input((32, 32, 1))
    x = keras.layers.Conv2D(1, 3, padding="valid", name="c1")(inputs)  # size 3, jump 1
    x = keras.layers.ZeroPadding2D(((1, 1), (1, 1)), name="pad")(x)
    x = keras.layers.Conv2D(1, 3, strides=2, padding="valid", name="c2")(x)  # 5, jump 2
    a = keras.layers.Conv2D(1, 3, padding="same", name="a")(x)  # 9
    b = keras.layers.Conv2D(1, 1, padding="same", name="b")(x)  # 5
    x = keras.layers.Add(name="add")([a, b])  # union: 9
    x = keras.layers.AveragePooling2D(2, name="pool")(x)  # 11, jump 4
    x = keras.layers.DepthwiseConv2D(3, dilation_rate=2, padding="same", name="dw")(x)  # 27
    model = keras.Model(inputs, x)
    for layer in model.layers:
        for weight in layer.weights:
            weight.assign(np.full(weight.shape, 0.1 if "kernel" in weight.path else 0.0))
    return model


def _support(model: keras.Model, layer: str, row: int, column: int, size: int) -> np.ndarray:
    """Input pixels on which one unit's value depends (random input, true gradient)."""
    probe = keras.Model(model.inputs, model.get_layer(layer).output)
    channels = model.inputs[0].shape[-1]
    pixels = np.random.default_rng(0).uniform(size=(1, size, size, channels))
    image = tf.constant(pixels, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(image)
        unit = probe(image)[0, row, column]
        value = tf.reduce_sum(unit)
    gradient = np.abs(tape.gradient(value, image).numpy()[0]).sum(-1)
    return gradient > 0


def _box_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, columns = np.nonzero(mask)
    return rows.min(), columns.min(), rows.max() + 1, columns.max() + 1


def test_hand_computed_fields_of_convolutions_padding_branches_and_pooling():
    fields = receptive_fields(_linear_net(), ["c1", "c2", "add", "pool", "dw"])
    assert fields["c1"] == ReceptiveField((3, 3), (1, 1), (1.0, 1.0))
    assert fields["c2"].size == (5, 5) and fields["c2"].jump == (2, 2)
    assert fields["add"].size == (9, 9)
    assert fields["pool"].size == (11, 11) and fields["pool"].jump == (4, 4)
    assert fields["dw"].size == (27, 27) and fields["dw"].jump == (4, 4)


@pytest.mark.parametrize("layer", ["c1", "c2", "add", "pool", "dw"])
def test_field_box_is_exactly_the_gradient_support_of_a_linear_net(layer):
    model = _linear_net()
    field = receptive_fields(model, [layer])[layer]
    grid = model.get_layer(layer).output.shape[1]
    row = column = grid // 2
    top, left, bottom, right = field.box(row, column)
    assert _box_of(_support(model, layer, row, column, 32)) == (top, left, bottom, right)
    # Near the border the box reaches outside the image; clipped, it holds the support (a
    # dilated kernel's taps may all fall on padding at the very edge, so it can be smaller).
    top, left, bottom, right = field.box(1, grid - 2)
    s_top, s_left, s_bottom, s_right = _box_of(_support(model, layer, 1, grid - 2, 32))
    assert max(top, 0) <= s_top and max(left, 0) <= s_left
    assert s_bottom <= min(bottom, 32) and s_right <= min(right, 32)


def test_fields_of_mobilenetv2_stages_hold_their_units_gradient_support():
    model = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    stages = [stage.name for stage in stage_outputs(model)]
    fields = receptive_fields(model, stages)
    sizes = [fields[name].size[0] for name in stages]
    assert sizes == sorted(sizes) and sizes[0] < 20 < sizes[-1]
    assert [fields[name].jump[0] for name in stages] == [2, 4, 8, 16, 32]
    for name in stages[:3]:
        grid = model.get_layer(name).output.shape[1]
        row = column = grid // 2
        top, left, bottom, right = fields[name].box(row, column)
        support = _support(model, name, row, column, 224)
        s_top, s_left, s_bottom, s_right = _box_of(support)
        assert top <= s_top and left <= s_left and s_bottom <= bottom and s_right <= right, name


def test_field_of_an_operation_output_named_as_the_gallery_names_it():
    """ConvNeXt's block outputs are sums made by an operation, not a layer ("add_17")."""
    inputs = keras.Input((16, 16, 3))
    stem = keras.layers.Conv2D(2, 3, padding="same", name="stem")(inputs)
    branch = keras.layers.Conv2D(2, 5, padding="same", name="branch")(stem)
    block = stem + branch
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(block))
    fields = receptive_fields(model, ["stem", "branch", "add"])
    assert fields["add"] == fields["branch"] and fields["add"].size == (7, 7)


def test_projection_box_zooms_on_where_the_projection_lies_inside_the_field():
    projection = np.zeros((224, 224, 3), np.float32)
    projection[100:120, 60:70] = 1.0  # a 20 x 10 blob inside a 200 px field
    box = projection_box([projection, -projection], (10, 0, 210, 200))
    top, left, bottom, right = box
    assert bottom - top == right - left  # squared up ...
    assert 19 <= bottom - top <= 21  # ... around the blob's longer side
    assert top <= 100 and bottom >= 120 and left <= 60 and right >= 70
    # Never outside the field, and the whole field when there is nothing to see.
    assert projection_box([projection], (105, 62, 112, 66)) == (105, 62, 112, 66)
    assert projection_box([np.zeros_like(projection)], (0, 0, 50, 60)) == (0, 0, 50, 60)


def test_projection_crops_start_from_each_channels_strongest_unit():
    field = ReceptiveField((7, 7), (2, 2), (1.0, 1.0))
    activation = np.zeros((112, 112, 3), np.float32)
    activation[10, 20, 0] = 5.0  # channel 0 peaks at (10, 20): field centred on (21, 41)
    activation[0, 0, 2] = 5.0  # channel 2 peaks in the corner: its field is clipped
    gradients = np.ones((2, 224, 224, 3), np.float32)  # nothing to zoom on
    crops = projection_crops(activation, [0, 2], field, gradients, gradients)
    assert crops == [(18, 38, 25, 45), (0, 0, 5, 5)]
