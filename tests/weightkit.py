"""What a keras.applications constructor does with `weights="imagenet"`: the file it asks for
and the model it builds for it.

The generator never asks a constructor for its file: it reads `generator/data/weight_files.json`
and loads the file into a model built with `weights=None` (`registry.build_model`). Keras has no
public way to ask a constructor which file it wants, so the tests (which check the table and the
models built from files against Keras' own ImageNet builds) and whoever records the table after a
Keras upgrade run the constructor with `weights="imagenet"` while Keras' private download function
(`keras.src.utils.file_utils.get_file`) and `keras.Model.load_weights` are replaced: nothing is
downloaded or read, and the model comes back with its initial weights. Test tooling only.

Rewrite the table for the installed Keras (slow: builds every architecture):

    python tests/weightkit.py
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any
from unittest import mock

import keras
from keras.src.utils import file_utils

from generator import registry, weights


def imagenet_request(spec: registry.ModelSpec, **overrides) -> tuple[Any, keras.Model]:
    """(the `weights.WeightFile` the constructor asks for, or None, and the model it builds)
    for `spec` called as `registry.build_model` calls it, with `weights="imagenet"`."""
    asked: list[weights.WeightFile] = []

    def get_file(
        fname=None, origin=None, *, file_hash=None, md5_hash=None, hash_algorithm="auto", **_
    ):
        if md5_hash is not None and file_hash is None:
            file_hash, hash_algorithm = md5_hash, "md5"
        name = fname or os.path.basename(origin or "")
        asked.append(weights.WeightFile(name, origin or "?", file_hash, hash_algorithm))
        return f"/nonexistent/{name}"

    def load_weights(model, *args, **kwargs):
        pass

    arguments = registry.constructor_arguments(spec, **overrides)
    with (
        mock.patch.object(file_utils, "get_file", get_file),
        mock.patch.object(keras.Model, "load_weights", load_weights),
    ):
        model = spec.constructor(weights="imagenet", **arguments)
    assert len(asked) <= 1, asked
    return (asked[0] if asked else None), model


def operations(model: keras.Model) -> list[tuple[str, Any]]:
    """Every operation of `model` in graph order, as (class name, its configuration without
    names): two builds of one graph give equal lists whatever names Keras counted out."""
    return [(type(op).__name__, _unnamed(op.get_config())) for op in model.operations]


def _unnamed(config: Any) -> Any:
    """`config` with every "name" entry left out, at any depth (nested models name theirs)."""
    if isinstance(config, dict):
        return {key: _unnamed(value) for key, value in config.items() if key != "name"}
    if isinstance(config, list | tuple):
        return type(config)(_unnamed(value) for value in config)
    return config


def record_weight_files(names: list[str] | None = None) -> None:
    """Rewrite `weight_files.json` for `names` (default: every constructor)."""
    specs = registry.discover()
    files = {}
    for name in names or list(specs):
        file, _ = imagenet_request(specs[name])
        if file is not None:
            files[name] = file.__dict__
        keras.backend.clear_session()
    data = {"keras": keras.__version__, "files": files}
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    weights.WEIGHT_FILES_PATH.write_text(text, "utf-8")


if __name__ == "__main__":
    record_weight_files(sys.argv[1:] or None)
