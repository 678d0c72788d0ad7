"""The folder a build writes into: refused when it is someone else's, marked as the gallery's,
locked while one build writes it, and cleared of the temporary files a killed build left.

`claimed(out, force)` hands the build everything that lives in the folder: its ledger of written
files, its cache and its log file. TensorFlow-free.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from generator.cache import CACHE_DIR, Cache
from generator.files import TEMP_PREFIX, unwritable
from generator.manifest import JOURNAL_DIR, MANIFEST_NAME, Ledger
from generator.options import BuildRefused
from generator.output_lock import LOCK_NAME, OutputLock, OutputLocked

SITE_MARKER = ".gallery-site"  # "this folder is a gallery docs folder": safe to write into
LOG_NAME = "build.log"  # in CACHE_DIR: the last build's library output and tracebacks


class OutputFolderRefused(BuildRefused):
    """`--out` is a non-empty folder the generator did not create, or cannot be written."""


@dataclass(frozen=True)
class OutputFolder:
    """A claimed output folder and what lives in it."""

    out: Path
    ledger: Ledger  # which files the generator wrote, with their hashes
    cache: Cache  # finished work, in CACHE_DIR
    log_path: Path  # the build's library output and tracebacks
    lock_note: str | None  # set when a killed build's lock was taken over


@contextmanager
def claimed(out: Path, force: bool) -> Iterator[OutputFolder]:
    """`out`, prepared and locked for the whole `with` block; raises `OutputFolderRefused`."""
    prepare_output(out, force)
    lock = OutputLock(out)
    try:
        note = lock.acquire()
    except OutputLocked as error:
        raise OutputFolderRefused(str(error)) from None
    except OSError as error:
        raise OutputFolderRefused(str(unwritable(error, out, LOCK_NAME))) from None
    try:
        for leftover in out.rglob(f"{TEMP_PREFIX}*"):  # writes cut short by SIGKILL: while
            leftover.unlink(missing_ok=True)  # another build runs they are its, so lock first
    except OSError as error:
        lock.release()
        raise OutputFolderRefused(str(unwritable(error, out, "its temporary files"))) from None
    try:
        yield OutputFolder(
            out, Ledger(out, force), Cache(out / CACHE_DIR), out / CACHE_DIR / LOG_NAME, note
        )
    finally:
        lock.release()


def prepare_output(out: Path, force: bool) -> None:
    """Refuse a foreign non-empty folder; create and mark ours (which checks it is writable).

    A folder is ours when it holds the manifest, the site marker (the repository's
    `site_src/` ships the marker beside its hand-written files) or the write journals: a build
    cache restored into a fresh folder (CI) brings its journals, not the manifest.
    """
    if out.exists() and not out.is_dir():
        raise OutputFolderRefused(
            f"--out {out} is a file, not a folder; choose a folder (new or one the generator "
            "wrote) for the site"
        )
    ours = any((out / name).exists() for name in (MANIFEST_NAME, SITE_MARKER, JOURNAL_DIR))
    if out.is_dir() and any(out.iterdir()) and not ours and not force:
        raise OutputFolderRefused(
            f"--out {out} is a non-empty folder that the generator did not create; choose an "
            "empty or new folder, or pass --force to write into it (files the generator did "
            "not write are never deleted)"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputFolderRefused(
            f"cannot create --out {out} ({error.strerror or error}); create it yourself, or "
            "choose another folder"
        ) from None
    try:
        if not (out / SITE_MARKER).exists():  # left alone when there: a rebuild writes nothing new
            (out / SITE_MARKER).touch()
    except OSError as error:
        raise OutputFolderRefused(str(unwritable(error, out, SITE_MARKER))) from None
