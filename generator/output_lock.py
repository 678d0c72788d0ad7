"""One build at a time per output folder: a lock file naming the build that holds it.

Two builds writing into one `--out` would clear each other's temporary files and fold each
other's journals into their manifests. The lock is an advisory `flock` on
`<out>/.gallery-cache/build.lock`: the kernel lets it go when its process ends however it ends,
so the lock of a killed build is stale by construction and the next build takes it over; the
file's text (pid, start time) only names the holder in messages.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import TextIO

LOCK_NAME = ".gallery-cache/build.lock"


class OutputLocked(RuntimeError):
    """Another running build holds the output folder; the message names it and the fix."""


class OutputLock:
    """The lock of one output folder, held from `acquire` to `release` (call it in a finally)."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.path = self.out / LOCK_NAME
        self._handle: TextIO | None = None

    def acquire(self) -> str | None:
        """Take the lock; returns a note when a stale lock was taken over.

        Raises `OutputLocked` when a running build holds it, and `OSError` when the lock file
        cannot be written.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = _locked_file(self.path, self.out)
        try:
            earlier = _holder(handle)
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({"pid": os.getpid(), "started": _now()}) + "\n")
            handle.flush()
        except BaseException:
            handle.close()
            raise
        self._handle = handle
        if not earlier:
            return None
        return (
            f"took over the lock of an earlier build into {self.out} ({_describe(earlier)}), "
            "which is no longer running (it was killed or crashed)"
        )

    def release(self) -> None:
        """Let the lock go; a build waiting for the folder then makes a lock file of its own."""
        if self._handle is None:
            return
        self.path.unlink(missing_ok=True)  # before the lock is let go, see `_locked_file`
        self._handle.close()
        self._handle = None


def _locked_file(path: Path, out: Path) -> TextIO:
    """The lock file, opened and locked; a build that finds it held is refused.

    A file another build unlinked while this one was waiting for it is no longer the lock:
    it is opened again.
    """
    while True:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held until the build ends)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(handle)
            handle.close()
            raise OutputLocked(
                f"--out {out} is being built by another build ({_describe(holder)}); wait "
                "for it to end, or stop it, then run the same command again"
            ) from None
        except BaseException:
            handle.close()
            raise
        try:
            if os.path.samestat(os.fstat(handle.fileno()), os.stat(path)):
                return handle
        except FileNotFoundError:
            pass
        handle.close()


def _holder(handle: TextIO) -> dict[str, object]:
    """What the lock file says about the build that wrote it (empty when it says nothing)."""
    handle.seek(0)
    try:
        holder = json.loads(handle.read())
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _describe(holder: dict[str, object]) -> str:
    pid = holder.get("pid", "unknown")
    return f"pid {pid}, started {holder.get('started', 'at an unknown time')}"


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z")
