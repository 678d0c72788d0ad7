"""Architecture-wide checks, each architecture in a process of its own.

Building every keras.applications model in one pytest process grew it to 16 GB (TensorFlow keeps
much of a model's memory after `clear_session()`), so tests that touch every architecture run
their checks in a fresh child process per architecture, as the build itself does. The child runs
every check listed in `CHECKS` for that architecture, one after the other (one TensorFlow import
per architecture, not per check), and reports each check's outcome; the test process only reads
the outcomes, so its memory stays flat and a child that dies fails only its own architecture.

Adding a per-architecture assertion (it then runs in the same child as the others):

1. write ``def check_something(name: str) -> None`` at module level in a test module: it builds
   what it needs (``registry.build_model(registry.discover()[name], "random", ...)``), asserts,
   and returns nothing;
2. add ``"test_module:check_something"`` to `CHECKS` below;
3. in that test module, mark a test ``@pytest.mark.per_architecture`` and parametrize it over
   ``archkit.architectures()`` as ``name``; its body is
   ``archkit.assert_check_passed(name, check_something)``. The marker lets conftest start the
   run's architecture children, two at a time, as soon as the tests are collected, and move
   these tests to the end of the run: the children work while the other tests run.

The child is ``python tests/archkit.py NAME RESULT.json CHECK...``; run it by hand to debug one
architecture with its full output.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

# Every per-architecture check, as "module:function" (modules in tests/). Order is run order.
CHECKS = [
    "test_explain_coverage:check_explains_and_reports_nonlinearities",
    "test_registry:check_parameter_count_and_logits",
    "test_weights:check_weight_file_table",
    "test_memory:check_planned_peak_within_default_budget",
]

# Seconds one architecture's child may take for all its checks (NASNetLarge needs about 100).
CHILD_TIMEOUT = 1200

# Children run side by side: much of a child's time is single-threaded (importing TensorFlow,
# building and tracing the model), so two at once nearly halve the wall time on two cores.
WORKERS = int(os.environ.get("ARCHKIT_WORKERS", "2"))

_pool: ThreadPoolExecutor | None = None
_outcomes: dict[str, Future] = {}  # architecture -> its child's outcomes (check -> traceback)


def start(names: Iterable[str]) -> None:
    """Start the children of `names` now, `WORKERS` at a time, in this order (conftest, after
    collection): they check architectures while the other tests run."""
    for name in dict.fromkeys(names):
        _child_of(name)


def stop() -> None:
    """Cancel the children that have not started (conftest, at the end of the session): an
    interrupted run must not go on checking architectures nobody will ask for."""
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)


def _child_of(name: str) -> Future:
    """The future outcomes of every check on `name`, starting its child if none was started."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=max(1, WORKERS))
    if name not in _outcomes:
        _outcomes[name] = _pool.submit(run_checks, name, CHECKS)
    return _outcomes[name]


def architectures() -> list[str]:
    """Every constructor the registry discovers (imports Keras, builds nothing)."""
    from generator.registry import discover

    return list(discover())


@functools.cache
def full_size_model(name: str) -> Any:
    """Architecture `name` at its real input size with random weights, built once per child
    process and shared by the checks that need it (building NASNetLarge takes tens of seconds).
    The checks only read it."""
    from generator.registry import build_model, discover

    return build_model(discover()[name], "random")


def run_checks(name: str, checks: list[str]) -> dict[str, str | None]:
    """Run `checks` on architecture `name` in a fresh process; check -> traceback (None: passed).

    A child that dies (e.g. killed for memory) or times out fails every check it had not
    reported, with its exit status and the tail of its output.
    """
    with tempfile.TemporaryDirectory() as scratch:
        result_path = Path(scratch) / "result.json"
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
        try:
            child = subprocess.run(
                [sys.executable, __file__, name, str(result_path), *checks],
                capture_output=True,
                text=True,
                env=env,
                timeout=CHILD_TIMEOUT,
                check=False,
            )
            reported = (
                json.loads(result_path.read_text(encoding="utf-8")) if result_path.exists() else {}
            )
            ended = f"exit status {child.returncode}"
            tail = (child.stdout + child.stderr)[-3000:]
        except subprocess.TimeoutExpired as timeout:
            reported, ended = {}, f"timed out after {CHILD_TIMEOUT} s"
            tail = str(timeout.stderr or "")[-3000:]
    return {
        check: reported.get(
            check, f"the process checking {name} ended ({ended}) before {check} reported:\n{tail}"
        )
        for check in checks
    }


def assert_check_passed(name: str, check: Callable[[str], None]) -> None:
    """Fail the calling test with the child's traceback if `check` failed on `name`.

    All of `CHECKS` run on `name` in one child, started by `start` or by the first call; later
    calls (other tests, other checks) read the remembered outcome.
    """
    import pytest

    key = f"{Path(check.__code__.co_filename).stem}:{check.__name__}"
    if key not in CHECKS:
        raise AssertionError(f"{key} is not listed in archkit.CHECKS, so no child runs it")
    failure = _child_of(name).result()[key]
    if failure is not None:
        pytest.fail(f"{key} failed on {name} (in its own process):\n{failure}", pytrace=False)


def _child(name: str, result_path: Path, checks: list[str]) -> None:
    """Run each check on `name`, writing the outcomes after each, so a crash loses only one."""
    import keras
    import tensorflow as tf

    # Each check traces its functions once and runs them once or twice: Grappler's graph
    # rewrites (about a third of the first call on the largest models) would never pay back.
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    # Tracing is one thread of Python; the little computing left gains nothing from a pool of
    # threads competing for the two cores with the other process and the test process.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    outcomes: dict[str, str | None] = {}
    for check in checks:
        module_name, function_name = check.split(":")
        try:
            getattr(importlib.import_module(module_name), function_name)(name)
            outcomes[check] = None
        except BaseException:  # noqa: BLE001 - every failure is reported, not raised
            outcomes[check] = traceback.format_exc()
        finally:
            keras.backend.clear_session()
        result_path.write_text(json.dumps(outcomes), encoding="utf-8")


if __name__ == "__main__":
    _child(sys.argv[1], Path(sys.argv[2]), sys.argv[3:])
