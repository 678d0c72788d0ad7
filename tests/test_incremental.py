"""Incremental builds: nothing finished is computed twice, and rebuilds give the same bytes."""

from __future__ import annotations

import dataclasses
import html
import json
import shutil
from pathlib import Path

import pytest
from sitekit import QUICK_METHODS, REPO, mkdocs_build, quick_build_options, site_files

import generator.model_work as model_work_module
import generator.plan as plan_module
from generator.build import build
from generator.files import file_sha256
from generator.methods import catalog
from generator.methods.explain import Explainer
from generator.methods.perturb.occlusion import Occlusion
from generator.options import BuildOptions, select_shard
from generator.plan import method_code
from generator.registry import get_spec


@pytest.fixture()
def counted(monkeypatch):
    """Count models built and images explained, and record the methods each explain call was
    asked for."""
    calls = {"models": 0, "images": 0, "asked": []}
    real_build, real_explain = model_work_module.build_model, Explainer.explain

    def build_model(*args, **kwargs):
        calls["models"] += 1
        return real_build(*args, **kwargs)

    def explain(self, *args, methods=None, **kwargs):
        calls["images"] += 1
        asked = self.methods if methods is None else methods
        calls["asked"].append(sorted(method.slug for method in asked))
        return real_explain(self, *args, methods=methods, **kwargs)

    monkeypatch.setattr(model_work_module, "build_model", build_model)
    monkeypatch.setattr(Explainer, "explain", explain)
    return calls


