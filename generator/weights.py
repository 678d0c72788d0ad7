"""Where a model's weight file comes from, and one clear error when it cannot be had.

This module finds files; it builds no model and replaces none of Keras' code. Which file a
model needs comes from ``data/weight_files.json`` (Keras' file name, URL and hash for each
constructor; ``tests/weightkit.py`` records it from the installed Keras and
``tests/test_weights.py`` checks it against every constructor), so no constructor has to be
asked. ``registry.build_model`` then builds the model with ``weights=None`` and loads the
file with ``model.load_weights``, as the constructors themselves do with the file they fetch.
A weights source is

* ``"imagenet"``: Keras' cache (``$KERAS_HOME/models`` or ``~/.keras/models``): a file there
  that passes its hash check is used as it is (even in a read-only cache), else it is
  downloaded by ``download`` (temporary file, hash check, rename); a failure becomes
  ``WeightsUnavailable``. Keras' own ``get_file`` is never run: it would replace a read-only
  cache by ``/tmp/.keras`` and delete a cached file whose re-download fails.
* a folder: ``<folder>/<fname>`` exactly as Keras names it, checked by hash, never
  downloaded, never written or deleted.
* ``Verified``: the file the build process already found and checked for this model
  (``prepare_weights``), so the model's process neither hashes nor downloads again.
* ``"random"``: no file (``resolve_weights`` says so; the registry seeds untrained weights).
"""

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal, Protocol

# Seconds a single socket operation may block while downloading; without it a network that
# drops packets (rather than refusing) hangs the build forever.
DOWNLOAD_SOCKET_TIMEOUT = 20.0

# The weight file each known constructor asks for, recorded from this Keras release by
# `python tests/weightkit.py`; tests/test_weights.py checks it against every constructor.
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
    """A weight file found and checked for one model, and the URL it comes from (for the fix
    of a file that turns out unreadable)."""

    path: Path
    origin: str


# "imagenet", "random", a folder of Keras weight files, or a Verified file.
WeightsSource = str | Path | Verified


class _Named(Protocol):
    """What ``prepare_weights`` reads of a model: its name (a ``registry.ModelSpec``)."""

    @property
    def name(self) -> str: ...


class WeightsUnavailable(RuntimeError):
    """A model's weight file could not be found, fetched or read; the message says the fix."""

    def __init__(self, model: str, fname: str, problem: str, fix: str, network: bool = False):
        self.model = model
        self.fname = fname
        self.problem = problem
        self.fix = fix
        self.network = network  # a download failed because the server could not be reached
        what = f"weight file '{fname}'" if fname else "weight file"
        super().__init__(f"{model}: {what} {problem}. Fix: {fix}")


class NoNetwork(RuntimeError):
    """Weight files must be downloaded and the network cannot be reached; stops the build."""


class _DownloadFailed(Exception):
    """A download did not give the right file; ``network`` when the server was not reached."""

    def __init__(self, reason: str, network: bool):
        super().__init__(reason)
        self.network = network


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


@cache
def _weight_table() -> tuple[str, dict[str, WeightFile]]:
    data = json.loads(WEIGHT_FILES_PATH.read_text(encoding="utf-8"))
    return data["keras"], {name: WeightFile(**entry) for name, entry in data["files"].items()}


def known_weight_files() -> dict[str, WeightFile]:
    """Model name -> its weight file, from ``weight_files.json`` (no model is built)."""
    return _weight_table()[1]


def weight_file(model: str) -> WeightFile:
    """The file ``model``'s ImageNet weights are in; ``WeightsUnavailable`` for a model the
    table does not name (a constructor added by a Keras newer than the table)."""
    file = known_weight_files().get(model)
    if file is not None:
        return file
    raise WeightsUnavailable(
        model,
        "",
        f"is not known: generator/data/weight_files.json, recorded with Keras "
        f"{_weight_table()[0]}, names none for this model (Keras {version('keras')} is installed)",
        f"record the table for this Keras (python tests/weightkit.py in the project's "
        f"checkout), {_RANDOM_HINT}",
    )


def resolve_weights(
    model: str, source: WeightsSource, file: WeightFile | None = None
) -> Verified | Literal["random"]:
    """The checked weight file of ``model`` from ``source``, or ``"random"`` for no file.

    ``file`` is the file to find instead of the table's (a constructor called with other
    arguments, e.g. MobileNet with ``include_top=False, alpha=0.25``, asks for another).
    Raises ``WeightsUnavailable`` naming the file and the fix.
    """
    if isinstance(source, Verified):
        return source
    if isinstance(source, str) and source == "random":
        return "random"
    file = file or weight_file(model)
    if isinstance(source, str) and source == "imagenet":
        path = resolve_in_keras_cache(model, file, progress=None)
    else:
        path = resolve_in_folder(model, file, Path(source))
    return Verified(path, file.origin)


def unreadable(model: str, weights: Verified, error: Exception) -> WeightsUnavailable:
    """The error of a weight file that was found (and passed its hash check where Keras has
    one) but could not be loaded into ``model``."""
    return WeightsUnavailable(
        model,
        weights.path.name,
        f"at {weights.path} could not be loaded; it is truncated, not HDF5, or not the weights"
        f" of this model ({type(error).__name__}: {error})",
        f"replace it with a fresh download of {weights.origin}, {_RANDOM_HINT}",
    )


def prepare_weights(
    specs: Iterable[_Named], mode: str | Path, progress: Callable[..., Any] | None = None
) -> dict[str, WeightsSource | WeightsUnavailable]:
    """Find, check or download, in the build process, the weights of each model to compute.

    Returns model name -> the ``Verified`` file its process should load, or the error that
    fails it. Raises ``NoNetwork`` with the one message for the whole build when downloads
    are needed and the network cannot be reached: no model could be built.
    """
    sources: dict[str, WeightsSource | WeightsUnavailable] = {}
    to_download: list[tuple[str, WeightFile, str]] = []
    for spec in specs:
        try:
            file = weight_file(spec.name)
        except WeightsUnavailable as error:
            sources[spec.name] = error
            continue
        if mode != "imagenet":
            try:
                path = resolve_in_folder(spec.name, file, Path(mode))
                sources[spec.name] = Verified(path, file.origin)
            except WeightsUnavailable as error:
                sources[spec.name] = error
        else:
            path, problem = cached_file(file)
            if problem is None:
                sources[spec.name] = Verified(path, file.origin)
            else:
                to_download.append((spec.name, file, problem))
    for index, (name, file, _) in enumerate(to_download):
        try:
            path = resolve_in_keras_cache(name, file, progress)
            sources[name] = Verified(path, file.origin)
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


def weights_label(weights: str | Path) -> tuple[str, str]:
    """(mode, human label) for the pages."""
    if weights == "random":
        return "random", "random, untrained (seeded)"
    if weights == "imagenet":
        return "imagenet", "ImageNet (Keras)"
    return "folder", f"ImageNet, from the folder {Path(weights).name}"
