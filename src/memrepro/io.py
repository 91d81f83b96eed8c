"""Atomic file writes, checksums and safe loading.

Every output is written to a temporary name in the same directory, flushed to the disk
(fsync) and renamed into place, then the rename is flushed (fsync of the directory): an
interrupted job, a crash or a power loss never leaves an empty or half-written file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary name keeps the final suffix (some writers, e.g. matplotlib and
    numpy, pick the format from it). The file's data reach the disk before the rename, and
    the rename before this returns (``_fsync``). On an exception the temporary file is
    removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=suffix or path.suffix or ".tmp"
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600: give the final file the usual umask mode
            os.chmod(tmp_path, 0o666 & ~_umask())
            _fsync(tmp_path)
        os.replace(tmp_path, path)
        _fsync(path.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def set_aside(path: str | os.PathLike, tag: str) -> Path:
    """Rename ``path`` to ``<name>.<tag>-<n>`` beside it, ``n`` the first number not taken,
    so that nothing is lost; returns the new path."""
    path = Path(path)
    for n in itertools.count(1):
        aside = path.with_name(f"{path.name}.{tag}-{n}")
        if not aside.exists():
            os.replace(path, aside)
            return aside
    raise AssertionError("unreachable")


def _fsync(path: Path) -> None:
    """Flush ``path`` (a file, or a folder: its entries) to the disk. Where a folder cannot
    be opened or synced (Windows, some network file systems) the rename is left to the OS."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if not path.is_dir():
            raise
        return
    try:
        os.fsync(fd)
    except OSError:
        if not path.is_dir():
            raise
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` atomically. Serialise in memory first (e.g. ``torch.save`` to an
    ``io.BytesIO``): a writer given the temporary path may record its random name in the
    file (torch's archive names its root folder after the file), so identical content
    would give different bytes."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Write an uncompressed ``.npz`` atomically (object arrays are refused)."""
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"write_npz: array {key!r} has dtype object; refusing to pickle")
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` without ever unpickling. A file that is not a readable
    ``.npz`` (truncated, overwritten) raises ValueError naming it."""
    try:
        with np.load(Path(path), allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a readable .npz file ({type(err).__name__}: {err}); "
                         "damaged or truncated? `memrepro verify` checks the runs' files, "
                         "and a plain rerun of Snakemake rebuilds a damaged "
                         "run") from err


def digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks (md5 only as a published checksum, not security)."""
    def make():
        return hashlib.new(algorithm, usedforsecurity=algorithm != "md5")

    with open(path, "rb") as f:
        return hashlib.file_digest(f, make).hexdigest()


def sha256(path: str | os.PathLike) -> str:
    return digest(path, "sha256")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
