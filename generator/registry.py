"""One ``ModelSpec`` per ImageNet constructor in ``keras.applications``.

Constructors are found by introspection, so a model added by a newer Keras appears
without code changes (``known=False`` until ``model_facts.py`` describes it).
``build_model`` is the only place the generator calls a constructor; it is handed the weight
file ``weights.resolve_weights`` found (or ``"random"``) and loads it itself.
"""

import difflib
import importlib
import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import keras
import numpy as np

from generator import weights as weights_mod
from generator.files import file_sha256
from generator.model_facts import MODEL_FACTS, PAPERS
from generator.own_models import OwnModelError, OwnModelFile, input_side, preprocessed

# Side used when neither the facts table nor the constructor tells the input size.
FALLBACK_INPUT_SIZE = 224

# Keras builds EfficientNetB0-B7 (module `efficientnet`) for `weights="imagenet"` with one
# layer more than for `weights=None` or a weights file: after the stem's Normalization,
# `Rescaling(1 / sqrt(IMAGENET_STDDEV_RGB))`, the normalisation the ImageNet weights were
# trained with (tensorflow/tensorflow#62193). The file holds no weights for that layer, so a
# model loaded from it would see wrongly scaled pixels; `build_model` folds the scale into the
# Normalization's variance instead: (x - m) / sqrt(v * s) = (x - m) / sqrt(v) / sqrt(s).
# Constructor module -> the per-channel s; tests/test_weights.py checks every constructor's
# ImageNet graph against this.
IMAGENET_STEM_SCALE = {"efficientnet": (0.229, 0.224, 0.225)}


@dataclass(frozen=True)
class ModelSpec:
    """What the gallery knows about one constructor; facts it lacks are ``None``.

    ``top1``/``top5`` are ImageNet accuracies in percent and ``params`` the parameter count
    in millions, as published in the Keras "Available models" table (see model_facts). A
    user's own model (``own_spec``) has no constructor but its ``file``, with that file's hash,
    its own class names (None: ImageNet's for the zoo, class indices for an own model) and
    weights.
    """

    name: str
    slug: str
    constructor: Callable[..., keras.Model] | None
    module: str
    family: str | None
    paper: str | None
    paper_url: str | None
    year: int | None
    input_size: tuple[int, int]
    top1: float | None
    top5: float | None
    params: float | None
    preprocessing: str | None
    gradcam_layer: str | None
    known: bool
    file: Path | None = None
    file_sha256: str | None = None
    class_names: tuple[str, ...] | None = None
    class_names_file: str | None = None

    def weights_label(self, weights: str | Path) -> tuple[str, str]:
        """(mode, human label) of this model's weights: an own model's are in its file,
        whatever `--weights` says."""
        if self.file is not None:
            return "file", f"as saved in the model file {self.name}"
        return weights_mod.weights_label(weights)

    def preprocess(self, images_uint8: np.ndarray) -> np.ndarray:
        """Apply this model's ``preprocess_input`` to a float32 copy of ``images_uint8``.

        Accepts one ``(h, w, 3)`` image or a ``(n, h, w, 3)`` batch of 0-255 RGB pixels; the
        input is never modified (Keras' numpy preprocessing works in place on float input).
        EfficientNet, EfficientNetV2, ConvNeXt and MobileNetV3 rescale and normalise inside
        the model, so their ``preprocess_input`` is a pass-through and the result is simply
        the pixels as float32 in 0-255.
        """
        if self.preprocessing is None:
            raise ValueError(
                f"{self.name}: no preprocess_input is known for this model; "
                "add its Keras module to generator/model_facts.py"
            )
        images = np.asarray(images_uint8)
        if images.dtype != np.uint8 or images.ndim not in (3, 4) or images.shape[-1] != 3:
            raise ValueError(
                "expected uint8 RGB pixels shaped (h, w, 3) or (n, h, w, 3), got "
                f"{images.dtype} {images.shape}"
            )
        pixels = images.astype(np.float32)
        arithmetic = preprocessed(self.preprocessing, pixels)
        if arithmetic is not None:
            return arithmetic
        module_name, function_name = self.preprocessing.rsplit(".", 1)
        preprocess_input = getattr(importlib.import_module(module_name), function_name)
        return np.asarray(preprocess_input(pixels), dtype=np.float32)


class UnknownModelError(KeyError):
    """A model name that matches no constructor; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError would show the message with quotes around it
        return str(self.args[0])


def slugify(name: str) -> str:
    """Constructor name to the stable lower-case slug used in URLs and file names."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _is_constructor(name: str, obj: object) -> bool:
    """A public, upper-case callable taking ``include_top`` and ``weights`` builds a model."""
    if not name[:1].isupper() or inspect.isclass(obj) or not callable(obj):
        return False
    try:
        parameters = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return False
    return "include_top" in parameters and "weights" in parameters


