"""Tests of generator.labels: the shipped ImageNet class names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from generator.labels import imagenet_labels, label_for

SHARED_LABELS = Path(__file__).resolve().parents[2] / "shared" / "imagenet-simple-labels.json"


def test_there_are_1000_distinct_non_empty_names():
    labels = imagenet_labels()

    assert isinstance(labels, tuple) and len(labels) == 1000
    assert len(set(labels)) == 1000
    assert all(isinstance(name, str) and name.strip() == name and name for name in labels)


def test_known_indices_follow_keras_class_order():
    assert label_for(0) == "tench"
    assert label_for(281) == "tabby cat"
    assert label_for(504) == "coffee mug"
    assert label_for(999) == "toilet paper"


def test_numpy_integers_such_as_an_argmax_are_accepted():
    scores = np.zeros(1000)
    scores[281] = 1.0
    assert label_for(np.argmax(scores)) == "tabby cat"


@pytest.mark.parametrize("index", [1000, -1, 5000])
def test_out_of_range_indices_raise_a_clear_error(index):
    with pytest.raises(IndexError, match=rf"index {index} is out of range.*0\.\.999"):
        label_for(index)


def test_non_integers_are_refused():
    with pytest.raises(TypeError):
        label_for(2.0)


def test_labels_load_from_the_package_whatever_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    imagenet_labels.cache_clear()

    assert imagenet_labels()[281] == "tabby cat"
    assert imagenet_labels() is imagenet_labels()  # cached: read once


@pytest.mark.skipif(
    not SHARED_LABELS.exists(), reason="shared/ is only beside the project in development"
)
def test_shipped_labels_equal_the_upstream_file():
    upstream = json.loads(SHARED_LABELS.read_text(encoding="utf-8"))
    assert list(imagenet_labels()) == upstream
