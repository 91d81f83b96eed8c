"""Probes: measurements taken during training, at chosen epochs, batched over the group.

A cell asks for probes in its spec: ``probes: {per_example: {epochs: [1, 10]}}``; a probe is
due at every epoch listed in ``epochs`` (0 = initialisation) and, when ``every: k`` is given,
at every k-th epoch. A :class:`Probe` either writes a file per epoch and run
(``<run>/probes/<probe>_epoch-<e>.npz``, atomically, so a resumed job keeps what was recorded
before an interruption) or fills a column of history.csv named after it (one number per run
and epoch; empty where it was not due).

``measure(opts, ctx, epoch, train_logits)`` gets the probe's options, the group's
``memrepro.hooks.HookContext`` (models, data, losses, specs; docs/hooks.md) and the
training-set logits (M, n, K) that the engine's evaluation pass already computed for all M
models, so a per-example probe costs a few tensor operations. It returns ``{array name: (M,
...) tensor}`` for a file probe, or M floats for a history probe. ``needs_objective``: the
objective whose steps record what the probe reads (LLJ's ``grad_stats`` needs
``track_gradients``); planning refuses a cell asking for the probe without it.

The core defines ``per_example``; papers add their own (Arpit et al.: ``csr``) through their
index, and ``memrepro.catalog`` hands the merged set to the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memrepro import io
from memrepro.hooks import HookContext, need_text, unmet_needs
from memrepro.paths import probe_path
from memrepro.specs import not_allowed

WRITES = ("npz", "history")


@dataclass(frozen=True)
class Probe:
    measure: Callable[[dict, HookContext, int, torch.Tensor], Any]
    writes: str = "npz"
    needs_objective: str | None = None

    def __post_init__(self):
        if self.writes not in WRITES:
            raise ValueError(not_allowed("Probe.writes", self.writes, list(WRITES)))


def label_metrics(pred: torch.Tensor, y_noisy: torch.Tensor, y_clean: torch.Tensor,
                  corrupted: torch.Tensor) -> dict[str, float]:
    """Accuracies of predicted classes on the training set (PS Sec. 2):
    j1 against the labels trained on, j2 against the clean labels; on the corrupted
    subset, the share that fits the noisy label and the share still right; on the
    uncorrupted subset, plain accuracy."""
    c = corrupted.bool()
    return {"j1": mean_of(pred == y_noisy), "j2": mean_of(pred == y_clean),
            "corrupted_fit": mean_of((pred == y_noisy)[c]),
            "corrupted_clean": mean_of((pred == y_clean)[c]),
            "clean_acc": mean_of((pred == y_clean)[~c])}


def mean_of(b: torch.Tensor) -> float:
    return float(b.float().mean()) if b.numel() else float("nan")


def due(opts: dict, epoch: int) -> bool:
    """Whether a probe with these options measures at ``epoch``."""
    every = int(opts.get("every", 0) or 0)
    return epoch in opts.get("epochs", []) or (every > 0 and epoch % every == 0)


def per_example(opts: dict, ctx: HookContext, epoch: int,
                logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """Predicted class, the (noisy) label trained on, whether they agree, and the cell's own
    loss on that label, for every training example: what per-example misclassification rates
    (Arpit et al. 2017, Fig. 1, compared within each class) and example-difficulty statistics
    are computed from."""
    y = ctx.data.y_noisy
    losses = torch.stack([fn(logits[i], y[i]) for i, fn in enumerate(ctx.loss_fns)])
    pred = logits.argmax(2)
    label = torch.broadcast_to(y, pred.shape).to(torch.int16)
    return {"pred": pred.to(torch.int16), "label": label, "correct": pred == y,
            "loss": losses.float()}


CORE_PROBES: dict[str, Probe] = {"per_example": Probe(per_example, writes="npz")}


def history_columns(probes: dict[str, Probe]) -> list[str]:
    """The history.csv columns the history-writing probes add, in the given order."""
    return [name for name, p in probes.items() if p.writes == "history"]


class Probes:
    """The probes of a group's cells (all cells of a group ask for the same ones), from the
    known ``probes`` (name -> Probe). Every known history probe has a column in history.csv,
    asked for or not, so every history of a build has the same columns. A probe whose
    ``needs_objective`` is not switched on in ``train`` is refused (planning refuses it first)."""

    def __init__(self, specs: list[dict], probes: dict[str, Probe], train: dict):
        self.wanted = dict(specs[0].get("probes") or {})
        for name in self.wanted:
            if name not in probes:
                raise ValueError(not_allowed("probes", name, sorted(probes)))
        if unmet := unmet_needs(self.wanted, train, probes):
            name, objective = unmet[0]
            raise ValueError(not_allowed(f"probes.{name}", self.wanted[name], need_text(objective),
                                         why=f" without train.{objective}"))
        self.probes = probes
        self.columns = history_columns(probes)

    def files_due(self, epoch: int) -> bool:
        """Whether a probe that writes files measures at ``epoch``."""
        return any(self.probes[name].writes == "npz" and due(opts, epoch)
                   for name, opts in self.wanted.items())

    def measure_history(self, ctx: HookContext, epoch: int, logits: torch.Tensor,
                        rows: list[dict]) -> None:
        """Fill each row's history-probe columns: the value where due, else NaN."""
        for row in rows:
            row.update(dict.fromkeys(self.columns, float("nan")))
        for name, opts in self.wanted.items():
            if self.probes[name].writes == "history" and due(opts, epoch):
                values = self.probes[name].measure(opts, ctx, epoch, logits)
                for row, value in zip(rows, values, strict=True):
                    row[name] = float(value)

    def record_files(self, ctx: HookContext, epoch: int, logits: torch.Tensor,
                     out_dirs: list[Path]) -> None:
        """Write each due file probe's arrays, one file per run (``out_dirs``)."""
        for name, opts in self.wanted.items():
            if self.probes[name].writes != "npz" or not due(opts, epoch):
                continue
            arrays = {k: v.cpu().numpy()
                      for k, v in self.probes[name].measure(opts, ctx, epoch, logits).items()}
            for i, out in enumerate(out_dirs):
                io.write_npz(probe_path(out, name, epoch), epoch=np.array([epoch]),
                             **{k: v[i] for k, v in arrays.items()})
