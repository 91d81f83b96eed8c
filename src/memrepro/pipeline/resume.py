"""A group that finished or checkpointed resumes instead of retraining, even after Snakemake
deleted its files.

Snakemake deletes every output of a job it did not see finish (history.csv, model.pt,
run.json, probe files) before it runs the job again. After SIGINT to Snakemake alone the job
runs to its end but Snakemake exits without recording it; after a SIGKILL the job stops at a
checkpoint (``memrepro.pipeline.watchdog``), and the probe files it had written are deleted on the
rerun all the same. So each cell keeps a *store* that Snakemake does not know:

* ``results/resume/<experiment>/<cell>/`` (beside DVC's ``results/runs`` output, not inside
  it; ``<run dir>/.resume/`` for a run directory elsewhere, e.g. in tests), holding
  ``state.json`` (the cell's fingerprint; ``done`` once its outputs are complete) and, under
  ``files/``, hard links to the files the cell has written: its probe files at every
  checkpoint, every output when it finishes (a copy where hard links are impossible).
* A cell whose store is done and matches its settings gets its files linked back and trains
  nothing (``finished``); one resumed from its checkpoint gets its earlier probe files back;
  one that starts from scratch empties its store (``begin``).
* The store lives until Snakemake has recorded the outputs: at every start the Snakefile
  calls ``forget_recorded``, which deletes the done stores whose outputs exist and are no longer
  marked incomplete. A rerun that Snakemake later decides on (changed input or code,
  ``--forcerun``) therefore trains again, and the files cost no space beyond the links
  meanwhile.
* A job that fails after training (a declared output missing, an error in the job script
  after ``train_group``) has its outputs deleted and its marker removed by Snakemake (its
  metadata record stays): its done store is kept (no outputs), so the rerun after the fix
  restores the cells and trains nothing, as long as their settings (fingerprint) are
  unchanged.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import os
import shutil
from base64 import urlsafe_b64encode
from pathlib import Path

from memrepro import io
from memrepro.paths import RESUME_STORES, RUN_FILES, cell_files
from memrepro.paths import RUNS as _RUNS

log = logging.getLogger("memrepro.pipeline.resume")

RUNS = Path(_RUNS)
STORES = Path(RESUME_STORES)
INCOMPLETE = Path(".snakemake") / "incomplete"


def store_dir(out_dir: str | Path) -> Path:
    """Where the store of the run directory ``out_dir`` lives."""
    out = Path(out_dir)
    with contextlib.suppress(ValueError):
        return STORES / out.relative_to(RUNS)
    return out / ".resume"


def _state(store: Path) -> dict | None:
    with contextlib.suppress(OSError, ValueError):
        return io.read_json(store / "state.json")
    return None


def _link(src: Path, dst: Path) -> None:
    """``dst`` becomes a hard link to ``src`` (a copy where links are impossible)."""
    if dst.exists() and os.path.samefile(src, dst):
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.link")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def keep(out_dir: Path, under: str = "") -> None:
    """Link what the cell has written (below ``under``) into its store."""
    store = store_dir(out_dir)
    for rel in cell_files(out_dir, under):
        _link(out_dir / rel, store / "files" / rel)


def _link_back(out_dir: Path, under: str = "") -> None:
    files = store_dir(out_dir) / "files"
    for rel in cell_files(files, under):
        if not (out_dir / rel).exists():
            _link(files / rel, out_dir / rel)


def begin(out_dirs: list[Path], fps: list[str], resumed: bool) -> None:
    """At the start of training: a resumed cell gets back the probe files its store kept;
    any other cell's store starts empty."""
    for out, fp in zip(out_dirs, fps, strict=True):
        store = store_dir(out)
        if resumed and (_state(store) or {}).get("fingerprint") == fp:
            _link_back(out, "probes")
        else:
            shutil.rmtree(store, ignore_errors=True)
        io.write_json(store / "state.json", {"fingerprint": fp, "done": False})


def finish(out_dir: Path, fp: str, checkpoint: Path | None = None) -> None:
    """The cell's outputs are written: keep them all, mark the store done, then delete
    ``checkpoint`` (the store now holds everything a rerun needs)."""
    keep(out_dir)
    io.write_json(store_dir(out_dir) / "state.json", {"fingerprint": fp, "done": True})
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)


def finished(out_dirs: list[Path], fps: list[str]) -> list[list[dict]] | None:
    """If every cell's store is done and matches its fingerprint: link the cells' files back
    (those missing) and return their histories (read from history.csv); else None."""
    for out, fp in zip(out_dirs, fps, strict=True):
        store = store_dir(out)
        st = _state(store) or {}
        if not (st.get("done") and st.get("fingerprint") == fp and all(
                (store / "files" / f).is_file() for f in RUN_FILES)):
            return None
    for out in out_dirs:
        _link_back(out)
    log.info("%s%s finished before an interruption: outputs restored from %s, nothing trained",
             out_dirs[0].name, f" and {len(out_dirs) - 1} more cell(s)" if len(out_dirs) > 1
             else "", store_dir(out_dirs[0]).parent)
    return [read_history(out / "history.csv") for out in out_dirs]


def read_history(path: Path) -> list[dict]:
    """history.csv back as the engine's rows: epoch an int, every other column a float (NaN
    where empty); exact, since the file holds each float's repr."""
    with open(path, newline="") as f:
        return [{k: int(v) if k == "epoch" else (float(v) if v != "" else math.nan)
                 for k, v in row.items()} for row in csv.DictReader(f)]


def incomplete_marker(output: str | Path, snakemake_dir: Path = INCOMPLETE) -> Path:
    """Snakemake's "incomplete" marker of ``output`` (file persistence: the path's urlsafe
    base64, cut into components of at most NAME_MAX - 1 characters, all but the last
    prefixed with '@'); it exists from a job's start until Snakemake records its end."""
    b64 = urlsafe_b64encode(str(output).encode()).decode()
    size = 254
    parts = [b64[i:i + size] for i in range(0, len(b64), size)]
    return snakemake_dir.joinpath(*["@" + p for p in parts[:-1]], parts[-1])


def recorded(output: str | Path, root: str | Path = ".") -> bool:
    """Whether Snakemake has recorded ``output`` as the output of a finished job: it exists
    and is not marked incomplete. (Snakemake deletes a failed job's outputs, and removes
    their markers but not their metadata records, so a record alone does not tell.)"""
    root = Path(root)
    return (root / output).exists() and not (root / incomplete_marker(output)).exists()


def forget_recorded(root: str | Path = ".") -> int:
    """Delete the done stores under ``root`` whose outputs Snakemake has recorded (they
    exist, not marked incomplete): called by the Snakefile at every start. Returns how many."""
    root, n = Path(root), 0
    for state in sorted((root / STORES).glob("**/state.json")):
        store = state.parent
        history = RUNS / store.relative_to(root / STORES) / "history.csv"
        if (_state(store) or {}).get("done") and recorded(history, root):
            shutil.rmtree(store, ignore_errors=True)
            n += 1
            with contextlib.suppress(OSError):
                store.parent.rmdir()  # the experiment's folder, once empty
    return n


