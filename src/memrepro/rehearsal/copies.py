"""A rehearsal's copied jobs (memrepro.rehearsal.plan: heavy jobs once per signature): a job
that differs from the one trained for it only in loss, noise rate or seeds gets that job's
files, cell by cell, so that figures reading it are drawn at their real shapes and sizes.

Each copied run's ``run.json`` keeps what was trained (the representative cell's spec, noise
and file record, whose digests the copied bytes still match) and adds ``rehearsal_copy``:
the run copied and the cell it stands for. Model files are symbolic links to the trained
ones (model files are temporary in a rehearsal, and MD's paper models would be 233 GB of
copies).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from memrepro import io


def copy_file(src: str | Path, dst: str | Path) -> None:
    """``src`` to ``dst`` atomically (memrepro.io.atomic_path)."""
    with io.atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def link_file(src: str | Path, dst: str | Path) -> None:
    """``dst`` made a relative symbolic link to ``src``, through a temporary name. Not a hard
    link: Snakemake touches a finished job's outputs, which through a hard link would make the
    source newer than the outputs of the copies still to run."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.link")
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(src, dst.parent), tmp)
    os.replace(tmp, dst)


def copy_outputs(src: dict[str, list[str]], dst: dict[str, list[str]],
                 slugs: list[str]) -> None:
    """Every output of a trained job (``src``, by kind, as ``memrepro.paths.group_outputs``)
    to the same place of its copy (``dst``: the same kinds, in the same order); ``slugs``:
    the copy's cells, in order, named in each ``run.json``."""
    if set(src) != set(dst) or any(len(src[k]) != len(dst[k]) for k in src):
        raise ValueError("a rehearsal copy needs the same outputs as the job it copies: "
                         f"{ {k: len(v) for k, v in src.items()} } against "
                         f"{ {k: len(v) for k, v in dst.items()} }")
    for kind in sorted(src):
        for i, (a, b) in enumerate(zip(src[kind], dst[kind], strict=True)):
            if kind == "run":
                record = io.read_json(a)
                io.write_json(b, {**record, "rehearsal_copy": {"of": str(Path(a).parent),
                                                               "for": slugs[i]}})
            elif kind == "model":
                link_file(a, b)
            else:
                copy_file(a, b)
