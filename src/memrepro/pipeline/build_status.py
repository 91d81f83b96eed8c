"""The build at a glance, while it runs (``memrepro status``): how many jobs of the
``figures`` target are done, running or left, and for each running (or stopped) training job
its latest epoch and ETA.

Read only, from files, so it works beside a running Snakemake: the plan
(``memrepro.pipeline.project.load_plan``: params.yaml and the papers' files, resolved), the outputs
on disk and the job logs. A job is **done** when all its outputs exist; **running** when some are
missing and its log was written recently (within ``stale`` seconds, or three of its epochs) while a
Snakemake holds this directory's lock (so a ``--nolock`` build shows nothing running); **stopped**
(counted in *left*) when it has a log but is not running (failed, interrupted, or not rerun yet).
Training jobs write one line per epoch (``memrepro.pipeline.progress``); only the latest attempt of
a log (``memrepro.pipeline.logs``) is read. Snakemake's own ``.snakemake/incomplete`` markers are
not used: their names and storage are Snakemake's internals (and differ between its backends).

The log paths mirror the rules' ``log:`` entries (tests/test_build_status.py checks).
"""

from __future__ import annotations

import argparse
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from memrepro.paths import (
    CLAIMS_JSON,
    CLAIMS_LOG,
    CLAIMS_MD,
    DOWNLOAD_LOG,
    FIGURE_LOG,
    MANIFEST,
    MANIFEST_LOG,
    PARTITION_LOG,
    PREPARE_LOG,
    SUMMARY_CELLS,
    SUMMARY_LOG,
    TRAIN_LOG,
    cell_noise_path,
    dataset_files,
    figure_files,
    group_outputs,
    history_path,
    noise_log,
    table_path,
)
from memrepro.pipeline import progress
from memrepro.pipeline.job_inputs import figure_inputs, group_inputs
from memrepro.pipeline.logs import current_attempt
from memrepro.pipeline.watchdog import LOCKS

KINDS = ("data", "noise", "train", "partition", "figure", "summary", "claims", "manifest")
STALE_S = 600
TAIL_BYTES = 256 * 1024
NAME_WIDTH = 44


@dataclass
class Job:
    kind: str
    name: str
    outputs: list[str]
    log: str
    cells: int = 0
    state: str = "left"              # done | running | stopped | left
    info: dict = field(default_factory=dict)
    # the files it reads that other jobs write, as its rule declares them (for what is rebuilt
    # downstream of a repaired training job: memrepro.pipeline.integrity)
    inputs: list[str] = field(default_factory=list)


def plan_jobs(plan) -> list[Job]:
    """Every job the ``figures`` target runs, from the plan (memrepro.config.Plan)."""
    from memrepro import catalog
    from memrepro.captions import figure_stem

    raw_root = plan.config.get("data", {}).get("root", "resources/datasets")
    jobs = []
    for ds, spec in sorted(plan.datasets.items()):
        if spec.get("source") == "torchvision":
            name = spec.get("name", ds)
            jobs.append(Job("data", f"download {name}", [f"{raw_root}/{name}/.complete.json"],
                            DOWNLOAD_LOG.format(name=name)))
        jobs.append(Job("data", f"prepare {ds}", list(dataset_files(ds)),
                        PREPARE_LOG.format(ds=ds)))
    noise = {cell_noise_path(c): c for c in plan.cells.values()}
    for npz, cell in sorted(noise.items()):
        name = str(Path(npz).relative_to("results/noise").with_suffix(""))
        jobs.append(Job("noise", name, [npz, npz[:-4] + ".json"], noise_log(cell),
                        inputs=list(dataset_files(cell["dataset"]))))
    file_probes = catalog.file_probe_names()
    for gid, group in plan.groups.items():
        outs = [f for fs in group_outputs(group["cells"], file_probes).values() for f in fs]
        jobs.append(Job("train", gid, outs, TRAIN_LOG.format(group=gid), len(group["cells"]),
                        inputs=train_inputs(group["cells"])))
    for name, part in sorted(plan.partitions.items()):
        jobs.append(Job("partition", name, [part["path"]], PARTITION_LOG.format(name=name),
                        inputs=[part["probe_file"], dataset_files(part["dataset"])[0]]))
    kinds = catalog.figure_kinds()
    tables = {}
    for fid, spec in plan.figures.items():
        stem = figure_stem(fid, spec, plan)
        drawn = kinds[spec["kind"]].draw is not None
        outs = figure_files(stem, drawn) + ([table_path(stem)] if drawn else [])
        tables[fid] = table_path(stem) if drawn else None
        paper, name = stem.split("/", 1)
        jobs.append(Job("figure", stem, outs, FIGURE_LOG.format(paper=paper, name=name),
                        inputs=figure_inputs(plan, fid, file_probes)))
    jobs.append(Job("summary", "summary", [SUMMARY_CELLS], SUMMARY_LOG,
                    inputs=[history_path(g["cells"][0]) for g in plan.groups.values()]))
    reads = {t for c in catalog.claims() for t in c.tables}
    jobs.append(Job("claims", "claims", [CLAIMS_JSON, CLAIMS_MD], CLAIMS_LOG,
                    inputs=[t for fid, t in tables.items() if t and fid in reads]))
    # the manifest reads every figure, the summary and the claims (workflow/rules/manifest.smk)
    last = [o for j in jobs if j.kind in ("figure", "summary", "claims") for o in j.outputs
            if o not in tables.values()]
    jobs.append(Job("manifest", "manifest", [MANIFEST], MANIFEST_LOG, inputs=last))
    return jobs


