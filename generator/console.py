"""Where the build talks: people on the terminal, everything else in the log file.

The terminal gets one progress bar, one line per model and one-line reasons. TensorFlow writes
its start-up lines ("Could not find cuda drivers", "failed call to cuInit", oneDNN notes) from C++
straight to file descriptor 2, before any Python setting can filter them, and a process that dies
prints its traceback there too. So in a normal build file descriptor 2 of the build process, and
descriptors 1 and 2 of every model process, point at the log file, and the terminal is reached
through a duplicate of the original descriptor 2. `--verbose` leaves every descriptor alone and
shows everything. This module imports nothing heavy: it runs before TensorFlow is loaded.
"""

from __future__ import annotations

import importlib
import os
import pickle
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self, TextIO

# Environment of the build and its model processes, set before TensorFlow is first imported.
# TensorFlow's INFO lines are dropped; its warnings and errors still reach the log file.
QUIET_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "1"}
_ESCAPE = "backslashreplace"  # how the terminal and the log write what they cannot encode
# Exit code of a model process stopped by Ctrl-C (SIGINT), as a shell reports one.
INTERRUPTED = 130


def quiet_environment() -> None:
    """Set `QUIET_ENVIRONMENT` for this process and the processes it starts (user values win)."""
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def _is_descriptor_2(stream: object) -> bool:
    try:
        # Any stream, checked by calling: one without fileno() is an AttributeError below.
        return stream.fileno() == 2  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


class Console:
    """The terminal (for people) and the log file (for everything), for one build.

    A quiet console starts with its log in a temporary file (the output folder may not be
    accepted yet) and `keep_log_in` moves it into the output folder once it is. Not quiet
    (`--verbose`, or a library caller): nothing is redirected, and the log file only collects
    the tracebacks and details, which are also shown.
    """

    def __init__(self, quiet: bool = False, terminal: TextIO | None = None) -> None:
        self.quiet = quiet
        self.log_path: Path | None = None
        self._saved_stderr: int | None = None
        handle, name = tempfile.mkstemp(prefix="cnn-gallery-", suffix=".log")
        # Text of any origin (a traceback naming a file whose name is not UTF-8) is written
        # with what cannot be encoded escaped, never refused: the writer must not crash.
        self._log = os.fdopen(handle, "a", encoding="utf-8", errors=_ESCAPE, buffering=1)
        self._temporary_log: Path | None = Path(name)
        if quiet:
            sys.stderr.flush()
            self._saved_stderr = os.dup(2)
            os.dup2(self._log.fileno(), 2)
            # sys.stderr replaced by a caller (a test capturing output) is where it wants lines.
            self._own_terminal = _is_descriptor_2(sys.stderr)
            self.terminal = (
                os.fdopen(os.dup(self._saved_stderr), "w", errors=_ESCAPE, buffering=1)
                if self._own_terminal
                else sys.stderr
            )
            self._bar_stream = self.terminal
        else:  # as tqdm does by default: lines on stdout, the bar on stderr
            self.terminal = terminal or sys.stdout
            self._bar_stream = terminal or sys.stderr

    def say(self, text: str) -> None:
        """A line for people (above the progress bar); the log gets it too."""
        from tqdm import tqdm

        tqdm.write(text, file=self.terminal)
        self._log.write(text + "\n")

    def error(self, text: str) -> None:
        """A line that ends the build: on the terminal's error stream, and in the log."""
        (self.terminal if self.quiet else sys.stderr).write(text + "\n")
        self._log.write(text + "\n")

    def detail(self, text: str) -> None:
        """Tracebacks and library output: the log file only, unless verbose."""
        self._log.write(text.rstrip("\n") + "\n")
        if not self.quiet:
            from tqdm import tqdm

            tqdm.write(text.rstrip("\n"), file=self.terminal)

    def progress(self, total: int, description: str) -> Any:
        """The build's one progress bar, on the terminal."""
        from tqdm import tqdm

        return tqdm(
            total=total, unit="image", desc=description, file=self._bar_stream, dynamic_ncols=True
        )

    @contextmanager
    def downloads(self) -> Iterator[Callable[..., Any]]:
        """A maker of one byte-counting bar per downloaded file, on the terminal."""
        from tqdm import tqdm

        def bar(total: int | None, desc: str) -> Any:
            self._log.write(f"downloading {desc}\n")
            return tqdm(
                total=total,
                desc=desc,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=self._bar_stream,
                dynamic_ncols=True,
                leave=True,
            )

        yield bar

    def keep_log_in(self, path: Path) -> None:
        """Move the log (and descriptor 2 with it) to `path`, replacing an older build's log.

        Where `path` cannot be written, the log stays in its temporary file, which is kept.
        """
        self._log.flush()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
            # Append mode (O_APPEND), shared with the model processes: no writer overwrites
            # another.
            new_log = path.open("a", encoding="utf-8", errors=_ESCAPE, buffering=1)
        except OSError:
            self.log_path, self._temporary_log = self._temporary_log, None
            return
        if self._temporary_log is not None:
            with self._temporary_log.open(encoding="utf-8", errors="replace") as earlier:
                shutil.copyfileobj(earlier, new_log)
            self._temporary_log.unlink(missing_ok=True)
            self._temporary_log = None
        if self.quiet:
            os.dup2(new_log.fileno(), 2)
        self._log.close()
        self._log, self.log_path = new_log, path

    @property
    def child_log(self) -> str | None:
        """Where a model process sends its descriptors 1 and 2 (None: leave them alone)."""
        return str(self.log_path) if self.quiet and self.log_path else None

    def close(self) -> None:
        """Give descriptor 2 back to the terminal; a log that never moved is removed."""
        sys.stderr.flush()
        if self._saved_stderr is not None:
            os.dup2(self._saved_stderr, 2)
            os.close(self._saved_stderr)
            self._saved_stderr = None
            if self._own_terminal:
                self.terminal.close()
        self._log.close()
        if self._temporary_log is not None:
            self._temporary_log.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_quietly(log_path: str | None, function: str, payload: bytes, *plain: object) -> None:
    """A model process's entry point: silence its output, then run `function(*plain, *payload)`.

    `function` is "module:name" and `payload` its pickled arguments: both are resolved only
    after descriptors 1 and 2 point at the log, because unpickling the work imports TensorFlow
    and TensorFlow prints as it loads. `plain` are arguments multiprocessing itself must pass
    (a pipe's end).
    """
    # The parent stops a model process with SIGINT; a build started in the background by a
    # non-interactive shell (nohup, `&`, some CI runners) passes SIGINT on as ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if log_path is not None:
        log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
    module, name = function.split(":")
    try:
        getattr(importlib.import_module(module), name)(*plain, *pickle.loads(payload))
    except KeyboardInterrupt:  # also while TensorFlow loads: the parent names the reason
        sys.exit(INTERRUPTED)
