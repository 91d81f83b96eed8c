"""Critical samples and the critical sample ratio (CSR), after Arpit et al. 2017, Sec. 4.1.

A validation point ``x`` is *critical* when some ``x_hat`` with ``||x_hat - x||_inf <= r`` is
given a different predicted class than ``x``: a decision boundary passes within the box of
radius ``r`` around it. The CSR is the fraction of critical points in a set; the paper uses it
as a proxy for how dense the learned decision boundaries are around the data, i.e. for the
complexity of the learned function (higher on noise data, and it grows as a network starts
fitting noise). The search for ``x_hat`` is Langevin Adversarial Sample Search (LASS,
Arpit et al. 2017, Alg. 1): FGSM-style signed-gradient steps plus Gaussian noise, projected
back into the box, stopping as soon as the prediction changes. A found ``x_hat`` proves that
``x`` is critical; not finding one does not prove the contrary, so the CSR is a lower bound.

Choices where the paper is silent or garbled (see ``lass``):

- the gradient is that of the cross-entropy of the class predicted at the *original* ``x``,
  taken at the *current* iterate, and the step ascends it (the FGSM direction); the printed
  Alg. 1 reads ``sign(d f_k(x) / dx)``, which literally would push towards the predicted
  class and be evaluated at ``x`` only;
- at most ``max_iter`` steps (the project uses 20; the paper gives no number);
- iterates are clipped to the valid pixel range as well as to the box when ``lo``/``hi`` are
  given (``pixel_box`` gives the bounds of [0, 255]); the paper does not say, and an
  adversarial point outside the image domain would not be a real image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

Scalar = float | torch.Tensor
StepHook = Callable[[int, torch.Tensor, torch.Tensor], None]


class PixelBox(NamedTuple):
    """LASS settings in the model's normalised input units, per channel, shape (1, C, 1, 1)."""

    alpha: torch.Tensor
    beta: torch.Tensor
    radius: torch.Tensor
    lo: torch.Tensor | None
    hi: torch.Tensor | None