def _stamps(out: Path) -> dict[str, tuple[int, int]]:
    """(inode, modification time) of every file and folder of `out`, the build's log and lock
    (which every build writes) left out."""
    skipped = {".gallery-cache", ".gallery-cache/build.log", ".gallery-cache/build.lock"}
    return {
        relative: (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in out.rglob("*")
        if (relative := path.relative_to(out).as_posix()) not in skipped
    }


def test_rebuild_does_no_model_work_and_a_new_image_computes_only_itself(tmp_path, counted):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(REPO / "sample_images" / "cat.jpg", images / "cat.jpg")
    out = tmp_path / "site"
    options = quick_build_options(images, out, top=2)

    assert build(options).ok
    assert (counted["models"], counted["images"]) == (1, 1)
    first = site_files(out)
    assert build(options).ok  # nothing changed: the section comes from the cache, no model
    assert counted["models"] == 1 and site_files(out) == first

    stamps = _stamps(out)
    assert build(options).ok
    assert (counted["models"], counted["images"]) == (1, 1)  # nothing recomputed
    assert site_files(out) == first  # byte-identical, build times included
    assert _stamps(out) == stamps  # and nothing written: no file or folder touched

    shutil.copy(REPO / "sample_images" / "rocket.jpg", images / "rocket.jpg")
    assert build(options).ok
    assert (counted["models"], counted["images"]) == (2, 2)  # only the new image
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
    assert not stale.parent.exists() and not (out / "compare" / "rocket").exists()  # emptied
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
        # with what they were measured, so the file can become the reference as it is
        assert times["methods"] == list(QUICK_METHODS) and times["top"] == 2
        assert times["many_pass_top"] is None  # no method that needs many passes ran
    # The reference was measured with other methods: the card says "not measured", and the
    # About page names what it was measured with, not its time.
    card = " ".join(trees[0]["models/mobilenetv3small.md"].decode().split())
    assert "| Build time | not measured ([how it is measured](../about.md#build-time)) |" in card
    about = " ".join(trees[0]["about.md"].decode().split())
    assert "were measured with" in about and "do not hold for other work" in about


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


def test_a_fresh_folder_with_only_a_restored_cache_recomputes_nothing(tmp_path, counted):
    """The Pages workflow's shard jobs: a fresh checkout, `.gallery-cache` and `assets`
    restored from the last run (no manifest, no pages, no site marker)."""
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(REPO / "sample_images" / "cat.jpg", images / "cat.jpg")

    def options(out: Path) -> BuildOptions:
        return quick_build_options(images, out, top=1, methods=("grad-cam",))

    assert build(options(tmp_path / "last-run")).ok
    restored = tmp_path / "restored"
    for cached in (".gallery-cache", "assets"):
        shutil.copytree(tmp_path / "last-run" / cached, restored / cached)
    models = counted["models"]
    report = build(options(restored))  # the journals make the folder the generator's
    assert report.ok and report.cached == ["MobileNetV3Small"]
    assert counted["models"] == models
    assert site_files(restored) == site_files(tmp_path / "last-run")


# --- one cache entry per method: a changed method recomputes only itself -------------------------

ASSETS = "assets/mobilenetv3small/cat"
THREE_METHODS = (*QUICK_METHODS, "occlusion")  # occlusion: a method with options, cheap here


def _cat_options(images: Path, out: Path, methods: tuple[str, ...]) -> BuildOptions:
    return quick_build_options(images, out, top=2, methods=methods)


def _times(out: Path) -> dict[str, int]:
    """Each picture's modification time, in nanoseconds: a rewritten file changes it."""
    return {p.name: p.stat().st_mtime_ns for p in (out / ASSETS).iterdir()}


@pytest.fixture()
def cat_images(tmp_path) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(REPO / "sample_images" / "cat.jpg", images / "cat.jpg")
    return images


def test_a_changed_method_option_recomputes_only_that_method(
    tmp_path, cat_images, counted, monkeypatch
):
    out = tmp_path / "site"
    assert build(_cat_options(cat_images, out, THREE_METHODS)).ok
    before, times = site_files(out), _times(out)
    assert counted["asked"] == [sorted(THREE_METHODS)]

    # Occlusion's stride changes (as an edited default would): its key changes, no other.
    changed = tuple(
        Occlusion(stride=0.25) if method.slug == "occlusion" else method
        for method in catalog.METHODS
    )
    monkeypatch.setattr(catalog, "_methods", lambda: changed)  # what select() reads
    report = build(_cat_options(cat_images, out, THREE_METHODS))

    assert report.ok, report.summary()
    assert report.computed == {"MobileNetV3Small": {"occlusion": 1}}
    assert counted["asked"][1:] == [["occlusion"]]  # the explainer is asked for it alone
    after, rewritten = site_files(out), _times(out)
    (occlusion,) = [path for path in after if path.startswith(f"{ASSETS}/occlusion-")]
    assert after[occlusion] != before[occlusion]  # the new stride's picture
    assert after[f"{ASSETS}/explanations.webp"] != before[f"{ASSETS}/explanations.webp"]
    # Its family's print sheet is redrawn with it, from the other methods' stored cells.
    sheet = f"{ASSETS}/sheet-attributions.webp"
    assert after[sheet] != before[sheet]
    redrawn = ("occlusion-", "explanations", "sheet-attributions")
    kept = [name for name in times if not name.startswith(redrawn)]
    assert len(kept) > 10  # crop, feature maps, projections, both other methods' pictures
    for name in kept:  # neither redrawn nor rewritten
        assert rewritten[name] == times[name], name
        assert after[f"{ASSETS}/{name}"] == before[f"{ASSETS}/{name}"], name
    assert "stride 0.25" in html.unescape(after["models/mobilenetv3small.md"].decode())

    fresh = tmp_path / "fresh"  # the same options from scratch give the same site
    assert build(_cat_options(cat_images, fresh, THREE_METHODS)).ok
    assert site_files(fresh) == after


def test_an_edited_method_module_changes_the_keys_of_the_methods_that_run_its_code(monkeypatch):
    """The Pages workflow keeps its cache across edits of the method packages: the method keys
    must tell which methods an edited module changes (a wrapped or imported method's too)."""
    before = {method.slug: method_code(method) for method in catalog.METHODS}
    real_source = plan_module._module_source

    def edited(module: str) -> bytes:
        extra = b"# edited" if module == "generator.methods.gradient.guided_backprop" else b""
        return real_source(module) + extra

    monkeypatch.setattr(plan_module, "_module_source", edited)
    plan_module._source_digest.cache_clear()
    try:
        after = {method.slug: method_code(method) for method in catalog.METHODS}
    finally:
        plan_module._source_digest.cache_clear()
    changed = {slug for slug in before if after[slug] != before[slug]}
    assert changed == {"guided-backprop", "guided-grad-cam", "smoothgrad-guided"}


def test_an_added_method_computes_only_itself_and_a_removed_one_nothing(
    tmp_path, cat_images, counted
):
    out = tmp_path / "site"
    assert build(_cat_options(cat_images, out, QUICK_METHODS)).ok
    two, times = site_files(out), _times(out)

    report = build(_cat_options(cat_images, out, THREE_METHODS))
    assert report.computed == {"MobileNetV3Small": {"occlusion": 1}}
    assert counted["asked"] == [sorted(QUICK_METHODS), ["occlusion"]]
    added = site_files(out)
    assert any(path.startswith(f"{ASSETS}/occlusion-") for path in added)
    redrawn = ("explanations.webp", "sheet-attributions.webp")  # occlusion's family's sheet
    assert all(_times(out)[name] == times[name] for name in times if name not in redrawn)
    fresh = tmp_path / "fresh"
    assert build(_cat_options(cat_images, fresh, THREE_METHODS)).ok
    assert site_files(fresh) == added

    models, asked = counted["models"], len(counted["asked"])
    report = build(_cat_options(cat_images, out, QUICK_METHODS))  # occlusion removed again
    assert report.ok and report.cached == ["MobileNetV3Small"]
    assert report.computed == {"MobileNetV3Small": {}}
    assert (counted["models"], len(counted["asked"])) == (models, asked)  # no model, no pass
    # The first build's grid entry names the grid's path, which now holds the three-method
    # grid: it is redrawn from the stored cells, and occlusion's files are deleted.
    assert site_files(out) == two


def test_adding_then_removing_a_method_in_model_processes_leaves_a_valid_site(tmp_path):
    """A method added, then removed again, with each model computed in its own process (as the
    command line does): the grid its process rewrote stays the generator's, so the third build
    replaces it instead of failing on "a file the generator did not write", and the site then
    equals a fresh build of the same options."""
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(REPO / "sample_images" / "cat.jpg", images / "cat.jpg")
    out = tmp_path / "site"
    for methods in (("grad-cam",), ("grad-cam", "guided-backprop"), ("grad-cam",)):
        options = quick_build_options(images, out, top=1, methods=methods, isolate=True)
        report = build(options)
        assert report.ok, report.summary()
        manifest = json.loads((out / ".gallery-manifest.json").read_text(encoding="utf-8"))
        for relative, sha256 in manifest["files"].items():
            assert file_sha256(out / relative) == sha256, relative
        assert "explanations.webp" in "".join(manifest["files"])  # the rewritten grid is ours
    fresh = tmp_path / "fresh"
    assert build(quick_build_options(images, fresh, top=1, methods=("grad-cam",))).ok
    assert site_files(out) == site_files(fresh)
    (tmp_path / "mkdocs").mkdir()
    built = mkdocs_build(out, tmp_path / "mkdocs")  # (copies the site's static files into out)
    assert built.returncode == 0, built.stderr


def test_a_trust_option_changed_recomputes_only_its_check(tmp_path, counted, capsys):
    """--trust-steps recomputes the deletion and insertion scores only (each method's top map
    asked once more, in one call); --randomization-steps the randomization only."""
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(REPO / "sample_images" / "cat.jpg", images / "cat.jpg")
    out = tmp_path / "site"
    options = quick_build_options(
        images, out, top=2, evaluate=True, trust_steps=2, randomization_steps=1
    )
    assert build(options).ok
    # The photo's explanations, then one randomization step: the scores reuse the photo's maps.
    assert (counted["models"], counted["images"]) == (1, 2)
    page = (out / "models" / "mobilenetv3small.md").read_text(encoding="utf-8")
    assert "2 steps each" in page and (out / "trust.md").is_file()
    strips = {p: _stamps(out)[p] for p in _stamps(out) if "trust-randomization-" in p}
    assert len(strips) == len(QUICK_METHODS)
    stamps = _stamps(out)
    assert build(options).ok  # nothing changed: no model, no file written (plots redrawn alike)
    assert (counted["models"], counted["images"]) == (1, 2) and _stamps(out) == stamps

    assert build(dataclasses.replace(options, trust_steps=3)).ok
    assert (counted["models"], counted["images"]) == (2, 3)  # the top maps, for the scores
    assert counted["asked"][-1] == sorted(QUICK_METHODS)
    assert "3 steps each" in (out / "models" / "mobilenetv3small.md").read_text(encoding="utf-8")
    assert {p: _stamps(out)[p] for p in strips} == strips  # randomization reused, untouched
    line = capsys.readouterr().out
    assert f"trust checks computed: deletion and insertion of {len(QUICK_METHODS) + 2}" in line

    assert build(dataclasses.replace(options, trust_steps=3, randomization_steps=2)).ok
    # The photo's top maps again, then one explain call per cascade step; scores are reused.
    line = capsys.readouterr().out
    assert (counted["models"], counted["images"]) == (3, 6), line
    assert f"trust checks computed: randomization of {len(QUICK_METHODS)}" in line
    assert "deletion and insertion of" not in line


def test_a_neuron_option_changed_recomputes_only_the_neurons_section(tmp_path, counted):
    """--neuron-steps (and the section's other options) are in its key only: the model is built
    again for the section, no photo is explained again, and no picture outside the section is
    written; the rebuild with the first options is byte-identical to the first build;
    --no-neurons removes the section's pictures and channel pages."""
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(REPO / "sample_images" / "cat.jpg", images / "cat.jpg")
    out = tmp_path / "site"
    options = quick_build_options(
        images, out, top=1, neurons=True, neuron_steps=2, neuron_size=32, neuron_channels=2
    )
    assert build(options).ok
    assert (counted["models"], counted["images"]) == (1, 1)
    first = site_files(out)
    assert build(options).ok  # nothing changed: the section comes from the cache, no model
    assert counted["models"] == 1 and site_files(out) == first
    pictures = sorted(p for p in first if "/_neurons/" in p)
    channel_pages = sorted(p for p in first if p.startswith("neurons/"))
    assert pictures and channel_pages
    outside = {p: s for p, s in _stamps(out).items() if "_neurons" not in p and p.endswith(".webp")}

    assert build(dataclasses.replace(options, neuron_steps=3)).ok
    assert (counted["models"], counted["images"]) == (2, 1)  # built again, nothing explained
    assert {p: _stamps(out)[p] for p in outside} == outside  # no other picture written
    page = (out / "models" / "mobilenetv3small.md").read_text(encoding="utf-8")
    assert "3 Adam steps" in page
    changed = [p for p in pictures if site_files(out)[p] != first[p]]
    assert changed  # the optimised pictures are new

    assert build(options).ok
    assert site_files(out) == first  # the first options again: the same bytes

    assert build(dataclasses.replace(options, neurons=False)).ok
    left = site_files(out)
    assert not [p for p in left if "/_neurons/" in p or p.startswith("neurons/")]
