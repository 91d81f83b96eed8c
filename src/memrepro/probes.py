"""Per-example probes recorded during training, batched over examples and models.

A cell asks for probes in its spec: ``probes: {per_example: {epochs: [1, 10]}}``. At each
listed epoch (0 = initialisation) every probe gets the training-set logits (M, n, K) that the
engine's evaluation pass already computed for all M models of the group, so a probe costs
a few tensor operations, never a loop over examples. Each record is written at once to
``<run>/probes/<probe>_epoch-<e>.npz`` (atomically), so a resumed job keeps what was recorded
before the interruption.

Registry: ``PROBES[name](logits, data, loss_fns) -> {array name: (M, n) tensor}``.

``csr`` is the other kind of probe: one number per model and epoch, the critical sample ratio
(Arpit et al. 2017, Sec. 4.1) on a fixed set of test images, written to the history.
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


class CriticalSampleRatio:
    """The CSR of every model of a group at chosen epochs (``probes: {csr: {...}}``).

    The first ``examples`` test images (500 by default, as in the LASS code the authors
    shared; the paper measures on the validation set, Sec. 4.2), each model normalising them
    with its own training statistics. LASS (``memrepro.lass``) with the paper's settings on the
    0-255 scale, alpha 0.25, beta 0.2, radius 0.3 (footnotes 4 and 6), at most ``max_iter``
    steps (20; the paper gives none). Each model's Langevin noise comes from a generator seeded
    by (seed, epoch), so the value does not depend on the group.
    """

    def __init__(self, opts: dict, seeds: list[int]):
        self.opts, self.seeds = opts, seeds
        self.epochs = set(opts.get("epochs", []))
        self.every = int(opts.get("every", 0) or 0)

    def due(self, epoch: int) -> bool:
        return epoch in self.epochs or (self.every > 0 and epoch % self.every == 0)

    def __call__(self, epoch: int, group, data) -> list[float]:
        from .lass import critical_sample_ratio, pixel_box

        o = self.opts
        x = data.x_test[:int(o.get("examples", 500))].float() / 255.0
        out = []
        for i, seed in enumerate(self.seeds):
            mean = data.mean[i] if data.mean.dim() == 5 else data.mean
            std = data.std[i] if data.std.dim() == 5 else data.std
            box = pixel_box(mean.flatten().cpu(), std.flatten().cpu(), o.get("alpha", 0.25),
                            o.get("beta", 0.2), o.get("radius", 0.3), device=x.device)
            gen = torch.Generator(device=x.device).manual_seed(int(seed) * 1_000_003 + epoch)
            out.append(critical_sample_ratio(group.module(i), (x - mean) / std,
                                             max_iter=int(o.get("max_iter", 20)),
                                             generator=gen, **box._asdict()))
        return out


class Probes:
    """The probes of a group's cells; all cells of a group ask for the same ones."""

    def __init__(self, specs: list[dict], out_dirs: list[Path], loss_fns: list):
        self.wanted = {k: v for k, v in (specs[0].get("probes") or {}).items() if k != "csr"}
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
