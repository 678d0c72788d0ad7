"""What one model computes for its "What the neurons look for" section, in its model process.

It runs after the photos' sections, because it pictures what they show: the channels their
feature-map and projection figures draw (per stage tensor, those shown on most photos first,
up to `--neuron-channels`) are optimised together, one compiled step per tensor
(`methods.neurons.channels`); every shown channel gets a card (its activation on every photo,
the photo patches that excite it most, and for a pictured one its strongest unit's Zeiler &
Fergus projections); each photo's
top-1 class (and the classes asked for) gets a class picture; the first photo is dreamed at a
middle stage and inverted from the first and the last. The section is cached as one part.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import keras
import numpy as np
import tensorflow as tf

from generator import render
from generator.cache import Cache
from generator.figures import PROJECTION_CHANNELS, FigureWriter, NeuronFigures
from generator.images import SourceImage, center_crop
from generator.labels import imagenet_labels
from generator.methods.layers import TensorGraph
from generator.methods.neurons.channels import (
    ChannelPictures,
    ChannelVisualizer,
    Settings,
    visualize_classes,
)
from generator.methods.neurons.dream import (
    DREAM_SETTINGS,
    INVERSION_SIZE,
    DeepDream,
    Inverter,
    inversion_settings,
)
from generator.methods.neurons.prefix import Prefix, Preprocess, size_multiple, tensor_preprocess
from generator.methods.neurons.transforms import Transformations, rounded_up
from generator.methods.projections import LayerProjections
from generator.methods.receptive_field import (
    ReceptiveField,
    projection_crops,
    strongest_unit_boxes,
)
from generator.options import BuildOptions
from generator.plan import Plan, put_entry
from generator.registry import ModelSpec
from generator.site_records import (
    ChannelView,
    ClassPicture,
    ImageSection,
    NeuronSection,
    StageNeurons,
)

PATCHES = 4  # photo patches on a channel's card: the photos where it is strongest


@dataclass(frozen=True)
class NeuronInputs:
    """What the section of one model reads: the model, its stage tensors, the photos' sections."""

    spec: ModelSpec
    model: keras.Model
    graph: TensorGraph
    projector: LayerProjections
    fields: dict[str, ReceptiveField]  # stage tensor -> its receptive field
    images: Sequence[SourceImage]
    sections: Sequence[ImageSection]  # the photos' sections, in `images`' order


def shown_channels(sections: Sequence[ImageSection], tensor: str) -> dict[int, list[str]]:
    """The channels of `tensor` the photos' figures show -> the photos that show them, in the
    order first shown (each figure draws its strongest first)."""
    shown: dict[int, list[str]] = {}
    for section in sections:
        drawn = [f.channels for f in section.feature_maps if f.layer == tensor]
        drawn += [f.channels for f in section.projections if f.layer == tensor]
        for channel in dict.fromkeys(c for channels in drawn for c in channels):
            shown.setdefault(int(channel), []).append(section.slug)
    return shown


def pictured(shown: dict[int, list[str]], cap: int) -> list[int]:
    """The channels that get a picture: those shown on most photos first (then in the order
    first shown), at most `cap`, ascending."""
    order = sorted(shown, key=lambda c: -len(shown[c]))  # stable: first shown first
    return sorted(order[:cap])


def _class_side(model: keras.Model, wanted: int) -> int:
    """The side class pictures are shown to the model at: `wanted`, unless its head needs its
    own input size (a Flatten before Dense, as VGG's)."""
    layers = model._flatten_layers(include_self=False, recursive=True)  # nested bases too
    flattens = any(isinstance(layer, keras.layers.Flatten) for layer in layers)
    return int(model.inputs[0].shape[1]) if flattens else wanted


