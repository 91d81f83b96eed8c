"""The rehearsal's plan: a scale's resolved plan (memrepro.config.Plan) with every training
cell cut to a few epochs of a few minibatches, at its real model, data, group and probes.

What changes in each cell's ``train``:

- ``epochs``: the rehearsal's (default 1); ``steps_per_epoch``: its ``steps`` (default 2);
- ``eval_every: 1``, ``checkpoint_every: 1``: every epoch is evaluated and checkpointed, so the
  evaluation and checkpoint code runs; an evaluation reads only the first ``eval_examples``
  examples of each split (the engine's ``train.eval_examples``), or, where it writes a probe
  file, every example (the file's real size) when a forward pass of the job's models over all
  its examples costs at most ``full_probe_tflop`` (``probe_tflop``, by accounting: 1 TFLOP,
  about half a minute on 2 cores), else the first ``probe_examples``. Full-size probe files for
  every job cost 3,000 TFLOP at quick (MD's 20-model groups 87-100 TFLOP each, AR Fig. 1's 100
  MLPs 280, LLJ's VGG-11 21, AR's CSR runs 2.8-3.5), days on 2 CPU cores; LLJ's MLPs (0.46)
  write full-size files;
- probe epochs are mapped onto the rehearsal's: epoch 0 stays 0, a real epoch e of E becomes
  ceil(e x R / E) (at least 1), ``every: k`` becomes max(1, round(k x R / E)); a partition's
  scoring epoch is mapped the same way.

A figure computed from a dataset over ``steps`` SGD steps (AR Figs. 3-4's loss-sensitivity
unroll) computes over ``figure_steps`` (20) of them: the full unroll over all steps was
measured once (docs/rehearsal.md) and is the same at quick and paper scale.

The real settings are kept (``real_settings``) for the cost report (memrepro.rehearsal.report).
``only``: the named experiments, those whose partitions they train on, and the figures drawn
from them alone; a figure computed from a dataset (no experiment) only when named by its id.

**Heavy jobs once per signature** (unless ``all_jobs``): a job whose models need more than
``heavy_mb`` (by accounting: ``memory_mb``) runs once for all the jobs that differ from it only
in loss, noise rate or seeds (the first; a partition's scoring job always): its measurements
stand for theirs in the cost report, which still has a row per real job, and its outputs are
copied to theirs (``copy_of``; same shapes and sizes), so every figure is drawn and its caption
says how many of its runs are copies. That job trains only its first models that fit in
``heavy_mb`` (at least two), and its other models copy them; the report scales what they
measured to the whole group by accounting. Why: the paper plan's MD groups of 40 MLPs of 31 M
parameters need 21 GB each (measured: 21.2 GB) and take minutes per step on 2 CPU cores; all
of them write 251 GB of model files. A job needing more than ``max_mb`` (the machine's memory,
from ``memrepro rehearse``) likewise trains the models that fit; a job of which not one model
fits is not run, nor are its copies, and the report says so. A figure is drawn when every
job of every experiment it reads was run or copied.
"""

from __future__ import annotations

import copy
import json
import math

from memrepro.specs import not_allowed

MARK = "REHEARSAL"
DEFAULTS = {"epochs": 1, "steps": 2, "eval_examples": 128, "probe_examples": 256,
            "full_probe_tflop": 1.0, "figure_steps": 20, "device_model": "h100-80gb",
            "only": None, "all_jobs": False, "heavy_mb": 2500, "max_mb": None}


def settings(config: dict) -> dict | None:
    """The rehearsal's settings from the config's ``rehearse`` (None: no rehearsal)."""
    value = config.get("rehearse", False)
    if value is False or value is None:
        return None
    from memrepro.rehearsal.devices import device

    out = {**DEFAULTS, **({} if value is True else value)}
    device(out["device_model"])  # an unknown device model is refused before any job
    return out


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


