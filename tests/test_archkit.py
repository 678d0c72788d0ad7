"""The per-architecture child runner itself: failures and crashes come back as outcomes."""

import os

import archkit


def check_fails_on_purpose(name: str) -> None:
    assert name == "a different model", "deliberate failure"


def check_dies(name: str) -> None:
    os._exit(3)  # as a child killed mid-check would: no outcome written


def check_passes(name: str) -> None:
    assert os.getpid() != int(os.environ["ARCHKIT_TEST_PARENT"])  # really another process


def check_never_reached(name: str) -> None:
    raise AssertionError("runs only if the child survived check_dies")


def test_each_check_reports_its_own_outcome_and_a_dead_child_fails_the_rest(monkeypatch):
    monkeypatch.setenv("ARCHKIT_TEST_PARENT", str(os.getpid()))
    checks = [
        "test_archkit:check_passes",
        "test_archkit:check_fails_on_purpose",
        "test_archkit:check_dies",
        "test_archkit:check_never_reached",
    ]
    outcomes = archkit.run_checks("MobileNetV3Small", checks)
    assert outcomes["test_archkit:check_passes"] is None
    assert "exit status 3" in outcomes["test_archkit:check_never_reached"]
    assert "AssertionError: deliberate failure" in outcomes["test_archkit:check_fails_on_purpose"]
    assert "exit status 3" in outcomes["test_archkit:check_dies"]


def test_every_listed_check_exists():
    import importlib

    for check in archkit.CHECKS:
        module, function = check.split(":")
        assert callable(getattr(importlib.import_module(module), function)), check
