"""Adversarial training on critical samples (Arpit et al. 2017, Sec. 5 and footnote 7).

Besides the usual regularizers, the paper combines dropout with adversarial training "using
critical samples found by LASS with default parameters", mixed into the loss with a weighting
factor (0.2-0.7 in their sweep). Here, for each minibatch, LASS (``lass.lass``, Alg. 1) looks
for a point ``x_hat`` within the box around every input at which the prediction changes; the
inputs where one is found are the critical samples, and the training loss becomes

    (1 - weight) * clean_loss + weight * mean over critical samples of loss(f(x_hat), y),

with ``y`` the sample's own (possibly noisy) training label. Choices where the paper is silent:

- the search runs with the model in eval mode (``lass`` switches and restores it: no dropout
  or batch statistics during the search); the forward on ``x_hat`` runs in training mode, so
  dropout acts on it and BatchNorm normalises it with its own batch statistics and updates
  its running averages with it, as a training step on that batch would;
- ``x_hat`` is detached: no gradient flows through the search, only through ``f(x_hat)``;
- only samples for which LASS found a prediction change enter the adversarial term (the
  others have no critical sample). When none is found, the mixture weight has nothing to
  weigh and the loss is ``clean_loss`` itself; likewise when only one is found and the model
  has BatchNorm layers, since batch statistics of one sample are undefined in PyTorch;
- with ``weight == 0`` the search still runs (``found_fraction`` stays a diagnostic) but the
  adversarial forward is skipped, so training is exactly plain training: no extra
  BatchNorm updates, no extra draws from the global RNG (LASS draws only from ``generator``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .lass import PixelBox, lass

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def adversarial_loss(
    model: nn.Module,
    xb: torch.Tensor,
    yb: torch.Tensor,
    clean_loss: torch.Tensor,
    loss_fn: LossFn,
    weight: float,
    box: PixelBox,
    max_iter: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, float]:
    """Mix ``clean_loss`` with the loss on the critical samples LASS finds around ``xb``.

    ``model`` is in training mode; ``xb`` (B, C, H, W) normalised inputs with labels ``yb``;
    ``clean_loss`` the caller's differentiable mean loss on ``xb``; ``loss_fn(logits, y)``
    returns per-example losses; ``box`` the LASS settings in normalised units (``pixel_box``);
    ``generator`` LASS's noise source, on ``xb``'s device. Returns the loss and the fraction
    of ``xb`` for which a critical sample was found (see the module docstring for the cases
    where the loss is ``clean_loss`` unchanged).
    """
    if not 0.0 <= weight <= 1.0:  # also rejects NaN
        raise ValueError(f"adversarial weight: {weight!r} is not allowed; allowed: [0, 1]")
    found, x_adv = lass(model, xb, **box._asdict(), max_iter=max_iter, generator=generator)
    n_found = int(found.sum())
    fraction = n_found / max(xb.shape[0], 1)
    if weight == 0 or n_found < (2 if _has_batchnorm(model) else 1):
        return clean_loss, fraction
    x_hat = x_adv[found].detach()  # Sec. 5: train on the critical samples, not on the search
    adv = loss_fn(model(x_hat), yb[found]).mean()
    return (1.0 - weight) * clean_loss + weight * adv, fraction
