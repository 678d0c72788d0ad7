"""Build times on pages come from the shipped reference file, and only for the configuration it
was measured with; each build records its own, with its configuration."""

from __future__ import annotations

import dataclasses
import json

from generator.methods import catalog
from generator.reference_times import (
    BuildTimes,
    configuration,
    record_build_times,
    reference_note,
    reference_times,
)
from generator.registry import discover

MEASURED = ("grad-cam", "guided-grad-cam", "guided-backprop", "deconvnet")


def test_the_reference_file_covers_every_model_with_positive_times():
    shipped = reference_times()
    assert set(shipped.seconds) == set(discover())
    assert all(seconds > 0 for seconds in shipped.seconds.values())
    assert shipped.images > 0 and "CPU" in shipped.machine
    # what they were measured with: every slug known, in catalog order
    assert shipped.configuration() == configuration(
        tuple(shipped.methods), shipped.top, shipped.many_pass_top or 1, shipped.images
    )


def test_a_build_records_its_times_and_configuration_in_the_reference_format(tmp_path):
    path = tmp_path / "build-times.json"
    build = configuration(("smoothgrad", "grad-cam"), top=5, many_pass_top=2, images=3)
    record_build_times(path, {"VGG16": 44.2, "AlexNet": 1.5}, build)
    recorded = BuildTimes(**json.loads(path.read_text(encoding="utf-8")))
    assert list(recorded.seconds) == ["AlexNet", "VGG16"]  # sorted, so files diff cleanly
    assert recorded.seconds["VGG16"] == 44.2 and recorded.images == 3
    assert "CPU cores" in recorded.machine and "TensorFlow" in recorded.machine
    assert recorded.methods == ["grad-cam", "smoothgrad"] and recorded.top == 5
    assert recorded.many_pass_top == 2
    assert recorded.configuration() == build  # the recorded file can become the reference


def test_the_default_method_set_is_not_given_times_measured_for_four_methods():
    shipped = reference_times()
    assert tuple(shipped.methods) == MEASURED and shipped.top == 5
    note = reference_note(configuration(catalog.SLUGS, top=5, many_pass_top=1, images=5))
    assert not note.applies
    assert note.measured_with == (
        "Grad-CAM, Guided Grad-CAM, Guided Backprop and DeConvNet only, top 5 classes, 5 images"
    )


def test_the_reference_applies_only_to_the_configuration_it_was_measured_with():
    assert reference_note(configuration(MEASURED, top=5, many_pass_top=1, images=5)).applies
    # order of --methods and --many-pass-top without a many-pass method change no work
    same = configuration(tuple(reversed(MEASURED)), top=5, many_pass_top=3, images=5)
    assert reference_note(same).applies
    for other in (
        configuration(MEASURED[:2], top=5, many_pass_top=1, images=5),
        configuration(MEASURED, top=3, many_pass_top=1, images=5),
        configuration(MEASURED, top=5, many_pass_top=1, images=2),
        configuration((*MEASURED, "occlusion"), top=5, many_pass_top=1, images=5),
    ):
        assert not reference_note(other).applies, other


def test_a_reference_with_many_pass_methods_names_their_class_count():
    every = configuration(catalog.SLUGS, top=5, many_pass_top=2, images=5)
    reference = dataclasses.replace(reference_times(), methods=list(every.methods), many_pass_top=2)
    assert reference_note(every, reference).applies
    note = reference_note(dataclasses.replace(every, many_pass_top=1), reference)
    assert not note.applies
    assert " only" not in note.measured_with
    assert "top 5 classes (2 for the methods that need many passes), 5 images" in note.measured_with
