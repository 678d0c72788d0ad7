"""Where a model's weights come from, and one clear error when they cannot be had.

Every ``keras.applications`` constructor called with ``weights="imagenet"`` fetches its
weight file through ``keras.src.utils.file_utils.get_file(fname, origin,
cache_subdir="models", file_hash=...)`` (looked up as a module attribute at call time) and
then calls ``model.load_weights(path)``. ``weights_source`` replaces that one function for
the duration of a constructor call, so the same constructor code can read:

* ``"imagenet"``: Keras' cache (``$KERAS_HOME/models`` or ``~/.keras/models``): a file
  there that passes Keras' hash check is used as it is (even in a read-only cache), else it
  is downloaded by ``download`` (temporary file, hash check, rename); a failure becomes
  ``WeightsUnavailable``. Keras' own ``get_file`` is never run: it would replace a
  read-only cache by ``/tmp/.keras`` and delete a cached file whose re-download fails.
* ``Verified``: the one file the build process already found and checked for this model
  (``prepare_weights``), so the model's process neither hashes nor downloads again.
* a folder: ``<folder>/<fname>`` exactly as Keras names it, never downloaded, never
  written or deleted (Keras' ``get_file`` deletes a cached file whose re-download fails;
  that code is not run on the user's folder).
* ``RECORD``: nothing is read; the constructor is stopped as soon as it names its file,
  which is how ``expected_weight_files`` learns file names and URLs.

The replacement is process-wide (a module attribute), so build one model at a time.
"""

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
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

# Seconds a single socket operation may block while downloading; without it a network that
# drops packets (rather than refusing) hangs the build forever.
DOWNLOAD_SOCKET_TIMEOUT = 20.0

# The weight file each known constructor asks for, recorded from this Keras release
# (`record_weight_files`); tests/test_weights.py checks it against every constructor.
WEIGHT_FILES_PATH = Path(__file__).parent / "data" / "weight_files.json"

_RANDOM_HINT = "or pass --weights random"


@dataclass(frozen=True)
class WeightFile:
    """A file a constructor asks for: Keras' file name, its URL and its hash (None: Keras has
    none for this file, so only loading it can tell whether it is right)."""

    fname: str
    origin: str
    file_hash: str | None = None
    hash_algorithm: str = "auto"


@dataclass(frozen=True)
class Verified:
    """A weights source: the file the build process found and checked for one model.

    ``fallback`` ("imagenet" or a folder) serves any other file the constructor asks for,
    which happens only when ``weight_files.json`` is stale for the installed Keras.
    """

    path: Path
    origin: str
    fallback: str | Path


# "imagenet", a folder of Keras weight files, a Verified file, or RECORD.
WeightsSource = str | Path | Verified | _RecordOnly


class WeightsUnavailable(RuntimeError):
    """A model's weight file could not be found, fetched or read; the message says the fix."""

    def __init__(self, model: str, fname: str, problem: str, fix: str, network: bool = False):
        self.model = model
        self.fname = fname
        self.problem = problem
        self.fix = fix
        self.network = network  # a download failed because the server could not be reached
        super().__init__(f"{model}: weight file '{fname}' {problem}. Fix: {fix}")


class NoNetwork(RuntimeError):
    """Weight files must be downloaded and the network cannot be reached; stops the build."""


class _DownloadFailed(Exception):
    """A download did not give the right file; ``network`` when the server was not reached."""

    def __init__(self, reason: str, network: bool):
        super().__init__(reason)
        self.network = network


class _Recorded(Exception):
    """Stops a constructor right after it named its weight file (RECORD mode only)."""

    def __init__(self, file: WeightFile):
        super().__init__(file.fname)
        self.file = file


def keras_cache_dir() -> Path:
    """The folder Keras downloads application weights into, read from the environment now.

    Keras reads ``KERAS_HOME`` once at import; reading it here lets a caller (or a test)
    point the cache elsewhere after import.
    """
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def _download_dir() -> Path:
    """Where downloads go: Keras' cache, or where Keras itself goes when that is read-only."""
    folder = keras_cache_dir()
    nearest = folder if folder.exists() else folder.parent
    if nearest.exists() and not os.access(nearest, os.W_OK):
        return Path(tempfile.gettempdir()) / ".keras" / "models"
    return folder


def _file_hash(path: Path, expected: str, algorithm: str) -> tuple[str, str]:
    """Hash ``path`` the way Keras does (sha256 for a 64-character hash, else md5)."""
    if algorithm == "auto":
        algorithm = "sha256" if len(expected) == 64 else "md5"
    hasher = hashlib.new(algorithm)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            hasher.update(chunk)
    return algorithm, hasher.hexdigest()


