"""How far to trust each explanation method: two checks that do not need a human.

Sanity checks (Adebayo et al. 2018, "Sanity Checks for Saliency Maps"): randomize the model's
weights from the top down (`randomization`) and measure how much each method's maps change
(`similarity`): a method whose maps survive the loss of everything the model learned shows the
photo, not the model. Deletion and insertion (Petsiuk et al. 2018, RISE, `deletion`): remove
(or reveal) the pixels a map ranks most important first and follow the class probability: a
faithful map makes it fall (rise) fast.

Methods are handled by their display kind (`similarity.importance`), never by name.

Importing the package or `similarity` does not import TensorFlow (pages can compare stored
maps without it): `deletion` and `randomization` are imported when one of their names is first
used (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from generator.methods.trust.similarity import importance, rank_correlation, ssim

if TYPE_CHECKING:
    from generator.methods.trust.deletion import (
        BLUR_SIGMA_FRACTION,
        DeletionInsertion,
        auc,
        baseline_maps,
    )
    from generator.methods.trust.randomization import CascadeStep, cascade, randomized

_LAZY = {
    **dict.fromkeys(
        ("BLUR_SIGMA_FRACTION", "DeletionInsertion", "auc", "baseline_maps"),
        "generator.methods.trust.deletion",
    ),
    **dict.fromkeys(
        ("CascadeStep", "cascade", "randomized"), "generator.methods.trust.randomization"
    ),
}


def __getattr__(name: str) -> Any:
    """A name of `deletion` or `randomization`: its module (and TensorFlow) loads on first use."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)


__all__ = [
    "BLUR_SIGMA_FRACTION",
    "CascadeStep",
    "DeletionInsertion",
    "auc",
    "baseline_maps",
    "cascade",
    "importance",
    "randomized",
    "rank_correlation",
    "ssim",
]
