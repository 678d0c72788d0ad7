"""Arrays to web images, one module for each kind of picture.

- `webp`: pictures to WebP files, written atomically (every figure goes through `save_image`);
- `pixels`: arrays to pixels and colour maps, shared by every figure;
- `layout`: text, stacks, labelled grids and colour legends, the look every figure shares;
- `filters`: the model card's learned filters and feature maps;
- `explanations`: one class's explanation map for one method, drawn by its display kind, with
  the colour scales that say how to read it;
- `printable_grid`: one photo's explanations, every class and method, as one picture;
- `sheet`: one method family's explanations of one photo on an A4 sheet at 300 dpi, for print;
- `neurons`: optimised images (what a channel or class looks for), a channel's card, DeepDream
  and inversions beside their photo;
- `projections`: Zeiler & Fergus projections cropped to receptive fields;
- `trust`: the trust checks' figures: a method's maps across the randomization cascade, the
  similarity plot and the deletion and insertion curves.

Nothing here knows about models: callers pass plain arrays and labels, and use the names
re-exported below (`render.method_tile`, `render.FIGURE_STYLE`, ...).
"""

from __future__ import annotations

from generator.render.explanations import (
    GRADCAM_SCALE,
    GRADIENT_SCALE,
    MAGNITUDE_COLORMAP,
    MAGNITUDE_PERCENTILE,
    PHOTO_SHOWN,
    SIGNED_COLORMAP,
    Titled,
    display_colormap,
    display_legend,
    display_scale,
    explanation_legend,
    joined,
    legend_caption,
    magnitude_image,
    method_tile,
    signed_image,
)
from generator.render.filters import (
    FEATURE_COLORMAP,
    depthwise_filter_grid,
    feature_map_grid,
    feature_scale,
    pointwise_matrix,
    rgb_filter_grid,
    spatial_filter_grid,
)
from generator.render.layout import (
    FONT_SIZE,
    colour_legend,
    fit_tile,
    halo_text,
    labelled_grid,
    line_height,
    new_canvas,
    stack,
    text_block,
    text_font,
    wrap_text,
)
from generator.render.neurons import (
    channel_card,
    photo_and_results,
    picture_grid,
)
from generator.render.pixels import (
    DIVERGING_COLORMAP,
    HEATMAP_COLORMAP,
    TINY,
    colormap_rgb,
    gradient_image,
    heatmap_overlay,
    minmax_unit,
    symmetric_unit,
    to_uint8,
)
from generator.render.printable_grid import (
    CellColumn,
    ExplanationColumn,
    column_cells,
    explanation_grid,
    grid_of_cells,
)
from generator.render.projections import (
    PROJECTION_COLUMNS,
    projection_grid,
)
from generator.render.sheet import (
    A4_LANDSCAPE,
    SHEET_DPI,
    SHEET_TEXT,
    encode_sheet,
    print_sheet,
)
from generator.render.trust import (
    STRIP_TILE,
    curves_plot,
    randomization_strip,
    similarity_plot,
)
from generator.render.webp import (
    WEBP_QUALITY,
    encode_webp,
    fit_within,
    save_image,
)

# Part of every cache key: raise it when a figure's drawing or caption changes, so a rebuild
# redraws instead of reusing pictures and captions of the old style.
FIGURE_STYLE = 5

__all__ = [
    "A4_LANDSCAPE",
    "DIVERGING_COLORMAP",
    "FEATURE_COLORMAP",
    "FIGURE_STYLE",
    "FONT_SIZE",
    "GRADCAM_SCALE",
    "GRADIENT_SCALE",
    "HEATMAP_COLORMAP",
    "MAGNITUDE_COLORMAP",
    "MAGNITUDE_PERCENTILE",
    "PHOTO_SHOWN",
    "PROJECTION_COLUMNS",
    "SHEET_DPI",
    "SHEET_TEXT",
    "SIGNED_COLORMAP",
    "STRIP_TILE",
    "TINY",
    "WEBP_QUALITY",
    "CellColumn",
    "ExplanationColumn",
    "Titled",
    "channel_card",
    "colormap_rgb",
    "colour_legend",
    "column_cells",
    "curves_plot",
    "depthwise_filter_grid",
    "display_colormap",
    "display_legend",
    "display_scale",
    "encode_sheet",
    "encode_webp",
    "explanation_grid",
    "explanation_legend",
    "feature_map_grid",
    "feature_scale",
    "fit_tile",
    "fit_within",
    "gradient_image",
    "grid_of_cells",
    "halo_text",
    "heatmap_overlay",
    "joined",
    "labelled_grid",
    "legend_caption",
    "line_height",
    "magnitude_image",
    "method_tile",
    "minmax_unit",
    "new_canvas",
    "photo_and_results",
    "picture_grid",
    "pointwise_matrix",
    "print_sheet",
    "projection_grid",
    "randomization_strip",
    "rgb_filter_grid",
    "save_image",
    "signed_image",
    "similarity_plot",
    "spatial_filter_grid",
    "stack",
    "symmetric_unit",
    "text_block",
    "text_font",
    "to_uint8",
    "wrap_text",
]
