"""A finished cell's run files: history.csv, model.pt (state_dict) and run.json, and the
fingerprint that ties a checkpoint to the settings it was trained with."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memrepro import io


def fingerprint(spec: dict[str, Any]) -> str:
    """Hash of everything that defines a cell's training, to refuse a stale checkpoint."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def write_run_files(out_dir: Path, spec, state: dict[str, torch.Tensor], history,
                    columns: list[str], dev, group: dict[str, Any]) -> None:
    import pandas as pd

    io.write_text(out_dir / "history.csv",
                  pd.DataFrame(history, columns=columns).to_csv(index=False))
    with io.atomic_path(out_dir / "model.pt") as tmp:
        torch.save({k: v.cpu() for k, v in state.items()}, tmp)
    io.write_json(out_dir / "run.json", {
        "spec": spec, "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(), "versions": versions(),
        "group": group, "wall_time_s": group["wall_time_s"],
        "final": {k: history[-1][k] for k in ("j1", "j2", "test_acc")},
    })


def versions() -> dict[str, str]:
    import platform

    from memrepro import __version__
    return {"memrepro": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}
