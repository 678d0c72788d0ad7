"""Grad-CAM target and stage outputs, chosen on the graph of tensors: real architectures, the
papers' stage tables and hand-made graphs (including outputs of operations that are not layers).
"""

import keras
import numpy as np
import pytest
from explainkit import grad_cam
from graph_checks import check_gradcam_target

from generator.methods.explain import Explainer
from generator.methods.layers import (
    TensorGraph,
    gradcam_target,
    iter_layers,
    stage_outputs,
)


def _names(choices):
    return [choice.name for choice in choices]


def test_vgg16_follows_the_grad_cam_paper_and_keeps_its_stages():
    """Grad-CAM reads the last convolution's rectified maps (14x14), not the pooling after it."""
    model = keras.applications.VGG16(weights=None, input_shape=(224, 224, 3))
    target = gradcam_target(model)
    assert (target.name, target.shape) == ("block5_conv3", (14, 14, 512))
    assert "Grad-CAM paper" in target.reason and "block5_pool" in target.reason
    check_gradcam_target(model, TensorGraph(model).tensor(target.name))
    stages = stage_outputs(model)
    assert _names(stages) == [
        "block1_conv2",
        "block2_conv2",
        "block3_conv3",
        "block4_conv3",
        "block5_conv3",
        "block5_pool",
    ]
    assert [s.shape[0] for s in stages] == [224, 112, 56, 28, 14, 7]


def test_resnet50_stage_outputs_are_the_papers_stage_table():
    """He et al. 2016, Table 1: conv1 (112), conv2_x (56) ... conv5_x (7) with 3, 4, 6, 3 blocks."""
    model = keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3))
    graph = TensorGraph(model)
    expected = [
        ("conv1_relu", (112, 112, 64)),
        ("conv2_block3_out", (56, 56, 256)),
        ("conv3_block4_out", (28, 28, 512)),
        ("conv4_block6_out", (14, 14, 1024)),
        ("conv5_block3_out", (7, 7, 2048)),
    ]
    stages = stage_outputs(model)
    assert [(s.name, s.shape) for s in stages] == expected
    for stage in stages:
        assert graph.tensor(stage.name) is model.get_layer(stage.name).output
    assert gradcam_target(model).name == "conv5_block3_out"
    assert "residual" in gradcam_target(model).reason


def test_convnext_tiny_stage_outputs_are_the_block_sums_of_the_papers_stage_table():
    """Liu et al. 2022: stages of 3, 3, 9, 3 blocks at 56/28/14/7 for a 224 input, each ending
    in a residual sum that is a Keras operation, not a layer. The expected tensors are found
    independently: what each downsampling block, and finally the head's pooling, reads."""
    model = keras.applications.ConvNeXtTiny(
        weights=None, input_shape=(224, 224, 3), classifier_activation=None
    )
    graph = TensorGraph(model)
    readers = [f"convnext_tiny_downsampling_block_{i}" for i in range(3)]
    readers.append("convnext_tiny_head_gap")
    expected = [model.get_layer(name).input for name in readers]
    stages = stage_outputs(model)
    assert [graph.tensor(s.name) for s in stages] == expected
    assert [s.shape for s in stages] == [(56, 56, 96), (28, 28, 192), (14, 14, 384), (7, 7, 768)]
    layer_outputs = {id(layer.output) for layer in model.layers}
    for index, (stage, depth, tensor) in enumerate(zip(stages, (3, 3, 9, 3), expected)):
        assert id(tensor) not in layer_outputs  # a sum, missing from model.layers
        branch = f"convnext_tiny_stage_{index}_block_{depth - 1}_identity"
        assert model.get_layer(branch).output in graph.inputs_of(tensor)
        assert stage.reason.startswith("output of a residual block, after its sum")
    target = gradcam_target(model)
    assert target.name == stages[-1].name and target.shape == (7, 7, 768)
    assert "residual" in target.reason and "GlobalAveragePooling2D" in target.reason
    check_gradcam_target(model, TensorGraph(model).tensor(target.name))


def _residual_model(scale: float) -> keras.Model:
    """stem (ReLU conv) -> one block whose branch ends in a tiny LayerScale-like factor, summed
    with `+` (a Keras operation, not a layer) -> global pooling -> dense logits.

    The grid stays 8x8 from input to sum, so Grad-CAM's upsampling is the identity.
    """
    inputs = keras.Input((8, 8, 3))
    stem = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="stem")(inputs)
    branch = keras.layers.Conv2D(6, 3, padding="same", activation="gelu", name="branch_conv")(stem)
    branch = keras.layers.Rescaling(scale, name="layer_scale")(branch)
    branch = keras.layers.Activation("linear", name="block_identity")(branch)
    block = stem + branch
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(block)
    return keras.Model(inputs, keras.layers.Dense(4, name="logits")(pooled))