def rehearsal_train(train: dict, opts: dict, full_probes: bool = False) -> dict:
    """A cell's ``train`` in the rehearsal; probe files of every example if ``full_probes``."""
    probe = 0 if full_probes else int(opts["probe_examples"] or 0)
    return {**train, "epochs": int(opts["epochs"]), "steps_per_epoch": int(opts["steps"]),
            "eval_every": 1, "checkpoint_every": 1, "eval_examples": int(opts["eval_examples"]),
            **({"probe_examples": probe} if probe else {})}


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
        keep_only(plan, list(opts["only"]))
    real = real_settings(plan)
    memory = {gid: memory_mb(g, plan.datasets) for gid, g in plan.groups.items()}
    for gid, mb in memory.items():
        real[gid]["memory_mb"] = mb
    heavy = set() if opts.get("all_jobs") else \
        {gid for gid, mb in memory.items() if mb > int(opts["heavy_mb"])}
    for gid, by in _one_job_per_signature(plan, heavy).items():
        real[gid]["represented_by"] = by
    _train_first_models(plan, real, memory, heavy, opts)
    epochs = int(opts["epochs"])
    for part in plan.partitions.values():
        real_epochs = int(part["cell"]["train"]["epochs"])
        part["epoch"] = map_epoch(int(part["epoch"]), real_epochs, epochs)
        part["probe_file"] = _probe_file_at(part["probe_file"], part["epoch"])
    full = {}  # a copy writes what its source wrote; a job cut to fit keeps its real cost
    for gid, g in sorted(plan.groups.items(), key=lambda item: bool(item[1].get("copy_of"))):
        if g.get("copy_of"):
            full[gid] = full[g["copy_of"]]
        else:
            real[gid]["probe_tflop"] = round(probe_tflop(g, plan.datasets)
                                             * real[gid]["cells"] / len(g["cells"]), 3)
            full[gid] = real[gid]["probe_tflop"] <= float(opts["full_probe_tflop"])
        for cell in g["cells"]:
            _rehearse_cell(cell, opts, full_probes=full[gid])
    _cut_figure_steps(plan, int(opts["figure_steps"]))
    plan.config = {**plan.config, "rehearse": opts}
    return real


