"""The two explanations the Explainer's tests check most, called through the Explainer's one
entry point (`explain`), which names no method."""

from __future__ import annotations

import numpy as np

from generator.methods.cam.grad_cam import GradCAM
from generator.methods.explain import Explainer
from generator.methods.gradient.deconvnet import DeConvNet
from generator.methods.gradient.guided_backprop import GuidedBackprop


def grad_cam(
    explainer: Explainer, images: np.ndarray, classes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(maps (N, K, H, W) in [0, 1], has_evidence (N, K)) for `classes` (N, K)."""
    result = explainer.explain(images, classes=classes, methods=(GradCAM(),)).methods["grad-cam"]
    return result.maps, result.notes["has_evidence"]


def input_gradients(
    explainer: Explainer, images: np.ndarray, classes: np.ndarray, rule: str
) -> np.ndarray:
    """(N, K, H, W, 3) input gradient of each class logit under "guided" or "deconvnet"."""
    method = {"guided": GuidedBackprop, "deconvnet": DeConvNet}[rule]()
    return explainer.explain(images, classes=classes, methods=(method,)).methods[method.slug].maps
