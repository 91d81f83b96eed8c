"""Replay: retrain finished cells from scratch and compare them with what the build recorded.

    memrepro replay --sample K [--seed S] [--cells slug,...]
        [--json results/replay.json] [--tolerance RTOL] [--device auto|cpu|cuda]

Picks K finished cells of the plan (memrepro.config.resolve of params.yaml; a cell is
finished when its history.csv, model.pt and run.json exist) at random with ``--seed``, or the
cells named by ``--cells`` (slug or experiment/slug). Each is retrained alone in a temporary
directory by the training job's code path (memrepro.engine.train_cell with the catalog's
probes and objectives, the same prepared data, noise file, subset or partition, and the
recorded number of CPU threads). Its history.csv and model.pt are compared with the recorded
ones:

- a cell whose job trained it single or sequential: **bitwise** (every value, every weight);
- a cell whose job trained it **stacked** (several models stepped as one) replays alone, and
  stacked equals alone only to float precision: within a relative tolerance (STACKED_RTOL,
  plus STACKED_ATOL absolute), stated in the output;
- ``--tolerance RTOL``: that relative tolerance for every cell (a replay on another device).

Every history column and weight tensor that differs is reported with its largest absolute
difference. Writes the JSON report atomically and exits 1 on any mismatch.
``memrepro.cli`` runs it (:func:`add_arguments`, :func:`run`) in the project folder.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

STACKED_RTOL = 1e-5
STACKED_ATOL = 1e-6
FILES = ("history.csv", "model.pt", "run.json")


def finished_cells(plan, root: Path) -> list[dict]:
    """The plan's cells whose run files are all on disk, in plan order."""
    from memrepro.paths import run_dir
    return [c for c in plan.cells.values()
            if all((root / run_dir(c) / f).is_file() for f in FILES)]


def pick(cells: list[dict], sample: int | None, seed: int, names: list[str] | None
         ) -> list[dict]:
    """The cells named (slug or experiment/slug), else ``sample`` of them drawn with ``seed``."""
    if names:
        by = {**{c["slug"]: c for c in cells}, **{f"{c['experiment']}/{c['slug']}": c
                                                   for c in cells}}
        missing = [n for n in names if n not in by]
        if missing:
            raise SystemExit(f"replay: no finished cell named {missing}")
        return [by[n] for n in names]
    k = min(int(sample or 1), len(cells))
    return random.Random(seed).sample(cells, k)


def load_data(cell: dict, root: Path, device):
    """The cell's data on ``device``, as workflow/scripts/train.py builds it."""
    from memrepro import io
    from memrepro.data import load_prepared
    from memrepro.device_data import to_device_many
    from memrepro.paths import cell_noise_path, dataset_files, partition_path
    from memrepro.subsets import is_partition_subset

    arrays = load_prepared(root / dataset_files(cell["dataset"])[0])
    noise_file = root / cell_noise_path(cell)
    num_classes = io.read_json(noise_file.with_suffix(".json"))["num_classes"]
    subset = cell.get("subset")
    part = str(root / partition_path(subset["partition"])) if is_partition_subset(subset) else None
    return to_device_many(arrays, [io.load_npz(noise_file)], num_classes, device,
                          subset=subset, partition=part)[0]


def tolerance_for(run: dict, tolerance: float | None) -> tuple[float | None, str]:
    """(relative tolerance or None for bitwise, why) for a recorded run."""
    if tolerance is not None:
        return tolerance, f"--tolerance {tolerance:g} (relative)"
    mode = run.get("group", {}).get("mode", "single")
    if mode == "stacked":
        return STACKED_RTOL, (f"its job trained it stacked; replayed alone: within "
                              f"{STACKED_RTOL:g} relative + {STACKED_ATOL:g} absolute")
    return None, f"bitwise (its job trained it {mode})"


def _differs(old: np.ndarray, new: np.ndarray, rtol: float | None) -> tuple[bool, float]:
    """(whether they differ beyond the tolerance, the largest absolute difference)."""
    if old.shape != new.shape:
        return True, float("inf")
    if old.dtype.kind not in "fiub" or new.dtype.kind not in "fiub":
        return bool((old.astype(str) != new.astype(str)).any()), float("nan")
    a, b = old.astype(np.float64), new.astype(np.float64)
    both_nan = np.isnan(a) & np.isnan(b)
    diff = np.where(both_nan, 0.0, np.abs(a - b))
    top = float(np.nanmax(diff)) if diff.size else 0.0
    if rtol is None:
        bad = not (old.dtype == new.dtype and np.array_equal(old, new, equal_nan=True))
        return bad or not np.isfinite(top), top
    allowed = rtol * np.maximum(np.abs(a), np.abs(b)) + STACKED_ATOL
    return bool(((diff > allowed) | np.isnan(diff)).any()), top


def compare_history(old_csv: Path, new_csv: Path, rtol: float | None) -> list[dict]:
    """Every column that differs: ``{"column", "max_abs_diff"}``."""
    old, new = pd.read_csv(old_csv), pd.read_csv(new_csv)
    out = [{"column": c, "max_abs_diff": None, "note": "only in the recorded history"}
           for c in old.columns if c not in new.columns]
    out += [{"column": c, "max_abs_diff": None, "note": "only in the replayed history"}
            for c in new.columns if c not in old.columns]
    for c in (c for c in old.columns if c in new.columns):
        bad, top = _differs(old[c].to_numpy(), new[c].to_numpy(), rtol)
        if bad:
            note = "rows differ in number" if len(old) != len(new) else ""
            out.append({"column": c, "max_abs_diff": top, "note": note})
    return out