def _public_module(constructor: Callable) -> str:
    """``keras.src.applications.x`` -> ``keras.applications.x`` when that module exists."""
    source = getattr(constructor, "__module__", "") or ""
    public = source.replace("keras.src.applications.", "keras.applications.", 1)
    if public != source:
        try:
            importlib.import_module(public)
            return public
        except ImportError:
            pass
    return source


def _preprocessing_name(module: str) -> str | None:
    """Dotted name of ``module.preprocess_input`` if the module has one."""
    try:
        found = hasattr(importlib.import_module(module), "preprocess_input")
    except (ImportError, ValueError):  # ValueError: empty module name
        return None
    return f"{module}.preprocess_input" if found else None


def _default_input_size(constructor: Callable) -> int:
    """Input side of a constructor the facts table does not know.

    Taken from an ``input_shape`` default in the signature, else from the docstring
    phrase Keras uses ("the input shape has to be `(299, 299, 3)`"), else 224.
    """
    shape = inspect.signature(constructor).parameters.get("input_shape")
    if shape is not None and isinstance(shape.default, tuple) and len(shape.default) == 3:
        return int(shape.default[0])
    match = re.search(r"has to be\s+`?\((\d+),\s*(\d+),\s*3\)", constructor.__doc__ or "")
    return int(match.group(1)) if match else FALLBACK_INPUT_SIZE


def _spec(name: str, constructor: Callable) -> ModelSpec:
    facts = MODEL_FACTS.get(name)
    if facts is None:
        module = _public_module(constructor)
        size = _default_input_size(constructor)
        return ModelSpec(
            name=name,
            slug=slugify(name),
            constructor=constructor,
            module=module,
            family=None,
            paper=None,
            paper_url=None,
            year=None,
            input_size=(size, size),
            top1=None,
            top5=None,
            params=None,
            preprocessing=_preprocessing_name(module),
            gradcam_layer=None,
            known=False,
        )
    paper = PAPERS[facts.family]
    return ModelSpec(
        name=name,
        slug=slugify(name),
        constructor=constructor,
        module=facts.module,
        family=facts.family,
        paper=paper.title,
        paper_url=paper.url,
        year=paper.year,
        input_size=(facts.input_size, facts.input_size),
        top1=facts.top1,
        top5=facts.top5,
        params=facts.params,
        preprocessing=f"{facts.module}.preprocess_input",
        gradcam_layer=facts.gradcam_layer,
        known=True,
    )


def discover() -> dict[str, ModelSpec]:
    """Every model constructor in ``keras.applications``, by name, sorted by name.

    Not cached: it is cheap (signatures only) and always reflects the module as it is now.
    """
    constructors = {
        name: obj
        for name in dir(keras.applications)
        if _is_constructor(name, obj := getattr(keras.applications, name))
    }
    return {name: _spec(name, constructors[name]) for name in sorted(constructors)}


def get_spec(name: str) -> ModelSpec:
    """Look a model up by constructor name (any case) or slug."""
    specs = discover()
    wanted = name.strip().lower()
    for spec in specs.values():
        if wanted in (spec.name.lower(), spec.slug):
            return spec
    lower_to_name = {spec.name.lower(): spec.name for spec in specs.values()}
    close = difflib.get_close_matches(wanted, list(lower_to_name), n=1, cutoff=0.0)
    suggestion = f" Did you mean {lower_to_name[close[0]]!r}?" if close else ""
    raise UnknownModelError(f"unknown model {name!r}.{suggestion} Valid names: {', '.join(specs)}")


def own_spec(own: OwnModelFile) -> ModelSpec:
    """The spec of a user's saved model: named by its file, its input size read from the file
    (224 when the model takes any size), keyed by the file's hash (``plan.model_key``)."""
    return ModelSpec(
        name=own.name,
        slug=own.slug,
        constructor=None,
        module="",
        family=None,
        paper=None,
        paper_url=None,
        year=None,
        input_size=input_side(own.path) or (FALLBACK_INPUT_SIZE, FALLBACK_INPUT_SIZE),
        top1=None,
        top5=None,
        params=None,
        preprocessing=own.preprocessing,
        gradcam_layer=own.target_layer,
        known=False,
        file=own.path,
        file_sha256=file_sha256(own.path),
        class_names=own.class_names,
        class_names_file=own.class_names_file,
    )


def constructor_arguments(spec: ModelSpec, **overrides: Any) -> dict:
    """The arguments ``build_model`` calls ``spec``'s constructor with, ``weights`` aside: the
    classifier head with logits output, at the input size of ``spec``; ``overrides`` are extra
    or replacement arguments (e.g. ``include_top=False, alpha=0.25``)."""
    assert spec.constructor is not None, f"{spec.name} is a model file, built by no constructor"
    parameters = inspect.signature(spec.constructor).parameters
    kwargs: dict = {"include_top": True}
    if "input_shape" in parameters:
        kwargs["input_shape"] = (*spec.input_size, 3)
    if "classifier_activation" in parameters:
        kwargs["classifier_activation"] = None  # logits: Grad-CAM needs pre-softmax scores
    kwargs.update(overrides)
    return kwargs


