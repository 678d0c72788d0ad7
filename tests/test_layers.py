"""Stage-layer and Grad-CAM target choice, on real architectures and on a hand-made one."""

import keras
import pytest

from generator.methods.layers import gradcam_target_layer, iter_layers, stage_layers


def _spatial(model, name):
    return tuple(model.get_layer(name).output.shape[1:3])


@pytest.mark.parametrize(
    "constructor, expected_stages, expected_target",
    [
        (
            "VGG16",
            ["block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3", "block5_pool"],
            "block5_pool",
        ),
        (
            "ResNet50",
            ["conv1_relu", "conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"],
            "conv5_block3_out",
        ),
        (
            "MobileNetV2",
            ["block_1_expand_relu", "block_3_expand_relu", "block_6_expand_relu", "block_13_expand_relu", "out_relu"],
            "out_relu",
        ),
    ],
)
def test_stage_layers_of_known_architectures(constructor, expected_stages, expected_target):
    model = getattr(keras.applications, constructor)(weights=None, input_shape=(224, 224, 3))
    stages = stage_layers(model)
    assert stages == expected_stages
    sizes = [_spatial(model, name)[0] for name in stages]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)
    assert gradcam_target_layer(model) == expected_target


def test_padding_and_1x1_branches_are_not_stages():
    """Zero-padding changes the size without being a stage; a 1x1 SE-like branch is skipped."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.ZeroPadding2D(3, name="pad")(inputs)  # 38x38, geometry only
    x = keras.layers.Conv2D(4, 7, name="stem")(x)  # 32x32
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="down")(x)  # 16x16
    gate = keras.layers.GlobalAveragePooling2D(keepdims=True, name="squeeze")(x)  # 1x1
    gate = keras.layers.Conv2D(4, 1, activation="sigmoid", name="excite")(gate)
    x = keras.layers.Multiply(name="scale")([x, gate])
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="logits")(x))
    assert stage_layers(model) == ["stem", "scale"]
    assert gradcam_target_layer(model) == "scale"


def test_flexible_input_model_gives_a_clear_error():
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(2, 3)(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    with pytest.raises(ValueError, match="fixed input_shape"):
        gradcam_target_layer(model)


def test_iter_layers_descends_into_nested_models():
    inner = keras.Sequential([keras.layers.Conv2D(2, 3, name="inner_conv")], name="stem")
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="outer_conv")(inner(inputs)))
    names = [layer.name for layer in iter_layers(model)]
    assert names.index("inner_conv") < names.index("outer_conv")
    assert "stem" not in names