def compare_weights(old_pt: Path, new_pt: Path, rtol: float | None) -> list[dict]:
    """Every tensor of the state_dict that differs: ``{"tensor", "max_abs_diff"}``."""
    import torch

    old = torch.load(old_pt, map_location="cpu", weights_only=True)
    new = torch.load(new_pt, map_location="cpu", weights_only=True)
    out = [{"tensor": k, "max_abs_diff": None, "note": "missing from one side"}
           for k in sorted(set(old) ^ set(new))]
    for k in (k for k in old if k in new):
        bad, top = _differs(old[k].float().numpy() if old[k].dtype == torch.bfloat16
                            else old[k].numpy(),
                            new[k].float().numpy() if new[k].dtype == torch.bfloat16
                            else new[k].numpy(), rtol)
        if bad:
            out.append({"tensor": k, "max_abs_diff": top, "note": ""})
    return out


def replay_cell(spec: dict, data, recorded: Path, tolerance: float | None = None,
                work: Path | None = None) -> dict:
    """Retrain ``spec`` on ``data`` alone in a temporary directory and compare its history and
    weights with the run files in ``recorded``. The result: cell, how it was compared, what
    differs and ``ok``."""
    import torch

    from memrepro import catalog, io
    from memrepro.engine import train_cell
    from memrepro.provenance import canonical_json

    run = io.read_json(recorded / "run.json")
    rtol, how = tolerance_for(run, tolerance)
    result = {"cell": f"{spec.get('experiment', '?')}/{spec.get('slug', recorded.name)}",
              "comparison": how, "recorded_device": run.get("device"),
              "replay_device": str(data.x.device)}
    if canonical_json(run.get("spec")) != canonical_json(spec):
        result["note"] = "the plan's spec differs from the recorded one: replayed the recorded"
        spec = run["spec"]
    threads = torch.get_num_threads()
    torch.set_num_threads(int(run.get("torch_threads", threads)))
    probes, objectives = catalog.training_hooks()
    try:
        with tempfile.TemporaryDirectory(dir=work, prefix="replay-") as tmp:
            train_cell(spec, data, tmp, progress=False, probes=probes, objectives=objectives)
            result["history"] = compare_history(recorded / "history.csv",
                                                Path(tmp) / "history.csv", rtol)
            result["weights"] = compare_weights(recorded / "model.pt", Path(tmp) / "model.pt",
                                                rtol)
    finally:
        torch.set_num_threads(threads)
    result["ok"] = not result["history"] and not result["weights"]
    return result


def summary(results: list[dict]) -> str:
    """Readable lines: one per cell, then one per differing column or tensor."""
    lines = []
    for r in results:
        lines.append(f"{'OK  ' if r['ok'] else 'FAIL'} {r['cell']}: {r['comparison']}"
                     f" (recorded on {r['recorded_device']}, replayed on {r['replay_device']})")
        if r.get("note"):
            lines.append(f"     note: {r['note']}")
        for d in r["history"]:
            lines.append(f"     history column {d['column']}: max |diff| {d['max_abs_diff']}"
                         + (f" ({d['note']})" if d.get("note") else ""))
        for d in r["weights"]:
            lines.append(f"     weight tensor {d['tensor']}: max |diff| {d['max_abs_diff']}"
                         + (f" ({d['note']})" if d.get("note") else ""))
    bad = sum(not r["ok"] for r in results)
    lines.append(f"replay: {len(results) - bad} of {len(results)} cell(s) match"
                 + (f", {bad} MISMATCH" if bad else ""))
    return "\n".join(lines)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of ``memrepro replay`` (the project folder is the command's ``--root``)."""
    ap.add_argument("--sample", type=int, default=1, help="how many finished cells (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="the draw's seed (default 0)")
    ap.add_argument("--cells", help="comma-separated slugs or experiment/slug (no draw)")
    ap.add_argument("--json", default="results/replay.json", help="the report (JSON)")
    ap.add_argument("--tolerance", type=float, help="relative tolerance for every cell")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    ap.add_argument("--configfile", help="the --configfile given to Snakemake (merged over "
                    "params.yaml and the papers' files)")
    ap.add_argument("--config", nargs="*", default=[], metavar="KEY=VALUE",
                    help="the overrides given to Snakemake (e.g. scale=quick)")


def run(args: argparse.Namespace) -> int:
    """Replay the cells ``args`` pick; write the JSON report; 0 when all match, else 1."""
    from memrepro import io
    from memrepro.device_data import pick_device
    from memrepro.paths import run_dir
    from memrepro.pipeline.project import load_plan

    root = Path(args.root)
    plan = load_plan(root, args.configfile, args.config)
    cells = pick(finished_cells(plan, root), args.sample, args.seed,
                 args.cells.split(",") if args.cells else None)
    if not cells:
        print("replay: no finished cells to replay", file=sys.stderr)
        return 1
    device = pick_device(args.device)
    results = []
    for cell in cells:
        print(f"replaying {cell['experiment']}/{cell['slug']} ...", flush=True)
        results.append(replay_cell(cell, load_data(cell, root, device),
                                   root / run_dir(cell), args.tolerance))
    io.write_json(root / args.json, {
        "seed": args.seed, "sample": args.sample, "cells": results,
        "ok": all(r["ok"] for r in results)})
    print(summary(results))
    return 0 if all(r["ok"] for r in results) else 1
