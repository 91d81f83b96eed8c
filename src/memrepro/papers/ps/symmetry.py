"""Patel & Sastry 2021, Sec. 3: the symmetry condition sum_j L(g(x), j) = constant, checked
numerically for every loss of the registry the figure names. The table is the figure
(CSV + Markdown); it needs no training and no data (``reads="none"``)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd

from memrepro.figures import FigureKind

CITATION = ("Patel & Sastry 2021, \"Memorization in Deep Neural Networks: Does the Loss "
            "Function matter?\"")


def symmetry_table(losses: dict[str, Callable], num_classes: int = 10, n: int = 1000,
                   seed: int = 0, tol: float | None = None) -> pd.DataFrame:
    """S(x) = sum_j L(g(x), j) over n random logits (float64, N(0, 3^2)) for every loss.

    ``symmetric`` is ``rel_spread < tol``. With ``tol=None`` the tolerance is 1e-9, raised
    to 100 machine epsilons of the loss's output dtype (a loss that computes in float32
    cannot be constant to 1e-9); the ``dtype`` and ``tol`` columns record what was used.
    """
    import torch  # lazy: figures never need torch

    if num_classes < 2 or n < 1:
        raise ValueError(f"symmetry_table: need num_classes >= 2 and n >= 1, got "
                         f"{num_classes}, {n}")
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, num_classes, generator=gen, dtype=torch.float64) * 3.0
    rows = []
    for name, fn in losses.items():
        total = torch.zeros(n, dtype=torch.float64)
        dtype = None
        for j in range(num_classes):
            targets = torch.full((n,), j, dtype=torch.int64)
            with torch.no_grad():
                out = fn(logits.clone(), targets)
            if tuple(out.shape) != (n,):
                raise ValueError(f"symmetry_table: loss {name!r} returned shape "
                                 f"{tuple(out.shape)}, expected per-example ({n},)")
            dtype = out.dtype
            total += out.detach().to(torch.float64).cpu()
        s = total.numpy()
        mean, lo, hi = float(s.mean()), float(s.min()), float(s.max())
        spread = hi - lo
        rel = spread / abs(mean) if mean != 0 else (0.0 if spread == 0 else math.inf)
        limit = tol if tol is not None else max(1e-9, 100 * torch.finfo(dtype).eps)
        rows.append({"loss": name, "num_classes": num_classes, "mean": mean, "min": lo,
                     "max": hi, "std": float(s.std()), "rel_spread": rel,
                     "symmetric": bool(rel < limit), "dtype": str(dtype).removeprefix("torch."),
                     "tol": float(limit)})
    cols = ["loss", "num_classes", "mean", "min", "max", "std", "rel_spread", "symmetric",
            "dtype", "tol"]
    return pd.DataFrame(rows, columns=cols)


def _table(_, spec: dict) -> pd.DataFrame:
    from memrepro.losses import LOSSES  # torch: only when the table is made

    losses = {name: LOSSES[name]() for name in spec["losses"]}
    return symmetry_table(losses, num_classes=spec.get("num_classes", 10),
                          n=spec.get("samples", 1000))


def symmetry_caption(spec: dict, plan) -> str:
    return (f"{CITATION}: Sec. 3 symmetry condition. For {spec.get('samples', 1000)} random "
            f"softmax outputs g (logits ~ N(0, 3^2), K = {spec.get('num_classes', 10)}), "
            "S = sum_j L(g, j) for each loss; a symmetric loss has the same S for every g "
            "(RLL: K log((1+alpha)/alpha); normalized MSE: 1). Computed in float64. "
            f"Scale '{plan.scale}' does not change this table.")


KIND = FigureKind(table=_table, draw=None, reads="none",
                  keys=frozenset({"losses", "num_classes", "samples"}), caption=symmetry_caption)
