"""What a user's own model adds to its model process's work (`model_work`): the model read from
its file checked against what the command line said of it, the facts its page states, and the
page of a model the gallery cannot explain (its card, its filters, and what is not drawn, why).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import keras

from generator.api import check_classifier
from generator.figures import FigureWriter, filter_figure
from generator.methods.filters import deeper_filter_layers, first_layer_filters, layer_filters
from generator.model_pages import ComputedPage, limited_page
from generator.options import BuildOptions
from generator.own_models import NO_PREPROCESSING, OwnModelError, describe_preprocessing
from generator.site_records import OwnModelFacts

if TYPE_CHECKING:
    from generator.registry import ModelSpec

# What a page of a model the gallery cannot explain leaves out.
NOT_DRAWN = (
    "Predictions, class explanations by every method, feature maps, layer projections and the "
    "trust checks"
)


def cannot_explain(model: keras.Model) -> str | None:
    """Why the gallery cannot explain an own model (not a single-input image classifier)."""
    try:
        check_classifier(model)
    except ValueError as error:
        return str(error)
    return None


def fitted_options(spec: ModelSpec, options: BuildOptions, model: keras.Model) -> BuildOptions:
    """`options` for an own model: its class names checked against its class scores
    (OwnModelError naming the file and the fix), `--top` cut to the classes it has."""
    classes = int(model.outputs[0].shape[-1])
    if spec.class_names is not None and len(spec.class_names) != classes:
        raise OwnModelError(
            f"--class-names {spec.class_names_file} names {len(spec.class_names)} classes, but "
            f"{spec.name} gives {classes} class scores; pass a file with one name per class"
        )
    top = min(options.top, classes)
    return dataclasses.replace(options, top=top, many_pass_top=min(options.many_pass_top, top))


def own_facts(spec: ModelSpec, model: keras.Model, softmax_bypassed: bool) -> OwnModelFacts:
    """What an own model's page says of its file; classes None when it gives no one vector of
    class scores."""
    assert spec.file is not None and spec.file_sha256 is not None
    outputs = model.outputs if isinstance(model.outputs, list) else []
    one_vector = len(outputs) == 1 and len(outputs[0].shape) == 2
    return OwnModelFacts(
        file=spec.file.name,
        sha256=spec.file_sha256,
        classes=int(outputs[0].shape[-1]) if one_vector else None,
        class_names_file=spec.class_names_file,
        preprocessing=describe_preprocessing(spec.preprocessing or NO_PREPROCESSING),
        softmax_bypassed=softmax_bypassed,
    )


def unexplained_page(
    spec: ModelSpec,
    options: BuildOptions,
    writer: FigureWriter,
    model: keras.Model,
    why: str,
    seconds: float,
) -> ComputedPage:
    """An own model the gallery cannot explain: its card and the filters it has, and what is
    not drawn, and why. Not cached: it costs only the model's loading."""
    sets = []
    try:
        sets.append(first_layer_filters(model))
        sets += [layer_filters(layer) for layer in deeper_filter_layers(model)]
    except ValueError:  # no convolution over the colour channels: no filters to draw
        pass
    filters = [filter_figure(writer, spec.name, spec.slug, filters) for filters in sets]
    facts = own_facts(spec, model, softmax_bypassed=False)
    return limited_page(spec, options, filters, facts, [f"{NOT_DRAWN}: {why}."], seconds)
