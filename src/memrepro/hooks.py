"""The hook contract: what a paper's probes and objectives receive (docs/hooks.md).

A probe's ``measure(opts, ctx, epoch, train_logits)`` and an objective's
``make(ctx, epoch, opts)`` get a :class:`HookContext`, not the engine's trainer: the group's
data and models, the cells' specs and losses, the device and its precision, and a ``state``
mapping for the paper's own scratch. The context holds exactly what the papers' hooks use
(nothing of the optimizer, the checkpoints or the progress lines), so what a hook may depend
on is written down here and a hook that reaches for anything else fails at once, naming what
it may use.

The engine makes one context per trained group (``GroupTrainer``): one per job, or one per
cell where a job trains its cells one after another. ``state`` starts empty for each, so
nothing a hook keeps leaks into another cell's training; keys are ``<paper>.<name>``
(``llj.grad_log``).

A probe that reads what an objective records during its steps declares it
(``Probe(..., needs_objective="track_gradients")``): :func:`unmet_needs` finds a cell asking for
such a probe without that objective, which planning refuses (``memrepro.config.plan_checks``)
and the engine refuses again for a caller that skipped planning. Torch-free.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True, eq=False)
class HookContext:
    """What a hook may use; frozen (a hook keeps its own data in ``state``, not on the context).

    ``data``: the group's on-device ``memrepro.device_data.GroupData`` (``x``, ``y_noisy`` (M, n),
    ``y_clean``, ``corrupted``, ``ids``: stable example ids, ``eval_batches(split, size)``, ...).
    ``group``: the models, a ``memrepro.stacked.Single`` or ``Stacked`` (``group(xb,
    per_model)``, ``module(i)``, ``state_dict(i)``, ``features``, ``train(mode)``,
    ``parameters()``). ``specs``: each cell's resolved spec, in model order (``cell_seed(spec)``
    gives its seed). ``device``: where data and models live. ``amp``: a function returning the
    context manager of the engine's precision (bf16 autocast on a GPU, nothing on the CPU).
    ``loss_fns``: each cell's per-example loss ``fn(logits, y) -> (B,)``. ``train``: the cells'
    shared ``train`` settings (``batch_size``, objectives' options, ...). ``size``: M, the
    number of models. ``eval_batch``: the batch size of the engine's evaluation passes (bounded
    activations). ``losses(logits (M, B, K), y (M, B)) -> (M,)``: per-model mean loss, as the
    engine's training step computes it. ``logits(split) -> (M, n, K)``: float32 logits of every
    model on a split (``train``, ``test``, ``all``), eval mode, as the engine's evaluation.
    ``state``: the paper's scratch for this trained group, empty at its start."""

    data: Any
    group: Any
    specs: list[dict]
    device: Any
    amp: Callable[[], AbstractContextManager]
    loss_fns: list[Callable]
    train: dict
    size: int
    eval_batch: int
    losses: Callable
    logits: Callable
    state: dict = field(default_factory=dict)

    def __getattr__(self, name: str):
        # only called for a name the context does not have (a hook reaching for the trainer)
        raise AttributeError(f"HookContext has no {name!r}: a hook receives only "
                             f"{[f.name for f in fields(self)]} (docs/hooks.md)")


def unmet_needs(asked: dict, train: dict, probes: dict) -> list[tuple[str, str]]:
    """(probe, objective) for every probe named in ``asked`` (``probes.<name>`` mapping) that
    needs an objective not switched on in ``train`` (a ``train.<objective>`` that is missing or
    null). ``probes``: name -> ``memrepro.probes.Probe``; unknown names are left to the check
    that refuses them."""
    out = []
    for name in asked:
        need = getattr(probes.get(name), "needs_objective", None)
        if need is not None and train.get(need) is None:
            out.append((name, need))
    return out


def need_text(objective: str) -> str:
    """What is allowed for a probe that needs ``objective``: the one wording of both refusals."""
    return (f"only with train.{objective} (the probe reads what that objective records during "
            "its training steps)")


def objective_need_errors(cell: dict, probes: dict) -> list[str]:
    """Planning's refusal of a resolved cell that asks for a probe without the objective it
    needs, one error line per probe (key, value, what is allowed). ``probes``: the catalog's
    (``catalog.training_hooks()``: the paper's training modules declare the needs; planning
    already has torch loaded for the model registry, and they add a few milliseconds)."""
    from memrepro.config.errors import error_line

    asked = cell.get("probes") or {}
    return [error_line(f"experiments.{cell['experiment']}.probes.{name}", asked[name],
                       need_text(objective), f" without train.{objective}", choices=())
            for name, objective in unmet_needs(asked, cell["train"], probes)]
