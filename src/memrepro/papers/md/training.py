"""Nguyen et al. 2023 (MD): the training add-on behind the engine's probe hook.

Probe (``probes.features``, file): for every model of the group, the penultimate features
(the classifier's input: ``group.features``) of the examples trained on and of the test set,
in eval mode and float32 (no autocast: NC1 and memorization are differences of nearby
features), with the stable ids, the labels trained on, the true labels, the test labels and
the classifier's weight and bias. Figures compute NC1, memorization and test accuracy from
these (``memrepro.papers.md.nc``).
"""

from __future__ import annotations

import torch

from memrepro.hooks import HookContext
from memrepro.probes import Probe


@torch.no_grad()
def group_features(ctx: HookContext, split: str) -> torch.Tensor:
    """(M models, n, M features) float32 features of the split (``train``: the examples
    trained on, in data order; ``test``), eval mode."""
    ctx.group.train(False)
    parts = [ctx.group.features(xb, per_model).float()
             for xb, per_model in ctx.data.eval_batches(split, ctx.eval_batch)]
    return torch.cat(parts, 1)


def classifier(ctx: HookContext) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight (M, K, F), bias (M, K)) of every model's classifier ``fc``: read from the
    stacked parameters where the group has them, else from each model's state dict."""
    stacked = getattr(ctx.group, "params", None)
    if isinstance(stacked, dict) and "fc.weight" in stacked and "fc.bias" in stacked:
        return stacked["fc.weight"].detach().float(), stacked["fc.bias"].detach().float()
    sds = [ctx.group.state_dict(i) for i in range(ctx.size)]
    if any("fc.bias" not in sd for sd in sds):
        raise ValueError("probes.features: the model's classifier `fc` has no bias; allowed: "
                         "a model with a classifier fc with bias (MD's MLP)")
    return (torch.stack([sd["fc.weight"] for sd in sds]).float(),
            torch.stack([sd["fc.bias"] for sd in sds]).float())


def measure_features(opts: dict, ctx: HookContext, epoch: int, logits: torch.Tensor) -> dict:
    """MD's record of every model (leading model axis): ``train`` (n, F) and ``test``
    (n_test, F) float32 features, ``ids``, ``label`` (trained on), ``true_label`` (n,),
    ``test_label`` (n_test,) int64, ``fc_weight`` (K, F) and ``fc_bias`` (K,) float32."""
    d, m = ctx.data, ctx.size
    weight, bias = classifier(ctx)
    train, test = group_features(ctx, "train"), group_features(ctx, "test")
    return {"train": train, "test": test, "ids": d.ids.to(torch.int64).expand(m, -1),
            "label": d.y_noisy.to(torch.int64),
            "true_label": d.y_clean.to(torch.int64).expand(m, -1),
            "test_label": d.y_test.to(torch.int64).expand(m, -1),
            "fc_weight": weight, "fc_bias": bias}


PROBES = {"features": Probe(measure_features, writes="npz")}
OBJECTIVES: dict = {}
