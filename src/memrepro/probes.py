"""Per-example probes recorded during training, batched over examples and models.

A cell asks for probes in its spec: ``probes: {per_example: {epochs: [1, 10]}}``. At each
listed epoch (0 = initialisation) every probe gets the training-set logits (M, n, K) that the
engine's evaluation pass already computed for all M models of the group, so a probe costs
a few tensor operations, never a loop over examples. Each record is written at once to
``<run>/probes/<probe>_epoch-<e>.npz`` (atomically), so a resumed job keeps what was recorded
before the interruption.

Registry: ``PROBES[name](logits, data, loss_fns) -> {array name: (M, n) tensor}``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from . import io

PROBES: dict[str, Callable] = {}


def register_probe(fn: Callable) -> Callable:
    PROBES[fn.__name__] = fn
    return fn


@register_probe
def per_example(logits: torch.Tensor, data, loss_fns) -> dict[str, torch.Tensor]:
    """Predicted class, whether it is the (noisy) label trained on, and the cell's own loss
    on that label, for every training example: what per-example misclassification rates
    (Arpit et al. 2017, Fig. 1) and example-difficulty statistics are computed from."""
    losses = torch.stack([fn(logits[i], data.y_noisy[i]) for i, fn in enumerate(loss_fns)])
    pred = logits.argmax(2)
    return {"pred": pred.to(torch.int16), "correct": pred == data.y_noisy,
            "loss": losses.float()}


def probe_path(run_dir: str | Path, name: str, epoch: int) -> Path:
    return Path(run_dir) / "probes" / f"{name}_epoch-{epoch}.npz"


class Probes:
    """The probes of a group's cells; all cells of a group ask for the same ones."""

    def __init__(self, specs: list[dict], out_dirs: list[Path], loss_fns: list):
        self.wanted = specs[0].get("probes") or {}
        for name in self.wanted:
            if name not in PROBES:
                raise ValueError(f"probes: {name!r} is not allowed; allowed: {sorted(PROBES)}")
        self.out_dirs, self.loss_fns = out_dirs, loss_fns

    def record(self, epoch: int, logits: torch.Tensor, data) -> None:
        for name, opts in self.wanted.items():
            if epoch not in opts.get("epochs", []):
                continue
            arrays = {k: v.cpu().numpy() for k, v in PROBES[name](logits, data,
                                                                  self.loss_fns).items()}
            for i, out in enumerate(self.out_dirs):
                io.write_npz(probe_path(out, name, epoch), epoch=np.array([epoch]),
                             **{k: v[i] for k, v in arrays.items()})
