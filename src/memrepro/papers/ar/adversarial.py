"""Adversarial training on critical samples (Arpit et al. 2017, Sec. 5 and footnote 7).

Besides the usual regularizers, the paper combines dropout with adversarial training "using
critical samples found by LASS with default parameters", mixed into the loss with a weighting
factor (0.2-0.7 in their sweep). Here, for each minibatch, LASS (``lass.lass``, Alg. 1) looks
for a point ``x_hat`` within the box around every input at which the prediction changes; the
inputs where one is found are the critical samples, and the training loss becomes

    (1 - weight) * clean loss + weight * mean over critical samples of loss(f(x_hat), y),

with ``y`` the sample's own (possibly noisy) training label. Choices where the paper is silent:

- the search runs with the model in eval mode (``lass`` switches and restores it: no dropout
  or batch statistics during the search); the training forward then takes the batch and its
  critical samples together, in training mode: dropout acts on both, and BatchNorm
  normalises them as one batch (a forward on the few critical samples alone would normalise
  them by their own statistics and pull the running averages towards them);
- ``x_hat`` is detached: no gradient flows through the search, only through ``f(x_hat)``;
- only samples for which LASS found a prediction change enter the adversarial term (the
  others have no critical sample). When none is found, the mixture weight has nothing to
  weigh and the loss is the clean loss itself;
- with ``weight == 0`` the search still runs (the found fraction stays a diagnostic) but the
  forward takes the clean batch only, so training is exactly plain training (LASS draws only
  from ``generator``, never from the global RNG).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn

from memrepro.papers.ar.lass import PixelBox, lass
from memrepro.specs import not_allowed

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def adversarial_loss(
    model: nn.Module,
    xb: torch.Tensor,
    yb: torch.Tensor,
    loss_fn: LossFn,
    weight: float,
    box: PixelBox,
    max_iter: int,
    generator: torch.Generator,
    amp: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> tuple[torch.Tensor, float]:
    """The training loss of one batch with adversarial training on its critical samples.

    ``model`` is in training mode; ``xb`` (B, C, H, W) normalised inputs with labels ``yb``;
    ``loss_fn(logits, y)`` returns per-example losses; ``box`` the LASS settings in normalised
    units (``pixel_box``); ``generator`` LASS's noise source, on ``xb``'s device; ``amp`` a
    context for the training forward (autocast on CUDA; LASS itself runs outside it). The
    clean batch and its critical samples go through the model in ONE forward pass, so batch
    normalisation sees them as one batch: a separate forward on the few critical samples
    would normalise them by their own statistics and drag the running averages towards a
    handful of points (at smoke scale that collapsed eval-mode accuracy). Returns the loss
    and the fraction of ``xb`` for which a critical sample was found.
    """
    if not 0.0 <= weight <= 1.0:  # also rejects NaN
        raise ValueError(not_allowed("adversarial weight", weight, "[0, 1]"))
    found, x_adv = lass(model, xb, **box._asdict(), max_iter=max_iter, generator=generator)
    n_found = int(found.sum())
    fraction = n_found / max(xb.shape[0], 1)
    use = weight > 0 and n_found > 0
    # Sec. 5: train on the critical samples (detached: no gradient through the search)
    x_in = torch.cat([xb, x_adv[found].detach()]) if use else xb
    y_in = torch.cat([yb, yb[found]]) if use else yb
    with amp():
        per_example = loss_fn(model(x_in), y_in)
    clean = per_example[:xb.shape[0]].mean()
    if not use:
        return clean, fraction
    return (1.0 - weight) * clean + weight * per_example[xb.shape[0]:].mean(), fraction
