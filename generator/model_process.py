"""One model computed in a child process of its own, so all its memory is returned when it ends.

TensorFlow keeps much of a model's memory after `clear_session()`: in one process, a 40-model
build grew to 20 GB. A spawned child per model bounds the build's peak by the largest model's own.
The child reports progress and its result through a pipe; its own output (TensorFlow's start-up
lines, warnings, a dying process's traceback) goes to the build's log file (`console`). This
module knows processes, not what a model's work is: the build names the function to run.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import resource
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from generator import console


class ModelProcessFailed(RuntimeError):
    """The child process building a model failed or died; the message is the whole reason."""

    def __init__(self, reason: str, details: str = "") -> None:
        super().__init__(reason)
        self.details = details  # the child's traceback, for the log file


class PipeProgress:
    """The two progress-bar calls a child makes, forwarded to the parent's bar."""

    def __init__(self, sender: Connection) -> None:
        self.sender = sender

    def update(self, count: int) -> None:
        self.sender.send(("progress", count))

    def set_postfix_str(self, text: str) -> None:
        self.sender.send(("status", text))


def _exit_with_parent() -> None:
    """End this child process as soon as its parent is gone (e.g. killed with SIGKILL).

    An orphan would go on writing into a folder that the next build is already using.
    """

    def watch(parent: multiprocessing.process.BaseProcess) -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, args=(multiprocessing.parent_process(),), daemon=True).start()


def child_main(sender: Connection, function: str, explain_failure: str, work: Any) -> None:
    """The child's entry point (after `console.run_quietly`): run `function(work, progress)`.

    `function` and `explain_failure` are "module:name"; the latter turns an exception into
    the one-line reason the parent shows.
    """
    _exit_with_parent()
    try:
        result = _resolve(function)(work, PipeProgress(sender))
        sender.send(("done", result))
    except (Exception, MemoryError) as error:  # noqa: BLE001 (every failure goes to the parent)
        sender.send(("failed", (_resolve(explain_failure)(error), traceback.format_exc())))


def _resolve(function: str) -> Callable:
    module, name = function.split(":")
    return getattr(__import__(module, fromlist=[name]), name)


def peak_rss_gib() -> float:
    """This process's peak resident memory, in GiB.

    On Linux, `ru_maxrss` also counts what the parent held when it forked this process, before
    the exec, so a child of a large process would report the parent's size; `VmHWM` counts only
    this program. Elsewhere `ru_maxrss` is used (bytes on macOS).
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 2**20, 2)  # kB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**30 if sys.platform == "darwin" else 2**20), 2)


def reset_peak_rss() -> bool:
    """Start `peak_rss_gib` again from the current resident size (Linux: `clear_refs`), so that
    the peak of one stretch of work can be read; False where the system cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


def run_in_child(
    name: str,
    slug: str,
    function: str,
    explain_failure: str,
    work: Any,
    progress: Any,
    log_path: str | None,
) -> Any:
    """`function(work, progress)` in a fresh process; returns its result.

    `progress` is the parent's bar (the child's `update` and `set_postfix_str` calls reach
    it); `log_path` receives the child's descriptors 1 and 2 (None: they stay the
    terminal's). Raises `ModelProcessFailed` with a one-line reason when the function fails
    or the process dies.
    """
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    # The work is pickled here and unpickled only after the child's output is redirected:
    # unpickling it imports TensorFlow, which prints as it loads.
    payload = pickle.dumps((function, explain_failure, work))
    child = context.Process(
        target=console.run_quietly,
        args=(log_path, "generator.model_process:child_main", payload, sender),
        name=f"gallery-{slug}",
    )
    child.start()
    sender.close()  # so that the child's end closing gives EOF here
    try:
        while True:
            try:
                kind, message = receiver.recv()
            except EOFError:
                child.join()
                raise ModelProcessFailed(_death_reason(name, child.exitcode)) from None
            if kind == "progress":
                progress.update(message)
            elif kind == "status":
                progress.set_postfix_str(message)
            elif kind == "failed":
                raise ModelProcessFailed(*message)
            else:
                return message
    finally:
        _stop(child)
        receiver.close()


def _death_reason(name: str, exitcode: int | None) -> str:
    if exitcode in (console.INTERRUPTED, -signal.SIGINT, -signal.SIGTERM):
        return (
            f"the process building {name} was interrupted (SIGINT or SIGTERM) before it "
            "finished; every file it wrote is complete: run the same command again to build it"
        )
    if exitcode is not None and exitcode < 0:
        signal_name = signal.Signals(-exitcode).name
        likely = " (most likely out of memory)" if signal_name == "SIGKILL" else ""
        return (
            f"the process building {name} was killed by {signal_name}{likely}; build it alone "
            f"with --models {name}, or on a machine with more memory"
        )
    return f"the process building {name} ended with exit code {exitcode} and no result"


# Seconds a child that is done gets to exit by itself before it is interrupted.
_EXIT_GRACE = 5.0


def _stop(child: multiprocessing.process.BaseProcess, grace: float = 30.0) -> None:
    """Let the child finish the files it started (SIGINT), then make sure it is gone.

    A child that has sent its result or failure is already ending: it gets a moment to exit
    by itself, so no signal lands in its shutdown (and prints a traceback).
    """
    child.join(_EXIT_GRACE)
    if child.is_alive():
        assert child.pid is not None, "a process that is alive was started, so has a pid"
        os.kill(child.pid, signal.SIGINT)
        child.join(grace)
    if child.is_alive():
        child.kill()
    child.join()
