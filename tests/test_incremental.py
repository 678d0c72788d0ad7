"""Incremental builds: nothing finished is computed twice, and rebuilds give the same bytes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sitekit import REPO, quick_build_options, site_files

import generator.model_work as model_work_module
from generator.build import BuildOptions, build
from generator.plan import select_shard
from generator.registry import get_spec


@pytest.fixture()
def counted(monkeypatch):
    """Count models built and images explained by the pipeline."""
    calls = {"models": 0, "images": 0}
    real_build, real_section = model_work_module.build_model, model_work_module.image_section

    def build_model(*args, **kwargs):
        calls["models"] += 1
        return real_build(*args, **kwargs)

    def image_section(*args, **kwargs):
        calls["images"] += 1
        return real_section(*args, **kwargs)

    monkeypatch.setattr(model_work_module, "build_model", build_model)
    monkeypatch.setattr(model_work_module, "image_section", image_section)
    return calls


def test_rebuild_does_no_model_work_and_a_new_image_computes_only_itself(tmp_path, counted):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(REPO / "sample_images" / "cat.jpg", images / "cat.jpg")
    out = tmp_path / "site"
    options = quick_build_options(images, out, top=2)

    assert build(options).ok
    assert counted == {"models": 1, "images": 1}
    first = site_files(out)

    assert build(options).ok
    assert counted == {"models": 1, "images": 1}  # nothing recomputed
    assert site_files(out) == first  # byte-identical, build times included

    shutil.copy(REPO / "sample_images" / "rocket.jpg", images / "rocket.jpg")
    assert build(options).ok
    assert counted == {"models": 2, "images": 2}  # the model again, but only the new image
    after = site_files(out)
    assert "assets/mobilenetv3small/rocket/explanations.webp" in after
    assert (
        after["assets/mobilenetv3small/cat/explanations.webp"]
        == first["assets/mobilenetv3small/cat/explanations.webp"]
    )

    (images / "rocket.jpg").unlink()
    assert build(options).ok
    assert counted["images"] == 2
    stale = out / "assets/mobilenetv3small/rocket/explanations.webp"
    assert not stale.exists()  # the removed image's files are deleted
    assert site_files(out) == first


def test_two_fresh_builds_one_in_child_processes_give_identical_bytes(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(REPO / "sample_images" / "coffee-cup.jpg", images / "coffee-cup.jpg")
    trees, reports = [], []
    for name, isolate in (("in-process", False), ("isolated", True)):
        out = tmp_path / name
        options = quick_build_options(images, out, top=2, isolate=isolate)
        reports.append(build(options))
        trees.append(site_files(out))
    assert all(report.ok for report in reports)
    assert trees[0] == trees[1]  # every page, picture and the manifest
    assert "assets/mobilenetv3small/coffee-cup/explanations.webp" in trees[0]
    # Only the child-process build knows its model's own peak memory; the test process holds
    # many models by now, and the child's figure must not include them.
    assert not reports[0].peak_gib and 0.2 < reports[1].peak_gib["MobileNetV3Small"] < 4
    for name in ("in-process", "isolated"):  # each build records its own measured times
        times = json.loads((tmp_path / name / ".gallery-cache/build-times.json").read_text())
        assert times["seconds"]["MobileNetV3Small"] > 0 and times["images"] == 1


def test_sharded_builds_merge_into_the_same_site_as_one_build(tmp_path, counted):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(REPO / "sample_images" / "cat.jpg", images / "cat.jpg")
    specs = (get_spec("MobileNetV3Small"), get_spec("MobileNet"))

    def options(out: Path, chosen) -> BuildOptions:
        return quick_build_options(images, out, top=2, specs=tuple(chosen))

    build(options(tmp_path / "full", specs))
    shards = [select_shard(specs, index, 2) for index in (1, 2)]
    assert sorted(s.name for shard in shards for s in shard) == sorted(s.name for s in specs)
    assert all(len(shard) == 1 for shard in shards)
    merged = tmp_path / "merged"
    for index, shard in enumerate(shards, start=1):
        build(options(tmp_path / f"shard{index}", shard))
        shutil.copytree(tmp_path / f"shard{index}", merged, dirs_exist_ok=True)
    models_before = counted["models"]
    build(options(merged, specs))  # assembles the site from the shards' cache
    assert counted["models"] == models_before  # no model was built again
    assert site_files(merged) == site_files(tmp_path / "full")
    for page in ("models/mobilenet.md", "models/mobilenetv3small.md", "index.md"):
        assert (merged / page).exists()
