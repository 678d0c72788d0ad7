"""Where a model's weights come from, and one clear error when they cannot be had.

Every ``keras.applications`` constructor called with ``weights="imagenet"`` fetches its
weight file through ``keras.src.utils.file_utils.get_file(fname, origin,
cache_subdir="models", file_hash=...)`` (looked up as a module attribute at call time) and
then calls ``model.load_weights(path)``. ``weights_source`` replaces that one function for
the duration of a constructor call, so the same constructor code can read:

* ``"imagenet"``: Keras' own download and cache (``$KERAS_HOME/models`` or
  ``~/.keras/models``); a failed download becomes ``WeightsUnavailable``.
* a folder: ``<folder>/<fname>`` exactly as Keras names it, never downloaded, never
  written or deleted (Keras' ``get_file`` deletes a cached file whose re-download fails;
  that code is not run on the user's folder).
* ``RECORD``: nothing is read; the constructor is stopped as soon as it names its file,
  which is how ``expected_weight_files`` learns file names and URLs.

The replacement is process-wide (a module attribute), so build one model at a time.
"""

import hashlib
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from unittest import mock

from keras.src.utils import file_utils

if TYPE_CHECKING:
    from generator.registry import ModelSpec


class _RecordOnly:
    """Type of ``RECORD``: a source no folder name can be mistaken for."""

    def __repr__(self) -> str:
        return "RECORD"


# Pass as the weights source to only record which file a constructor asks for.
RECORD = _RecordOnly()

# "imagenet", a folder of Keras weight files, or RECORD.
WeightsSource = str | Path | _RecordOnly

# Seconds a single socket operation may block while downloading; without it a network that
# drops packets (rather than refusing) hangs the build forever.
DOWNLOAD_SOCKET_TIMEOUT = 20.0

_RANDOM_HINT = "or pass --weights random"


class WeightsUnavailable(RuntimeError):
    """A model's weight file could not be found, fetched or read; the message says the fix."""

    def __init__(self, model: str, fname: str, problem: str, fix: str):
        self.model = model
        self.fname = fname
        self.problem = problem
        self.fix = fix
        super().__init__(f"{model}: weight file '{fname}' {problem}. Fix: {fix}")


class _Recorded(Exception):
    """Stops a constructor right after it named its weight file (RECORD mode only)."""

    def __init__(self, fname: str, origin: str):
        super().__init__(fname)
        self.file = (fname, origin)


def keras_cache_dir() -> Path:
    """The folder Keras downloads application weights into, read from the environment now.

    Keras reads ``KERAS_HOME`` once at import; reading it here lets a caller (or a test)
    point the cache elsewhere after import.
    """
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def _file_hash(path: Path, expected: str, algorithm: str) -> tuple[str, str]:
    """Hash ``path`` the way Keras does (sha256 for a 64-character hash, else md5)."""
    if algorithm == "auto":
        algorithm = "sha256" if len(expected) == 64 else "md5"
    hasher = hashlib.new(algorithm)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            hasher.update(chunk)
    return algorithm, hasher.hexdigest()