def _hash_problem(path: Path, file: WeightFile) -> str | None:
    """Why ``path`` is not ``file`` by Keras' hash, or None (also when there is no hash)."""
    if file.file_hash is None:
        return None
    algorithm, actual = _file_hash(path, file.file_hash, file.hash_algorithm)
    if actual == file.file_hash:
        return None
    return f"{algorithm} expected {file.file_hash}, actual {actual}"


def download(file: WeightFile, folder: Path, progress: Callable[..., Any] | None = None) -> Path:
    """Fetch ``file`` into ``folder``: temporary file, hash check, rename; returns its path.

    ``progress(total=bytes or None, desc=...)`` makes a tqdm-like bar. A failed or
    interrupted download leaves nothing behind. Raises ``_DownloadFailed``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / file.fname
    handle, name = tempfile.mkstemp(prefix=f".{file.fname}.", suffix=".part", dir=folder)
    partial = Path(name)
    try:
        try:
            response = urllib.request.urlopen(file.origin, timeout=DOWNLOAD_SOCKET_TIMEOUT)
        except urllib.error.HTTPError as e:
            raise _DownloadFailed(f"HTTP {e.code} {e.reason}", network=False) from e
        except (urllib.error.URLError, OSError) as e:
            raise _DownloadFailed(str(getattr(e, "reason", e)), network=True) from e
        size = response.headers.get("Content-Length")
        bar = progress(total=int(size) if size else None, desc=file.fname) if progress else None
        try:
            with response, os.fdopen(handle, "wb") as out:
                handle = -1
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
        except OSError as e:  # a read that times out or a connection that drops
            raise _DownloadFailed(str(e), network=True) from e
        finally:
            if bar is not None:
                bar.close()
        problem = _hash_problem(partial, file)
        if problem:
            raise _DownloadFailed(f"the downloaded file's hash is wrong ({problem})", False)
        os.replace(partial, target)
        return target
    finally:
        if handle != -1:
            os.close(handle)
        partial.unlink(missing_ok=True)


class _Interceptor:
    """Stands in for ``file_utils.get_file``; remembers the file it handed over."""

    def __init__(self, mode: WeightsSource, model_name: str):
        self.mode = mode
        self.model_name = model_name
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
        **kwargs,
    ) -> str:
        if md5_hash is not None and file_hash is None:
            file_hash, hash_algorithm = md5_hash, "md5"
        file = WeightFile(
            fname or os.path.basename(origin or ""), origin or "?", file_hash, hash_algorithm
        )
        if self.mode is RECORD:
            raise _Recorded(file)
        mode = self.mode
        if isinstance(mode, Verified):
            if file.fname == mode.path.name:
                self.resolved, self.resolved_origin = mode.path, file.origin
                return str(mode.path)
            mode = mode.fallback
        if mode == "imagenet":
            path = resolve_in_keras_cache(self.model_name, file, progress=None)
        else:
            path = resolve_in_folder(self.model_name, file, Path(mode))
        self.resolved, self.resolved_origin = path, file.origin
        return str(path)


def resolve_in_folder(model: str, file: WeightFile, folder: Path) -> Path:
    """``folder/fname``, checked by hash where Keras has one; never written or deleted."""
    path = folder / file.fname
    fix = f"download {file.origin} and put it in {path}, {_RANDOM_HINT}"
    if not path.is_file():
        where = f"{folder}" if folder.is_dir() else f"{folder} (that folder does not exist)"
        raise WeightsUnavailable(model, file.fname, f"was not found in {where}", fix)
    problem = _hash_problem(path, file)
    if problem:
        raise WeightsUnavailable(
            model,
            file.fname,
            f"at {path} is a corrupt or wrong file ({problem})",
            f"replace it with a fresh download of {file.origin}, {_RANDOM_HINT}",
        )
    return path


def cached_file(file: WeightFile) -> tuple[Path, str | None]:
    """Where ``file`` is in Keras' cache (or Keras' read-only fallback) and what is wrong with
    it: None when it is there and passes the hash check, else a reason to download it."""
    for folder in dict.fromkeys((keras_cache_dir(), _download_dir())):
        path = folder / file.fname
        if path.is_file():
            problem = _hash_problem(path, file)
            return path, (
                f"is in {folder} but does not match its expected hash ({problem})"
                if problem
                else None
            )
    return keras_cache_dir() / file.fname, f"is not in {keras_cache_dir()}"


def resolve_in_keras_cache(
    model: str, file: WeightFile, progress: Callable[..., Any] | None
) -> Path:
    """The cached file if it is there and right, else a fresh download (see ``download``)."""
    path, problem = cached_file(file)
    if problem is None:
        return path
    folder = _download_dir()
    try:
        return download(file, folder, progress)
    except _DownloadFailed as e:
        raise WeightsUnavailable(
            model,
            file.fname,
            f"{problem} and its download from {file.origin} failed ({e})",
            f"download {file.origin} and put it in {folder / file.fname}, {_RANDOM_HINT}",
            network=e.network,
        ) from e


@contextmanager
def weights_source(mode: WeightsSource, model_name: str = "model") -> Iterator[None]:
    """Serve weight-file requests of the constructor called inside the block from ``mode``.

    ``mode`` is ``"imagenet"``, ``RECORD``, a ``Verified`` file or a folder. Errors raised by
    the constructor after its file was handed over come from ``load_weights`` reading that
    file (every ``keras.applications`` constructor loads right after fetching), so they are
    reported as an unreadable weight file.
    """
    if isinstance(mode, str) and mode == "random":
        raise ValueError("random weights need no weights source; build with weights=None")
    interceptor = _Interceptor(mode, model_name)
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


def recorded_weight_file(spec: "ModelSpec", **overrides) -> WeightFile | None:
    """The file ``spec``'s constructor asks for with ImageNet weights (None: it asks none).

    The constructor really runs (through ``registry.build_model``, the one place that calls
    it) up to the moment it asks for its file, so this costs building the architecture,
    but never touches the network or disk. ``overrides`` are constructor arguments such
    as ``include_top=False``.
    """
    from generator.registry import build_model  # registry imports this module

    try:
        build_model(spec, RECORD, **overrides)
    except _Recorded as stop:
        return stop.file
    return None


def expected_weight_files(spec: "ModelSpec", **overrides) -> list[tuple[str, str]]:
    """The ``(file name, URL)`` pairs ``spec``'s constructor asks for with ImageNet weights."""
    file = recorded_weight_file(spec, **overrides)
    return [(file.fname, file.origin)] if file else []


