"""Every path under results/: one module, used by the rules and the Python code alike.

All paths are relative to the working directory (the repository root for Snakemake and DVC).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from memrepro.specs import not_allowed

RESULTS = "results"
RUN_FILES = ("history.csv", "model.pt", "run.json")
# a cell's resume state, and one set aside as unreadable (checkpoint.pt.corrupt-<n>): in its
# run directory while it trains, never an output (memrepro.pipeline.resume, integrity, manifest)
CHECKPOINT = "checkpoint.pt"


def is_training_state(name: str) -> bool:
    """Whether a file name is a checkpoint or a checkpoint set aside, not a cell's output."""
    return name.startswith(CHECKPOINT)


def cell_files(run_dir: str | Path, under: str = "") -> list[Path]:
    """The files written for a cell under ``run_dir/under``, relative to ``run_dir``, sorted:
    no hidden temporary file (memrepro.io.atomic_path) and no training state."""
    run_dir = Path(run_dir)
    base = run_dir / under
    if not base.is_dir():
        return []
    return sorted(p.relative_to(run_dir) for p in base.rglob("*") if p.is_file()
                  and not is_training_state(p.name)
                  and not any(s.startswith(".") for s in p.relative_to(run_dir).parts))


def fmt_rate(rate: float) -> str:
    """A noise rate as it appears in file names: ``0.0``, ``0.25``."""
    return repr(float(rate))


def dataset_files(name: str) -> tuple[str, str]:
    """The prepared dataset: (``.npz`` arrays, ``.json`` sidecar)."""
    return f"{RESULTS}/data/{name}.npz", f"{RESULTS}/data/{name}.json"


# Snakemake patterns (wildcards in braces): the rules declare them, Python fills them in
NOISE_NPZ = RESULTS + "/noise/{ds}/{noise}_eta-{rate}/seed{seed}.npz"
NOISE_JSON = RESULTS + "/noise/{ds}/{noise}_eta-{rate}/seed{seed}.json"
DOWNLOAD_LOG = "logs/download/{name}.log"
PREPARE_LOG = "logs/prepare/{ds}.log"
NOISE_LOG = "logs/noise/{ds}/{noise}_eta-{rate}_seed{seed}.log"
TRAIN_LOG = "logs/train/{group}.log"
FIGURE_LOG = "logs/figure/{paper}/{name}.log"
PARTITION_NPZ = RESULTS + "/partitions/{name}.npz"
PARTITION_LOG = "logs/partition/{name}.log"
SUMMARY_LOG = "logs/summary.log"
CLAIMS_JSON = RESULTS + "/claims.json"  # the claims scorecard (memrepro.claims)
CLAIMS_MD = RESULTS + "/claims.md"
CLAIMS_CSV = RESULTS + "/claims.csv"  # its table, for the HTML report
CLAIMS_LOG = "logs/claims.log"
# every result's sha256, the machine (memrepro.pipeline.manifest)
MANIFEST = RESULTS + "/manifest.json"
MANIFEST_LOG = "logs/manifest.log"


def noise_path(dataset: str, noise: str, rate: float, seed: int) -> str:
    """The noisy labels of (dataset, noise, rate, seed); the sidecar is ``.json`` beside it."""
    return NOISE_NPZ.format(ds=dataset, noise=noise, rate=fmt_rate(rate), seed=seed)


def noise_log(cell: dict) -> str:
    """The log of the noise job behind a cell's noise file."""
    n = cell["noise"]
    return NOISE_LOG.format(ds=cell["dataset"], noise=n["name"], rate=fmt_rate(n["rate"]),
                            seed=n.get("seed", cell["seed"]))


def cell_noise_path(cell: dict) -> str:
    """The noise file a cell trains on: drawn with ``noise.seed`` when the experiment fixes
    one (the same noisy data for every seed, e.g. Arpit et al. Fig. 1's 100 initialisations),
    else with the cell's own seed."""
    n = cell["noise"]
    return noise_path(cell["dataset"], n["name"], n["rate"], n.get("seed", cell["seed"]))


RUNS = f"{RESULTS}/runs"
# outputs kept for an interrupted job (memrepro.pipeline.resume)
RESUME_STORES = f"{RESULTS}/resume"


def run_dir(cell: dict) -> str:
    return f"{RUNS}/{cell['experiment']}/{cell['slug']}"


def run_path(cell: dict, name: str) -> str:
    """A file of a cell's run directory (history.csv, model.pt, run.json, ...)."""
    return f"{run_dir(cell)}/{name}"


def group_outputs(cells: list[dict], file_probes) -> dict[str, list[str]]:
    """A training job's outputs by kind: each cell's history, model and run.json, and the
    probe files it writes (only when there are any)."""
    out = {name: [run_path(c, name + ext) for c in cells]
           for name, ext in (("history", ".csv"), ("model", ".pt"), ("run", ".json"))}
    probes = [f for c in cells for f in probe_files(c, file_probes)]
    return {**out, "probes": probes} if probes else out


