"""``memrepro rehearse --scale paper``: make the rehearsal's directory and run Snakemake in it.

The directory, ``rehearsal/<scale>/`` under the project, links the project's Snakefile,
params.yaml, config/, workflow/, profiles/ and envs/, and holds the marker the Snakefile asks
for (memrepro.rehearsal.plan.check_directory), so the rehearsal's few-step runs never mix with
the project's results. The raw datasets the plan needs are written once, at their published
sizes and formats, into ``rehearsal/mirror/<name>/`` (memrepro.rehearsal.raw_formats), and the
real download rule fetches them from there (``data.mirror``): no network. Snakemake then builds
``figures`` with ``rehearse`` set, which ends in ``results/rehearsal.{csv,md}`` of that
directory. The wall time is printed and kept in ``wall_time.txt``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from memrepro.rehearsal.plan import DEFAULTS, MARKER

LINKED = ("Snakefile", "params.yaml", "config", "workflow", "profiles", "envs")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--scale", required=True, help="the plan to rehearse (quick, paper, ...)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="only these experiments (and "
                    "figure ids of figures computed from a dataset)")
    ap.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    ap.add_argument("--steps", type=int, default=DEFAULTS["steps"],
                    help="minibatches per epoch")
    ap.add_argument("--eval-examples", type=int, default=DEFAULTS["eval_examples"])
    ap.add_argument("--probe-examples", type=int, default=DEFAULTS["probe_examples"],
                    help="examples per split of an evaluation that writes probe files "
                    "where full-size files would cost more than --full-probe-tflop (0: all, the "
                    "files' real size; costly: docs/rehearsal.md)")
    ap.add_argument("--full-probe-tflop", type=float, default=DEFAULTS["full_probe_tflop"],
                    help="jobs whose forward pass over all their examples costs at most this "
                    "many TFLOP write full-size probe files (default: %(default)s)")
    ap.add_argument("--figure-steps", type=int, default=DEFAULTS["figure_steps"],
                    help="SGD steps of figures computed over steps (AR Figs. 3-4)")
    ap.add_argument("--device-model", default=DEFAULTS["device_model"],
                    help="the GPU the report projects onto (memrepro.rehearsal.devices)")
    ap.add_argument("--cores", default="all", help="Snakemake's --cores")
    ap.add_argument("--all-jobs", action="store_true", help="every job, heavy ones too "
                    "(docs/rehearsal.md)")
    ap.add_argument("--heavy-mb", type=int, default=DEFAULTS["heavy_mb"], help="jobs needing "
                    "more MB (by accounting) run once per signature (default: %(default)s)")
    ap.add_argument("--max-mb", type=int, help="the memory the rehearsal's jobs may use at "
                    "once, in MB (default: 80%% of the memory available now); a bigger job "
                    "trains the models that fit (docs/rehearsal.md)")
    ap.add_argument("--dry-run", "-n", action="store_true", help="plan only")


def directory(root: Path, scale: str) -> Path:
    """``rehearsal/<scale>/`` with its links and marker (made if missing)."""
    d = root / "rehearsal" / scale
    d.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = d / name
        if not link.is_symlink() and not link.exists():
            link.symlink_to(os.path.relpath(root / name, d))
    (d / MARKER).write_text("a memrepro rehearsal directory (memrepro rehearse)\n")
    return d


def raw_datasets(root: Path, scale: str, only: list[str] | None) -> list[str]:
    """The torchvision datasets the rehearsed plan downloads."""
    from memrepro.config import resolve
    from memrepro.config.layout import load_sources, merge_sources
    from memrepro.rehearsal.plan import keep_only

    cwd = Path.cwd()
    os.chdir(root)
    try:
        sources = load_sources("params.yaml", [], {"scale": scale})
        plan = resolve(merge_sources(sources), check_files=False, sources=sources)
    finally:
        os.chdir(cwd)
    if only:
        keep_only(plan, list(only))
    return sorted(ds for ds, spec in plan.datasets.items() if spec["source"] == "torchvision")


def write_mirror(mirror: Path, names: list[str]) -> None:
    """Each raw dataset at its published size, once (its md5.json, written last, marks it)."""
    from memrepro.rehearsal.raw_formats import write_full_size

    for name in names:
        if not (mirror / name / "md5.json").is_file():
            print(f"memrepro rehearse: writing {name}'s raw files at full size into "
                  f"{mirror / name}", file=sys.stderr)
            write_full_size(mirror / name, name)


def available_mb() -> int:
    """The memory this machine can give now (MemAvailable: other work on a busy machine left
    out), in MB; all of it where /proc/meminfo is missing."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024 // 10**6
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 10**6


def snakemake_command(args: argparse.Namespace, mirror: Path) -> list[str]:
    settings = {"epochs": args.epochs, "steps": args.steps, "eval_examples": args.eval_examples,
                "probe_examples": args.probe_examples, "all_jobs": args.all_jobs,
                "full_probe_tflop": args.full_probe_tflop, "figure_steps": args.figure_steps,
                "heavy_mb": args.heavy_mb,
                "device_model": args.device_model,
                **({"only": list(args.only)} if args.only else {})}
    data = {"root": "resources/datasets", "mirror": str(mirror)}
    memory = args.max_mb or int(available_mb() * 0.8)
    settings["max_mb"] = memory
    return ["snakemake", "--cores", str(args.cores), "figures", *(["-n"] if args.dry_run else []),
            "--resources", f"rehearsal_mb={memory}",
            "--config", f"scale={args.scale}", f"rehearse={json.dumps(settings)}",
            f"data={json.dumps(data)}"]


def run(args: argparse.Namespace, root: Path) -> int:
    d = directory(root, args.scale)
    mirror = root / "rehearsal" / "mirror"
    write_mirror(mirror, raw_datasets(root, args.scale, args.only))  # once: dry runs read it
    cmd = snakemake_command(args, mirror.resolve())
    print("memrepro rehearse: in", d, ":", " ".join(cmd), file=sys.stderr)
    t0 = time.perf_counter()
    code = subprocess.call(cmd, cwd=d)
    wall = time.perf_counter() - t0
    if code == 0 and not args.dry_run:
        (d / "wall_time.txt").write_text(f"{wall:.0f} s on {os.cpu_count()} cores "
                                         f"(--cores {args.cores})\n")
        print(f"memrepro rehearse: the {args.scale} plan rehearsed in {wall:.0f} s; report: "
              f"{d / 'results' / 'rehearsal.md'}", file=sys.stderr)
    return code