@cache
def known_weight_files() -> dict[str, WeightFile]:
    """Model name -> its weight file, from ``weight_files.json`` (no model is built)."""
    data = json.loads(WEIGHT_FILES_PATH.read_text(encoding="utf-8"))
    return {name: WeightFile(**entry) for name, entry in data["files"].items()}


def prepare_weights(
    specs: Iterable["ModelSpec"], mode: str | Path, progress: Callable[..., Any] | None = None
) -> dict[str, WeightsSource | WeightsUnavailable]:
    """Find, check or download, in the build process, the weights of each model to compute.

    Returns model name -> the source its process should use (a ``Verified`` file, or
    ``mode`` itself for a model ``weight_files.json`` does not know) or the error that fails
    it. Raises ``NoNetwork`` with the one message for the whole build when downloads are
    needed and the network cannot be reached: no model could be built.
    """
    known = known_weight_files()
    sources: dict[str, WeightsSource | WeightsUnavailable] = {}
    to_download: list[tuple[str, WeightFile, str]] = []
    for spec in specs:
        file = known.get(spec.name)
        if file is None:
            sources[spec.name] = mode  # its own process finds out which file it needs
        elif mode != "imagenet":
            try:
                path = resolve_in_folder(spec.name, file, Path(mode))
                sources[spec.name] = Verified(path, file.origin, mode)
            except WeightsUnavailable as error:
                sources[spec.name] = error
        else:
            path, problem = cached_file(file)
            if problem is None:
                sources[spec.name] = Verified(path, file.origin, mode)
            else:
                to_download.append((spec.name, file, problem))
    for index, (name, file, _) in enumerate(to_download):
        try:
            path = resolve_in_keras_cache(name, file, progress)
            sources[name] = Verified(path, file.origin, mode)
        except WeightsUnavailable as error:
            if error.network:
                reason = str(error.__cause__)
                raise NoNetwork(_no_network_message(to_download[index:], reason)) from None
            sources[name] = error
    return sources


def _no_network_message(missing: list[tuple[str, WeightFile, str]], reason: str) -> str:
    """The one message of a build that cannot download: which files, where, or random."""
    folder = _download_dir()
    lines = [
        (
            f"{len(missing)} model(s) need ImageNet weight files that must be downloaded, and "
            f"the download server cannot be reached ({reason}). No model was built. The files:"
        )
    ]
    lines += [
        f"  {name}: {file.fname} {problem}; it comes from {file.origin}"
        for name, file, problem in missing
    ]
    lines.append(
        f"Fix: download them on a machine with internet and put them in {folder} under the "
        "names shown (or in any folder, then pass --weights that-folder); or build now with "
        "--weights random (untrained weights; every page says so)."
    )
    return "\n".join(lines)


def record_weight_files(names: list[str]) -> None:
    """Rewrite ``weight_files.json`` for ``names`` (slow: builds each architecture).

    Run after a Keras upgrade: ``python -c "from generator import weights, registry;
    weights.record_weight_files(list(registry.discover()))"``.
    """
    import keras

    from generator.registry import discover

    specs = discover()
    files = {}
    for name in names:
        file = recorded_weight_file(specs[name])
        if file is not None:
            files[name] = file.__dict__
        keras.backend.clear_session()
    data = {"keras": keras.__version__, "files": files}
    WEIGHT_FILES_PATH.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", "utf-8")
