"""A user's own saved Keras model, as the command line names it (TensorFlow-free).

`--model-file PATH` (with `--class-names`, `--preprocess` and `--target-layer`, each given once
for every file or once per file) becomes an `OwnModelFile`, checked before TensorFlow loads:
the file exists, its class names read, its preprocessing parses, and no two files share a page
address. Its page address comes from the file's name (`your-models/<stem>/`), so it stays the
same when the model is retrained; its cache identity is the file's hash with its class names
and preprocessing (`registry.own_spec`), so a retrained file is recomputed.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from generator.printable import printable

if TYPE_CHECKING:
    import numpy as np

# Own models' slugs start with this, so their pictures (`assets/<slug>/`) and ids never meet a
# zoo model's; their pages live in a navigation section of their own (`page_ids.page_path`).
OWN_PREFIX = "own-"
SUFFIXES = (".keras", ".h5", ".hdf5")
# keras.applications modules with a `preprocess_input`, by the short name `--preprocess` takes.
KERAS_PREPROCESSING = (
    "convnext",
    "densenet",
    "efficientnet",
    "efficientnet_v2",
    "inception_resnet_v2",
    "inception_v3",
    "mobilenet",
    "mobilenet_v2",
    "mobilenet_v3",
    "nasnet",
    "resnet",
    "resnet50",
    "resnet_v2",
    "vgg16",
    "vgg19",
    "xception",
)
NO_PREPROCESSING = "none"
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


class OwnModelError(ValueError):
    """An own model that cannot be read as asked; the message names the file and the fix."""


@dataclass(frozen=True)
class OwnModelFile:
    """One `--model-file` and what goes with it."""

    path: Path
    class_names: tuple[str, ...] | None  # None: the pages show class indices and say so
    class_names_file: str | None  # the file they came from, for the page
    preprocessing: str  # canonical: "none", "keras.applications.<m>.preprocess_input",
    # "scale:<factor>" or "mean-std:<r>,<g>,<b>/<r>,<g>,<b>"
    target_layer: str | None  # Grad-CAM's tensor, by path; None: chosen from the graph

    @property
    def name(self) -> str:
        """The model's name on its page: the file's name."""
        return self.path.name

    @property
    def slug(self) -> str:
        return own_slug(self.path)


def own_slug(path: Path) -> str:
    """`own-<file stem as a slug>`: the same for `flowers.keras` and a retrained `flowers.h5`."""
    stem = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-") or "model"
    return OWN_PREFIX + stem


def parse_preprocessing(text: str) -> str:
    """`--preprocess` to its canonical form; OwnModelError naming what is accepted."""
    value = text.strip()
    lowered = value.lower()
    if lowered == NO_PREPROCESSING:
        return NO_PREPROCESSING
    if lowered in KERAS_PREPROCESSING:
        return f"keras.applications.{lowered}.preprocess_input"
    if lowered.startswith("scale:"):
        factor = _fraction(value[len("scale:") :])
        if factor is not None and factor != 0:
            return f"scale:{factor!r}"
    if lowered.startswith("mean-std:"):
        parts = value[len("mean-std:") :].split("/")
        if len(parts) == 2:
            mean, std = (_triple(part) for part in parts)
            if mean is not None and std is not None and all(s > 0 for s in std):
                return "mean-std:" + "/".join(",".join(repr(v) for v in t) for t in (mean, std))
    raise OwnModelError(
        f"--preprocess {value!r} is not understood; give one of: none (0-255 pixels as they "
        f"are), a keras.applications preprocessing ({', '.join(KERAS_PREPROCESSING)}), "
        "scale:F (pixels times F, e.g. scale:1/255), or mean-std:R,G,B/R,G,B ((pixel - mean) "
        "/ std per colour, on 0-255 pixels, e.g. mean-std:123.7,116.3,103.5/58.4,57.1,57.4)"
    )


def _fraction(text: str) -> float | None:
    """`0.5` or `1/255`."""
    match = re.fullmatch(rf"\s*({_NUMBER})\s*(?:/\s*({_NUMBER})\s*)?", text)
    if not match:
        return None
    top, bottom = float(match.group(1)), float(match.group(2) or 1)
    return top / bottom if bottom else None


def _triple(text: str) -> tuple[float, float, float] | None:
    values = [_fraction(part) for part in text.split(",")]
    if len(values) != 3 or any(v is None for v in values):
        return None
    return values[0], values[1], values[2]  # type: ignore[return-value]


def preprocessed(preprocessing: str, pixels: np.ndarray) -> np.ndarray | None:
    """`pixels` (float32, 0-255) by the canonical form's arithmetic (none, scale, mean-std);
    None for a keras.applications function, which the registry imports and calls."""
    import numpy as np  # here, not above: the CLI imports this module to check arguments fast

    if preprocessing == NO_PREPROCESSING:
        return pixels
    if preprocessing.startswith("scale:"):
        return pixels * np.float32(float(preprocessing[len("scale:") :]))
    if preprocessing.startswith("mean-std:"):
        mean, std = (
            np.array(part.split(","), np.float32)
            for part in preprocessing[len("mean-std:") :].split("/")
        )
        return (pixels - mean) / std
    return None


def describe_preprocessing(preprocessing: str) -> str:
    """The canonical form in words, for the page."""
    if preprocessing == NO_PREPROCESSING:
        return "none: the 0-255 pixels as they are"
    if preprocessing.startswith("scale:"):
        return f"pixels times {float(preprocessing[6:]):.6g}"
    if preprocessing.startswith("mean-std:"):
        mean, std = preprocessing[9:].split("/")
        return f"(pixel - ({mean})) / ({std}), per colour, on 0-255 pixels"
    return preprocessing


def read_class_names(path: Path) -> tuple[str, ...]:
    """One name per line (blank lines ignored), or a JSON list of strings."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise OwnModelError(
            f"--class-names {printable(path)} cannot be read ({error}); pass a UTF-8 text file "
            "with one class name per line, or a JSON list of names"
        ) from None
    if text.lstrip().startswith("["):
        try:
            names = json.loads(text)
        except json.JSONDecodeError as error:
            raise OwnModelError(
                f"--class-names {printable(path)} starts like JSON but is not valid JSON "
                f"({error}); give a JSON list of strings or one name per line"
            ) from None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise OwnModelError(f"--class-names {printable(path)} must hold a JSON list of strings")
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise OwnModelError(f"--class-names {printable(path)} names no class")
    return tuple(names)