def pixel_box(
    mean: Sequence[float] | torch.Tensor,
    std: Sequence[float] | torch.Tensor,
    alpha: float = 0.25,
    beta: float = 0.2,
    radius: float = 0.3,
    *,
    clip: bool = True,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> PixelBox:
    """Convert LASS settings given on the 0-255 pixel scale into normalised input units.

    The models see ``(x / 255 - mean) / std`` per channel, with ``mean``/``std`` of ``x / 255``,
    so a pixel-unit length ``a`` is ``a / (255 * std_c)`` in channel ``c``. Defaults are the
    paper's (Arpit et al. 2017, footnotes 4 and 6). With ``clip`` the result also carries the
    images of the pixel values 0 and 255, ``-mean / std`` and ``(1 - mean) / std``; otherwise
    ``lo`` and ``hi`` are None. Unpack into ``lass`` with ``**box._asdict()``.
    """
    m = torch.as_tensor(mean, dtype=torch.float64).reshape(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float64).reshape(1, -1, 1, 1)
    if m.shape != s.shape:
        raise ValueError(f"mean and std differ in length: {m.numel()} vs {s.numel()}")
    if not bool((s > 0).all()):
        raise ValueError("std must be positive")

    def out(t: torch.Tensor) -> torch.Tensor:
        return t.to(dtype=dtype, device=device)

    scale = 255.0 * s
    lo = out(-m / s) if clip else None
    hi = out((1.0 - m) / s) if clip else None
    return PixelBox(out(alpha / scale), out(beta / scale), out(radius / scale), lo, hi)


def _as(v: Scalar, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(v, dtype=like.dtype, device=like.device)


def lass(
    model: nn.Module,
    x: torch.Tensor,
    *,
    alpha: Scalar,
    beta: Scalar,
    radius: Scalar,
    max_iter: int,
    generator: torch.Generator,
    lo: Scalar | None = None,
    hi: Scalar | None = None,
    on_step: StepHook | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Langevin Adversarial Sample Search (Arpit et al. 2017, Alg. 1), batched.

    ``x`` is a float batch in the model's input space; ``alpha``, ``beta`` and ``radius`` are
    scalars or tensors broadcastable to ``x`` (per channel: see ``pixel_box``). Each step is
    ``x~ <- clip(x~ + alpha * sign(grad_x~ CE(f(x~), k)) + beta * eta)`` with ``k`` the class
    predicted at ``x``, ``eta ~ N(0, I)`` drawn from ``generator`` (which must live on
    ``x.device``), and ``clip`` the projection onto the box ``[x - r, x + r]`` and then, when
    given, onto ``[lo, hi]``. After each step the prediction at ``x~`` is checked; a sample
    whose prediction changed is done and frozen (its later noise draws are discarded, so each
    sample's trajectory does not depend on when the others finish). At most ``max_iter`` steps
    (the paper gives no number; the project uses 20).

    Returns ``found`` (bool, (n,)) and ``x_adv``: the adversarial point where found, else the
    last iterate. The model is run in eval mode (its mode is restored afterwards) and only the
    gradient with respect to the input is taken, so no parameter ``.grad`` is touched.
    ``on_step(t, x_tilde, done)``, if given, sees a copy of the full batch of iterates and the
    done mask after step ``t`` (1-based) and its check; it is for tests and diagnostics.
    """
    if max_iter < 0:
        raise ValueError(f"max_iter must be >= 0, got {max_iter}")
    x0 = x.detach()
    a, b, r = _as(alpha, x0), _as(beta, x0), _as(radius, x0)
    if bool((r < 0).any()):
        raise ValueError("radius must be non-negative")
    lower, upper = x0 - r, x0 + r
    if lo is not None:
        lower = torch.maximum(lower, _as(lo, x0))
    if hi is not None:
        upper = torch.minimum(upper, _as(hi, x0))
    if x0.shape[0] == 0:
        return torch.zeros(0, dtype=torch.bool, device=x0.device), x0.clone()
    was_training = model.training
    model.eval()
    try:
        return _search(model, x0, a, b, lower, upper, max_iter, generator, on_step)
    finally:
        model.train(was_training)


def _search(model: nn.Module, x0: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
            lower: torch.Tensor, upper: torch.Tensor, max_iter: int,
            generator: torch.Generator, on_step: StepHook | None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """The steps of ``lass`` (model already in eval mode): (done mask, iterates)."""
    n = x0.shape[0]
    xt = x0.clone()
    done = torch.zeros(n, dtype=torch.bool, device=x0.device)
    k = torch.empty(n, dtype=torch.long, device=x0.device)
    for t in range(max_iter + 1):
        ids = (~done).nonzero().squeeze(1)
        if ids.numel() == 0:
            break
        xa = xt[ids].requires_grad_(t < max_iter)
        with torch.set_grad_enabled(t < max_iter):
            logits = model(xa)
        pred = logits.argmax(dim=1)
        if t == 0:
            k = pred.detach().clone()  # the label of x itself: the search never "finds" x
        else:
            # Alg. 1: stop as soon as argmax f(x~) != argmax f(x); freeze that sample
            changed = pred != k[ids]
            done[ids[changed]] = True
            if on_step is not None:
                on_step(t, xt.clone(), done.clone())
        if t == max_iter:
            break
        keep = pred == k[ids]  # rows of this forward that take another step
        loss = F.cross_entropy(logits, k[ids], reduction="none")[keep].sum()
        (grad,) = torch.autograd.grad(loss, xa, allow_unused=True)
        sgn = torch.zeros_like(x0)
        if grad is not None:
            sgn[ids] = grad.sign()
        # full-batch noise every step: a sample's draws do not depend on the others
        eta = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        # Alg. 1: FGSM direction plus Langevin noise, then project back into the box
        cand = torch.minimum(torch.maximum(xt + a * sgn + b * eta, lower), upper)
        active = torch.zeros(n, dtype=torch.bool, device=x0.device)
        active[ids[keep]] = True
        xt = torch.where(active.view(-1, *([1] * (x0.dim() - 1))), cand, xt)
    return done, xt


def critical_sample_ratio(
    model: nn.Module,
    x: torch.Tensor,
    **kwargs: object,
) -> float:
    """Fraction of ``x`` found critical by ``lass`` (same keyword arguments): the CSR of
    Arpit et al. 2017, Sec. 4.1, computed by the project on 500 validation examples."""
    if x.shape[0] == 0:
        raise ValueError("the CSR of an empty set is undefined")
    found, _ = lass(model, x, **kwargs)  # type: ignore[arg-type]
    return float(found.float().mean())
