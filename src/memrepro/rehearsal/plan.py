"""The rehearsal's plan: a scale's resolved plan (memrepro.config.Plan) with every training
cell cut to a few epochs of a few minibatches, at its real model, data, group and probes.

What changes in each cell's ``train``:

- ``epochs``: the rehearsal's (default 1); ``steps_per_epoch``: its ``steps`` (default 2);
- ``eval_every: 1``, ``checkpoint_every: 1``: every epoch is evaluated and checkpointed, so the
  evaluation and checkpoint code runs; an evaluation with no probe due reads only
  ``eval_examples`` examples per split (the engine's ``train.eval_examples``), one where a probe
  is due reads every example, so probe files have their real sizes;
- probe epochs are mapped onto the rehearsal's: epoch 0 stays 0, a real epoch e of E becomes
  ceil(e x R / E) (at least 1), ``every: k`` becomes max(1, round(k x R / E)); a partition's
  scoring epoch is mapped the same way.

The real settings are kept (``real_settings``) for the cost report (memrepro.rehearsal.report).
``only``: the named experiments, those whose partitions they train on, and the figures drawn
from them alone; a figure computed from a dataset (no experiment) only when named by its id.
"""

from __future__ import annotations

import copy
import math

from memrepro.specs import not_allowed

MARK = "REHEARSAL"
DEFAULTS = {"epochs": 1, "steps": 2, "eval_examples": 128, "device_model": "h100-80gb",
            "only": None}


def settings(config: dict) -> dict | None:
    """The rehearsal's settings from the config's ``rehearse`` (None: no rehearsal)."""
    value = config.get("rehearse", False)
    if value is False or value is None:
        return None
    return {**DEFAULTS, **({} if value is True else value)}


def map_epoch(epoch: int, real_epochs: int, epochs: int) -> int:
    """A real epoch (0..real_epochs) mapped onto the rehearsal's 0..epochs."""
    if epoch <= 0:
        return 0
    return max(1, min(epochs, math.ceil(epoch * epochs / max(real_epochs, 1))))


def map_probe(opts: dict, real_epochs: int, epochs: int) -> dict:
    """A probe's options with its listed epochs and ``every`` mapped onto the rehearsal's."""
    out = dict(opts)
    if "epochs" in opts:
        out["epochs"] = sorted({map_epoch(int(e), real_epochs, epochs) for e in opts["epochs"]})
    if opts.get("every"):
        out["every"] = max(1, min(epochs, round(int(opts["every"]) * epochs / real_epochs)))
    return out


def rehearsal_train(train: dict, opts: dict) -> dict:
    """A cell's ``train`` in the rehearsal."""
    return {**train, "epochs": int(opts["epochs"]), "steps_per_epoch": int(opts["steps"]),
            "eval_every": 1, "checkpoint_every": 1, "eval_examples": int(opts["eval_examples"])}


def real_settings(plan) -> dict[str, dict]:
    """Per training job (group id): what the real run would do, for the cost report."""
    return {gid: {"experiment": g["experiment"], "paper": g["cells"][0]["paper"],
                  "cells": len(g["cells"]), "mode": g["mode"],
                  "dataset": g["cells"][0]["dataset"],
                  "model": g["cells"][0]["model"]["name"],
                  "train": copy.deepcopy(g["cells"][0]["train"]),
                  "probes": copy.deepcopy(g["cells"][0].get("probes") or {})}
            for gid, g in plan.groups.items()}


MARKER = ".memrepro-rehearsal"  # in the directory `memrepro rehearse` makes


def check_directory(cwd) -> None:
    """Refuse a rehearsal outside a rehearsal directory: its runs would replace real ones."""
    from pathlib import Path

    if not (Path(cwd) / MARKER).is_file():
        raise ValueError(not_allowed(
            "rehearse", "true", "only in a directory made by `memrepro rehearse --scale "
            "<scale>` (it holds " + MARKER + ")", why=f" in {cwd}: a rehearsal's few-step runs "
            "would replace this directory's results"))


def rehearse(plan, opts: dict) -> dict[str, dict]:
    """Turn ``plan`` into its rehearsal, in place (see the module docstring); returns the real
    settings of each of its training jobs (``real_settings``)."""
    if opts.get("only"):
        _keep_only(plan, list(opts["only"]))
    real = real_settings(plan)
    epochs = int(opts["epochs"])
    for part in plan.partitions.values():
        real_epochs = int(part["cell"]["train"]["epochs"])
        part["epoch"] = map_epoch(int(part["epoch"]), real_epochs, epochs)
        part["probe_file"] = _probe_file_at(part["probe_file"], part["epoch"])
    for cell in plan.cells.values():
        real_epochs = int(cell["train"]["epochs"])
        cell["train"] = rehearsal_train(cell["train"], opts)
        if cell.get("probes"):
            cell["probes"] = {k: map_probe(v, real_epochs, epochs)
                              for k, v in cell["probes"].items()}
    plan.config = {**plan.config, "rehearse": opts}
    return real


def _probe_file_at(path: str, epoch: int) -> str:
    """A probe file's path (``.../<name>_epoch-<e>.npz``) at another epoch."""
    stem, _, _ = path.rpartition("_epoch-")
    return f"{stem}_epoch-{epoch}.npz"


def _keep_only(plan, only: list[str]) -> None:
    """Drop every experiment not in ``only`` (or needed by it), and what only they feed."""
    unknown = [e for e in only if e not in plan.experiments and e not in plan.figures]
    if unknown:
        raise ValueError(not_allowed("rehearse.only", unknown[0],
                                     "experiments and figure ids of the plan: "
                                     f"{sorted(plan.experiments) + sorted(plan.figures)}"))
    keep = {e for e in only if e in plan.experiments}
    for part in plan.partitions.values():  # a kept experiment trains on a part of another's
        users = [e for e in keep if _uses_partition(plan.experiments[e], part["name"])]
        if users:
            keep.add(part["experiment"])
    plan.experiments = {k: v for k, v in plan.experiments.items() if k in keep}
    plan.cells = {k: v for k, v in plan.cells.items() if k[0] in keep}
    plan.groups = {k: v for k, v in plan.groups.items() if v["experiment"] in keep}
    plan.partitions = {k: v for k, v in plan.partitions.items() if v["experiment"] in keep}
    plan.figures = {fid: spec for fid, spec in plan.figures.items()
                    if _figure_kept(fid, spec, keep, only)}
    _keep_datasets(plan)


def _uses_partition(exp: dict, name: str) -> bool:
    subset = exp.get("subset")
    return isinstance(subset, dict) and subset.get("partition") == name


def _figure_kept(fid: str, spec: dict, keep: set, only: list[str]) -> bool:
    from memrepro.captions import experiments_of

    exps = experiments_of(spec)
    return all(e in keep for e in exps) if exps else fid in only


def _keep_datasets(plan) -> None:
    """The datasets the kept experiments and figures read, and those they are made from."""
    need = {e["resolved_dataset"] for e in plan.experiments.values()}
    need |= {s["resolved_dataset"] for s in plan.figures.values() if "resolved_dataset" in s}
    todo = list(need)
    while todo:
        spec = plan.datasets[todo.pop()]
        if spec["source"] == "derived" and spec["from"] not in need:
            need.add(spec["from"])
            todo.append(spec["from"])
    plan.datasets = {k: v for k, v in plan.datasets.items() if k in need}
