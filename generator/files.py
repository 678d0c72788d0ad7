"""Writing files so that no reader ever sees half of one, and not writing what is already there.

Every file the generator writes (pages, pictures, cache entries, the manifest) goes through
`atomic_write_bytes`: a temporary file in the same folder, then a rename, so an interrupted build
never leaves a half-written file behind. `write_if_changed` leaves a file that already holds the
bytes untouched, so a rebuild that changes nothing writes nothing (no new modification times for
a web server, a sync tool or `git status` to pick up).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

# Temporary files are named so that they cannot be mistaken for a user's: a build cleans up
# only files with this prefix, which an interrupted write may leave.
TEMP_PREFIX = ".gallery-tmp-"


def _umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: read by setting it, then restore it at once
    os.umask(mask)
    return mask


# Files get the permissions a plain open() would give (normally 0644), not mkstemp's 0600, so a
# web server or another user can read the site.
FILE_MODE = 0o666 & ~_umask()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=path.suffix, dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically (see `atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def holds(path: Path, data: bytes) -> bool:
    """Whether `path` is a regular file (not a link) holding exactly `data`."""
    path = Path(path)
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False


def write_if_changed(path: Path, data: bytes) -> bool:
    """`atomic_write_bytes` unless `path` already holds `data`; whether it wrote."""
    if holds(path, data):
        return False
    atomic_write_bytes(path, data)
    return True


def file_sha256(path: Path) -> str:
    with Path(path).open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class OutputError(RuntimeError):
    """A file of the site cannot be written as asked; the message names it and the fix."""


def _amount(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.1f} KiB"


def unwritable(error: OSError, out: Path, relative: str, size: int | None = None) -> OutputError:
    """One line for a write that the system refused: full disk, read-only or forbidden folder."""
    if error.errno == errno.ENOSPC:
        try:
            free = f"{_amount(shutil.disk_usage(out).free)} free"
        except OSError:
            free = "free space unknown"
        needed = f"{_amount(size)} needed for this file, " if size is not None else ""
        return OutputError(
            f"no space left on the device of {out} while writing {relative} ({needed}{free}); "
            "free some space and run the build again: every file written so far is complete "
            "and is reused"
        )
    reason = error.strerror or str(error)
    return OutputError(
        f"cannot write {relative} into {out} ({reason}); make the folder writable (it may be "
        "read-only or immutable), or choose another --out"
    )
