"""A content-addressed store of finished work, so a rebuild only computes what changed.

An entry is a small JSON document (a model's card, the shared part of an image's section, one
method's pictures of one image) stored under the hash of everything it depends on: model,
weights, image bytes, method options, generator version. An entry may have arrays beside it (a
method's cells of the printable grid, so the grid can be redrawn without recomputing the method).
The image files an entry refers to live in the site folder; an entry whose files are gone is a
miss.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from generator.files import atomic_write_bytes, atomic_write_text

CACHE_DIR = ".gallery-cache"  # in --out; MkDocs skips dot-folders, so it is never published


def content_key(**parts: Any) -> str:
    """A stable hash of named parts (JSON-serialisable values), independent of argument order."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def folder_fingerprint(folder: Path, pattern: str = "*.h5") -> list[tuple[str, int, int]]:
    """(name, size, mtime) of the weight files in a folder: changes when any file changes.

    Cheap enough for every build; conservative (touching one file invalidates every model that
    reads weights from that folder).
    """
    if not folder.is_dir():
        return []
    return [
        (path.name, path.stat().st_size, int(path.stat().st_mtime))
        for path in sorted(folder.glob(pattern))
        if path.is_file()
    ]


class Cache:
    """JSON entries under `root/<key[:2]>/<key>.json` and arrays beside them (`<key>.npz`),
    written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str, suffix: str = ".json") -> Path:
        return self.root / key[:2] / f"{key}{suffix}"

    def get(self, key: str) -> dict | None:
        """The entry, or None when it is missing or unreadable (a miss is never an error)."""
        try:
            return json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, key: str, entry: dict) -> None:
        atomic_write_text(self._path(key), json.dumps(entry, sort_keys=True, indent=1) + "\n")

    def put_arrays(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        buffer = io.BytesIO()
        # numpy's stubs match a ** key against `allow_pickle` (a bool); here every key names an array
        np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
        atomic_write_bytes(self._path(key, ".npz"), buffer.getvalue())

    def has_arrays(self, key: str) -> bool:
        return self._path(key, ".npz").is_file()

    def get_arrays(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays, or None when they are missing or unreadable (a miss, never an error)."""
        try:
            with np.load(self._path(key, ".npz"), allow_pickle=False) as stored:
                return {name: stored[name] for name in stored.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error):
            return None
