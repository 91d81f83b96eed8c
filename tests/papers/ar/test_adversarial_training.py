"""Adversarial training on LASS critical samples (Arpit et al. 2017, Sec. 5 and footnote 7;
memrepro.papers.ar.adversarial): the loss of one batch, on a model whose decision boundary is
known in closed form."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from memrepro.models import get_model
from memrepro.papers.ar.adversarial import adversarial_loss
from memrepro.papers.ar.lass import PixelBox, lass


class Threshold(nn.Module):
    """Logits (0, s * x): class 1 iff the single pixel x > 0 (for s > 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.s = nn.Parameter(torch.tensor(1.0))
        self.calls: list[bool] = []  # training flag at every forward
        self.batches: list[int] = []  # batch size at every forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(self.training)
        self.batches.append(x.shape[0])
        z = self.s * x.flatten(1)
        return torch.cat([torch.zeros_like(z), z], 1)


def box(alpha=0.25, beta=0.0, radius=0.3) -> PixelBox:
    t = torch.tensor
    return PixelBox(t(alpha), t(beta), t(radius), None, None)


def ce(logits, y):
    return F.cross_entropy(logits, y, reduction="none")


def setup(weight: float, **kw):
    model = Threshold().train()
    xb = torch.tensor([0.05, 5.0, -0.1]).view(3, 1, 1, 1)
    yb = torch.tensor([1, 1, 0])
    clean = ce(model(xb), yb).mean()
    model.calls.clear()
    loss, frac = adversarial_loss(model, xb, yb, ce, weight, box(**kw), 20,
                                  torch.Generator().manual_seed(0))
    return model, clean, loss, frac


def test_adversarial_weight_zero_is_clean_loss():
    model, clean, loss, frac = setup(0.0)
    assert loss.item() == clean.item() and frac == pytest.approx(2 / 3)
    # LASS ran in eval mode, then one training forward on the clean batch alone
    assert model.training and model.calls[-1] and not any(model.calls[:-1])
    assert model.batches[-1] == 3


def test_adversarial_loss_is_the_hand_computed_mixture():
    w = 0.4
    model, clean, loss, frac = setup(w)
    assert frac == pytest.approx(2 / 3)  # 5.0 is 5 away from the boundary, radius 0.3
    # beta = 0: one signed step of 0.25 across the boundary x = 0 for each near point
    # (0.05 -> -0.2, now class 0, label 1; -0.1 -> 0.15, now class 1, label 0)
    adv = (math.log1p(math.exp(0.2)) + math.log1p(math.exp(0.15))) / 2
    assert loss.item() == pytest.approx((1 - w) * clean.item() + w * adv, rel=1e-5)
    assert model.training and model.calls[-1] and not any(model.calls[:-1])
    assert model.batches[-1] == 3 + 2  # the batch and its two critical samples in one pass


def test_adversarial_samples_lie_in_the_box_and_only_params_get_gradient(monkeypatch):
    import memrepro.papers.ar.adversarial as adv_mod

    searched = []

    def spy(*args, **kwargs):
        out = lass(*args, **kwargs)
        searched.append(out)
        return out

    monkeypatch.setattr(adv_mod, "lass", spy)
    model = Threshold().train()
    seen = []
    model.register_forward_pre_hook(lambda m, a: seen.append(a[0]) if m.training else None)
    xb = torch.linspace(-1, 1, 41).view(41, 1, 1, 1).requires_grad_(True)
    yb = (torch.arange(41) % 2).long()
    r = 0.3
    loss, frac = adversarial_loss(model, xb, yb, ce, 1.0,
                                  box(alpha=0.1, beta=0.2, radius=r), 20,
                                  torch.Generator().manual_seed(0))
    (x_in,), ((found, x_adv),) = seen, searched
    # one training forward: the batch, then its critical samples
    assert torch.equal(x_in[:41], xb.detach())
    x_hat = x_in[41:]
    assert 0 < frac < 1 and frac == pytest.approx(found.float().mean().item())
    assert torch.equal(x_hat, x_adv[found])
    x0 = xb.detach()[found]
    assert ((x_hat - x0).abs() <= r + 1e-6).all()  # within the LASS box
    assert ((x_hat > 0) != (x0 > 0)).all()  # and across the boundary: critical samples
    loss.backward()
    assert model.s.grad is not None and model.s.grad.abs() > 0
    # weight 1: only the critical samples count, and they are detached from the search
    assert xb.grad is None or not xb.grad.any()


def test_adversarial_no_critical_sample_and_bad_weight():
    model = Threshold().train()
    xb, yb = torch.full((4, 1, 1, 1), 5.0), torch.ones(4, dtype=torch.long)
    clean = ce(model(xb), yb).mean()
    loss, frac = adversarial_loss(model, xb, yb, ce, 0.5, box(), 5,
                                  torch.Generator().manual_seed(0))
    assert loss.item() == clean.item() and frac == 0.0
    for bad in (-0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match="weight"):
            adversarial_loss(model, xb, yb, ce, bad, box(), 5, torch.Generator())


def test_adversarial_with_batchnorm_and_dropout_model():
    torch.manual_seed(0)
    model = get_model("ar_cnn", width=6, dense=[12, 8], padding="same", image_size=16,
                      dropout=0.2).train()
    x = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    y = torch.arange(8) % 10
    big = PixelBox(*(torch.tensor(v) for v in (0.5, 0.1, 3.0)), None, None)
    loss, frac = adversarial_loss(model, x, y, ce, 0.5, big, 10,
                                  torch.Generator().manual_seed(0))
    assert model.training and frac > 0
    loss.backward()
    assert model.conv1.weight.grad is not None
