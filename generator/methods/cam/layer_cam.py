"""LayerCAM (Jiang et al. 2021): every position weighted by its own positive class gradient,
at each stage tensor, so the fine early stages and the coarse late stages can be compared."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from generator.methods.base import (
    Activations,
    Attribution,
    Context,
    HeadGradients,
    Method,
    Paper,
    Passes,
)
from generator.methods.cam.base import upsampled_unit
from generator.methods.families import CLASS_MAPS


def layers_of(context: Context) -> tuple[str, ...]:
    """The tensors LayerCAM reads: every stage, or Grad-CAM's target when there are none."""
    return context.stages or (context.target,)


@dataclass(frozen=True)
class LayerCAM(Method):
    slug = "layer-cam"
    title = "LayerCAM"
    paper = Paper(
        "P.-T. Jiang, C.-B. Zhang, Q. Hou, M.-M. Cheng, Y. Wei",
        2021,
        "LayerCAM: Exploring Hierarchical Class Activation Maps for Localization",
        "IEEE Transactions on Image Processing",
        "https://doi.org/10.1109/TIP.2021.3089943",
    )
    kind = "class map"
    display = "heatmaps by layer"
    family = CLASS_MAPS

    def needs(self, context: Context) -> tuple[Any, ...]:
        return tuple(
            need for name in layers_of(context) for need in (Activations(name), HeadGradients(name))
        )

    def compute(self, passes: Passes, context: Context) -> Attribution:
        """Per layer, ReLU(sum_c ReLU(dy/dA_c) A_c) upsampled and scaled to peak 1:
        maps (N, K, L, H, W), layers in `layers_of(context)` order (fine to coarse)."""
        size = tf.shape(passes.images)[1:3]
        maps, evidence = [], []
        for name in layers_of(context):
            activations = passes[Activations(name)]  # (N, h, w, c)
            gradients = passes[HeadGradients(name)]  # (N, K, h, w, c)
            cam = tf.nn.relu(tf.reduce_sum(tf.nn.relu(gradients) * activations[:, None], axis=-1))
            layer_maps, layer_evidence = upsampled_unit(cam, size)
            maps.append(layer_maps)
            evidence.append(layer_evidence)
        # has_evidence: some layer's map has positive evidence for the class.
        return Attribution(
            tf.stack(maps, axis=2), {"has_evidence": tf.reduce_any(tf.stack(evidence), axis=0)}
        )