def history_path(cell: dict) -> str:
    return run_path(cell, "history.csv")


def probe_path(run: str | Path, name: str, epoch: int) -> Path:
    """The file a file-writing probe records at one epoch of one run."""
    return Path(run) / "probes" / f"{name}_epoch-{epoch}.npz"


def probe_epochs(opts: dict, last_epoch: int) -> list[int]:
    """The epochs 0..last_epoch at which a probe with these options measures, sorted: those
    listed in ``epochs`` and, with ``every: k``, every e with e % k == 0 (0 included), as
    ``memrepro.probes.due`` decides during training."""
    every = int(opts.get("every", 0) or 0)
    listed = {int(e) for e in opts.get("epochs", [])}
    return sorted(listed | (set(range(0, last_epoch + 1, every)) if every > 0 else set()))


PROBE_FILE = re.compile(r"^(?P<name>.+)_epoch-(?P<epoch>\d+)\.npz$")  # what probe_path names


def recorded_probe_files(files: Iterable[str | Path], name: str) -> dict[int, str]:
    """{epoch: path} of a run's probe files called ``<name>_epoch-<e>.npz``, by epoch."""
    out = {}
    for f in files:
        m = PROBE_FILE.match(Path(f).name)
        if m and m["name"] == name:
            out[int(m["epoch"])] = str(f)
    return dict(sorted(out.items()))


def probe_file_at(files: Iterable[str | Path], name: str, epoch: int | None,
                  where: str) -> tuple[int, str]:
    """(epoch, path) of a run's ``name`` probe file at ``epoch`` (None: the last recorded);
    a clear error, prefixed by ``where``, when there is none."""
    found = recorded_probe_files(files, name)
    if not found:
        raise ValueError(f"{where}: the run has no {name!r} probe files; ask for the probe "
                         f"with listed epochs (probes: {{{name}: {{epochs: [...]}}}})")
    if epoch is None:
        epoch = max(found)
    if epoch not in found:
        raise ValueError(not_allowed("epoch", epoch, f"an epoch the {name!r} probe recorded "
                                     f"{sorted(found)}", where=where))
    return int(epoch), found[epoch]


def probe_files(cell: dict, file_probes) -> list[str]:
    """The probe files a cell writes: for each probe it asks for that writes files (names in
    ``file_probes``), one per epoch it is due (``probes: {name: {epochs: [...], every: k}}``,
    up to ``train.epochs``: :func:`probe_epochs`)."""
    last = int(cell.get("train", {}).get("epochs", 0))
    return [str(probe_path(run_dir(cell), name, e))
            for name, opts in sorted((cell.get("probes") or {}).items())
            if name in file_probes for e in probe_epochs(opts, last)]


def partition_path(name: str) -> str:
    """The partition ``name`` (``partitions:`` of params.yaml; memrepro.subsets)."""
    return PARTITION_NPZ.format(name=name)


def table_path(stem: str) -> str:
    """A figure's tidy table, ``stem`` = ``<paper>/<name>[_standin]``."""
    return f"{RESULTS}/metrics/{stem}.csv"


def figure_files(stem: str, drawn: bool = True) -> list[str]:
    """What a figure writes: PDF + PNG + caption, or CSV + Markdown when its table is the
    figure."""
    exts = ("pdf", "png", "caption.txt") if drawn else ("csv", "md")
    return [f"{RESULTS}/figures/{stem}.{ext}" for ext in exts]


# a rehearsal's measurements per training job, and its cost report (memrepro.rehearsal)
REHEARSAL_CSV = f"{RESULTS}/rehearsal.csv"
REHEARSAL_MD = f"{RESULTS}/rehearsal.md"
REHEARSAL_LOG = "logs/rehearsal.log"


def rehearsal_cost_path(gid: str) -> str:
    """What a rehearsal's training job ``gid`` (``<experiment>/<group>``) measured."""
    return f"{RESULTS}/rehearsal/jobs/{gid}.json"


SUMMARY_DIR = f"{RESULTS}/summary"
SUMMARY_CELLS = f"{RESULTS}/summary_cells.json"
PLOTS_DIR = f"{RESULTS}/plots"


def summary_path(paper: str, experiment: str) -> str:
    """An experiment's DVC metrics file: one row of `dvc metrics show`."""
    return f"{SUMMARY_DIR}/{paper}/{experiment}.json"


def plot_path(cell: dict) -> str:
    """A cell's curves for `dvc plots show`."""
    return f"{PLOTS_DIR}/{cell['experiment']}__{cell['slug']}.csv"


def summary_paths(cells: Iterable[dict]) -> list[str]:
    """The metrics files of the experiments these cells belong to, once each."""
    return list(dict.fromkeys(summary_path(c.get("paper", "other"), c["experiment"])
                              for c in cells))
