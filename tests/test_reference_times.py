"""Build times on pages come from the shipped reference file; each build records its own."""

from __future__ import annotations

import json

from generator.reference_times import BuildTimes, record_build_times, reference_times
from generator.registry import discover


def test_the_reference_file_covers_every_model_with_positive_times():
    shipped = reference_times()
    assert set(shipped.seconds) == set(discover())
    assert all(seconds > 0 for seconds in shipped.seconds.values())
    assert shipped.images > 0 and "CPU" in shipped.machine


def test_a_build_records_its_times_in_the_reference_format(tmp_path):
    path = tmp_path / "build-times.json"
    record_build_times(path, {"VGG16": 44.2, "AlexNet": 1.5}, images=3)
    recorded = BuildTimes(**json.loads(path.read_text(encoding="utf-8")))
    assert list(recorded.seconds) == ["AlexNet", "VGG16"]  # sorted, so files diff cleanly
    assert recorded.seconds["VGG16"] == 44.2 and recorded.images == 3
    assert "CPU cores" in recorded.machine and "TensorFlow" in recorded.machine
