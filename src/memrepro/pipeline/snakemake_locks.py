"""Snakemake's directory lock, safe for two Snakemakes started at once in one directory.

Snakemake 9 (file persistence) sets up ``.snakemake/locks`` when it starts, builds the DAG,
then checks the folder for lock files that conflict with its own files and writes
``<n>.input.lock`` and ``<n>.output.lock``; at its end it removes them and then the whole
folder. Two Snakemakes started together race on each step: both pass the check and run; the
end of one removes the folder that the other then writes into (``FileNotFoundError:
.snakemake/locks/0.input.lock``) or the lock files of the other, which runs on unlocked; a
lock file removed while another Snakemake reads the folder fails that one too.

``guard()`` (the Snakefile calls it in Snakemake's main process) replaces these steps of
Snakemake's ``FilePersistence``:

* the check and the writing happen under an exclusive ``flock`` of ``.snakemake/locks.mutex``
  (``mutex``): the second Snakemake finds the first's locks and refuses with Snakemake's own
  message, "Directory cannot be locked";
* a lock file is created with a number no other file has, in the folder, made again if gone;
* the end removes this Snakemake's own lock files, then the folder only if it is empty;
  ``snakemake --unlock`` (which locked nothing) still removes every lock;
* a lock file that vanishes while the folder is read is skipped.

What is replaced is checked (``compatible``); a Snakemake without it is left as it is, with a
warning.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from itertools import count
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no flock; the check and the writing stay unguarded there
    fcntl = None

log = logging.getLogger("memrepro.pipeline.snakemake_locks")

MUTEX = "locks.mutex"  # in .snakemake, beside the locks folder (which --unlock deletes)
REPLACED = ("lock", "_read_locks", "_write_locks", "_delete_locks")


@contextlib.contextmanager
def mutex(snakemake_dir: str | Path) -> Iterator[None]:
    """Hold the exclusive lock of ``snakemake_dir``'s mutex file (``.snakemake/locks.mutex``),
    which every guarded lock, unlock and stale-lock sweep of the directory takes."""
    os.makedirs(snakemake_dir, exist_ok=True)
    with open(Path(snakemake_dir) / MUTEX, "a") as f:
        if fcntl is not None:
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(f, fcntl.LOCK_UN)


def compatible() -> bool:
    """Whether the installed Snakemake has the locking that ``guard`` replaces."""
    from snakemake.persistence.file import FilePersistence

    return all(callable(getattr(FilePersistence, name, None)) for name in REPLACED) and \
        hasattr(FilePersistence, "locked")


def guard() -> bool:
    """Replace the locking steps of Snakemake's FilePersistence (see the module docstring);
    returns whether it did."""
    from snakemake.persistence.file import FilePersistence

    if not compatible():
        log.warning("memrepro: this Snakemake's locking is not the one memrepro guards; two "
                    "Snakemakes started at once in this directory may fail")
        return False
    FilePersistence.lock = _lock
    FilePersistence._read_locks = _read_locks
    FilePersistence._write_locks = _write_locks
    FilePersistence._delete_locks = _delete_locks
    return True


@contextlib.contextmanager
def _lock(self: Any) -> Iterator[None]:
    from snakemake.exceptions import LockException

    with mutex(self.path):
        if self.locked:
            raise LockException()
        self._memrepro_locked = True  # its end removes its own files only
        try:
            self._write_locks("input", (str(f) for f in self.all_inputfiles()))
            self._write_locks("output", (str(f) for f in self.all_outputfiles()))
        except BaseException:
            _remove_own(self)
            raise
    try:
        yield
    finally:
        self.unlock()


def _read_locks(self: Any) -> Iterator[tuple[str, str]]:
    try:
        names = sorted(os.listdir(self._lockdir))
    except FileNotFoundError:  # a neighbour's end removed the folder: nothing is locked
        names = []
    for lock_type in ("input", "output"):
        pattern = re.compile(rf"[0-9]+\.{lock_type}\.lock")
        for name in filter(pattern.fullmatch, names):
            try:
                text = Path(self._lockdir, name).read_text()
            except (FileNotFoundError, IsADirectoryError):  # gone since listed: unlocked
                continue
            for line in text.splitlines():
                yield lock_type, line.strip()


def _write_locks(self: Any, lock_type: str, keys: Iterable[str]) -> None:
    keys = list(keys)
    if not keys:
        return
    os.makedirs(self._lockdir, exist_ok=True)  # a neighbour's end may have removed it
    for i in count(0):
        path = os.path.join(self._lockdir, f"{i}.{lock_type}.lock")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        self._lockfile[lock_type] = path
        with os.fdopen(fd, "w") as f:
            f.write("".join(f"{k}\n" for k in keys))
        return


def _delete_locks(self: Any) -> None:
    with mutex(self.path):
        if getattr(self, "_memrepro_locked", False):
            _remove_own(self)
        else:  # `snakemake --unlock`: every lock goes, as in Snakemake
            self._lockfile.clear()
            shutil.rmtree(self._lockdir, ignore_errors=True)


def _remove_own(self: Any) -> None:
    """Remove this Snakemake's lock files, then the folder if no other's are left."""
    for path in self._lockfile.values():
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
    self._lockfile.clear()
    self._memrepro_locked = False
    with contextlib.suppress(OSError):  # not empty: another Snakemake's locks
        os.rmdir(self._lockdir)
