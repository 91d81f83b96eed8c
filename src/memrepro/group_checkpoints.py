"""Per-cell checkpoints of a training group (``memrepro.engine.GroupTrainer``): each cell's
model, optimizer state (single-model format, whichever mode wrote it) and history so far, with
the fingerprint of its settings, so a killed job resumes where it stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from memrepro import resume
from memrepro.progress import cells_label, log
from memrepro.run_files import save_torch
from memrepro.stacked import merge_optimizer_states, split_optimizer_state


def save(trainer: Any, ckpts: list[Path], fps: list[str], histories: list[list[dict]],
         epoch: int) -> None:
    """Write every cell's checkpoint after ``epoch`` epochs (deterministic bytes)."""
    opt, stacked = trainer.opt.state_dict(), trainer.mode == "stacked"
    for i, path in enumerate(ckpts):
        save_torch(path, {"model": trainer.group.state_dict(i), "history": histories[i],
                          "optimizer": split_optimizer_state(opt, i, stacked),
                          "epoch": epoch, "fingerprint": fps[i]})
        resume.keep(path.parent, "probes")  # its probe files so far, for a resumed rerun


def load(trainer: Any, ckpts: list[Path], fps: list[str]) -> tuple[list[list[dict]], int]:
    """Load the cells' checkpoints into ``trainer`` if every one exists, matches its cell and
    all stopped at the same epoch: (histories, epoch); otherwise ([], 0), start from scratch
    (stale or partial state is ignored)."""
    if not all(p.exists() for p in ckpts):
        return [], 0
    cks = [torch.load(p, map_location=trainer.dev, weights_only=True) for p in ckpts]
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
