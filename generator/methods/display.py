"""How a method's maps are drawn: the one vocabulary `methods` and `render` share.

Kept free of TensorFlow so that drawing code can name display kinds without importing a model
framework (`base.py` re-exports `Display`).
"""

from __future__ import annotations

from typing import Literal

# "heatmap" (N, K, H, W) in [0, 1] over the photo; "gradient" (N, K, H, W, 3) signed RGB,
# mid-grey = 0; "magnitude" (N, K, H, W) >= 0, largest = 1; "signed" (N, K, H, W) diverging
# around 0; "heatmaps by layer" (N, K, L, H, W) in [0, 1], one per stage layer.
Display = Literal["heatmap", "gradient", "magnitude", "signed", "heatmaps by layer"]
DISPLAYS: tuple[Display, ...] = ("heatmap", "gradient", "magnitude", "signed", "heatmaps by layer")
