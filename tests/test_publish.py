"""Versioned publishing: two releases deployed with `mike` are both served, each citing itself."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

import pytest
from sitekit import REPO, mkdocs_config, quick_build_options

import generator.figures as figures_module
import generator.plan as plan_module
import generator.publish as publish_module
from generator.build import build

MIKE = Path(sys.executable).parent / "mike"
SITE_URL = "https://example.org/gallery/"
PAGE = "models/mobilenetv3small/"


def _git_env() -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.org",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.org",
        "NO_MKDOCS_2_WARNING": "1",
    }


def _run(*command: str | Path, cwd: Path) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=_git_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urlopen(url) as response:
                return response.read().decode("utf-8")
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.mark.skipif(not MIKE.exists(), reason="mike is not installed")
def test_two_releases_deployed_with_mike_are_served_each_citing_its_own_version(
    tmp_path, monkeypatch
):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(REPO / "sample_images" / "cat.jpg", images / "cat.jpg")
    repo = tmp_path / "repo"  # a scratch repository: no branch of the project's is touched
    repo.mkdir()
    docs = repo / "docs"
    _run("git", "init", "-q", "-b", "main", cwd=repo)
    config = mkdocs_config(docs, repo, versioned=True)
    (docs / ".gallery-site").touch()  # as in the project's site_src/ beside its static files
    text = config.read_text("utf-8").replace(
        "site_url: https://cnn-gallery.github.io/cnn-gallery/", f"site_url: {SITE_URL}"
    )
    config.write_text(text, "utf-8")
    monkeypatch.setattr("generator.site_config.MKDOCS_CONFIG_PATH", config)
    _run("git", "add", "mkdocs.yml", cwd=repo)
    _run("git", "commit", "-q", "-m", "config", cwd=repo)

    for version in ("1.0.0", "1.1.0"):
        for module in (publish_module, plan_module, figures_module):  # pages, cache key, grids
            monkeypatch.setattr(module, "__version__", version)
        report = build(quick_build_options(images, docs, top=1))
        assert report.ok, report.summary()
        _run(MIKE, "deploy", "--update-aliases", version, "latest", cwd=repo)
    _run(MIKE, "set-default", "latest", cwd=repo)

    versions = json.loads(_run("git", "show", "gh-pages:versions.json", cwd=repo))
    assert {v["version"]: v["aliases"] for v in versions} == {"1.1.0": ["latest"], "1.0.0": []}
    port = _free_port()
    server = subprocess.Popen(
        [str(MIKE), "serve", "-a", f"127.0.0.1:{port}"],
        cwd=repo,
        env=_git_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}/"
        for version in ("1.0.0", "1.1.0"):
            page = _get(f"{base}{version}/{PAGE}")
            other = "1.1.0" if version == "1.0.0" else "1.0.0"
            assert f'href="{SITE_URL}{version}/{PAGE}"' in page
            assert f"CNN Gallery {version}" in page and f"{SITE_URL}{other}/" not in page
            assert f'href="{SITE_URL}latest/{PAGE}"' in page
            assert '"provider": "mike"' in page  # the version selector is on
        assert "CNN Gallery 1.1.0" in _get(f"{base}latest/{PAGE}")
        assert json.loads(_get(f"{base}versions.json")) == versions
    finally:
        server.terminate()
        server.wait(timeout=30)
