"""Loss registry. Every loss maps (logits (n,K), integer targets (n,)) to per-example
losses (n,); the engine averages them. Losses that act on probabilities apply the
softmax here, so models always return logits.

Definitions follow Patel & Sastry 2021, Sec. 2 (CCE, MSE, RLL) and Sec. 3 (normalized
loss); ``alpha`` is RLL's offset (their released default 0.1).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LOSSES: dict[str, Callable[..., LossFn]] = {}


def _f(logits: torch.Tensor) -> torch.Tensor:
    """Compute in float32 at least (bf16 autocast outputs), keep float64 when given."""
    return logits if logits.dtype == torch.float64 else logits.float()


def register_loss(fn: Callable[..., LossFn]) -> Callable[..., LossFn]:
    LOSSES[fn.__name__] = fn
    return fn


def get_loss(name: str, **kwargs) -> LossFn:
    if name not in LOSSES:
        raise KeyError(f"loss: unknown name {name!r}; known: {sorted(LOSSES)}")
    return LOSSES[name](**kwargs)


@register_loss
def cce() -> LossFn:
    """Categorical cross-entropy, -log g_k (PS Eq. in Sec. 2)."""

    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(_f(logits), y, reduction="none")

    return loss


def _sq_err_to_all(g: torch.Tensor) -> torch.Tensor:
    """sum_i (g_i - e^j_i)^2 for every class j at once: ||g||^2 - 2 g_j + 1, shape (n,K)."""
    return (g * g).sum(1, keepdim=True) - 2 * g + 1


@register_loss
def mse() -> LossFn:
    """Squared error between the softmax output and the one-hot label, sum_i (g_i - e^k_i)^2."""

    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        g = torch.softmax(_f(logits), 1)
        return _sq_err_to_all(g).gather(1, y[:, None]).squeeze(1)

    return loss


@register_loss
def nmse() -> LossFn:
    """Normalized MSE: MSE(g, e^k) / sum_j MSE(g, e^j) (PS Sec. 3, L-bar); sums to 1 over k."""

    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        err = _sq_err_to_all(torch.softmax(_f(logits), 1))
        return err.gather(1, y[:, None]).squeeze(1) / err.sum(1)

    return loss


@register_loss
def rll(alpha: float = 0.1) -> LossFn:
    """Robust log loss: log((a+1)/a) - log(a + g_k) + 1/(K-1) sum_{j != k} log(a + g_j)
    (PS Sec. 2). Summed over all K labels it is the constant K log((a+1)/a)."""
    if not alpha > 0:
        raise ValueError(f"loss.alpha: {alpha!r} must be > 0")
    const = math.log((alpha + 1) / alpha)

    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logs = torch.log(alpha + torch.softmax(_f(logits), 1))
        k = logits.shape[1]
        own = logs.gather(1, y[:, None]).squeeze(1)
        others = (logs.sum(1) - own) / (k - 1)
        return const - own + others

    return loss
