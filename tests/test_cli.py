"""The command line: fast failures with useful messages, defaults in --help, a quiet terminal."""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sitekit import REPO, quick_build_options, small_build_options

from generator import cli
from generator.methods.catalog import SLUGS as METHOD_SLUGS
from generator.model_facts import MODEL_FACTS

# Lines TensorFlow, absl and CUDA probing print on their own, and what a crash prints.
NOISE = re.compile(
    r"cudart_stub|cuInit|cuda|oneDNN|absl|I0000|E0000|W0000|\.cc:\d+\]|Traceback|"
    r"Warning:|WARNING|^\s+File \"",
    re.MULTILINE,
)


def _run(*args, cwd=None, env=None):
    return subprocess.run(
        [sys.executable, "-m", "generator", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        env=env,
        check=False,
    )


def _one_image(tmp_path: Path) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(REPO / "sample_images" / "cat.jpg", images / "cat.jpg")
    return images


def test_unknown_model_fails_at_once_with_valid_names_and_closest_match(tmp_path):
    result = _run(
        "build", "--models", "ResNet5", "--out", str(tmp_path / "out"), "--weights", "random"
    )
    assert result.returncode == 2
    assert "ResNet5" in result.stderr
    assert "ResNet50" in result.stderr  # closest match
    assert "VGG16" in result.stderr and "EfficientNetB0" in result.stderr  # the valid names
    assert not (tmp_path / "out").exists()  # nothing was built


def test_weights_must_be_a_mode_or_an_existing_folder(tmp_path):
    result = _run("build", "--weights", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "nowhere" in result.stderr and "random" in result.stderr


def _probe(argv: list[str]) -> subprocess.CompletedProcess:
    """`cli.main(argv)` in a fresh Python, which prints last `EXIT <code> LOADED <modules>`.

    The modules are those of TensorFlow, Keras and NumPy it imported: `none` when the command
    answered without paying for them.
    """
    probe = (
        "import sys\n"
        "from generator.cli import main\n"
        "try:\n"
        f"    code = main({argv!r})\n"
        "except SystemExit as stop:\n"
        "    code = stop.code\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules)\n"
        "print('EXIT', code, 'LOADED', ','.join(heavy) or 'none')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "arguments, culprit",
    [
        (["--top", "0"], "--top"),
        (["--top", "1001"], "--top"),
        (["--top", "five"], "--top"),
        (["--shard", "3/2"], "--shard"),
        (["--shard", "half"], "--shard"),
        (["--models", "ResNet5"], "ResNet5"),
        (["--images", "{tmp}/no-such-folder"], "no-such-folder"),
        (["--out", "{tmp}/a-file.txt"], "a-file.txt"),
        (["--out", "{tmp}/a-file.txt/site"], "a-file.txt"),
        (["--weights", "{tmp}/no-weights"], "no-weights"),
    ],
)
def test_bad_arguments_exit_2_before_tensorflow_is_imported(tmp_path, arguments, culprit):
    (tmp_path / "a-file.txt").write_text("not a folder")
    result = _probe(["build", *(a.format(tmp=tmp_path) for a in arguments)])
    assert result.stdout.strip().endswith("EXIT 2 LOADED none"), result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]  # after argparse's usage lines, if any
    assert "error:" in last and culprit in last, result.stderr
    assert "Traceback" not in result.stderr


def test_bench_unknown_method_exits_2_naming_the_valid_slugs_before_tensorflow_is_imported():
    result = _probe(["bench", "--models", "MobileNetV2", "--methods", "grad-cam", "oclusion"])
    assert result.stdout.strip().endswith("EXIT 2 LOADED none"), result.stdout + result.stderr
    message = result.stderr.strip()
    assert message.count("\n") == 0 and message.startswith("error:"), message
    assert "'oclusion'" in message and "Did you mean 'occlusion'?" in message
    assert all(slug in message for slug in METHOD_SLUGS), message


@pytest.mark.parametrize(
    "arguments, culprit",
    [
        (["--repeats", "0"], "--repeats"),
        (["--repeats", "-3"], "--repeats"),
        (["--image", "{tmp}/no-such-photo.jpg"], "no-such-photo.jpg"),
        (["--image", "{tmp}"], "is not a file"),
        (["--models", "ResNet5"], "ResNet5"),
        (["--methods", "oclusion"], "oclusion"),
    ],
)
def test_bad_bench_arguments_exit_2_before_tensorflow_is_imported(tmp_path, arguments, culprit):
    result = _probe(["bench", *(a.format(tmp=tmp_path) for a in arguments)])
    assert result.stdout.strip().endswith("EXIT 2 LOADED none"), result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]  # after argparse's usage lines, if any
    assert "error:" in last and culprit in last, result.stderr
    assert "Traceback" not in result.stderr