class _Interceptor:
    """Stands in for ``file_utils.get_file``; remembers the file it handed over."""

    def __init__(self, mode: WeightsSource, model_name: str, real_get_file: Callable[..., str]):
        self.mode = mode
        self.model_name = model_name
        self.real_get_file = real_get_file
        self.resolved: Path | None = None  # file handed back to the constructor
        self.resolved_origin = ""  # and the URL Keras would fetch it from

    def __call__(
        self,
        fname: str | None = None,
        origin: str | None = None,
        *,
        file_hash: str | None = None,
        md5_hash: str | None = None,
        hash_algorithm: str = "auto",
        cache_subdir: str = "datasets",
        **kwargs,
    ) -> str:
        fname = fname or os.path.basename(origin or "")
        origin = origin or "?"
        if md5_hash is not None and file_hash is None:
            file_hash, hash_algorithm = md5_hash, "md5"
        if self.mode is RECORD:
            raise _Recorded(fname, origin)
        if self.mode == "imagenet":
            path = self._download(fname, origin, file_hash, hash_algorithm, cache_subdir, kwargs)
        else:
            path = self._from_folder(Path(self.mode), fname, origin, file_hash, hash_algorithm)
        self.resolved, self.resolved_origin = path, origin
        return str(path)

    def _unavailable(self, fname: str, problem: str, fix: str) -> WeightsUnavailable:
        return WeightsUnavailable(self.model_name, fname, problem, fix)

    def _download(
        self,
        fname: str,
        origin: str,
        file_hash: str | None,
        hash_algorithm: str,
        cache_subdir: str,
        kwargs: dict,
    ) -> Path:
        cache_root = keras_cache_dir().parent
        folder = cache_root / cache_subdir
        fix = f"download {origin} and put it in {folder / fname}, {_RANDOM_HINT}"
        # Keras re-downloads a cached file only when its hash is wrong, and deletes it when
        # that re-download fails: remember it was there so the message can say so.
        was_cached = (folder / fname).is_file()
        previous_timeout = socket.getdefaulttimeout()
        socket.setdefaulttimeout(DOWNLOAD_SOCKET_TIMEOUT)
        try:
            path = self.real_get_file(
                fname,
                origin,
                file_hash=file_hash,
                hash_algorithm=hash_algorithm,
                cache_subdir=cache_subdir,
                cache_dir=str(cache_root),
                **kwargs,
            )
        except Exception as e:  # Keras wraps urllib errors in a bare Exception
            if isinstance(e, ValueError) and "corrupted" in str(e):
                problem = f"was downloaded from {origin} but its hash does not match ({e})"
            elif was_cached:
                problem = (
                    f"in {folder} did not match its expected hash and the re-download from"
                    f" {origin} failed ({e}); Keras removed the bad copy"
                )
            else:
                problem = f"is not in {folder} and its download from {origin} failed ({e})"
            raise self._unavailable(fname, problem, fix) from e
        finally:
            socket.setdefaulttimeout(previous_timeout)
        return Path(path)

    def _from_folder(
        self, folder: Path, fname: str, origin: str, file_hash: str | None, hash_algorithm: str
    ) -> Path:
        path = folder / fname
        fix = f"download {origin} and put it in {path}, {_RANDOM_HINT}"
        if not path.is_file():
            where = f"{folder}" if folder.is_dir() else f"{folder} (that folder does not exist)"
            raise self._unavailable(fname, f"was not found in {where}", fix)
        if file_hash is not None:
            algorithm, actual = _file_hash(path, file_hash, hash_algorithm)
            if actual != file_hash:
                raise self._unavailable(
                    fname,
                    f"at {path} is a corrupt or wrong file ({algorithm} expected {file_hash},"
                    f" actual {actual})",
                    f"replace it with a fresh download of {origin}, {_RANDOM_HINT}",
                )
        return path


@contextmanager
def weights_source(mode: WeightsSource, model_name: str = "model") -> Iterator[None]:
    """Serve weight-file requests of the constructor called inside the block from ``mode``.

    ``mode`` is ``"imagenet"``, ``RECORD`` or a folder. Errors raised by the constructor
    after its file was handed over come from ``load_weights`` reading that file (every
    ``keras.applications`` constructor loads right after fetching), so they are reported
    as an unreadable weight file.
    """
    if isinstance(mode, str) and mode == "random":
        raise ValueError("random weights need no weights source; build with weights=None")
    interceptor = _Interceptor(mode, model_name, file_utils.get_file)
    with mock.patch.object(file_utils, "get_file", interceptor):
        try:
            yield
        except WeightsUnavailable:
            raise
        except Exception as e:
            if interceptor.resolved is None:
                raise
            raise WeightsUnavailable(
                model_name,
                interceptor.resolved.name,
                f"at {interceptor.resolved} could not be loaded; it is truncated, not HDF5, or"
                f" not the weights of this model ({type(e).__name__}: {e})",
                f"replace it with a fresh download of {interceptor.resolved_origin},"
                f" {_RANDOM_HINT}",
            ) from e


def expected_weight_files(spec: "ModelSpec", **overrides) -> list[tuple[str, str]]:
    """The ``(file name, URL)`` pairs ``spec``'s constructor asks for with ImageNet weights.

    The constructor really runs (through ``registry.build_model``, the one place that calls
    it) up to the moment it asks for its file, so this costs building the architecture,
    but never touches the network or disk. ``overrides`` are constructor arguments such
    as ``include_top=False``.
    """
    from generator.registry import build_model  # registry imports this module

    try:
        build_model(spec, RECORD, **overrides)
    except _Recorded as stop:
        return [stop.file]
    return []
