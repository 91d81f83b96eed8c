"""What a build wrote is still what it wrote: digests, a check without training, and the
repair a plain rerun makes.

* **The records.** A cell's ``run.json`` holds ``files``: ``{name: {"bytes", "sha256"}}`` of
  every file its training job wrote for it (``history.csv``, ``model.pt``,
  ``probes/*.npz``; ``file_record``, taken after they are written). A figure's provenance
  record holds ``table_sha256``, the digest of the table it was drawn from, and its caption
  the sha256 of its PNG and PDF (``memrepro.provenance``).
* **The check** (``memrepro verify [results]``, :func:`report`): every run's files against its
  ``run.json``, every figure's table and image files against their digests, and the figure
  files' provenance agreement (``provenance.check``). One line per problem, naming the file;
  exit 1 on any. Nothing is trained.
* **The repair** (``repair``, called by the Snakefile at every start). Snakemake does not
  rerun a job whose outputs are missing when everything downstream of it is present, and it
  never notices a damaged output. So a cheap sweep (sizes against ``run.json``'s record and
  existence; no hashing) finds the training jobs with a damaged file, or with a missing one
  that a finished job downstream was built from, removes the damaged files and the outputs
  of every job downstream of them, and Snakemake's own rules then retrain the group and
  redraw what reads it. ``memrepro status`` counts the same jobs as left (``to_repair``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memrepro import io
from memrepro.paths import RESULTS, cell_files

RECORD = "files"  # the key of run.json's file record
RUN_JSON = "run.json"
# Snakemake options under which nothing is built: the repair then only says what a run would do
NO_BUILD = {"-n", "--dry-run", "--dryrun", "-t", "--touch", "--unlock", "--report", "-S",
            "--summary", "-D", "--detailed-summary", "--lint", "--dag", "--rulegraph",
            "--filegraph", "--d3dag", "--cleanup-metadata", "--cm", "-l", "--list",
            "--list-rules", "--lt", "--list-target-rules", "--list-changes", "--lc",
            "--list-code-changes", "--list-input-changes", "--list-params-changes",
            "--delete-all-output", "--delete-temp-output", "--containerize",
            "--print-compilation", "--archive", "--export-cwl", "--generate-unit-tests",
            "--conda-create-envs-only", "--create-envs-only", "--conda-cleanup-envs"}
SHOWN_CELLS = 10  # repaired cells named per training job; the rest counted


# --- records --------------------------------------------------------------------------------

def written_files(run_dir: str | Path) -> list[str]:
    """The files a training job wrote for a cell, relative to its run directory: history,
    model and probe files (``memrepro.paths.cell_files`` without run.json)."""
    return [str(p) for p in cell_files(run_dir) if str(p) != RUN_JSON]


def file_record(run_dir: str | Path) -> dict[str, dict[str, Any]]:
    """``{name: {"bytes": size, "sha256": digest}}`` of ``written_files``, read from disk."""
    run = Path(run_dir)
    return {name: {"bytes": (run / name).stat().st_size, "sha256": io.sha256(run / name)}
            for name in written_files(run)}


def _record_of(run_json: Path) -> dict[str, dict[str, Any]] | None:
    """run.json's file record (None when it was written before records existed)."""
    return io.read_json(run_json).get(RECORD)


def verify_run(run_json: str | Path) -> list[str]:
    """Problems of one run directory: its files against the digests and sizes in run.json,
    and files written there that the record does not list. Reads every file."""
    run_json = Path(run_json)
    run = run_json.parent
    try:
        record = _record_of(run_json)
    except (OSError, ValueError) as err:
        return [f"{run_json}: unreadable ({err})"]
    if record is None:
        return [f"{run_json}: no file record (trained before run.json recorded its files); "
                "retrain the group to record them"]
    problems = []
    for name, rec in sorted(record.items()):
        path = run / name
        if not path.is_file():
            problems.append(f"{path}: missing (run.json records it)")
        elif path.stat().st_size != rec["bytes"]:
            problems.append(f"{path}: {path.stat().st_size} bytes, run.json records "
                            f"{rec['bytes']}")
        elif io.sha256(path) != rec["sha256"]:
            problems.append(f"{path}: sha256 differs from run.json's (edited after training?)")
    problems += [f"{run / name}: not in run.json's record (written after training?)"
                 for name in written_files(run) if name not in record]
    return problems


@dataclass
class Verified:
    """What ``verify`` checked: runs and figures counted, one line per figure that carries its
    provenance (commit, settings digest, runs), and one line per problem, naming the file."""

    runs: int
    figures: int
    figure_lines: list[str]
    problems: list[str]


def verify(results: str | Path = RESULTS) -> Verified:
    """Every run and figure under ``results``: the runs' files against their run.json, the
    figures' provenance and digests (``provenance.check``)."""
    from memrepro import provenance

    runs = sorted((Path(results) / "runs").glob("**/" + RUN_JSON))
    problems = [p for r in runs for p in verify_run(r)]
    folder = Path(results) / "figures"
    lines, figure_problems = provenance.check(folder)
    return Verified(len(runs), len(provenance.figure_files(folder)), lines,
                    problems + figure_problems)


# --- the cheap sweep: damaged or lost training outputs --------------------------------------

