"""What the generator wrote into `--out`: the only files it may replace or delete.

Two records, both keyed by the path relative to `--out`, with the sha256 of the bytes written:

- `.gallery-manifest.json`, written at the end of every build: the site's files.
- journal files `.gallery-cache/journal/<id>.jsonl`, one per writing process, appended before
  each file is written. A build killed before its manifest still knows its files, and shard
  folders copied into one keep every shard's record (each journal has a name of its own).

A generated path held by a file whose bytes match no record belongs to the user: it is refused,
not overwritten (unless `--force`). A file is deleted only when it is no longer generated and its
bytes still match a record. Entries naming a path outside `--out` are ignored with a warning: a
manifest travels with folders and commits, so it may be stale, edited or corrupt.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from generator import __version__
from generator.files import (
    OutputError,
    atomic_write_bytes,
    file_sha256,
    holds,
    unwritable,
    write_if_changed,
)

MANIFEST_NAME = ".gallery-manifest.json"
JOURNAL_DIR = ".gallery-cache/journal"
_UNRECORDED = ""  # an entry of an older manifest, which listed paths without hashes


class ForeignFile(OutputError):
    """A path the generator needs is held by a file it did not write."""


def _inside(relative: str) -> bool:
    """Whether a recorded path names a file under `--out` (no absolute path, no `..`)."""
    pure = PurePosixPath(relative)
    return (
        bool(relative)
        and not pure.is_absolute()
        and ".." not in pure.parts
        and ("\\" not in relative and ":" not in pure.parts[0])
    )


class Ledger:
    """The recorded files of `out`; writes, replaces and deletes only what it may.

    One per process (the build and each model's child); writing threads share it.
    """

    def __init__(self, out: Path, force: bool = False) -> None:
        self.out = Path(out)
        self.force = force
        self.warnings: list[str] = []  # for the build to print once; children ignore theirs
        self.records: dict[str, set[str]] = {}
        self._manifest_lost = False  # unreadable: files of this build without records count
        self._journal: Path | None = None
        self._lock = threading.Lock()
        self._read_manifest()
        self._read_journals()

    # --- reading the records --------------------------------------------------------------

    def _record(self, relative: object, sha256: object, source: str) -> None:
        if not isinstance(relative, str) or not isinstance(sha256, str):
            return
        if not _inside(relative):
            self.warnings.append(
                f"ignored the entry {relative!r} of {source}: it is outside {self.out}, and the "
                "generator only ever touches files inside its output folder"
            )
            return
        self.records.setdefault(relative, set()).add(sha256)

    def _read_manifest(self) -> None:
        path = self.out / MANIFEST_NAME
        if not path.exists():
            return
        try:
            files = json.loads(path.read_text(encoding="utf-8"))["files"]
            if isinstance(files, list):
                files = dict.fromkeys(files, _UNRECORDED)
            if not isinstance(files, dict):
                raise TypeError("'files' is neither a list nor a mapping")
        except (OSError, ValueError, KeyError, TypeError) as error:
            self._manifest_lost = True
            self.warnings.append(
                f"the manifest {path} cannot be read ({type(error).__name__}: {error}); it is "
                "rebuilt from what this build writes and the write journal, and files of "
                "earlier builds that are not written again are left in place"
            )
            return
        for relative, sha256 in files.items():
            self._record(relative, sha256, MANIFEST_NAME)

    def _journals(self) -> list[Path]:
        folder = self.out / JOURNAL_DIR
        return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []

    def _read_journals(self) -> None:
        for journal in self._journals():
            try:
                lines = journal.read_text(encoding="utf-8").splitlines()
            except (OSError, ValueError):
                continue
            for line in lines:
                try:
                    entry = json.loads(line)
                    self._record(entry["path"], entry["sha256"], journal.name)
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a killed build

    # --- ownership --------------------------------------------------------------------------

    def relative(self, path: Path) -> str:
        return Path(os.path.relpath(path, self.out)).as_posix()

    def _resolves_inside(self, path: Path) -> bool:
        """No symbolic link along the way leads out of `out`."""
        return path.parent.resolve().is_relative_to(self.out.resolve())

    def owns(self, relative: str) -> bool:
        """Whether the file at `relative` holds bytes the generator recorded writing there."""
        recorded = self.records.get(relative)
        if not recorded:
            return False
        if _UNRECORDED in recorded:  # listed by an older manifest: trusted for replacing only
            return True
        try:
            return file_sha256(self.out / relative) in recorded
        except OSError:
            return False

    def write_bytes(self, path: Path, data: bytes) -> None:
        """Write a generated file atomically, after checking that its path is free or ours."""
        path = Path(path)
        relative = self.relative(path)
        if not self._resolves_inside(path):
            raise ForeignFile(
                f"{relative} would be written outside {self.out} through a symbolic link; "
                "replace the link by a folder"
            )
        sha256 = hashlib.sha256(data).hexdigest()
        if path.is_symlink() or (
            path.exists() and not self.force and not self._may_replace(relative, sha256)
        ):
            raise ForeignFile(
                f"{relative} in {self.out} already exists and was not written by the generator "
                "(or was changed since); move it elsewhere, or pass --force to overwrite it"
            )
        if sha256 in self.records.get(relative, ()) and holds(path, data):
            return  # already there, recorded: a rebuild that changes nothing writes nothing
        try:
            self._append_journal(relative, sha256)
            atomic_write_bytes(path, data)
        except OSError as error:
            raise unwritable(error, self.out, relative, len(data)) from error
        with self._lock:
            self.records.setdefault(relative, set()).add(sha256)

    def _may_replace(self, relative: str, sha256: str) -> bool:
        """Whether the existing file is ours, or already holds exactly the bytes to write.

        Before refusing, the journals are read again: another build writing into the same
        folder at the same time may have written the file since this one started.
        """
        if self.owns(relative):
            return True
        try:
            if file_sha256(self.out / relative) == sha256:
                return True
        except OSError:
            return False
        self._read_journals()
        return self.owns(relative)

    def write_text(self, path: Path, text: str) -> None:
        self.write_bytes(path, text.encode("utf-8"))

    def _append_journal(self, relative: str, sha256: str) -> None:
        """Record the write before it happens, so a kill between the two loses no record."""
        line = json.dumps({"path": relative, "sha256": sha256}) + "\n"
        with self._lock:
            if self._journal is None:
                folder = self.out / JOURNAL_DIR
                folder.mkdir(parents=True, exist_ok=True)
                self._journal = folder / f"{uuid.uuid4().hex}.jsonl"
            with self._journal.open("a", encoding="utf-8") as handle:
                handle.write(line)

    # --- the end of a build -------------------------------------------------------------------

    def finish(self, files: Iterable[str]) -> list[str]:
        """Record `files` as the site, delete what is no longer generated; returns notes.

        A reused file changed since it was written is no longer recorded, nor is one with no
        record at all (a user's file at a path where writing was refused), unless the manifest
        was unreadable: then it was written or reused from the cache by this build, so it is.
        A file no longer generated is deleted only if its bytes still match a record; one the
        user changed is left, with a note. The journals are folded into the manifest.
        """
        # What every process of this build wrote (the model processes keep journals of their
        # own): a file one of them replaced with new bytes is still the generator's.
        self._read_journals()
        current, notes = {}, []
        for relative in sorted(set(files)):
            try:
                sha256 = file_sha256(self.out / relative)
            except OSError:
                continue  # e.g. a picture of a kept earlier page that someone deleted
            unknown = {_UNRECORDED} if self._manifest_lost else set()
            recorded = self.records.get(relative, unknown)
            if sha256 in recorded or _UNRECORDED in recorded:
                current[relative] = sha256  # written by this build, or reused from the cache
            else:
                notes.append(
                    f"{relative} was changed since the generator wrote it; it is no longer "
                    "counted as the generator's (delete it to have it generated again)"
                )
        emptied: set[Path] = set()
        for relative in sorted(set(self.records) - set(current)):
            path = self.out / relative
            if not path.is_file() or path.is_symlink() or not self._resolves_inside(path):
                continue
            if _UNRECORDED not in self.records[relative] and self.owns(relative):
                path.unlink()
                emptied.add(path.parent)
            else:
                notes.append(
                    f"kept {relative}: no longer generated, but its bytes are not what the "
                    "generator recorded writing, so it may be yours; delete it by hand if not"
                )
        self._remove_emptied(emptied)
        manifest = {"generator": __version__, "files": current}
        text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
        try:
            write_if_changed(self.out / MANIFEST_NAME, text.encode("utf-8"))
        except OSError as error:
            raise unwritable(error, self.out, MANIFEST_NAME, len(text)) from error
        self._fold_journals(current)
        self._journal = None
        self.records = {relative: {sha256} for relative, sha256 in current.items()}
        return notes

    def _remove_emptied(self, folders: set[Path]) -> None:
        """Remove the folders that deleting the generator's files left empty, and their parents
        that this empties in turn, up to (never including) `out`; a folder with anything else
        in it stays."""
        for folder in sorted(folders, key=lambda path: len(path.parts), reverse=True):
            while folder != self.out and folder.is_relative_to(self.out):
                try:
                    folder.rmdir()
                except OSError:  # not empty (or already gone): it and its parents stay
                    break
                folder = folder.parent

    def _fold_journals(self, current: dict[str, str]) -> None:
        """Replace the journals by one that holds the site (unless that one is all there is).

        A copy of this folder merged with other shards' folders brings its record along (the
        manifest would be overwritten by theirs).
        """
        folded = "".join(
            json.dumps({"path": relative, "sha256": sha256}) + "\n"
            for relative, sha256 in current.items()
        ).encode("utf-8")
        journals = self._journals()
        if len(journals) == 1 and holds(journals[0], folded):
            return
        atomic_write_bytes(self.out / JOURNAL_DIR / f"{uuid.uuid4().hex}.jsonl", folded)
        for journal in journals:
            journal.unlink(missing_ok=True)