def train_inputs(cells: list[dict]) -> list[str]:
    """A training job's inputs as one list (memrepro.pipeline.job_inputs.group_inputs)."""
    named = group_inputs(cells).values()
    return [f for v in named for f in ([v] if isinstance(v, str) else v)]


def snakemake_running(root: Path) -> bool:
    """Whether a Snakemake holds this directory's lock: its files in .snakemake/locks exist
    while it runs (removed when it exits, left behind by a SIGKILL; none with --nolock)."""
    return any((root / LOCKS).glob("*.lock"))


def read_log(path: Path) -> dict:
    """The latest attempt of a job log: its last per-epoch line (parsed) with that line's time,
    or the epoch it resumed from when no epoch has ended since; the file's modification time."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(max(0, size - TAIL_BYTES))
        text = current_attempt(f.read().decode("utf-8", "replace"))
    info: dict = {"mtime": path.stat().st_mtime}
    for line in text.splitlines():
        if (p := progress.parse(line)) is not None:
            info.update(p, t_line=_line_time(line, info["mtime"]))
        elif (m := progress.RESUME.search(line)) is not None:  # no epoch since: no ETA
            for k in ("eta_s", "cell", "cells"):
                info.pop(k, None)
            info.update(epoch=int(m["epoch"]), epochs=int(m["epochs"]))
            if c := re.match(r"cell (\d+)/(\d+) ", m["label"]):
                info.update(cell=int(c[1]), cells=int(c[2]))
    return info


def _line_time(line: str, default: float) -> float:
    """When a log line was written (its ``asctime`` prefix, local time)."""
    try:
        return datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S").timestamp()
    except ValueError:
        return default


def assess(jobs: list[Job], root: str | Path = ".", now: float | None = None,
           stale: float = STALE_S) -> list[Job]:
    """Set each job's state (and, from its log, ``info``) as the files under ``root`` say."""
    root, now = Path(root), time.time() if now is None else now
    lock = snakemake_running(root)
    for job in jobs:
        job.info = {}
        if all((root / o).exists() for o in job.outputs):
            job.state = "done"
            continue
        try:
            job.info = read_log(root / job.log)
        except OSError:  # no log yet (or Snakemake removed it just now)
            job.state = "left"
            continue
        window = max(stale, 3 * job.info.get("s_per_epoch", 0.0))
        fresh = now - job.info["mtime"] < window
        job.state = "running" if fresh and lock else "stopped"
        if "eta_s" in job.info:
            job.info["eta_now"] = max(0.0, job.info["eta_s"] - (now - job.info["t_line"]))
    mark_repairs(jobs, root)
    return jobs


def mark_repairs(jobs: list[Job], root: Path) -> None:
    """What the next plain rerun rebuilds although its outputs exist (the Snakefile's repair,
    memrepro.pipeline.integrity): a training job with a damaged or lost file, and every job
    downstream
    of it, count as left; ``info["rebuild"]`` says why."""
    from memrepro.pipeline.integrity import describe, to_repair

    for rep in to_repair(jobs, root):
        why = describe(rep)[0]
        for job in [rep.job, *rep.downstream]:
            if job.state == "done":
                job.state = "left"
            job.info.setdefault("rebuild", why if job is rep.job else f"reads {rep.job.name}")


