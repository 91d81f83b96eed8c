"""Per-cell checkpoints of a training group (``memrepro.engine.GroupTrainer``): each cell's
model, optimizer state (single-model format, whichever mode wrote it) and history so far, with
the fingerprint of its settings, so a killed job resumes where it stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from memrepro import io
from memrepro.pipeline import resume
from memrepro.pipeline.progress import cells_label, log
from memrepro.run_files import save_torch
from memrepro.stacked import merge_optimizer_states, split_optimizer_state

KEYS = {"model", "history", "optimizer", "epoch", "fingerprint"}  # what ``save`` writes


def save(trainer: Any, ckpts: list[Path], fps: list[str], histories: list[list[dict]],
         epoch: int) -> None:
    """Write every cell's checkpoint after ``epoch`` epochs (deterministic bytes)."""
    opt, stacked = trainer.opt.state_dict(), trainer.mode == "stacked"
    for i, path in enumerate(ckpts):
        save_torch(path, {"model": trainer.group.state_dict(i), "history": histories[i],
                          "optimizer": split_optimizer_state(opt, i, stacked),
                          "epoch": epoch, "fingerprint": fps[i]})
        resume.keep(path.parent, "probes")  # its probe files so far, for a resumed rerun


def read(path: Path, device: Any) -> dict | None:
    """The checkpoint at ``path``; None if there is none, or if it cannot be read (truncated,
    not a checkpoint): then it is set aside as ``checkpoint.pt.corrupt-<n>``, with a warning
    naming both files, and its group starts from scratch. (A cell that had finished is
    restored from its store before any checkpoint is read: ``resume.finished``.)"""
    if not path.exists():
        return None
    try:
        ck = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many kinds for a damaged archive
        why = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    else:
        if isinstance(ck, dict) and KEYS <= ck.keys():
            return ck
        why = "not a checkpoint"
    aside = io.set_aside(path, "corrupt")
    log.warning("checkpoint %s cannot be read (%s): set aside as %s; not resuming, "
                "starting from epoch 0", path, why, aside.name)
    return None


def load(trainer: Any, ckpts: list[Path], fps: list[str]) -> tuple[list[list[dict]], int]:
    """Load the cells' checkpoints into ``trainer`` if every one exists, can be read (see
    ``read``), matches its cell and all stopped at the same epoch: (histories, epoch);
    otherwise ([], 0), start from scratch (stale or partial state is ignored)."""
    cks = [read(p, trainer.dev) for p in ckpts]
    if any(c is None for c in cks):
        return [], 0
    if any(c.get("fingerprint") != fp for c, fp in zip(cks, fps, strict=True)) or \
            len({int(c["epoch"]) for c in cks}) != 1:
        log.info("not resuming %s: its checkpoints are from other settings or epochs; "
                 "starting from epoch 0", cells_label([s.get("slug") for s in trainer.specs]))
        return [], 0
    for i, c in enumerate(cks):
        trainer.group.load_state_dict(i, c["model"])
    trainer.opt.load_state_dict(merge_optimizer_states([c["optimizer"] for c in cks],
                                                       trainer.mode == "stacked"))
    return [list(c["history"]) for c in cks], int(cks[0]["epoch"])
