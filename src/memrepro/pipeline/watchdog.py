"""Who is still alive: a training job stops when its Snakemake dies, and a killed Snakemake
does not leave the directory locked.

* **The job's watchdog** (``watch_snakemake``, two lines at the top of
  ``workflow/scripts/train.py``). A daemon thread checks four times a second that the Snakemake
  running the job is still there: the job's parent, or the nearest ancestor running
  Snakemake when another process sits between them (a shell). Once it is gone (SIGKILL, the
  OOM killer) the thread asks the engine to stop: after the epoch in progress
  the engine writes every cell's checkpoint and raises ``Stopped``, so the orphaned job exits
  within an epoch, keeping all it trained, and a plain rerun resumes from there. Not
  ``prctl(PR_SET_PDEATHSIG)``: it fires when the *thread* that started the job exits
  (Snakemake starts jobs from a thread pool), it is Linux-only, and a signal would cut the
  epoch short instead of ending it.
* **The registry** (``.snakemake/memrepro-processes/<pid>``): every Snakemake main process
  that reads the Snakefile, and every training job, leaves a file there (start time, host,
  and a job's Snakemake pid), removed when it exits.
* **Stale locks** (``clear_stale_locks``, called by the Snakefile). Snakemake's locks
  (``.snakemake/locks``) outlive a killed Snakemake and make every later run refuse until
  ``--unlock``. They are removed only when no other registered process of this directory is
  alive; a training job left by a killed Snakemake is waited for (it stops at the end of its
  epoch). A live Snakemake keeps its locks, so concurrent runs are still locked out. The
  removal holds the mutex of Snakemake's guarded locking (``memrepro.pipeline.snakemake_locks``), so
  it never overlaps a Snakemake taking or dropping its locks, and tolerates files that
  vanish meanwhile.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import socket
import stat
import sys
import threading
import time
from pathlib import Path

import psutil

from memrepro import io
from memrepro.pipeline.snakemake_locks import mutex

log = logging.getLogger("memrepro.pipeline.watchdog")

REGISTRY = Path(".snakemake") / "memrepro-processes"
LOCKS = Path(".snakemake") / "locks"
WAIT_FOR_ORPHANS_S = 300  # a killed Snakemake's job ends its epoch, checkpoints, exits

_stop = threading.Event()
_reason: list[str] = []


class Stopped(SystemExit):
    """Raised by the engine after it checkpointed because the watchdog asked it to stop (the
    job's Snakemake is gone). A SystemExit: the job script exits with status 1 and this
    message, without a traceback."""


def request_stop(reason: str) -> None:
    """Ask the engine to stop after the epoch in progress (checkpoint written)."""
    _reason.append(reason)
    _stop.set()


def stop_requested() -> bool:
    return _stop.is_set()


def exit_if_requested(epoch: int) -> None:
    """Called by the engine once the checkpoints of ``epoch`` are written."""
    if _stop.is_set():
        why = _reason[0] if _reason else "stop requested"
        log.warning("stopped after epoch %d, checkpoint written: %s", epoch, why)
        raise Stopped(f"memrepro: stopped after epoch {epoch}, checkpoint written: {why}")


# --- processes ------------------------------------------------------------------------------

def _ask(pid: int, what: str, default):
    """psutil's ``Process(pid).<what>()``, or ``default`` when there is no such process (or
    it may not be read)."""
    try:
        return getattr(psutil.Process(pid), what)()
    except (psutil.Error, ValueError):  # ValueError: a negative pid
        return default


def start_token(pid: int) -> str | None:
    """When the process started (psutil's creation time, as text), to tell a reused pid from
    the process recorded under it; None where unknown."""
    created = _ask(pid, "create_time", None)
    return None if created is None else repr(created)


def alive(pid: int, token: str | None = None) -> bool:
    """Whether ``pid`` is a running process (not a zombie) and, when ``token`` is given and
    this system tells start times, the same process that was recorded. Another user's
    process, whose details may not be read, counts as alive."""
    try:
        proc = psutil.Process(pid)
        if proc.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
            return False
        return token is None or repr(proc.create_time()) == token
    except (psutil.NoSuchProcess, ValueError):
        return False
    except psutil.AccessDenied:
        return True


def parent_of(pid: int) -> int | None:
    return _ask(pid, "ppid", None)


def command_of(pid: int) -> list[str]:
    return _ask(pid, "cmdline", [])


def runs_snakemake(argv: list[str]) -> bool:
    """``snakemake ...``, ``python .../bin/snakemake ...`` or ``python -m snakemake ...``."""
    head = [os.path.basename(a) for a in argv[:3]]
    return "snakemake" in head or "-m snakemake" in " ".join(argv[:3])


def snakemake_ancestor(pid: int | None = None) -> int | None:
    """The nearest ancestor of ``pid`` (default: this process) that runs Snakemake."""
    pid = os.getpid() if pid is None else pid
    for _ in range(16):
        pid = parent_of(pid)
        if not pid or pid <= 1:
            return None
        if runs_snakemake(command_of(pid)):
            return pid
    return None


# --- the job's watchdog ---------------------------------------------------------------------

def watch_snakemake(interval: float = 0.25) -> threading.Thread:
    """Start the watchdog of this training job (see the module docstring) and register the
    job; returns the (daemon) thread."""
    parent = os.getppid()
    target = snakemake_ancestor() or parent
    token = start_token(target)
    register("job", snakemake=(target, token))

    def gone() -> bool:
        if target == parent:  # an orphan is re-parented at once, even before it is reaped
            return os.getppid() != parent
        return not alive(target, token)

    def watch() -> None:
        while not gone():
            time.sleep(interval)
        _quiet_dead_pipes()
        log.warning("Snakemake (pid %d) is gone: this job stops after the epoch in progress "
                    "and keeps its checkpoint; a plain rerun resumes it", target)
        request_stop(f"its Snakemake (pid {target}) is gone")

    thread = threading.Thread(target=watch, name="memrepro-watchdog", daemon=True)
    thread.start()
    return thread


def _quiet_dead_pipes() -> None:
    """stdout/stderr piped to a Snakemake that is gone (or its reader) would fail the job
    with EPIPE on the next progress write: send them to /dev/null (the log file stays)."""
    null = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        with contextlib.suppress(OSError):
            mode = os.fstat(fd).st_mode
            if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
                os.dup2(null, fd)
    os.close(null)


# --- the registry and stale locks -----------------------------------------------------------

def register(role: str, snakemake: tuple[int, str | None] | None = None,
             root: str | Path = ".") -> Path | None:
    """Record this process in the registry of ``root``; removed again at exit."""
    path = Path(root) / REGISTRY / str(os.getpid())
    entry = {"role": role, "pid": os.getpid(), "start": start_token(os.getpid()),
             "host": socket.gethostname(), "snakemake": list(snakemake) if snakemake else None}
    try:  # atomic: a neighbour never reads half an entry (and takes us for dead)
        io.write_text(path, json.dumps(entry))
    except OSError:
        return None
    atexit.register(_unregister, path, os.getpid())
    return path


def _unregister(path: Path, pid: int) -> None:
    if os.getpid() == pid:  # not in a forked child
        with contextlib.suppress(OSError):
            path.unlink()


def live_entries(root: str | Path = ".") -> list[dict]:
    """Registered processes of ``root`` other than this one that are still alive (another
    host's count as alive: nothing here can tell); dead ones are removed."""
    live = []
    for path in sorted((Path(root) / REGISTRY).glob("[0-9]*")):
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if entry.get("pid") == os.getpid():
            continue
        here = entry.get("host") == socket.gethostname()
        if here and not alive(int(entry["pid"]), entry.get("start")):
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        live.append(entry)
    return live


def _orphaned(entry: dict) -> bool:
    """A training job whose Snakemake is gone (it stops by itself after its epoch)."""
    owner = entry.get("snakemake")
    return (entry.get("role") == "job" and entry.get("host") == socket.gethostname()
            and bool(owner) and not alive(int(owner[0]), owner[1]))


def clear_stale_locks(root: str | Path = ".", wait_s: float = WAIT_FOR_ORPHANS_S,
                      poll_s: float = 1.0) -> bool:
    """Register this Snakemake and remove the locks a killed Snakemake left in ``root``: only
    when no other registered process of ``root`` is alive, after waiting up to ``wait_s``
    for the jobs of a killed Snakemake to stop. Returns whether locks were removed."""
    register("snakemake", root=root)
    locks = Path(root) / LOCKS
    if not any(locks.glob("*.lock")):
        return False
    deadline, said = time.monotonic() + wait_s, False
    while (live := live_entries(root)) and all(_orphaned(e) for e in live) \
            and time.monotonic() < deadline:
        if not said:
            sys.stderr.write(f"memrepro: waiting for {len(live)} training job(s) of a killed "
                             f"Snakemake (pid {', '.join(str(e['pid']) for e in live)}) to "
                             "write their checkpoints and exit ...\n")
            said = True
        time.sleep(poll_s)
    if live:
        return False  # a live Snakemake holds them, or its jobs still run: Snakemake refuses
    with mutex(Path(root) / ".snakemake"):  # no Snakemake locks or unlocks meanwhile
        if live_entries(root):  # one started while we waited: its locks are its own
            return False
        shutil.rmtree(locks, ignore_errors=True)  # files may vanish meanwhile: fine
    sys.stderr.write("memrepro: removed the locks of a Snakemake that is no longer running "
                     "(killed?); its incomplete jobs run again, resuming from their "
                     "checkpoints.\n")
    return True