def build_model(
    spec: ModelSpec, weights: weights_mod.Verified | Literal["random"], **overrides: Any
) -> keras.Model:
    """Build ``spec``'s model with the classifier head and logits output.

    ``weights`` is the weight file ``weights.resolve_weights`` found (loaded with Keras'
    ``load_weights``, as the constructor itself loads the file it downloads; an unreadable
    file raises ``weights.WeightsUnavailable``) or ``"random"`` (seeded, so two random builds
    are identical). ``overrides`` are extra or replacement constructor arguments
    (``constructor_arguments``).
    """
    if spec.file is not None:
        return load_own_model(spec)
    assert spec.constructor is not None, "a zoo spec has its constructor"
    kwargs = constructor_arguments(spec, **overrides)
    if isinstance(weights, str) and weights == "random":
        keras.utils.set_random_seed(0)
        return spec.constructor(weights=None, **kwargs)
    model = spec.constructor(weights=None, **kwargs)
    try:
        model.load_weights(str(weights.path))
    except Exception as e:
        raise weights_mod.unreadable(spec.name, weights, e) from e
    _as_built_for_imagenet(spec, model)
    return model


def load_own_model(spec: ModelSpec) -> keras.Model:
    """A user's saved model, as saved (its own weights); OwnModelError naming the file and the
    fix when it is corrupt, not a Keras model, or needs custom objects that are not registered."""
    assert spec.file is not None
    try:
        model = keras.saving.load_model(spec.file, compile=False)
    except Exception as error:
        text = " ".join(str(error).split())
        if "custom" in text.lower() or "Could not locate" in text or "Unknown" in text:
            fix = (
                "it uses a custom layer, function or class that Keras does not know, and the "
                "gallery loads files with Keras' own objects only; save a model built from "
                "Keras layers (or fold the custom part into them)"
            )
        elif _is_hdf5(spec.file):
            fix = (
                "Keras 3 could not rebuild the model from this legacy HDF5 file; load it with "
                "the Keras that saved it and save it again with model.save('name.keras')"
            )
        else:
            fix = (
                "it is corrupt or not a saved Keras model; save it again with "
                "model.save('name.keras')"
            )
        keras_says = text.split(". ")[0][:200]  # its first sentence; the log has the rest
        raise OwnModelError(f"{spec.file.name} cannot be loaded: {fix} ({keras_says})") from error
    if not isinstance(model, keras.Model):
        raise OwnModelError(f"{spec.file.name} holds no Keras model; save one with model.save")
    return model


def _is_hdf5(path: Path) -> bool:
    """Whether the file is a readable HDF5 file (a legacy Keras save, or another program's)."""
    import h5py  # Keras' own dependency

    try:
        with h5py.File(path, "r") as h5:
            return "model_config" in h5.attrs
    except OSError:
        return False


def _as_built_for_imagenet(spec: ModelSpec, model: keras.Model) -> None:
    """Make a model loaded from its weight file compute what Keras' ImageNet build of the same
    constructor computes (see ``IMAGENET_STEM_SCALE``)."""
    scale = IMAGENET_STEM_SCALE.get(spec.constructor.__module__.rsplit(".", 1)[-1])
    if scale is None:
        return
    found = [layer for layer in model.layers if isinstance(layer, keras.layers.Normalization)]
    if len(found) != 1:
        raise RuntimeError(
            f"{spec.name}: expected one Normalization layer to fold the ImageNet input scale"
            f" into, found {len(found)}; this Keras builds the model differently"
        )
    (normalization,) = found
    mean, variance, *rest = normalization.get_weights()
    normalization.set_weights([mean, variance * np.asarray(scale, variance.dtype), *rest])
    normalization.finalize_state()  # its mean and variance as used by `call`


def _cell(value: object, fmt: str = "{}") -> str:
    return "?" if value is None else fmt.format(value)


def format_table(specs: Iterable[ModelSpec]) -> str:
    """Plain-text table of models for ``python -m generator list-models``."""
    header = ("name", "family", "year", "input", "params", "top-1", "top-5")
    rows = [header]
    for spec in specs:
        rows.append(
            (
                spec.name + ("" if spec.known else " *"),
                _cell(spec.family),
                _cell(spec.year),
                "{}x{}".format(*spec.input_size),
                _cell(spec.params, "{:.1f}M"),
                _cell(spec.top1, "{:.1f}%"),
                _cell(spec.top5, "{:.1f}%"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths))
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    if any(row[0].endswith(" *") for row in rows[1:]):
        lines.append("* not in generator/model_facts.py: facts unknown")
    return "\n".join(lines)