def neuron_section(
    inputs: NeuronInputs,
    options: BuildOptions,
    plan: Plan,
    writer: FigureWriter,
    cache: Cache,
) -> NeuronSection:
    """The section of one model, computed and drawn now, cached once its files are written."""
    began = time.perf_counter()
    spec, model, graph = inputs.spec, inputs.model, inputs.graph
    preprocess = tensor_preprocess(spec.preprocessing)
    tensors = list(inputs.fields)
    natural = Transformations().seen_side(options.neuron_size)
    multiple = size_multiple(model, graph, tensors[-1], natural)
    settings = Settings(
        steps=options.neuron_steps,
        size=options.neuron_size,
        transformations=Transformations(multiple=multiple),
    )
    figures = NeuronFigures(writer, spec.name, spec.slug, settings.describe())
    crops = np.stack([center_crop(source.pixels, spec.input_size) for source in inputs.images])
    titles = [source.title for source in inputs.images]
    values = Prefix(model, tensors, graph)(tf.constant(spec.preprocess(crops)))
    activations = dict(zip(tensors, (np.asarray(value) for value in values)))
    shown = {tensor: shown_channels(inputs.sections, tensor) for tensor in tensors}
    chosen = {t: pictured(shown[t], options.neuron_channels) for t in tensors}
    projections = _projections(inputs, crops, activations, chosen)
    stages, missing = [], []
    for tensor in tensors:
        if len(chosen[tensor]) < len(shown[tensor]):
            missing.append(f"{tensor}: {len(chosen[tensor])} of {len(shown[tensor])}")
        result = None
        if chosen[tensor]:
            visualizer = ChannelVisualizer(model, tensor, preprocess, settings, graph)
            result = visualizer.run(chosen[tensor])
        stages.append(
            _stage(figures, tensor, activations[tensor], crops, titles, shown[tensor],
                   result, projections.get(tensor, {}), inputs.fields[tensor])
        )  # fmt: skip
    classes, not_drawn = _classes(inputs, options, figures, settings, preprocess)
    middle = tensors[len(tensors) // 2]
    dreamed = DeepDream(model, middle, preprocess, graph).run(crops[0], multiple=multiple)
    dream = figures.dream(titles[0], middle, crops[0], dreamed, DREAM_SETTINGS)
    small = center_crop(inputs.images[0].pixels, (INVERSION_SIZE, INVERSION_SIZE))
    ends = (tensors[0], tensors[-1])
    steps = options.neuron_steps
    inverted = [Inverter(model, t, preprocess, graph).run(small, steps) for t in ends]
    inversion = figures.inversion(
        titles[0], small, [(i.tensor, i.pixels, i.relative_error) for i in inverted],
        inversion_settings(steps),
    )  # fmt: skip
    why = "" if not missing else (
        f"this build pictures the {options.neuron_channels} channels of each tensor that most "
        f"photos show (--neuron-channels {options.neuron_channels}); the others have their card "
        f"only. Pictured: {'; '.join(missing)}."
    )  # fmt: skip
    tops = {section.slug: section.predictions[0].class_index for section in inputs.sections}
    indices = [picture.class_index for picture in classes]
    section = NeuronSection(
        settings=settings.describe(),
        missing=why,
        photos=[source.slug for source in inputs.images],
        photo_titles=titles,
        stages=stages,
        classes=classes,
        top_class={slug: indices.index(top) for slug, top in tops.items()},
        dream=dream,
        inversion=inversion,
        not_drawn=not_drawn,
        seconds=round(time.perf_counter() - began, 2),
    )
    assert plan.neurons_key is not None, "computed only when the plan has a key for it"
    record = dataclasses.asdict(section)
    writer.then(partial(put_entry, cache, writer.out, plan.neurons_key, record, section.figures()))
    return section


def _classes(
    inputs: NeuronInputs,
    options: BuildOptions,
    figures: NeuronFigures,
    settings: Settings,
    preprocess: Preprocess,
) -> tuple[list[ClassPicture], list[str]]:
    """Each photo's top-1 class and the classes asked for, pictured in one batch; and the
    classes asked for that the model does not have."""
    spec, model = inputs.spec, inputs.model
    count = int(model.outputs[0].shape[-1])
    tops = [section.predictions[0].class_index for section in inputs.sections]
    classes = list(dict.fromkeys([*tops, *(c for c in options.neuron_classes if c < count)]))
    side = round(4 / 3 * options.neuron_size)
    seen = rounded_up(_class_side(model, side), settings.transformations.multiple)
    pixels, logits = visualize_classes(
        model, classes, settings.steps, side, settings.seed, preprocess, seen
    )  # fmt: skip
    labels = imagenet_labels() if spec.file is None else (spec.class_names or ())
    pictures = []
    for row, index in enumerate(classes):
        label = labels[index] if index < len(labels) else f"class {index}"
        rank = int((logits[row] > logits[row, index]).sum()) + 1  # 1: the class wins
        figure = figures.class_picture(index, label, pixels[row], rank)
        pictures.append(ClassPicture(index, label, figure, rank))
    not_drawn = [
        f"Class {c} (--neuron-classes): {spec.name} has {count} classes, 0 to {count - 1}"
        for c in options.neuron_classes
        if c >= count
    ]
    return pictures, not_drawn


def _projections(
    inputs: NeuronInputs,
    crops: np.ndarray,
    activations: dict[str, np.ndarray],
    chosen: dict[str, list[int]],
) -> dict[str, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Tensor -> channel -> its strongest unit's Guided Backprop and DeConvNet projections on
    its strongest photo, cropped as the model page's are, for the `chosen` channels of each
    tensor (none when one backward pass does not fit the memory budget).

    Each call asks for `PROJECTION_CHANNELS` channels of every tensor (repeats pad it), as the
    model page's projections do: the compiled step the photos' sections traced is reused."""
    tensors = [t for t, channels in chosen.items() if channels]
    if not tensors or not inputs.projector.explainer.memory.projections_fit():
        return {}
    # tensor -> each channel's strongest photo
    strongest = {t: activations[t].max(axis=(1, 2)).argmax(axis=0) for t in tensors}
    made: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
    for photo in range(len(crops)):
        own = {t: [c for c in chosen[t] if strongest[t][c] == photo] for t in tensors}
        calls = max((len(c) + PROJECTION_CHANNELS - 1) // PROJECTION_CHANNELS for c in own.values())
        batch = inputs.spec.preprocess(crops[photo][None])
        for call in range(calls):
            part = {t: own[t][call * PROJECTION_CHANNELS :][:PROJECTION_CHANNELS] for t in tensors}
            asked = {t: (part[t] or chosen[t][:1]) * PROJECTION_CHANNELS for t in tensors}
            asked = {t: channels[:PROJECTION_CHANNELS] for t, channels in asked.items()}
            for tensor, (guided, deconv) in inputs.projector.project(batch, asked).items():
                field = inputs.fields[tensor]
                boxes = projection_crops(activations[tensor][photo], asked[tensor], field,
                                         guided[0], deconv[0])  # fmt: skip
                for k, channel in enumerate(part[tensor]):  # the padding left out
                    top, left, bottom, right = boxes[k]
                    rows, columns = slice(max(top, 0), bottom), slice(max(left, 0), right)
                    pair = guided[0, k, rows, columns], deconv[0, k, rows, columns]
                    made.setdefault(tensor, {})[channel] = pair
    return made


def _patches(
    activation: np.ndarray,
    crops: np.ndarray,
    titles: list[str],
    channel: int,
    field: ReceptiveField,
) -> list[tuple[np.ndarray, str]]:
    """The photo patches that excite `channel` most: the receptive field of its strongest
    unit on each photo, strongest photo first, at most `PATCHES`."""
    peaks = activation[..., channel].max(axis=(1, 2))
    patches = []
    for photo in np.argsort(-peaks, kind="stable")[:PATCHES]:
        box = strongest_unit_boxes(activation[photo], [channel], field, crops.shape[1:3])[0]
        top, left, bottom, right = box
        patches.append((crops[photo, top:bottom, left:right], titles[photo]))
    return patches


def _stage(
    figures: NeuronFigures,
    tensor: str,
    activation: np.ndarray,
    crops: np.ndarray,
    titles: list[str],
    shown: dict[int, list[str]],
    result: ChannelPictures | None,
    projections: dict[int, tuple[np.ndarray, np.ndarray]],
    field: ReceptiveField,
) -> StageNeurons:
    """One stage tensor's records: its grid of pictures, and a card for every channel shown."""
    chosen = list(result.channels) if result is not None else []
    views = []
    for channel in sorted(shown):
        planes = activation[..., channel]
        draw = partial(
            render.channel_card,
            crops,
            planes,
            titles,
            _patches(activation, crops, titles, channel, field),
            projections.get(channel),
            f"{figures.model_name} · {tensor} · channel {channel}",
        )
        picture, score = None, None
        if result is not None and channel in chosen:
            row = chosen.index(channel)
            score = float(result.positive_scores[row])
            picture = figures.picture(tensor, channel, result.positive[row], score)
        views.append(
            ChannelView(
                channel,
                picture,
                score,
                figures.card(tensor, channel, draw),
                [float(v) for v in planes.mean(axis=(1, 2))],
                shown[channel],
            )
        )
    shape = tuple(int(d) for d in activation.shape[1:])
    grid = None if result is None else figures.grid(tensor, shape, result.positive, chosen)
    return StageNeurons(tensor, figures.tensor_slug(tensor), shape, grid, views)
