"""Incremental builds: nothing finished is computed twice, and rebuilds give the same bytes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import generator.build as build_module
from generator.build import BuildOptions, build
from generator.registry import get_spec
from sitekit import REPO


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".gallery-cache" not in p.parts
    }


@pytest.fixture()
def counted(monkeypatch):
    """Count models built and images explained by the pipeline."""
    calls = {"models": 0, "images": 0}
    real_build, real_section = build_module.build_model, build_module._image_section

    def build_model(*args, **kwargs):
        calls["models"] += 1
        return real_build(*args, **kwargs)

    def image_section(*args, **kwargs):
        calls["images"] += 1
        return real_section(*args, **kwargs)

    monkeypatch.setattr(build_module, "build_model", build_model)
    monkeypatch.setattr(build_module, "_image_section", image_section)
    return calls


def test_rebuild_does_no_model_work_and_a_new_image_computes_only_itself(tmp_path, counted):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(REPO / "sample_images" / "cat.jpg", images / "cat.jpg")
    out = tmp_path / "site"
    options = BuildOptions(
        specs=(get_spec("MobileNetV3Small"),), images=images, out=out, weights="random", top=2
    )

    assert build(options).ok
    assert counted == {"models": 1, "images": 1}
    first = _tree(out)

    assert build(options).ok
    assert counted == {"models": 1, "images": 1}  # nothing recomputed
    assert _tree(out) == first  # byte-identical, build times included

    shutil.copy(REPO / "sample_images" / "rocket.jpg", images / "rocket.jpg")
    assert build(options).ok
    assert counted == {"models": 2, "images": 2}  # the model again, but only the new image
    after = _tree(out)
    assert "assets/mobilenetv3small/rocket/explanations.webp" in after
    assert after["assets/mobilenetv3small/cat/explanations.webp"] == first[
        "assets/mobilenetv3small/cat/explanations.webp"
    ]

    (images / "rocket.jpg").unlink()
    assert build(options).ok
    assert counted["images"] == 2
    assert not (out / "assets/mobilenetv3small/rocket/explanations.webp").exists()  # stale file removed
    assert _tree(out) == first


def test_two_fresh_builds_give_identical_bytes(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(REPO / "sample_images" / "coffee-cup.jpg", images / "coffee-cup.jpg")
    trees = []
    for name in ("a", "b"):
        out = tmp_path / name
        options = BuildOptions(
            specs=(get_spec("MobileNetV3Small"),), images=images, out=out, weights="random", top=2
        )
        build(options)
        trees.append(_tree(out))
    pictures = [{k: v for k, v in tree.items() if k.endswith(".webp")} for tree in trees]
    assert pictures[0] == pictures[1]
    assert trees[0].keys() == trees[1].keys()
