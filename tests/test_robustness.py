"""Robust builds: hostile names, contained failures, interruptions, and resuming after them."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import html
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sitekit import (
    BUILD_COMMAND,
    QUICK_METHODS,
    REPO,
    mkdocs_build,
    quick_build_options,
    site_files,
    small_build_options,
)
from test_images import BAD_FILES

import generator.manifest as manifest_module
import generator.model_work as model_work_module
from generator import cli
from generator.build import BuildRefused, build
from generator.options import BuildOptions
from generator.output_lock import LOCK_NAME, OutputLock
from generator.registry import get_spec

HOSTILE = "<img src=x onerror=alert(1)> [x](y) #h ..%2F"


def test_hostile_image_names_stay_inside_out_and_show_as_text(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(REPO / "sample_images" / "cat.jpg", images / f"{HOSTILE}.jpg")
    out = tmp_path / "docs"
    report = build(quick_build_options(images, out, top=2))
    assert report.ok, report.summary()
    for path in tmp_path.rglob("*"):
        assert path.is_relative_to(out) or path.is_relative_to(images), path
    assert all(re.fullmatch(r"[a-z0-9.\-/]+", name) for name in site_files(out) if "/" in name)
    result = mkdocs_build(out, tmp_path)
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "site" / "models" / "mobilenetv3small" / "index.html").read_text("utf-8")
    assert "<img src=x" not in html and 'href="y"' not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html or "&#60;img" in html


def test_a_failing_model_is_reported_and_the_others_build(tmp_path, monkeypatch):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(REPO / "sample_images" / "cat.jpg", images / "cat.jpg")
    real_build = model_work_module.build_model

    def build_model(spec, weights, **overrides):
        if spec.name == "MobileNet":
            raise MemoryError("simulated out-of-memory while building MobileNet")
        return real_build(spec, weights, **overrides)

    monkeypatch.setattr(model_work_module, "build_model", build_model)
    out = tmp_path / "docs"
    specs = (get_spec("MobileNet"), get_spec("MobileNetV3Small"))
    report = build(quick_build_options(images, out, top=2, specs=specs))
    assert list(report.built) == ["MobileNetV3Small"]
    assert "simulated out-of-memory" in report.failed["MobileNet"]
    assert "FAILED MobileNet" in report.summary() and not report.ok
    index = (out / "index.md").read_text("utf-8")
    assert "failed" in index and "simulated out" in index
    assert (out / "models" / "mobilenetv3small.md").exists()
    assert not (out / "models" / "mobilenet.md").exists()


def _killed_like_out_of_memory(**kwargs):
    """A model constructor whose process dies the way the kernel's OOM killer ends one."""
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_model_process_killed_for_memory_fails_only_that_model(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(REPO / "sample_images" / "cat.jpg", images / "cat.jpg")
    doomed = dataclasses.replace(
        get_spec("MobileNetV3Small"),
        name="Doomed",
        slug="doomed",
        constructor=_killed_like_out_of_memory,
    )
    out = tmp_path / "docs"
    specs = (doomed, get_spec("MobileNetV3Small"))
    report = build(quick_build_options(images, out, top=2, specs=specs, isolate=True))
    assert list(report.built) == ["MobileNetV3Small"]
    reason = report.failed["Doomed"]
    assert "killed by SIGKILL (most likely out of memory)" in reason and "--models Doomed" in reason
    assert "killed by SIGKILL" in (out / "index.md").read_text("utf-8")
    assert (out / "models" / "mobilenetv3small.md").exists()
    assert not (out / "models" / "doomed.md").exists()
    assert report.peak_gib["MobileNetV3Small"] > 0 and "Peak memory" in report.summary()


def test_missing_weight_files_fail_only_their_model_with_the_file_name(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(REPO / "sample_images" / "cat.jpg", images / "cat.jpg")
    weights = tmp_path / "weights"
    weights.mkdir()
    out = tmp_path / "docs"
    result = subprocess.run(
        [
            *BUILD_COMMAND,
            "--models",
            "MobileNetV3Small",
            "VGG16",
            "--images",
            str(images),
            "--out",
            str(out),
            "--weights",
            str(weights),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        check=False,
    )
    assert result.returncode == 1
    assert "Built 0 model(s), 2 failed." in result.stdout
    assert "vgg16_weights_tf_dim_ordering_tf_kernels.h5" in result.stdout
    assert "weights_mobilenet_v3_small" in result.stdout
    assert str(weights) in result.stdout  # where to put the file
    assert (out / "index.md").exists()


def _start_build(images: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*BUILD_COMMAND, *small_build_options(images, out, top=2)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A test run started in the background inherits SIGINT ignored, and Python keeps it so;
        # the build under test must react to Ctrl-C as in a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509 (no threads yet)
    )


def _wait_for_first_image(out: Path, process: subprocess.Popen, timeout: float = 300) -> None:
    """Until the first image's results are cached, i.e. the build is part-way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        finished = [p for p in (out / ".gallery-cache").rglob("*.json") if p.name[0] != "."]
        if len(finished) >= 2 or process.poll() is not None:
            return
        time.sleep(0.2)
    raise AssertionError("the build never got part-way")


def _assert_every_visible_file_is_complete(out: Path) -> None:
    for path in out.rglob("*"):
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(out).parts):
            continue
        if path.suffix == ".webp":
            with Image.open(path) as picture:
                picture.load()  # a truncated file fails here


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_an_interrupted_build_resumes_to_the_same_site(tmp_path, stop):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("cat.jpg", "rocket.jpg", "coffee-cup.jpg"):
        shutil.copy(REPO / "sample_images" / name, images / name)
    for copy in range(5):  # work enough left after the first image for the signal to land in it
        shutil.copy(REPO / "sample_images" / "astronaut.jpg", images / f"astronaut-{copy}.jpg")

    interrupted = tmp_path / "interrupted"
    process = _start_build(images, interrupted)
    _wait_for_first_image(interrupted, process)
    assert process.poll() is None, "the build finished before it could be interrupted"
    os.kill(process.pid, stop)
    _, stderr = process.communicate(timeout=120)
    if stop == signal.SIGINT:
        assert process.returncode == 130
        assert "run the same command again" in stderr
    _assert_every_visible_file_is_complete(interrupted)

    resumed = _start_build(images, interrupted)
    _, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr
    assert not list(interrupted.rglob(".gallery-tmp-*"))

    clean = tmp_path / "clean"
    fresh = _start_build(images, clean)
    fresh.communicate(timeout=600)
    assert site_files(interrupted) == site_files(clean)
    manifest = json.loads((interrupted / ".gallery-manifest.json").read_text("utf-8"))
    assert set(manifest["files"]) == set(site_files(interrupted)) - {
        ".gallery-manifest.json",
        ".gallery-site",
    }


def test_sigterm_stops_a_build_as_ctrl_c_does(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for copy in range(4):  # work left after the first image for the signal to land in
        shutil.copy(REPO / "sample_images" / "astronaut.jpg", images / f"astronaut-{copy}.jpg")
    out = tmp_path / "docs"
    process = _start_build(images, out)
    _wait_for_first_image(out, process)
    assert process.poll() is None, "the build finished before it could be stopped"
    process.terminate()  # SIGTERM, as a cancelled CI job or `kill` sends
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted: every file written so far is complete; run the same command" in stderr
    assert "Traceback" not in stderr
    assert not (out / LOCK_NAME).exists()  # released on the way out
    _assert_every_visible_file_is_complete(out)


def _interrupted_alone(**kwargs):
    """A model constructor whose process alone gets Ctrl-C's signal (`kill -INT` of the child)."""
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(10)  # the signal is handled before this ends


def test_a_model_process_interrupted_alone_fails_its_model_saying_so(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(REPO / "sample_images" / "cat.jpg", images / "cat.jpg")
    stopped = dataclasses.replace(
        get_spec("MobileNetV3Small"), name="Stopped", slug="stopped", constructor=_interrupted_alone
    )
    options = quick_build_options(images, tmp_path / "docs", top=1, specs=(stopped,), isolate=True)

    report = build(options)

    reason = report.failed["Stopped"]
    assert reason.startswith("the process building Stopped was interrupted"), reason
    assert "run the same command again" in reason and "exit code" not in reason


def _good_but_unusual(folder: Path) -> list[str]:
    """Images that must be converted, not skipped: each mode the loader handles."""
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (80, 120, 3), dtype=np.uint8))
    photo.convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray((rng.integers(0, 65535, (80, 120))).astype(np.uint16)).save(folder / "deep.png")
    photo.convert("L").save(folder / "grey.png")
    palette = photo.convert("P")
    palette.info["transparency"] = 0
    palette.save(folder / "palette.png")
    frames = [photo, photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:])
    exif = Image.Exif()
    exif[0x0112] = 6
    photo.save(folder / "rotated.jpg", exif=exif)
    return ["cmyk", "deep", "grey", "palette", "animated", "rotated"]


def test_a_folder_of_bad_and_odd_images_builds_the_good_ones_and_lists_the_rest(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for name, data, _ in BAD_FILES.values():
        (images / name).write_bytes(data())
    (images / "table.csv").write_text("a,b\n1,2\n")
    good = _good_but_unusual(images)
    out = tmp_path / "docs"
    report = build(quick_build_options(images, out, top=1))
    skipped = {path.name for path, _ in report.skipped_images}
    assert skipped == {name for name, _, _ in BAD_FILES.values()} | {"table.csv"}
    assert not report.ok and "MobileNetV3Small" in report.built
    summary = report.summary()
    for name in skipped:
        assert name in summary
    page = (out / "models" / "mobilenetv3small.md").read_text("utf-8")
    for slug in good:
        assert (out / "assets" / "mobilenetv3small" / slug / "crop.webp").exists(), slug
        assert f"assets/mobilenetv3small/{slug}/crop.webp" in page
    with Image.open(out / "assets" / "mobilenetv3small" / "rotated" / "crop.webp") as crop:
        assert crop.size == (224, 224)


# --- stable addresses ----------------------------------------------------------------------------


def test_camera_and_non_latin_photo_names_build_a_strict_site_and_repeat_models_merge(
    tmp_path, capsys
):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("20240501_123000.jpg", "2024-05-02 09.41.07.jpg", "猫.jpg"):
        shutil.copy(REPO / "sample_images" / "cat.jpg", images / name)
    out = tmp_path / "docs"
    spec = get_spec("MobileNetV3Small")
    report = build(
        quick_build_options(images, out, top=1, specs=(spec, get_spec("mobilenetv3small")))
    )
    assert report.ok, report.summary()
    assert list(report.built) == ["MobileNetV3Small"]
    captured = capsys.readouterr()
    assert "MobileNetV3Small was asked for more than once; it is built once" in (
        captured.out + captured.err
    )
    folders = sorted(p.name for p in (out / "assets" / "mobilenetv3small").iterdir())
    assert "photo-20240501-123000" in folders and "photo-2024-05-02-09-41-07" in folders
    assert all(name[0].isalpha() for name in folders)
    result = mkdocs_build(out, tmp_path)
    assert result.returncode == 0, result.stderr


def test_two_photos_with_one_slug_stop_the_build_before_any_model_work(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(REPO / "sample_images" / "cat.jpg", images / "cat.jpg")
    Image.open(REPO / "sample_images" / "cat.jpg").save(images / "Cat.png")
    out = tmp_path / "docs"
    result = subprocess.run(
        [
            *BUILD_COMMAND,
            "--models",
            "MobileNetV3Small",
            "--images",
            str(images),
            "--out",
            str(out),
            "--weights",
            "random",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert "Cat.png" in message and "cat.jpg" in message and "rename one" in message
    assert not out.exists()


# --- deletion is confined, failures keep the last good output -------------------------------------


@pytest.fixture(scope="module")
def small_site(tmp_path_factory):
    """A one-model, one-photo site; each test rebuilds a copy of it (from its cache: fast)."""
    root = tmp_path_factory.mktemp("small-site")
    images = root / "images"
    images.mkdir()
    shutil.copy(REPO / "sample_images" / "cat.jpg", images / "cat.jpg")
    report = build(quick_build_options(images, root / "docs", top=1))
    assert report.ok, report.summary()
    return root


def _copy_of(small_site: Path, tmp_path: Path) -> tuple[Path, Path]:
    shutil.copytree(small_site / "images", tmp_path / "images")
    shutil.copytree(small_site / "docs", tmp_path / "docs", symlinks=True)
    return tmp_path / "images", tmp_path / "docs"


def _manifest(out: Path) -> dict:
    return json.loads((out / ".gallery-manifest.json").read_text("utf-8"))


def test_generated_files_get_umask_permissions(small_site):
    umask = os.umask(0o022)
    os.umask(umask)
    docs = small_site / "docs"
    for name in [
        "index.md",
        "models/mobilenetv3small.md",
        ".gallery-manifest.json",
        "assets/mobilenetv3small/cat/crop.webp",
    ]:
        assert (docs / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_manifest_entries_outside_out_delete_nothing(small_site, tmp_path, capsys):
    images, out = _copy_of(small_site, tmp_path)
    beside = tmp_path / "x.txt"
    beside.write_text("a file of the user beside the site")
    absolute = tmp_path / "elsewhere" / "abs.txt"
    absolute.parent.mkdir()
    absolute.write_text("another file of the user")
    manifest = _manifest(out)
    for victim, entry in [(beside, "../x.txt"), (absolute, str(absolute))]:
        manifest["files"][entry] = hashlib.sha256(victim.read_bytes()).hexdigest()
    (out / ".gallery-manifest.json").write_text(json.dumps(manifest))

    report = build(quick_build_options(images, out, top=1))

    assert report.ok, report.summary()
    assert beside.exists() and absolute.exists()
    printed = capsys.readouterr().out
    assert "ignored the entry '../x.txt'" in printed
    assert f"ignored the entry '{absolute}'" in printed
    assert "../x.txt" not in _manifest(out)["files"]


def test_only_the_generators_own_temp_files_are_cleared(small_site, tmp_path):
    images, out = _copy_of(small_site, tmp_path)
    users = out / "assets" / ".tmp-notes.txt"
    users.write_text("the user's, despite its name")
    ours = out / "assets" / "mobilenetv3small" / ".gallery-tmp-x1y2.webp"
    ours.write_bytes(b"half a picture")

    assert build(quick_build_options(images, out, top=1)).ok

    assert users.read_text() == "the user's, despite its name"
    assert not ours.exists()


def test_a_users_file_at_a_generated_path_is_refused_then_kept(small_site, tmp_path, capsys):
    images, out = _copy_of(small_site, tmp_path)
    page = out / "compare" / "cat" / "index.md"
    page.write_text("# My own notes on the cat\n")
    picture = out / "assets" / "mobilenetv3small" / "cat" / "crop.webp"
    picture.write_bytes(picture.read_bytes() + b"edited")  # changed by the user

    report = build(quick_build_options(images, out, top=1))

    assert not report.ok and "compare/cat/index.md" in report.summary()
    printed = capsys.readouterr().out
    assert "pass --force to overwrite it" in printed
    assert "assets/mobilenetv3small/cat/crop.webp was changed since" in printed
    assert page.read_text() == "# My own notes on the cat\n"
    assert "compare/cat/index.md" not in _manifest(out)["files"]

    (images / "cat.jpg").unlink()  # the photo's generated files are no longer needed
    report = build(quick_build_options(images, out, top=1))

    assert page.read_text() == "# My own notes on the cat\n"  # not the generator's: not deleted
    assert picture.exists() and picture.read_bytes().endswith(b"edited")
    assert not (out / "assets" / "mobilenetv3small" / "cat" / "explanations.webp").exists()
    assert not (out / "assets" / "images" / "cat.webp").exists()

    (images / "cat.jpg").write_bytes((small_site / "images" / "cat.jpg").read_bytes())
    assert build(quick_build_options(images, out, top=1, force=True)).ok
    assert page.read_text() != "# My own notes on the cat\n"  # --force overwrites


def test_an_unreadable_manifest_is_rebuilt_with_a_warning(small_site, tmp_path, capsys):
    images, out = _copy_of(small_site, tmp_path)
    expected = _manifest(out)
    (out / ".gallery-manifest.json").write_text('{"files": ["cut sho')

    report = build(quick_build_options(images, out, top=1))

    assert report.ok, report.summary()
    assert "warning: the manifest" in capsys.readouterr().out
    assert _manifest(out)["files"] == expected["files"]
    assert site_files(out) == site_files(small_site / "docs")


def test_a_garbage_cache_entry_is_a_miss_that_heals(small_site, tmp_path):
    images, out = _copy_of(small_site, tmp_path)
    entries = sorted((out / ".gallery-cache").glob("??/*.json"))
    shared = [p for p in entries if "predictions" in json.loads(p.read_text("utf-8"))]
    assert len(shared) == 1
    shared[0].write_text(json.dumps({"predictions": 7, "seconds": 1}))

    report = build(quick_build_options(images, out, top=1))

    assert report.ok, report.summary()
    assert report.computed == {"MobileNetV3Small": {}}  # the methods' pictures were reused
    healed = json.loads(shared[0].read_text("utf-8"))
    assert healed["predictions"][0]["label"] and healed["crop"]["path"]
    assert site_files(out) == site_files(small_site / "docs")


def test_unreadable_grid_cells_are_a_miss_that_recomputes_their_method(small_site, tmp_path):
    images, out = _copy_of(small_site, tmp_path)
    cells = sorted((out / ".gallery-cache").glob("??/*.npz"))
    assert len(cells) == len(QUICK_METHODS)  # one method's cells of the grid each
    cells[0].write_bytes(cells[0].read_bytes()[:100])  # cut short
    (out / "assets/mobilenetv3small/cat/explanations.webp").unlink()  # the grid is redrawn

    report = build(quick_build_options(images, out, top=1))

    assert report.ok, report.summary()
    computed = report.computed["MobileNetV3Small"]
    assert list(computed.values()) == [1]  # that method alone, on the one photo
    assert site_files(out) == site_files(small_site / "docs")


def test_a_killed_model_keeps_its_earlier_page_and_pictures(small_site, tmp_path):
    images, out = _copy_of(small_site, tmp_path)
    page = (out / "models" / "mobilenetv3small.md").read_bytes()
    pictures = sorted(p.name for p in (out / "assets" / "mobilenetv3small" / "cat").iterdir())
    doomed = dataclasses.replace(
        get_spec("MobileNetV3Small"), constructor=_killed_like_out_of_memory
    )

    # A second class to explain: the model must be built again.
    report = build(quick_build_options(images, out, top=2, specs=(doomed,), isolate=True))

    assert "killed by SIGKILL" in report.failed["MobileNetV3Small"]
    assert report.kept == ["MobileNetV3Small"]
    assert (out / "models" / "mobilenetv3small.md").read_bytes() == page
    folder = out / "assets" / "mobilenetv3small" / "cat"
    assert sorted(p.name for p in folder.iterdir()) == pictures
    index = (out / "index.md").read_text("utf-8")
    assert "failed in this build" in index and "earlier build" in index
    assert "models/mobilenetv3small.md" in index  # still linked
    assert "models/mobilenetv3small.md" in _manifest(out)["files"]
    # Its answers stay compared, marked as from an earlier build.
    overview = (out / "compare" / "cat" / "index.md").read_text("utf-8")
    assert "models/mobilenetv3small.md#" in overview and "From an earlier build" in overview
    assert "No result for this photo" not in overview
    top1 = (out / "compare" / "index.md").read_text("utf-8")
    assert "(earlier build; failed in this one)" in top1
    assert mkdocs_build(out, tmp_path).returncode == 0


def test_failure_reasons_on_pages_name_no_local_path(small_site, tmp_path, monkeypatch):
    images, out = _copy_of(small_site, tmp_path)
    home = str(Path.home())
    where = f"{home}/.keras/models/weights.h5"
    cache = out.resolve() / ".gallery-cache" / "ab" / "entry.json"

    def build_model(spec, weights, **overrides):
        raise OSError(f"cannot open {where} nor {cache} nor /opt/x/y/z.h5")

    monkeypatch.setattr(model_work_module, "build_model", build_model)
    (out / ".gallery-cache").rename(out / ".gallery-cache-moved")  # force a rebuild

    report = build(quick_build_options(images, out, top=1))

    assert where in report.failed["MobileNetV3Small"]  # the terminal keeps the full path
    index = html.unescape((out / "index.md").read_text("utf-8"))
    assert home not in index and str(tmp_path) not in index and "/opt/x" not in index
    assert "~/.keras/models/weights.h5" in index
    assert " .gallery-cache/ab/entry.json" in index and "…/y/z.h5" in index


# --- clear messages for an output folder that cannot be used --------------------------------------


def _cli_build(images: Path, out: Path) -> list[str]:
    return ["build", *small_build_options(images, out, top=1), "--in-process"]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


def test_an_out_that_is_a_file_is_refused_in_one_line(small_site, tmp_path, capsys):
    out = tmp_path / "site.md"
    out.write_text("a file")

    assert cli.main(_cli_build(small_site / "images", out)) == 2

    message = _one_line_error(capsys)
    assert str(out) in message and "is a file, not a folder" in message
    assert out.read_text() == "a file"


def test_a_read_only_out_is_refused_in_one_line(small_site, tmp_path, capsys, monkeypatch):
    images, _ = _copy_of(small_site, tmp_path)
    out = tmp_path / "new-site"  # a first build: the folder is made, then marked as the site's

    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "touch", read_only)  # as on a read-only mount, even for root

    assert cli.main(_cli_build(images, out)) == 2

    message = _one_line_error(capsys)
    assert f"into {out} (Read-only file system)" in message and "writable" in message


def test_a_full_disk_while_pages_are_written_is_one_line_and_loses_nothing(
    small_site, tmp_path, capsys, monkeypatch
):
    images, out = _copy_of(small_site, tmp_path)
    (out / "index.md").unlink()  # a page to write again (a rebuild writes only what changed)
    before = site_files(out)
    real_write = manifest_module.atomic_write_bytes

    def disk_full_for_pages(path, data):
        if Path(path).suffix == ".md":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_write(path, data)

    monkeypatch.setattr(manifest_module, "atomic_write_bytes", disk_full_for_pages)

    assert cli.main(_cli_build(images, out)) == 1  # models were built: not a usage error (2)

    message = _one_line_error(capsys)
    assert f"no space left on the device of {out} while writing index.md" in message
    assert re.search(r"\d+\.\d KiB needed for this file, \d+\.\d [KMG]iB free", message)
    assert site_files(out) == before  # every earlier file still there and complete


def test_a_second_build_into_a_folder_in_use_is_refused_naming_the_first(
    small_site, tmp_path, capsys
):
    images, out = _copy_of(small_site, tmp_path)
    before = site_files(out)
    running = OutputLock(out)
    assert running.acquire() is None
    try:
        started = json.loads((out / LOCK_NAME).read_text())["started"]
        assert cli.main(_cli_build(images, out)) == 2
    finally:
        running.release()

    message = _one_line_error(capsys)
    assert f"--out {out} is being built by another build (pid {os.getpid()}, " in message
    assert f"started {started})" in message and "wait for it to end" in message
    assert site_files(out) == before  # nothing touched, not even the running build's log


def test_the_lock_of_a_killed_build_is_taken_over_with_a_note(small_site, tmp_path, capsys):
    images, out = _copy_of(small_site, tmp_path)
    stale = {"pid": 4_194_305, "started": "2026-01-02 03:04:05 UTC"}  # above Linux's pid limit
    (out / LOCK_NAME).write_text(json.dumps(stale))

    assert cli.main(_cli_build(images, out)) == 0

    printed = capsys.readouterr()
    assert (
        f"note: took over the lock of an earlier build into {out} (pid 4194305, started "
        "2026-01-02 03:04:05 UTC), which is no longer running" in printed.out + printed.err
    )
    assert not (out / LOCK_NAME).exists()


def test_a_method_without_its_paragraph_stops_the_build_before_any_model(tmp_path, monkeypatch):
    import generator.build as build_module

    templates = tmp_path / "templates"
    shutil.copytree(REPO / "templates", templates)
    (templates / "methods" / "deconvnet.md.j2").unlink()
    monkeypatch.setattr(build_module, "TEMPLATES_DIR", templates)

    def no_model(*args, **kwargs):
        raise AssertionError("a model was built although the build must stop first")

    monkeypatch.setattr(model_work_module, "build_model", no_model)
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(REPO / "sample_images" / "cat.jpg", images / "cat.jpg")
    out = tmp_path / "docs"
    options = BuildOptions(
        specs=(get_spec("MobileNetV3Small"),), images=images, out=out, weights="random"
    )
    with pytest.raises(BuildRefused, match=r"'deconvnet'.*templates/methods/deconvnet\.md\.j2"):
        build(options)
    assert not out.exists()
