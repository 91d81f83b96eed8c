"""After `dvc pull` / `dvc checkout`: make Snakemake see the pulled results as built.

DVC writes back bytes only. Every file it checks out gets the time of the checkout, in
whatever order DVC's threads reach it, and Snakemake's own records (`.snakemake/metadata`:
the params, code and software stack each output was made with) are not part of the data at
all. Snakemake then decides by file times alone: an input that happened to be written after
its output reads as updated, so `snakemake -n figures` plans jobs (training ones included)
for results that are in fact complete, and, with no records, a later edit of a training
parameter would plan nothing.

`restore` fixes both, but only where DVC vouches for the bytes:

1. `dvc status` must report the DVC stages behind the targets as up to date, i.e. the
   pulled outputs are exactly what `dvc.lock` recorded for this checkout's code and params
   (outputs present, deps and params unchanged). Otherwise it refuses and says why:
   marking stale results as built would hide them.
2. `snakemake --touch --forceall --cores 1 TARGETS` then walks the DAG in order, giving each
   job's outputs a time after its inputs', and writes Snakemake's record for every job as if
   it had just run it with the current params and code, so later changes are seen again.

Run it as `memrepro after-pull [TARGET ...] [--skip-dvc-check] [-- SNAKEMAKE ARGS]`
(default target: figures).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

DEFAULT_TARGETS = ("figures",)


class RestoreError(RuntimeError):
    """The results cannot be marked as built (stale per DVC, or a tool failed)."""


def tool(name: str) -> str:
    """Path of the CLI `name` of this interpreter's environment, else the one on PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise RestoreError(f"'{name}' is not installed in this environment or on PATH")
    return found


def dvc_stages(root: Path) -> list[str]:
    """Stage names in `dvc.yaml` (empty if there is none)."""
    path = Path(root) / "dvc.yaml"
    if not path.exists():
        return []
    return list((yaml.safe_load(path.read_text()) or {}).get("stages", {}))


def dvc_changes(root: Path, targets: Sequence[str] = DEFAULT_TARGETS) -> dict:
    """What `dvc status` reports for the stages behind `targets` ({} when up to date).

    A target that names a DVC stage (the Snakemake targets `data`, `runs`, `figures` share
    their names with the stages) is checked with its upstream stages; any other target
    checks the whole pipeline.
    """
    root = Path(root)
    known = set(dvc_stages(root))
    if not known:
        raise RestoreError(f"no DVC stages in {root / 'dvc.yaml'}: nothing vouches for results/")
    stages = [t for t in targets if t in known]
    cmd = [tool("dvc"), "status", "--json"]
    if stages and len(stages) == len(targets):
        cmd += ["--with-deps", *stages]
    res = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if res.returncode != 0:
        raise RestoreError(f"`{' '.join(cmd[1:])}` failed:\n{res.stderr.strip()}")
    return json.loads(res.stdout.strip() or "{}")


def describe_changes(changes: dict) -> str:
    lines = []
    for stage, items in changes.items():
        for item in items if isinstance(items, list) else [items]:
            lines.append(f"  {stage}: {json.dumps(item, sort_keys=True)}")
    return "\n".join(lines)


def touch_command(targets: Sequence[str], snakemake_args: Sequence[str] = ()) -> list[str]:
    return [tool("snakemake"), "--touch", "--forceall", "--cores", "1",
            *snakemake_args, *targets]


def restore(
    root: Path | str = ".",
    targets: Sequence[str] = DEFAULT_TARGETS,
    snakemake_args: Sequence[str] = (),
    check_dvc: bool = True,
) -> subprocess.CompletedProcess:
    """Check with DVC, then mark every job behind `targets` as built. Raises RestoreError."""
    root = Path(root)
    targets = list(targets) or list(DEFAULT_TARGETS)
    if check_dvc:
        changes = dvc_changes(root, targets)
        if changes:
            raise RestoreError(
                "DVC says these results do not match dvc.lock for this checkout:\n"
                f"{describe_changes(changes)}\n"
                "Marking them as built would hide that. Missing or modified outputs:"
                " `dvc pull` / `dvc checkout`. Changed code or params: check out the commit"
                " whose dvc.lock they belong to (e.g. `git stash`), run this again, then"
                " re-apply your changes (Snakemake sees them from then on). Or rebuild"
                " everything: `snakemake --forceall --cores all figures` and `dvc commit`."
            )
    res = subprocess.run(touch_command(targets, snakemake_args), cwd=root)
    if res.returncode != 0:
        raise RestoreError(f"snakemake --touch failed (exit {res.returncode})")
    return res


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of ``memrepro after-pull`` (the repository is the command's ``--root``)."""
    ap.add_argument("targets", nargs="*", default=list(DEFAULT_TARGETS),
                    help="Snakemake targets (default: figures)")
    ap.add_argument("--skip-dvc-check", action="store_true",
                    help="results did not come from DVC (e.g. rsync): trust them unchecked")


def run(args: argparse.Namespace, snakemake_args: Sequence[str] = ()) -> int:
    """``memrepro after-pull``: restore, saying the outcome on stderr; 0, or 1 when refused."""
    try:
        restore(args.root, args.targets, snakemake_args, check_dvc=not args.skip_dvc_check)
    except RestoreError as err:
        sys.stderr.write(f"memrepro: {err}\n")
        return 1
    sys.stderr.write("memrepro: results marked as built; `snakemake -n` now plans only what "
                     "your own changes need.\n")
    return 0
