"""Zeiler & Fergus layer projections: what in the photo drives a stage layer's strongest units.

For each requested channel of a stage layer, the gradient w.r.t. the input of that channel's
strongest activation (its spatial maximum; Zeiler & Fergus keep only the strongest one), under
the guided and the DeConvNet backward rules. They run on the explainer's rewired graph
(`Explainer.rewired`, `backward_rules.RewiredModel`): one forward pass, then one backward pass per
stage layer, so an early layer's gradient runs back only through the layers below it; both
rules in one compiled call where two inputs fit the model's memory plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from generator.methods.backward_rules import Rule
from generator.methods.batching import score_gradients
from generator.methods.explain import Explainer, as_images

# Guided Backprop and DeConvNet share one compiled call: the batch is stacked once per rule.
_BOTH_RULES: tuple[Rule, ...] = ("guided", "deconvnet")


class LayerProjections:
    """The projections of one explainer's stage layers, compiled once per model."""

    def __init__(self, explainer: Explainer) -> None:
        self.explainer = explainer
        self._step = tf.function(self._projection_step, reduce_retracing=True, autograph=False)

    def project(
        self,
        images: np.ndarray,
        channels: Mapping[str, Sequence[int]],
        rules: tuple[Rule, ...] = _BOTH_RULES,
    ) -> dict[str, tuple[np.ndarray, ...]]:
        """Layer -> (guided, deconvnet), each (N, P, H, W, 3): the input gradient of each
        requested channel's strongest activation, for the stage layers named in `channels`;
        one array per rule of `rules` (a channel's card needs the guided one only)."""
        self._check(channels)
        stage_layers = self.explainer.stage_layers
        requested = [layer for layer in stage_layers if channels.get(layer)]
        if not requested:
            return {}
        positions = tuple(stage_layers.index(layer) for layer in requested)
        indices = tuple(
            tf.constant([int(c) for c in channels[layer]], tf.int32) for layer in requested
        )
        x = as_images(images)
        # Both rules in one pass where two inputs fit the memory plan, else one rule at a time.
        objectives = max(len(channels[layer]) for layer in requested)
        if len(images) * len(rules) <= self.explainer.memory.projection_chunk(objectives):
            groups = [rules]
        else:
            groups = [(rule,) for rule in rules]
        per_group = [self._step(x, positions, indices, rules) for rules in groups]
        return {
            layer: tuple(np.concatenate([g[i].numpy() for g in per_group]))
            for i, layer in enumerate(requested)
        }

    def _projection_step(
        self,
        images: tf.Tensor,
        positions: tuple[int, ...],
        indices: tuple[tf.Tensor, ...],
        rules: tuple[Rule, ...],
    ) -> list[tf.Tensor]:
        """Per requested stage layer, (R, N, P, H, W, 3) input gradients of the spatial maxima
        of its chosen channels.

        One forward pass; then the backward passes of each stage layer's channels, so the
        gradient of an early layer's channel only runs back through the layers below it (one
        backward over all stages at once would carry zeros through the whole network).
        """
        stacked = tf.concat([images] * len(rules), axis=0)
        with tf.GradientTape(watch_accessed_variables=False, persistent=True) as tape:
            tape.watch(stacked)
            (_, *stages), _ = self.explainer.rewired(stacked, rules)
            strongest = [
                tf.reduce_max(tf.gather(stages[position], channel_ids, axis=-1), axis=(1, 2))
                for position, channel_ids in zip(positions, indices)
            ]
        per_layer = [
            tf.stack(tf.split(score_gradients(tape, objective, [stacked])[0], len(rules), axis=0))
            for objective in strongest
        ]
        del tape
        return per_layer

    def _check(self, channels: Mapping[str, Sequence[int]]) -> None:
        """Every layer is a stage layer and every channel within its width."""
        stage_layers, widths = self.explainer.stage_layers, self.explainer.stage_widths
        for layer, ids in channels.items():
            if layer not in stage_layers:
                raise ValueError(f"{layer!r} is not one of the stage layers {stage_layers}")
            for channel in ids:
                if not 0 <= int(channel) < widths[layer]:
                    raise ValueError(
                        f"channel {channel} out of range for {layer!r} ({widths[layer]})"
                    )
