"""Helpers shared by the tests that build whole sites."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from generator.options import BuildOptions

REPO = Path(__file__).resolve().parent.parent
BUILD_COMMAND = (sys.executable, "-m", "generator", "build")  # the CLI as a user runs it
# Builds that test the pipeline (cache, output safety, the terminal), not the methods, compute
# one class map and one input attribution, and leave out the trust checks and the neurons
# section: every method, check and optimisation traced would add minutes per test.
# tests/test_build_e2e.py builds with every method, the checks and the neurons section.
QUICK_METHODS = ("grad-cam", "guided-backprop")


def small_build_options(images: Path, out: Path, top: int) -> list[str]:
    """`build` options for the smallest model with random weights: the tests' quickest real build."""
    return [
        "--models", "MobileNetV3Small", "--images", str(images), "--out", str(out),
        "--weights", "random", "--top", str(top), "--methods", *QUICK_METHODS, "--no-evaluate",
        "--no-neurons",
    ]  # fmt: skip


def quick_build_options(images: Path, out: Path, top: int, **overrides) -> BuildOptions:
    """`small_build_options` as `BuildOptions`, for builds in the test process; `overrides` win."""
    # Imported here: the generator's build modules load TensorFlow, and the CLI tests that
    # import this module must stay quick to collect.
    from generator.options import BuildOptions
    from generator.registry import get_spec

    options = BuildOptions(
        specs=(get_spec("MobileNetV3Small"),),
        images=images,
        out=out,
        weights="random",
        top=top,
        methods=QUICK_METHODS,
        evaluate=False,
        neurons=False,
    )
    return dataclasses.replace(options, **overrides)


def mkdocs_config(docs: Path, work: Path, versioned: bool = False) -> Path:
    """The project's mkdocs.yml for `docs`, written to `work/mkdocs.yml`.

    Unless `versioned`, without the version selector: it reads the `versions.json` that only
    `mike` writes beside the published versions, so a plain build would ask for a missing file.
    """
    for folder in ("stylesheets", "javascripts"):
        shutil.copytree(REPO / "site_src" / folder, docs / folder, dirs_exist_ok=True)
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    config["docs_dir"] = str(docs)
    config["hooks"] = [str(REPO / hook) for hook in config.get("hooks", [])]
    config["site_dir"] = str(work / "site")
    if not versioned:
        del config["extra"]["version"]
    config_path = work / "mkdocs.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return config_path


def mkdocs_build(docs: Path, work: Path) -> subprocess.CompletedProcess:
    """`mkdocs build --strict` of `docs` with the project's own mkdocs.yml and static files."""
    config_path = mkdocs_config(docs, work)
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config_path)],
        check=False,
        capture_output=True,
        text=True,
        cwd=work,
        # Material prints an end-of-life notice containing the word WARNING on every build.
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def site_files(folder: Path) -> dict[str, bytes]:
    """Every file of a built docs folder by relative path, the private cache left out."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".gallery-cache" not in p.parts
    }
