"""Arpit et al. 2017's training add-ons, behind the engine's two hooks.

- ``csr`` (probe, a history column): the critical sample ratio (Sec. 4.1) of every model of a
  group at chosen epochs, ``probes: {csr: {every | epochs, examples, max_iter, alpha, beta,
  radius}}``.
- ``adversarial`` (objective, ``train.adversarial: {weight, max_iter}``): training on the
  critical samples LASS finds in each batch (Sec. 5, :mod:`memrepro.papers.ar.adversarial`).

Both draw their noise from generators seeded by (cell seed, epoch), so a value does not depend
on the group and a resumed run repeats an uninterrupted one.
"""

from __future__ import annotations

import torch

from memrepro.engine import OBJECTIVE_STREAM, Objective, seed_for
from memrepro.hooks import HookContext
from memrepro.papers.ar.adversarial import adversarial_loss
from memrepro.papers.ar.lass import critical_sample_ratio, pixel_box
from memrepro.probes import Probe
from memrepro.seeds import cell_seed


def _model_stats(data, i: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Model i's normalisation statistics (per model when the group's data has them)."""
    mean = data.mean[i] if data.mean.dim() == 5 else data.mean
    std = data.std[i] if data.std.dim() == 5 else data.std
    return mean, std


def measure_csr(opts: dict, ctx: HookContext, epoch: int, logits: torch.Tensor) -> list[float]:
    """The CSR of every model of the group on the first ``examples`` test images (500 by
    default, as in the LASS code the authors shared; the paper measures on the validation set,
    Sec. 4.2), each model normalising them with its own training statistics. LASS with the
    paper's settings on the 0-255 scale, alpha 0.25, beta 0.2, radius 0.3 (footnotes 4 and 6),
    at most ``max_iter`` steps (20; the paper gives none)."""
    data = ctx.data
    x = data.x_test[:int(opts.get("examples", 500))].float() / 255.0
    out = []
    for i, spec in enumerate(ctx.specs):
        mean, std = _model_stats(data, i)
        box = pixel_box(mean.flatten().cpu(), std.flatten().cpu(), opts.get("alpha", 0.25),
                        opts.get("beta", 0.2), opts.get("radius", 0.3), device=x.device)
        gen = torch.Generator(device=x.device).manual_seed(seed_for(cell_seed(spec), epoch))
        out.append(critical_sample_ratio(ctx.group.module(i), (x - mean) / std,
                                         max_iter=int(opts.get("max_iter", 20)),
                                         generator=gen, **box._asdict()))
    return out


def make_adversarial(ctx: HookContext, epoch: int, opts: dict):
    """The epoch's loss: the batch loss mixed with the loss on the batch's critical samples
    (one model: the group is a Single); LASS noise seeded by (seed, epoch)."""
    d, model = ctx.data, ctx.group.module(0)
    box = pixel_box(d.mean.flatten().cpu(), d.std.flatten().cpu(), device=ctx.device)
    gen = torch.Generator(device=ctx.device).manual_seed(
        seed_for(cell_seed(ctx.specs[0]), epoch, OBJECTIVE_STREAM))
    weight, steps = float(opts["weight"]), int(opts.get("max_iter", 20))

    def loss(xb: torch.Tensor, yb: torch.Tensor, ids: torch.Tensor,
             per_model: bool) -> torch.Tensor:
        x = xb[0] if per_model else xb
        return adversarial_loss(model, x, yb[0], ctx.loss_fns[0], weight, box, steps, gen,
                                ctx.amp)[0].view(1)
    return loss


PROBES = {"csr": Probe(measure_csr, writes="history")}
OBJECTIVES = {"adversarial": Objective(make_adversarial, single_model=True)}
