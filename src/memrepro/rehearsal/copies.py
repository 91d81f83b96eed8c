"""A rehearsal's copied jobs (memrepro.rehearsal.plan: heavy jobs once per signature): a job
that differs from the one trained for it only in loss, noise rate or seeds gets that job's
files, cell by cell, so that figures reading it are drawn at their real shapes and sizes.

Each copied run's ``run.json`` keeps what was trained (the representative cell's spec, noise
and file record, whose digests the copied bytes still match) and adds ``rehearsal_copy``:
the run copied and the cell it stands for. Model files are hard links where the file system
allows (they are temporary in a rehearsal and large: MD's quick groups write 1.6 GB each).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from memrepro import io


def copy_file(src: str | Path, dst: str | Path, link: bool = False) -> None:
    """``src`` to ``dst`` atomically (memrepro.io.atomic_path); a hard link if ``link`` and
    the file system allows."""
    with io.atomic_path(dst) as tmp:
        tmp.unlink(missing_ok=True)
        try:
            if not link:
                raise OSError("a copy was asked for")
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


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
            else:
                copy_file(a, b, link=kind == "model")
