"""Grad-CAM, Guided Backprop, DeConvNet, Guided Grad-CAM and Zeiler & Fergus layer projections.

Every method is a gradient of the model's own graph: Grad-CAM under the true backward pass,
the others under the rules of `backward_rules`. An `Explainer` compiles its functions once per
model; each compiled call runs ONE forward pass and gets the gradients of all K classes (or all
P channels) from one vectorised backward pass (`GradientTape.batch_jacobian`), because a
gallery explains many images and classes per model and per-class eager passes would dominate.
Class scores are pre-softmax logits: a saturated softmax has near-zero gradients, logits do not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from generator.methods.backward_rules import (
    NonlinearityReport,
    RewiredModel,
    Rule,
    is_depthwise_grouped,
)
from generator.methods.layers import TensorGraph, gradcam_target, iter_layers

# Guided Backprop and DeConvNet share one compiled call: the batch is stacked once per rule.
_BOTH_RULES: tuple[Rule, ...] = ("guided", "deconvnet")


@dataclass(frozen=True)
class Explanations:
    """All explanations of N images for K classes each (H, W: the input size)."""

    logits: np.ndarray  # (N, C) pre-softmax class scores
    probabilities: np.ndarray  # (N, C) softmax of logits
    classes: np.ndarray  # (N, K) explained classes, by logit order when chosen as top-K
    gradcam: np.ndarray  # (N, K, H, W) in [0, 1]
    gradcam_has_evidence: np.ndarray  # (N, K) False where the map had no positive evidence
    guided_backprop: np.ndarray  # (N, K, H, W, 3)
    deconvnet: np.ndarray  # (N, K, H, W, 3)
    guided_gradcam: np.ndarray  # (N, K, H, W, 3): guided backprop times the Grad-CAM map
    stage_activations: dict[str, np.ndarray]  # tensor name -> (N, h, w, c)


class Explainer:
    """The explanation methods of one model, compiled once and reused for every image.

    `target_layer` names the tensor Grad-CAM reads (default: `layers.gradcam_target`);
    `stage_layers` name the tensors whose values `explain` returns and whose channels
    `project_layers` projects back to the input. Names are those of `layers.TensorGraph`: a
    layer's name for its output, or e.g. "add_17" for an operation that is not a layer. The
    model is only read, never changed.
    """

    def __init__(
        self,
        model: keras.Model,
        target_layer: str | None = None,
        stage_layers: Sequence[str] = (),
    ):
        self.model = model
        self.target_layer = target_layer or gradcam_target(model).name
        self.stage_layers = tuple(stage_layers)
        graph = TensorGraph(model)
        tensors = [graph.tensor(name) for name in (self.target_layer, *self.stage_layers)]
        self._widths = {
            name: int(tensor.shape[-1]) for name, tensor in zip(self.stage_layers, tensors[1:])
        }
        self._rewired = RewiredModel(model, tensors)
        # TensorFlow cannot vectorise the input gradient of a grouped convolution on CPU. The
        # rewired graph runs depthwise ones (ConvNeXt's 7x7) as depthwise convolutions; a model
        # with any other grouped convolution gets its K backward passes one by one.
        self._vectorised = not _has_other_grouped_convolution(model)
        self.report: NonlinearityReport = self._rewired.report
        self._plain = tf.function(self._plain_step, reduce_retracing=True, autograph=False)
        # Rules are a Python argument: one trace per tuple of rules, reused for every later call.
        self._input_gradients = tf.function(
            self._input_gradient_step, reduce_retracing=True, autograph=False
        )
        self._projections = tf.function(
            self._projection_step, reduce_retracing=True, autograph=False
        )

    # ------------------------------------------------------------------ public methods

    def explain(
        self, images: np.ndarray, top: int = 5, classes: np.ndarray | None = None
    ) -> Explanations:
        """Every method for the `top` classes by logit of each image, or for `classes` (N, K)."""
        x = self._images(images)
        chosen = None if classes is None else self._classes(classes, len(images))
        if chosen is None and not 1 <= top <= self._class_count():
            raise ValueError(f"top must be in 1..{self._class_count()}, got {top}")
        logits, probabilities, picked, cam, evidence, stages = self._plain(
            x, chosen, top if chosen is None else 0
        )
        guided, deconv = self._input_gradients(x, picked, _BOTH_RULES).numpy()
        gradcam = cam.numpy()
        return Explanations(
            logits=logits.numpy(),
            probabilities=probabilities.numpy(),
            classes=picked.numpy(),
            gradcam=gradcam,
            gradcam_has_evidence=evidence.numpy(),
            guided_backprop=guided,
            deconvnet=deconv,
            guided_gradcam=guided * gradcam[..., None],
            stage_activations={
                name: value.numpy() for name, value in zip(self.stage_layers, stages)
            },
        )

    def grad_cam(self, images: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(maps (N, K, H, W) in [0, 1], has_evidence (N, K)) for `classes` (N, K)."""
        x = self._images(images)
        result = self._plain(x, self._classes(classes, len(images)), 0)
        return result[3].numpy(), result[4].numpy()

    def input_gradients(self, images: np.ndarray, classes: np.ndarray, rule: Rule) -> np.ndarray:
        """(N, K, H, W, 3) input gradient of each class logit under "guided" or "deconvnet"."""
        if rule not in ("guided", "deconvnet"):
            raise ValueError(f"rule must be 'guided' or 'deconvnet', got {rule!r}")
        x = self._images(images)
        return self._input_gradients(x, self._classes(classes, len(images)), (rule,)).numpy()[0]

    def project_layers(
        self, images: np.ndarray, channels: dict[str, Sequence[int]]
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Zeiler & Fergus projections: layer -> (guided, deconvnet), each (N, P, H, W, 3).

        For every requested channel, the gradient w.r.t. the input of that channel's strongest
        activation (its spatial maximum; Zeiler & Fergus keep only the strongest one).
        """
        self._channel_pairs(channels)  # validates layers and channel ranges
        requested = [layer for layer in self.stage_layers if channels.get(layer)]
        if not requested:
            return {}
        positions = tuple(self.stage_layers.index(layer) for layer in requested)
        indices = tuple(
            tf.constant([int(c) for c in channels[layer]], tf.int32) for layer in requested
        )
        per_layer = self._projections(self._images(images), positions, indices, _BOTH_RULES)
        projections = {}
        for layer, gradients in zip(requested, per_layer):
            guided, deconv = gradients.numpy()
            projections[layer] = (guided, deconv)
        return projections

    # ------------------------------------------------------------------ compiled steps

    def _plain_step(self, images: tf.Tensor, classes: tf.Tensor | None, top: int):
        """One forward pass; Grad-CAM of K classes from one vectorised backward through the head."""
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(images)
            (target, *stages), logits = self._rewired(images, "plain")
            if classes is None:
                classes = tf.math.top_k(logits, k=top).indices
            selected = tf.gather(logits, classes, batch_dims=1)  # (N, K)
        gradients = tape.batch_jacobian(selected, target)  # (N, K, h, w, c)
        alpha = tf.reduce_mean(gradients, axis=(2, 3))  # (N, K, c)
        cam = tf.nn.relu(tf.einsum("nkc,nhwc->nkhw", alpha, target))
        size = tf.shape(images)[1:3]
        shape = tf.shape(cam)
        flat = tf.reshape(cam, tf.concat([[-1], shape[2:4], [1]], axis=0))
        upsampled = tf.image.resize(flat, size, method="bilinear")
        upsampled = tf.reshape(upsampled, tf.concat([shape[:2], size], axis=0))
        peak = tf.reduce_max(upsampled, axis=(2, 3), keepdims=True)
        has_evidence = peak[:, :, 0, 0] > 0
        cam = tf.math.divide_no_nan(upsampled, peak)  # zero where there is no positive evidence
        return logits, tf.nn.softmax(logits), classes, cam, has_evidence, stages

    def _input_gradient_step(
        self, images: tf.Tensor, classes: tf.Tensor, rules: tuple[Rule, ...]
    ) -> tf.Tensor:
        """(R, N, K, H, W, 3): one forward pass of the batch stacked once per rule, then the K
        class-logit input gradients of every copy from one vectorised backward pass."""
        stacked = tf.concat([images] * len(rules), axis=0)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(stacked)
            _, logits = self._rewired(stacked, rules)
            selected = tf.gather(logits, tf.concat([classes] * len(rules), axis=0), batch_dims=1)
        gradients = tape.batch_jacobian(selected, stacked, experimental_use_pfor=self._vectorised)
        return tf.stack(tf.split(gradients, len(rules), axis=0))

    def _projection_step(
        self,
        images: tf.Tensor,
        positions: tuple[int, ...],
        indices: tuple[tf.Tensor, ...],
        rules: tuple[Rule, ...],
    ) -> list[tf.Tensor]:
        """Per requested stage layer, (R, N, P, H, W, 3) input gradients of the spatial maxima
        of its chosen channels.

        One forward pass; then one vectorised backward pass per stage layer, so the gradient of
        an early layer's channel only runs back through the layers below it (one backward over
        all stages at once would carry zeros through the whole network for every channel).
        """
        stacked = tf.concat([images] * len(rules), axis=0)
        with tf.GradientTape(watch_accessed_variables=False, persistent=True) as tape:
            tape.watch(stacked)
            (_, *stages), _ = self._rewired(stacked, rules)
            strongest = [
                tf.reduce_max(tf.gather(stages[position], channel_ids, axis=-1), axis=(1, 2))
                for position, channel_ids in zip(positions, indices)
            ]
        per_layer = [
            tf.stack(
                tf.split(
                    tape.batch_jacobian(objective, stacked, experimental_use_pfor=self._vectorised),
                    len(rules),
                    axis=0,
                )
            )
            for objective in strongest
        ]
        del tape
        return per_layer

    # ------------------------------------------------------------------ input checks

    def _class_count(self) -> int:
        return int(self.model.outputs[0].shape[-1])

    def _images(self, images: np.ndarray) -> tf.Tensor:
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be (N, H, W, 3), got shape {images.shape}")
        return tf.constant(images)

    def _classes(self, classes: np.ndarray, n: int) -> tf.Tensor:
        classes = np.asarray(classes)
        if classes.ndim != 2 or classes.shape[0] != n:
            raise ValueError(f"classes must be (N, K) with N={n}, got shape {classes.shape}")
        if classes.min() < 0 or classes.max() >= self._class_count():
            raise ValueError(f"class indices must be in 0..{self._class_count() - 1}")
        return tf.constant(classes, tf.int32)

    def _channel_pairs(self, channels: dict[str, Sequence[int]]) -> list[tuple[str, int]]:
        """(layer, channel) in request order, validated against the stage layers."""
        pairs = []
        for layer, ids in channels.items():
            if layer not in self.stage_layers:
                raise ValueError(f"{layer!r} is not one of the stage layers {self.stage_layers}")
            width = self._widths[layer]
            for channel in ids:
                if not 0 <= int(channel) < width:
                    raise ValueError(f"channel {channel} out of range for {layer!r} ({width})")
                pairs.append((layer, int(channel)))
        return pairs


def _has_other_grouped_convolution(model: keras.Model) -> bool:
    return any(
        getattr(layer, "groups", 1) > 1 and not is_depthwise_grouped(layer)
        for layer in iter_layers(model)
    )


# ---------------------------------------------------------------------- one-off conveniences
# Each builds (and compiles) a new Explainer: for many images, keep one Explainer instead.


def grad_cam(
    model: keras.Model, images: np.ndarray, classes: np.ndarray, layer: str | None = None
) -> np.ndarray:
    """(N, H, W) Grad-CAM maps in [0, 1] of class `classes[n]` (N,) for each image."""
    maps, _ = Explainer(model, target_layer=layer).grad_cam(images, np.asarray(classes)[:, None])
    return maps[:, 0]


def guided_backprop(model: keras.Model, images: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) guided-backprop gradient of class `classes[n]`'s logit for each image."""
    return _input_gradient(model, images, classes, "guided")


def deconvnet(model: keras.Model, images: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) DeConvNet projection of class `classes[n]`'s logit for each image."""
    return _input_gradient(model, images, classes, "deconvnet")


def guided_grad_cam(
    model: keras.Model, images: np.ndarray, classes: np.ndarray, layer: str | None = None
) -> np.ndarray:
    """(N, H, W, 3) guided backprop times the Grad-CAM map, for class `classes[n]`."""
    explainer = Explainer(model, target_layer=layer)
    columns = np.asarray(classes)[:, None]
    maps, _ = explainer.grad_cam(images, columns)
    return (explainer.input_gradients(images, columns, "guided") * maps[..., None])[:, 0]


def _input_gradient(model: keras.Model, images: np.ndarray, classes: np.ndarray, rule: Rule):
    explainer = Explainer(model)
    return explainer.input_gradients(images, np.asarray(classes)[:, None], rule)[:, 0]