def render(jobs: list[Job], scale: str = "", root: str | Path = ".",
           now: float | None = None) -> str:
    """The table: counts per kind of job, then the running and stopped training jobs."""
    now = time.time() if now is None else now
    count = {(k, s): 0 for k in (*KINDS, "all") for s in ("done", "running", "left")}
    for j in jobs:
        s = "left" if j.state == "stopped" else j.state
        count[j.kind, s] += 1
        count["all", s] += 1
    lock = snakemake_running(Path(root))
    lines = [f"memrepro build{f' (scale {scale})' if scale else ''} at "
             f"{time.strftime('%H:%M:%S', time.localtime(now))}: {len(jobs)} jobs, "
             f"{count['all', 'done']} done, {count['all', 'running']} running, "
             f"{count['all', 'left']} left",
             "Snakemake is running here (its lock is held)" if lock else
             "no Snakemake is running here (no lock held), so no job counts as running", "",
             f"{'jobs':<9}{'done':>7}{'running':>9}{'left':>7}{'total':>7}"]
    for k in (*KINDS, "all"):
        c = [count[k, s] for s in ("done", "running", "left")]
        lines.append(f"{k:<9}{c[0]:>7}{c[1]:>9}{c[2]:>7}{sum(c):>7}")
    shown = [j for j in jobs if j.kind == "train" and j.state in ("running", "stopped")]
    if shown:
        lines += ["", f"{'training job':<{NAME_WIDTH}} {'state':<8}{'cell':>6}{'epoch':>9}"
                      f"{'s/epoch':>9}{'ETA':>11}{'log':>9}"]
        lines += [_train_row(j, now) for j in shown]
    rebuilt = [f"{j.name}: {j.info['rebuild']}" for j in jobs
               if j.kind == "train" and "rebuild" in j.info]
    if rebuilt:
        lines += ["", "a plain rerun rebuilds (and every job downstream of them):"]
        lines += [f"  {r if len(r) < 150 else r[:147] + '...'}" for r in rebuilt]
    other = [j.name for j in jobs if j.kind != "train" and j.state == "running"]
    if other:
        text = ", ".join(other)
        lines += ["", f"also running: {text if len(text) < 80 else text[:77] + '...'}"]
    return "\n".join(lines)


def _train_row(job: Job, now: float) -> str:
    i = job.info
    name = f"{job.name} ({job.cells} cell{'s' if job.cells != 1 else ''})"
    if len(name) > NAME_WIDTH:
        name = name[:NAME_WIDTH - 3] + "..."
    cell = f"{i['cell']}/{i['cells']}" if i.get("cell") else "-"
    epoch = f"{i['epoch']}/{i['epochs']}" if "epoch" in i else "-"
    spe = progress.short_number(i["s_per_epoch"]) if "s_per_epoch" in i else "-"
    eta = "-"
    if job.state == "running" and "eta_now" in i:
        eta = ("<=" if i.get("cap") else "") + progress.hms(i["eta_now"])
    ago = _ago(now - i["mtime"])
    return f"{name:<{NAME_WIDTH}} {job.state:<8}{cell:>6}{epoch:>9}{spe:>9}{eta:>11}{ago:>9}"


def _ago(s: float) -> str:
    s = max(0, int(s))
    return f"{s}s ago" if s < 120 else f"{s // 60}m ago" if s < 7200 else f"{s // 3600}h ago"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of ``memrepro status`` (the build's folder is the command's ``--root``)."""
    ap.add_argument("--configfile", help="the --configfile given to Snakemake (merged over "
                    "params.yaml and the papers' files)")
    ap.add_argument("--config", nargs="*", default=[], metavar="KEY=VALUE",
                    help="the overrides given to Snakemake (e.g. scale=quick)")
    ap.add_argument("--stale", type=float, default=STALE_S, help="a job whose log was not "
                    f"written for this many seconds is not running (default {STALE_S})")


def status_text(args: argparse.Namespace) -> str:
    """The status text for ``memrepro status``."""
    from memrepro.pipeline.project import load_plan

    root = Path(args.root)
    plan = load_plan(root, args.configfile, args.config)
    jobs = assess(plan_jobs(plan), root, stale=args.stale)
    return render(jobs, plan.scale, root)