def models_that_fit(n: int, mb: int, limit: int | None) -> int:
    """How many of a job's ``n`` models fit in ``limit`` MB, the job needing ``mb`` for all
    (``memory_mb``: ``BASE_MB`` and the same share per model)."""
    if not limit or mb <= limit:
        return n
    per_model = (mb - BASE_MB) / n
    return max(0, int((limit - BASE_MB) // per_model)) if per_model else 0


def _train_first_models(plan, real: dict, memory: dict, heavy: set[str],
                        opts: dict) -> None:
    """Each trained job trains the models that fit in ``max_mb`` (the machine) and, if heavy,
    in ``heavy_mb`` (at least two: a stacked group stays stacked); ``<job>_rest`` copies their
    files to its other models. A job of which not one model fits the machine is not run, nor
    are its copies, and ``real`` says why. Then every copy's sources (``copy_cells``)."""
    max_mb, dropped = opts.get("max_mb"), set()
    for gid in [g for g, v in plan.groups.items() if not v.get("copy_of")]:
        cells = plan.groups[gid]["cells"]
        fit = models_that_fit(len(cells), memory[gid], max_mb)
        if gid in heavy:
            light = models_that_fit(len(cells), memory[gid], int(opts["heavy_mb"]))
            fit = min(fit, max(light, min(2, len(cells))))
        if fit >= len(cells):
            continue
        if fit < 1:
            real[gid]["not_run"] = f"needs about {memory[gid]:,} MB; allowed: {max_mb:,} MB"
            dropped.add(gid)
            continue
        plan.groups[f"{gid}_rest"] = {**plan.groups[gid], "cells": cells[fit:], "copy_of": gid}
        plan.groups[gid] = {**plan.groups[gid], "cells": cells[:fit]}
        real[gid]["trained_models"] = fit
    for gid, g in plan.groups.items():
        if g.get("copy_of") in dropped:
            real.get(gid, {})["not_run"] = f"would copy {g['copy_of']}, which is not run"
            dropped.add(gid)
    _drop_groups(plan, dropped)
    for g in plan.groups.values():
        if g.get("copy_of"):
            src = plan.groups[g["copy_of"]]["cells"]
            g["copy_cells"] = [src[i % len(src)] for i in range(len(g["cells"]))]


def _rehearse_cell(cell: dict, opts: dict, full_probes: bool) -> None:
    """A cell's ``train`` and probe epochs in the rehearsal, in place."""
    real_epochs, epochs = int(cell["train"]["epochs"]), int(opts["epochs"])
    cell["train"] = rehearsal_train(cell["train"], opts, full_probes or not cell.get("probes"))
    if cell.get("probes"):
        cell["probes"] = {k: map_probe(v, real_epochs, epochs) for k, v in cell["probes"].items()}


def _cut_figure_steps(plan, steps: int) -> None:
    """Figures computed over ``settings.steps`` SGD steps compute over at most ``steps``."""
    for fid, spec in plan.figures.items():
        settings = spec.get("settings")
        if isinstance(settings, dict) and int(settings.get("steps") or 0) > steps:
            plan.figures[fid] = {**spec, "settings": {**settings, "steps": steps},
                                 "rehearsal_steps": {"real": settings["steps"], "run": steps}}


def signature(group: dict) -> str:
    """What a job's cost depends on: its experiment, model, data (dataset, subset, the noise's
    kind), group size and mode, training settings but the optimizer's, and probes."""
    c = group["cells"][0]
    train = {k: v for k, v in c["train"].items() if k not in ("optimizer", "schedule")}
    return json.dumps([group["experiment"], c["model"], c["dataset"], c.get("subset"),
                       c["noise"]["name"], len(group["cells"]), group["mode"], train,
                       sorted(c.get("probes") or {})], sort_keys=True, default=str)


def _one_job_per_signature(plan, heavy: set[str]) -> dict[str, str]:
    """Train one job per signature among the ``heavy`` jobs of ``plan`` (partitions' scoring
    jobs first); the others copy its outputs (``copy_of``: the same files, shapes and sizes,
    so that every figure is drawn); returns {heavy job: the job trained for it}."""
    scorers = {(p["experiment"], p["cell"]["slug"]) for p in plan.partitions.values()}
    scoring = {gid for gid, g in plan.groups.items()
               if any((c["experiment"], c["slug"]) in scorers for c in g["cells"])}
    order = sorted(heavy, key=lambda gid: (gid not in scoring, list(plan.groups).index(gid)))
    first: dict[str, str] = {}
    represented = {gid: first.setdefault(signature(plan.groups[gid]), gid) for gid in order}
    for gid, by in represented.items():
        if gid != by:
            plan.groups[gid]["copy_of"] = by
    return represented


def _drop_groups(plan, dropped: set[str]) -> None:
    """Remove these jobs, their cells, and the figures of experiments that lose a job."""
    from memrepro.captions import experiments_of

    if not dropped:
        return
    incomplete = {plan.groups[gid]["experiment"] for gid in dropped}
    plan.groups = {gid: g for gid, g in plan.groups.items() if gid not in dropped}
    cells = {id(c) for g in plan.groups.values() for c in g["cells"]}
    plan.cells = {k: c for k, c in plan.cells.items() if id(c) in cells}
    plan.figures = {fid: spec for fid, spec in plan.figures.items()
                    if not set(experiments_of(spec)) & incomplete}


def _probe_file_at(path: str, epoch: int) -> str:
    """A probe file's path (``.../<name>_epoch-<e>.npz``) at another epoch."""
    stem, _, _ = path.rpartition("_epoch-")
    return f"{stem}_epoch-{epoch}.npz"


def keep_only(plan, only: list[str]) -> None:
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


IMAGE_SHAPES = {"mnist": (1, 28), "fashionmnist": (1, 28), "cifar10": (3, 32), "svhn": (3, 32)}
BASE_MB = 1500  # torch, the job's data and buffers


def memory_mb(group: dict, datasets: dict) -> int:
    """A rehearsal job's memory in MB, by accounting: every model's weights, gradients,
    optimizer state and one more copy of its weights (the state a checkpoint writes), in
    float32 (models built on the meta device), plus ``BASE_MB``; so that Snakemake never runs
    together more than the machine holds (``rehearsal_mb``). Measured peaks on 2 CPU cores:
    MD's paper group of 40 MLPs (SGD with momentum) 21.2 GB against 21.3 accounted, AR Fig. 1's
    100 MLPs at quick (plain SGD) 21.8 GB against 25.5."""
    import torch

    from memrepro.engine import build_model

    cell = group["cells"][0]
    base, classes = _base_of(cell["dataset"], datasets)
    if base not in IMAGE_SHAPES:
        return BASE_MB
    channels, side = IMAGE_SHAPES[base]
    with torch.device("meta"):
        model = build_model(cell, torch.empty(1, channels, side, side), classes)
    opt = cell["train"]["optimizer"]
    states = 2 if opt["name"] == "adam" else int(bool(opt.get("momentum")))
    params = sum(p.numel() for p in model.parameters())
    return BASE_MB + len(group["cells"]) * params * 4 * (3 + states) // 10**6


def probe_tflop(group: dict, datasets: dict) -> float:
    """TFLOP of one forward pass of the job's models over all the examples of its dataset (the
    torchvision set it is made from: an upper bound for a subset), counted on the meta device;
    0 for a job without probes, or on data other than the four image sets."""
    import torch

    from memrepro.config.dataset_sizes import KNOWN_COUNTS
    from memrepro.engine import build_model
    from memrepro.rehearsal.meter import OpCounter

    cell = group["cells"][0]
    base, classes = _base_of(cell["dataset"], datasets)
    if not cell.get("probes") or base not in IMAGE_SHAPES:
        return 0.0
    channels, side = IMAGE_SHAPES[base]
    with torch.device("meta"):
        x = torch.empty(2, channels, side, side)  # 2: batch norm refuses one example
        model = build_model(cell, x, classes).eval()
        with torch.no_grad(), OpCounter() as counter:
            model(x)
    examples = sum(sum(split) for split in KNOWN_COUNTS[base])
    return counter.flops / 2 * examples * len(group["cells"]) / 1e12


def _base_of(name: str, datasets: dict) -> tuple[str, int]:
    """The torchvision dataset a dataset is made from, and its class count."""
    spec, classes = datasets[name], None
    while spec.get("source") == "derived":
        classes = classes or (len(spec["classes"]) if spec.get("classes") else None)
        name, spec = spec["from"], datasets[spec["from"]]
    return spec.get("name", name), classes or 10
