"""End to end: `python -m generator build` of two small models, then `mkdocs build --strict`."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from PIL import Image
from sitekit import BUILD_COMMAND, REPO, mkdocs_build

from generator.options import DEFAULT_NEURON_SIZE

MODELS = ("MobileNetV3Small", "MobileNet")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = tmp_path_factory.mktemp("e2e")
    images = work / "images"
    images.mkdir()
    for name in ("cat.jpg", "cat-and-cup.jpg"):
        shutil.copy(REPO / "sample_images" / name, images / name)
    (images / "broken.jpg").write_bytes(b"this is not a JPEG")
    docs = work / "docs"
    result = subprocess.run(
        [
            *BUILD_COMMAND,
            "--models",
            *MODELS,
            "--images",
            str(images),
            "--out",
            str(docs),
            "--weights",
            "random",
            "--top",
            "3",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=900,
        check=False,
    )
    return work, docs, result


def test_build_reports_and_exits_nonzero_for_the_skipped_image(built):
    _, _, result = built
    assert "Built 2 model(s), 0 failed." in result.stdout, result.stdout + result.stderr
    assert "broken.jpg" in result.stdout
    assert result.returncode == 1  # something was skipped


def test_every_model_page_shows_its_pictures_and_the_random_banner(built):
    _, docs, _ = built
    for slug in ("mobilenetv3small", "mobilenet"):
        page = (docs / "models" / f"{slug}.md").read_text(encoding="utf-8")
        assert "untrained" in page
        for image in ("cat", "cat-and-cup"):
            for asset in ("crop", "explanations"):
                path = docs / "assets" / slug / image / f"{asset}.webp"
                assert path.exists(), path
                assert f"../assets/{slug}/{image}/{asset}.webp" in page
        assert any((docs / "assets" / slug).glob("filters-*.webp"))
        assert len(list((docs / "assets" / slug / "cat").glob("features-*.webp"))) >= 4
    crop = Image.open(docs / "assets" / "mobilenet" / "cat" / "crop.webp")
    assert crop.size == (224, 224)


def test_every_model_page_checks_every_method_and_the_leaderboard_links_them(built):
    from generator.methods import catalog

    _, docs, _ = built
    board = (docs / "trust.md").read_text(encoding="utf-8")
    for slug in ("mobilenetv3small", "mobilenet"):
        page = (docs / "models" / f"{slug}.md").read_text(encoding="utf-8")
        assert 'id="trust"' in page or "{ #trust }" in page
        for method in catalog.SLUGS:
            assert f"trust--{method}" in page, (slug, method)
            assert f"models/{slug}.md#trust--{method}" in board, (slug, method)
            strip = docs / "assets" / slug / f"trust-randomization-{method}.webp"
            assert strip.is_file() and strip.name in page
        for plot in ("trust-randomization.webp", "trust-deletion-insertion.webp"):
            assert (docs / "assets" / slug / plot).is_file() and plot in page
    assert "trust.md" in (docs / "index.md").read_text(encoding="utf-8")


def test_every_model_page_shows_what_its_neurons_look_for_and_links_each_channel(built):
    """The neurons section at its defaults: a grid per stage tensor, class and DeepDream and
    inversion pictures; every channel a feature-map figure draws links to its anchor on its
    tensor's channel page, which holds its card (and its picture, if pictured)."""
    import re

    _, docs, _ = built
    for slug in ("mobilenetv3small", "mobilenet"):
        page = (docs / "models" / f"{slug}.md").read_text(encoding="utf-8")
        assert "What the neurons look for" in page
        for name in ("deep-dream.webp", "inversion.webp"):
            assert (docs / "assets" / slug / "_neurons" / name).is_file()
            assert f"_neurons/{name}" in page
        assert list((docs / "assets" / slug / "_neurons").glob("class-*.webp"))
        links = set(re.findall(rf"\.\./neurons/{slug}/([a-z0-9-]+)\.md#(ch-\d+)", page))
        assert links, "no channel is linked"
        for tensor, anchor in links:
            channel_page = (docs / "neurons" / slug / f"{tensor}.md").read_text(encoding="utf-8")
            assert f'id="{anchor}"' in channel_page or f"{{ #{anchor} }}" in channel_page
            stem = docs / "assets" / slug / "_neurons" / tensor / anchor
            assert stem.with_name(f"{anchor}-card.webp").is_file()
        pictured = list((docs / "assets" / slug / "_neurons").glob("*/ch-*[0-9].webp"))
        side = DEFAULT_NEURON_SIZE
        assert pictured and all(Image.open(p).size == (side, side) for p in pictured)


def test_manifest_lists_exactly_the_generated_files(built):
    _, docs, _ = built
    manifest = json.loads((docs / ".gallery-manifest.json").read_text(encoding="utf-8"))
    listed = set(manifest["files"])
    on_disk = {
        p.relative_to(docs).as_posix()
        for p in docs.rglob("*")
        if p.is_file() and ".gallery-cache" not in p.parts
    }
    assert listed == on_disk - {".gallery-manifest.json", ".gallery-site"}
    assert "index.md" in listed and "models/mobilenet.md" in listed


def test_mkdocs_strict_build_passes(built):
    work, docs, _ = built
    result = mkdocs_build(docs, work)
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr
    assert (work / "site" / "models" / "mobilenetv3small" / "index.html").exists()