def test_grad_cam_of_a_near_zero_residual_branch_is_read_at_the_block_output():
    """As at ConvNeXt's initialisation (LayerScale 1e-6): the chosen target is the sum, and its
    Grad-CAM equals the one computed by hand at the block output, not at the branch's end."""
    keras.utils.set_random_seed(3)
    model = _residual_model(1e-6)
    graph = TensorGraph(model)
    target = gradcam_target(model)
    block = model.get_layer("gap").input
    assert graph.tensor(target.name) is block
    assert target.shape == (8, 8, 6)
    check_gradcam_target(model, TensorGraph(model).tensor(target.name))

    images = np.random.default_rng(4).uniform(-1, 1, (2, 8, 8, 3)).astype("float32")
    classes = np.array([[0, 3], [2, 1]])
    maps, evidence = grad_cam(Explainer(model), images, classes)

    # By hand: d logit_c / d A_ijk = W[k, c] / 64 through the average pooling, so
    # alpha_k^c = W[k, c] / 64 and the map is relu(sum_k alpha_k^c A_k), scaled to peak 1.
    activations = keras.Model(model.inputs[0], block)(images).numpy().astype(float)
    kernel = model.get_layer("logits").get_weights()[0].astype(float)
    for n in range(2):
        for k, c in enumerate(classes[n]):
            cam = np.maximum(activations[n] @ (kernel[:, c] / 64.0), 0)
            assert evidence[n, k] == (cam.max() > 0)
            expected = cam / cam.max() if cam.max() > 0 else cam
            np.testing.assert_allclose(maps[n, k], expected, rtol=1e-4, atol=1e-5)

    # The old choice, the end of the branch, gives another map: the test can tell them apart.
    branch_maps, _ = grad_cam(Explainer(model, target_layer="block_identity"), images, classes)
    assert np.abs(branch_maps - maps).max() > 0.1


def test_operation_names_do_not_depend_on_what_the_process_built_before():
    """Keras numbers operations per process (add, add_1, ...); the gallery's names do not."""
    first, second = _residual_model(1.0), _residual_model(1.0)
    names = [gradcam_target(model).name for model in (first, second)]
    keras_names = [
        model.get_layer("gap").input._keras_history.operation.name for model in (first, second)
    ]
    assert keras_names[0] != keras_names[1]
    assert names == ["add", "add"]


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
    assert _names(stage_outputs(model)) == ["stem", "scale"]
    assert gradcam_target(model).name == "scale"


def test_a_branch_that_bypasses_a_tensor_keeps_it_from_being_chosen():
    """Two parallel paths to the head (Inception-style): neither branch dominates; their
    concatenation does."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="stem")(inputs)
    left = keras.layers.Conv2D(4, 3, padding="same", name="left")(x)
    right = keras.layers.Conv2D(4, 1, name="right")(x)
    merged = keras.layers.Concatenate(name="merged")([left, right])
    tail = keras.layers.Conv2D(4, 1, name="tail")(left)  # a side output of one branch
    head = keras.layers.GlobalAveragePooling2D()(
        keras.layers.Concatenate(name="both")([merged, tail])
    )
    model = keras.Model(inputs, keras.layers.Dense(2)(head))
    dominating = {TensorGraph(model).name(t) for t in TensorGraph(model).dominators()}
    assert {"stem", "both"} <= dominating
    assert not {"left", "right", "merged", "tail"} & dominating
    assert gradcam_target(model).name == "both"


def test_flexible_input_model_gives_a_clear_error():
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(2, 3)(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    with pytest.raises(ValueError, match="fixed input_shape"):
        gradcam_target(model)


def test_unknown_tensor_name_gives_a_clear_error():
    with pytest.raises(ValueError, match="no layer or operation output named 'nope'"):
        Explainer(_residual_model(1.0), target_layer="nope")


def test_iter_layers_descends_into_nested_models():
    inner = keras.Sequential([keras.layers.Conv2D(2, 3, name="inner_conv")], name="stem")
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="outer_conv")(inner(inputs)))
    names = [layer.name for layer in iter_layers(model)]
    assert names.index("inner_conv") < names.index("outer_conv")
    assert "stem" not in names
