"""A finished cell's run files: history.csv, model.pt (state_dict) and run.json (which
records the sha256 and size of the others and of the probe files), and the fingerprint that
ties a checkpoint to the settings it was trained with.

Every file is byte-deterministic: two identical trainings write identical bytes, so DVC
stores them once and a replay can compare files. Hence torch objects are serialised in memory
(``save_torch``) and run.json holds no timing (the job's log has it)."""

from __future__ import annotations

import hashlib
import io as _io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memrepro import io
from memrepro.pipeline.integrity import RECORD, file_record

log = logging.getLogger("memrepro.run_files")
# what a job measures of itself: logged, never written into run.json (it varies run to run)
TIMING = ("wall_time_s", "model_samples_per_s")


def fingerprint(spec: dict[str, Any]) -> str:
    """Hash of everything that defines a cell's training, to refuse a stale checkpoint."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def torch_bytes(obj: Any) -> bytes:
    """``torch.save(obj)`` as bytes. Saved to a file, torch names the archive's root folder
    after the file's stem, which for an atomic write is a random temporary name; in memory
    it is always ``archive``."""
    buf = _io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def save_torch(path: str | Path, obj: Any) -> None:
    """``torch.save`` atomically with deterministic bytes (see ``torch_bytes``)."""
    io.write_bytes(path, torch_bytes(obj))


def write_run_files(out_dir: Path, spec, state: dict[str, torch.Tensor], history,
                    columns: list[str], dev, group: dict[str, Any]) -> None:
    import pandas as pd

    io.write_text(out_dir / "history.csv",
                  pd.DataFrame(history, columns=columns).to_csv(index=False))
    save_torch(out_dir / "model.pt", {k: v.cpu() for k, v in state.items()})
    timing = {k: group[k] for k in TIMING if k in group}
    if timing:
        log.info("%s: %s", spec.get("slug", out_dir.name),
                 ", ".join(f"{k} {v}" for k, v in timing.items()))
    io.write_json(out_dir / "run.json", {
        "spec": spec, "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(), "versions": versions(),
        "group": {k: v for k, v in group.items() if k not in TIMING},
        "final": {k: history[-1][k] for k in ("j1", "j2", "test_acc")},
        # the sha256 and size of every file written for the cell, taken of the bytes on disk
        # (memrepro.pipeline.integrity checks them; the Snakefile's startup sweep compares sizes)
        RECORD: file_record(out_dir),
    })


def versions() -> dict[str, str]:
    import platform

    from memrepro import __version__
    return {"memrepro": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}