def test_bench_of_a_file_that_is_not_a_photo_is_one_line_before_any_model_is_built(tmp_path):
    fake = tmp_path / "photo.jpg"
    fake.write_bytes(b"not a photo")
    result = _run(
        "bench", "--models", "MobileNetV3Small", "--methods", "grad-cam", "--image", str(fake)
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"error: --image {fake}: is not an image (Pillow cannot identify its format); remove "
        "it from the images folder or convert it to JPEG or PNG"
    )
    assert result.stdout == ""  # no model's table was begun


def test_method_slugs_checked_without_tensorflow_are_the_catalog_methods_slugs():
    from generator.methods import catalog

    assert tuple(method.slug for method in catalog.METHODS) == METHOD_SLUGS  # same order
    assert cli.method_slugs(["OCCLUSION", "grad-cam", "occlusion"]) == ["occlusion", "grad-cam"]


def test_model_names_checked_without_keras_are_the_ones_the_registry_discovers():
    from generator.registry import discover

    specs = discover()
    assert set(MODEL_FACTS) == set(specs)
    for spec in specs.values():
        assert cli.model_name(spec.name) == spec.name
        assert cli.model_name(spec.slug) == spec.name
        assert cli.model_name(spec.name.upper()) == spec.name


@pytest.mark.parametrize("command", ["build", "bench", "list-models"])
def test_help_of_every_command_shows_every_default(command):
    result = _run(command, "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    parser = cli._parser()._subparsers._group_actions[0].choices[command]
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        shown = " ".join((action.help % {"default": action.default}).split())
        assert shown in text, action.option_strings  # the help printed is this text
        assert "default" in shown, action.option_strings
        if isinstance(action, argparse._StoreFalseAction):  # a --no-... flag, not given
            assert "(default: off)" in shown, action.option_strings
        elif action.default not in (None, False):
            assert f"(default: {action.default})" in shown, action.option_strings
    if command == "build":
        assert "exit codes: 0 all built; 1 some model or image failed" in text


def test_list_models_prints_every_keras_application():
    import inspect

    import keras

    result = _run("list-models")
    assert result.returncode == 0, result.stderr
    names = [
        n for n, f in inspect.getmembers(keras.applications, inspect.isfunction) if n[0].isupper()
    ]
    assert len(names) >= 40
    for name in names:
        assert name in result.stdout


def test_a_foreign_non_empty_out_folder_is_refused_and_left_untouched(tmp_path):
    out = tmp_path / "my-notes"
    out.mkdir()
    (out / "thesis.md").write_text("hand-written")
    result = _run("build", "--models", "MobileNet", "--weights", "random", "--out", str(out))
    assert result.returncode == 2
    assert "--force" in result.stderr and str(out) in result.stderr
    assert [p.name for p in out.iterdir()] == ["thesis.md"]


def test_a_small_build_is_quiet_and_a_rebuild_says_cached(tmp_path):
    images = _one_image(tmp_path)
    (images / "broken.jpg").write_bytes(b"not a photo")
    out = tmp_path / "docs"
    command = ["build", *small_build_options(images, out, top=1)]
    first = _run(*command, cwd=REPO)
    terminal = first.stdout + first.stderr
    assert first.returncode == 1, terminal  # the skipped file makes the exit code 1
    assert not NOISE.search(terminal), terminal
    assert "MobileNetV3Small: built (1 image(s) computed" in first.stderr
    assert "skipped image broken.jpg:" in first.stdout  # the summary says which and why
    log = out / ".gallery-cache" / "build.log"
    assert f"Full log (library output, tracebacks): {log}" in first.stdout
    assert "MobileNetV3Small: starting its model process" in log.read_text()
    # Library lines happened and went to the log (where TensorFlow prints any at start-up).
    assert len(log.read_text().splitlines()) > 2

    again = _run(*command, cwd=REPO)
    assert "MobileNetV3Small: cached" in again.stderr, again.stderr
    assert "built (" not in again.stderr
    assert "1 of them came whole from the cache" in again.stdout
    assert "starting its model process" not in log.read_text()
    assert not NOISE.search(again.stdout + again.stderr)


def test_file_names_of_any_bytes_are_shown_escaped_and_the_build_goes_on(tmp_path):
    images = _one_image(tmp_path)
    (images / os.fsdecode(b"notes\xff.jpg")).write_bytes(b"not UTF-8, and not a photo")
    shutil.copy(images / "cat.jpg", images / "two\nlines.jpg")
    (images / "\x1b[2Jwipe.jpg").write_bytes(b"an escape sequence in the name")
    env = {key: value for key, value in os.environ.items() if not key.startswith("LC_")}
    out = tmp_path / "docs"
    result = _run("build", *small_build_options(images, out, top=1), cwd=REPO, env=env)
    terminal = result.stdout + result.stderr
    assert result.returncode == 1, terminal  # two files skipped
    assert not NOISE.search(terminal), terminal
    assert "skipping image notes\\xff.jpg: is not an image" in result.stderr
    assert "skipping image \\x1b[2Jwipe.jpg: is not an image" in result.stderr
    assert "skipped image notes\\xff.jpg: is not an image" in result.stdout
    assert "explaining two\\nlines" in result.stderr  # the bar's line stays one line
    assert "\x1b" not in terminal and "lines.jpg" not in result.stdout
    assert "MobileNetV3Small: built (2 image(s) computed" in result.stderr


def test_an_images_folder_without_a_usable_photo_warns_and_exits_1(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    (images / ".DS_Store").write_bytes(b"hidden")
    (images / "holiday").mkdir()
    result = _run("build", *small_build_options(images, tmp_path / "docs", top=1), cwd=REPO)
    assert result.returncode == 1, result.stdout + result.stderr
    warning = f"warning: --images {images} holds no usable photo"
    assert warning in result.stderr and warning in result.stdout  # at once, and in the summary
    assert "passed over .DS_Store: is hidden" in result.stdout
    assert "passed over holiday: is a folder, and sub-folders are not searched" in result.stdout
    assert not NOISE.search(result.stdout + result.stderr)


def test_sigterm_while_tensorflow_loads_ends_with_one_line_and_exit_130(tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    images = _one_image(tmp_path)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "generator",
            "build",
            *small_build_options(images, tmp_path / "docs", 1),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(temporary)},
    )
    deadline = time.monotonic() + 60
    while not list(temporary.glob("cnn-gallery-*.log")) and time.monotonic() < deadline:
        time.sleep(0.05)  # the console's log appears just before TensorFlow is imported
    process.terminate()
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert stderr.strip().startswith("interrupted: every file written so far is complete")
    assert not NOISE.search(stderr), stderr


def test_verbose_shows_what_the_quiet_build_keeps_in_the_log(tmp_path):
    out = tmp_path / "docs"
    result = _run(
        "build", *small_build_options(_one_image(tmp_path), out, top=1), "--verbose", cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    assert "MobileNetV3Small: starting its model process" in result.stdout + result.stderr


def _unreachable_proxy() -> str:
    """A local address nothing listens on: every connection is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_offline_default_build_stops_at_once_with_one_message(tmp_path):
    keras_home = tmp_path / "keras-home"
    keras_home.mkdir()
    proxy = _unreachable_proxy()
    env = {
        **os.environ,
        "KERAS_HOME": str(keras_home),
        "https_proxy": proxy,
        "HTTPS_PROXY": proxy,
        "http_proxy": proxy,
        "HTTP_PROXY": proxy,
        "no_proxy": "",
        "NO_PROXY": "",
    }
    out = tmp_path / "docs"
    result = _run(
        "build",
        "--models",
        "MobileNetV3Small",
        "MobileNetV2",
        "--images",
        str(_one_image(tmp_path)),
        "--out",
        str(out),
        env=env,
        cwd=REPO,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""  # no summary: nothing was attempted
    message = result.stderr
    assert message.count("error:") == 1 and not NOISE.search(message), message
    assert "2 model(s) need ImageNet weight files" in message
    assert "weights_mobilenet_v3_small" in message and "mobilenet_v2_weights" in message
    assert str(keras_home / "models") in message  # where to put them
    assert "--weights random" in message
    log = (out / ".gallery-cache" / "build.log").read_text()
    assert "starting its model process" not in log  # no model process was started
    assert not list((keras_home / "models").glob("*")) if (keras_home / "models").exists() else True
    assert not (out / "models").exists()


def _broken_constructor(*args, **kwargs):
    raise ValueError("a layer this test breaks on purpose")


def test_a_failing_model_shows_one_line_and_logs_its_whole_traceback(tmp_path, capfd):
    import dataclasses

    from generator.build import build
    from generator.console import Console
    from generator.registry import get_spec

    broken = dataclasses.replace(
        get_spec("MobileNetV3Small"), name="Broken", slug="broken", constructor=_broken_constructor
    )
    options = quick_build_options(
        _one_image(tmp_path), tmp_path / "docs", top=1, specs=(broken,), isolate=True
    )
    with Console(quiet=True) as console:
        report = build(options, console)
    terminal = capfd.readouterr()
    reason = report.failed["Broken"]
    assert "ValueError: a layer this test breaks on purpose" in reason and "\n" not in reason
    assert f"Broken: FAILED: {reason}" in terminal.err
    assert "Traceback" not in terminal.err + terminal.out
    log = report.log_path.read_text()
    assert "Traceback (most recent call last)" in log and "_broken_constructor" in log
    assert str(report.log_path) in report.summary()


def test_installed_without_a_checkout_it_says_it_needs_one(tmp_path):
    """What `pip install .` (not editable) gives: the package alone, no templates beside it."""
    site_packages = tmp_path / "site-packages"
    shutil.copytree(
        REPO / "generator",
        site_packages / "generator",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    work = tmp_path / "anywhere"
    work.mkdir()
    images = _one_image(work)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "generator",
            "build",
            "--weights",
            "random",
            "--images",
            str(images),
        ],
        capture_output=True,
        text=True,
        cwd=work,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(site_packages)},
    )
    assert result.returncode == 2, result.stderr
    assert "builds from a checkout of its repository" in result.stderr
    assert not (work / "site_src").exists()
