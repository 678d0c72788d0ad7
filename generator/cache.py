"""A content-addressed store of finished work, so a rebuild only computes what changed.

An entry is a small JSON document (a page section, a model's card) stored under the hash of
everything it depends on: model, weights, image bytes, method options, generator version. The
image files an entry refers to live in the site folder; an entry whose files are gone is a miss.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from generator.render import atomic_write_text


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
    """JSON entries under `root/<key[:2]>/<key>.json`, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The entry, or None when it is missing or unreadable (a miss is never an error)."""
        try:
            return json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, key: str, entry: dict) -> None:
        atomic_write_text(self._path(key), json.dumps(entry, sort_keys=True, indent=1) + "\n")