def _one_each(option: str, values: Sequence[str] | None, count: int) -> list[str | None]:
    """An option given once for every file, or once per file, as a value per file."""
    if not values:
        return [None] * count
    if len(values) == 1:
        return [values[0]] * count
    if len(values) != count:
        raise OwnModelError(
            f"{option} was given {len(values)} times for {count} --model-file: give it once "
            "(for every file) or once per file, in the same order"
        )
    return list(values)


def own_model_files(
    paths: Sequence[Path],
    class_names: Sequence[str] | None = None,
    preprocess: Sequence[str] | None = None,
    target_layers: Sequence[str] | None = None,
) -> tuple[OwnModelFile, ...]:
    """The `--model-file` arguments checked and paired with their options (OwnModelError)."""
    names = _one_each("--class-names", class_names, len(paths))
    preprocessings = _one_each("--preprocess", preprocess, len(paths))
    targets = _one_each("--target-layer", target_layers, len(paths))
    files = []
    for path, names_file, preprocessing, target in zip(paths, names, preprocessings, targets):
        if not path.is_file():
            what = "is a folder" if path.is_dir() else "does not exist"
            raise OwnModelError(
                f"--model-file {printable(path)} {what}; pass a saved Keras model "
                f"({', '.join(SUFFIXES)})"
            )
        if path.suffix.lower() not in SUFFIXES:
            raise OwnModelError(
                f"--model-file {printable(path)} is not a saved Keras model file by its name; "
                f"save the model with model.save('name.keras') (or {', '.join(SUFFIXES[1:])})"
            )
        files.append(
            OwnModelFile(
                path=path,
                class_names=None if names_file is None else read_class_names(Path(names_file)),
                class_names_file=None if names_file is None else Path(names_file).name,
                preprocessing=parse_preprocessing(preprocessing or NO_PREPROCESSING),
                target_layer=target,
            )
        )
    _refuse_shared_addresses(files)
    return tuple(files)


def _refuse_shared_addresses(files: Sequence[OwnModelFile]) -> None:
    """Two files whose pages would have one address are refused, both named."""
    seen: dict[str, OwnModelFile] = {}
    for file in files:
        other = seen.setdefault(file.slug, file)
        if other is not file and other.path.resolve() != file.path.resolve():
            raise OwnModelError(
                f"--model-file {printable(other.path)} and {printable(file.path)} would share "
                f"one page address (your-models/{file.slug.removeprefix(OWN_PREFIX)}/, from "
                "the file name); rename one of them"
            )


def input_side(path: Path) -> tuple[int, int] | None:
    """The (height, width) of the model's image input, read from the file's configuration
    without loading the model; None when the file does not say (any size, or unreadable)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read("config.json"))
        else:
            import h5py  # Keras' own dependency, for the legacy format

            with h5py.File(path, "r") as h5:
                raw = h5.attrs.get("model_config")
                config = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    except Exception:  # noqa: BLE001 (the model process names what is wrong when it loads it)
        return None
    shape = _first_input_shape(config)
    if shape is None or len(shape) != 4 or not all(isinstance(d, int) for d in shape[1:3]):
        return None
    return int(shape[1]), int(shape[2])


def _first_input_shape(node: object) -> list | None:
    """The first input shape in a Keras configuration, in document order (the model's own
    input layer comes before the layers of a nested base)."""
    children: list
    if isinstance(node, dict):
        for key in ("batch_shape", "batch_input_shape"):
            if isinstance(node.get(key), list):
                return node[key]
        children = list(node.values())
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _first_input_shape(child)
        if found is not None:
            return found
    return None
