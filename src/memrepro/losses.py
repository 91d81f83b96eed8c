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

from memrepro.specs import not_allowed

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


# --- Losses of Memorization-Dilation (Nguyen et al., ICLR 2023, Sec. 4.1) -------------------


def _check_alpha(alpha: float, name: str) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise ValueError(not_allowed("loss.alpha", alpha, "a number in (0, 1)", why=f" for {name}"))
    return float(alpha)


@register_loss
def ls(alpha: float = 0.1) -> LossFn:
    """Label smoothing (Szegedy et al. 2016; MD Sec. 4.1 with alpha 0.1): cross-entropy
    against the target (1 - alpha) e_y + alpha / K, i.e. -sum_j t_j log softmax(z)_j."""
    alpha = _check_alpha(alpha, "ls")

    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(_f(logits), 1)
        own = logp.gather(1, y[:, None]).squeeze(1)
        return -(1 - alpha) * own - alpha * logp.mean(1)

    return loss


@register_loss
def label_relaxation(alpha: float = 0.1) -> LossFn:
    """Label relaxation (Lienen & Hüllermeier, AAAI 2021; MD Sec. 4.1 with alpha 0.1).

    The target is the credal set {p : p_y >= 1 - alpha}. Inside it the loss is 0; outside,
    it is KL(p^r || p) to the projection p^r of p onto the set: p^r_y = 1 - alpha and
    p^r_k = alpha p_k / (1 - p_y) for k != y, p^r held constant (no gradient through it). The
    KL then reduces to (1 - alpha) log((1 - alpha) / p_y) + alpha log(alpha / (1 - p_y)),
    evaluated from log-softmax, with log(1 - p_y) as a logsumexp over the other classes so
    that it stays finite when p_y is close to 1."""
    alpha = _check_alpha(alpha, "label_relaxation")
    log_keep, log_alpha = math.log(1 - alpha), math.log(alpha)

    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(_f(logits), 1)
        own = logp.gather(1, y[:, None]).squeeze(1)
        is_own = torch.zeros_like(logp, dtype=torch.bool).scatter_(1, y[:, None], True)
        log_rest = torch.logsumexp(logp.masked_fill(is_own, -math.inf), 1)  # log(1 - p_y)
        kl = (1 - alpha) * (log_keep - own) + alpha * (log_alpha - log_rest)
        inside = own >= log_keep  # p_y >= 1 - alpha: in the credal set
        return torch.where(inside, torch.zeros_like(kl), kl)

    return loss


@register_loss
def mse_logits() -> LossFn:
    """MD's mean squared error on raw logits (no softmax): (1/K) sum_j (z_j - e_{y,j})^2,
    i.e. ``nn.MSELoss`` against one-hot targets, per example. Not ``mse`` (on softmax
    probabilities, Patel & Sastry)."""

    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z = _f(logits)
        return (z - F.one_hot(y, z.shape[1]).to(z.dtype)).pow(2).mean(1)

    return loss