def cell_damage(root: Path, run_json: str, planned: Iterable[str]) -> tuple[str, str] | None:
    """The first problem of a cell, ``(file, why)``, from sizes and existence only:
    ``why`` is "missing" for a planned file that is absent, else what is wrong with it."""
    path = root / run_json
    if path.is_file():
        try:
            record = _record_of(path) or {}
        except (OSError, ValueError):
            return run_json, "unreadable"
        run = Path(run_json).parent
        for name, rec in sorted(record.items()):
            with contextlib.suppress(FileNotFoundError):
                size = (root / run / name).stat().st_size
                if size != rec.get("bytes"):
                    return str(run / name), f"{size} bytes, run.json records {rec.get('bytes')}"
    for f in planned:
        if not (root / f).exists():
            return f, "missing"
    return None


@dataclass
class Repair:
    """A training job to rerun: its cells' problems ``(file, why)``, the damaged files to
    remove, and the jobs downstream of it (their outputs go too, so Snakemake reruns them)."""
    job: Any
    problems: list[tuple[str, str]]
    downstream: list[Any] = field(default_factory=list)

    @property
    def damaged(self) -> list[str]:
        return [f for f, why in self.problems if why != "missing"]


def _cells(job) -> list[tuple[str, list[str]]]:
    """(run.json, the cell's other outputs) of each cell of a training job."""
    runs = [o for o in job.outputs if o.endswith("/" + RUN_JSON)]
    return [(r, [o for o in job.outputs if o != r and o.startswith(r[:-len(RUN_JSON)])])
            for r in runs]


def readers_of(jobs: list) -> dict[str, list]:
    """``{file: the jobs that read it}``."""
    readers: dict[str, list] = {}
    for j in jobs:
        for f in j.inputs:
            readers.setdefault(f, []).append(j)
    return readers


def downstream(job, readers: dict[str, list]) -> list:
    """Every job that reads, directly or through others, an output of ``job``."""
    seen, todo = {id(job)}, list(job.outputs)
    out = []
    while todo:
        for j in readers.get(todo.pop(), []):
            if id(j) not in seen:
                seen.add(id(j))
                out.append(j)
                todo += j.outputs
    return out


def _done(job, root: Path, known: dict[int, bool]) -> bool:
    if id(job) not in known:
        known[id(job)] = all((root / o).exists() for o in job.outputs)
    return known[id(job)]


def to_repair(jobs: list, root: str | Path = ".") -> list[Repair]:
    """The training jobs a plain rerun must run again: a cell's file has another size than
    its run.json records (or run.json is unreadable), or a planned file is missing while a
    job downstream has been built from it (Snakemake would not rerun it)."""
    root, readers, known = Path(root), readers_of(jobs), {}
    repairs = []
    for job in jobs:
        if job.kind != "train":
            continue
        problems = [p for r, planned in _cells(job) if (p := cell_damage(root, r, planned))]
        if not problems:
            continue
        after = downstream(job, readers)
        if any(why != "missing" for _, why in problems) or \
                any(_done(j, root, known) for j in after):
            repairs.append(Repair(job, problems, after))
    return repairs


def builds_nothing(argv: list[str]) -> bool:
    """Whether Snakemake's command line asks for no build (a dry run, --touch, --report...)."""
    for arg in argv:
        name = arg.split("=", 1)[0]
        if name in NO_BUILD:
            return True
        cluster = arg[1:] if arg[:1] == "-" and arg[1:2] != "-" else ""  # e.g. -np
        if cluster.isalpha() and {"n", "t"} & set(cluster):
            return True
    return False


def describe(rep: Repair) -> list[str]:
    """One line per repaired cell (at most SHOWN_CELLS), naming its damaged or missing file."""
    lines = [f"{f} is {why}" if why in ("missing", "unreadable") else f"{f} is damaged ({why})"
             for f, why in rep.problems]
    if len(lines) > SHOWN_CELLS:
        lines = lines[:SHOWN_CELLS] + [f"... and {len(lines) - SHOWN_CELLS} more cell(s)"]
    return lines


def repair(jobs: list, root: str | Path = ".", argv: list[str] | None = None) -> list[Repair]:
    """At a build's start, given its jobs (``memrepro.pipeline.build_status.plan_jobs``): find the
    training jobs to rerun (``to_repair``); remove their damaged files and every output of the
    jobs downstream, so that Snakemake retrains them and redraws what reads them. Says what it
    does, one line per cell; does nothing but say it under a dry run (or any other option that
    builds nothing) or while another Snakemake or training job of this directory is alive."""
    from memrepro.pipeline.watchdog import live_entries

    root = Path(root)
    repairs = to_repair(jobs, root)
    if not repairs or live_entries(root):
        return []
    act = not builds_nothing(sys.argv[1:] if argv is None else argv)
    for rep in repairs:
        what = f"training job {rep.job.name}" + (f" and {len(rep.downstream)} job(s) "
                                                 "downstream" if rep.downstream else "")
        verb = "rebuilding" if act else "a build (this command builds nothing) would rebuild"
        for line in describe(rep):
            sys.stderr.write(f"memrepro: {line}: {verb} {what}\n")
        if act:
            for f in rep.damaged + [o for j in rep.downstream for o in j.outputs]:
                (root / f).unlink(missing_ok=True)
    return repairs


# --- the command ----------------------------------------------------------------------------

def report(results: str | Path = RESULTS) -> int:
    """``memrepro verify [results]``: one line per good figure and a count on stdout, one
    ``PROBLEM`` line per problem on stderr; 1 on any problem or when nothing is built."""
    found = verify(results)
    for line in found.figure_lines:
        print(line)
    for p in found.problems:
        print(f"PROBLEM {p}", file=sys.stderr)
    print(f"{found.runs} runs and {found.figures} figures under {results} checked: "
          f"{len(found.problems)} problems"
          + ("" if found.runs or found.figures else " (nothing built there)"))
    return 1 if found.problems or not (found.runs or found.figures) else 0
