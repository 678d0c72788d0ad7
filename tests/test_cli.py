"""The command line: fast failures with useful messages, and the model table."""

import subprocess
import sys



def _run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "generator", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_unknown_model_fails_at_once_with_valid_names_and_closest_match(tmp_path):
    result = _run("build", "--models", "ResNet5", "--out", str(tmp_path / "out"), "--weights", "random")
    assert result.returncode == 2
    assert "ResNet5" in result.stderr
    assert "ResNet50" in result.stderr  # closest match
    assert "VGG16" in result.stderr and "EfficientNetB0" in result.stderr  # the valid names
    assert not (tmp_path / "out").exists()  # nothing was built


def test_weights_must_be_a_mode_or_an_existing_folder(tmp_path):
    result = _run("build", "--weights", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "nowhere" in result.stderr and "random" in result.stderr


def test_list_models_prints_every_keras_application():
    import inspect

    import keras

    result = _run("list-models")
    assert result.returncode == 0, result.stderr
    names = [n for n, f in inspect.getmembers(keras.applications, inspect.isfunction) if n[0].isupper()]
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
