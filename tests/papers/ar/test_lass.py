"""LASS and the critical sample ratio (Arpit et al. 2017, Sec. 4.1, Alg. 1) on models whose
decision boundary is known in closed form."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from memrepro.papers.ar.lass import critical_sample_ratio, lass, pixel_box

W = torch.tensor([3.0, -1.0, 0.5, 2.0])
R = 0.3


def linear_model(w: torch.Tensor = W) -> nn.Module:
    """Two classes, logits (0, w.x): class 1 iff w.x > 0, boundary w.x = 0."""
    m = nn.Linear(w.numel(), 2, bias=False)
    with torch.no_grad():
        m.weight.zero_()
        m.weight[1] = w
    return m


def points_at_margin(margin: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Random points with w.x = margin (one per entry of margin)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(margin.numel(), W.numel(), generator=g)
    z -= (z @ W)[:, None] * W / W.dot(W)  # onto the boundary
    return z + margin[:, None] * W / W.dot(W)


class Constant(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tensor([0.1, 2.0, -1.0]) + 0.0 * x.flatten(1).sum(1, keepdim=True)


def run(model: nn.Module, x: torch.Tensor, seed: int = 0, **kw: object):
    args: dict[str, object] = {
        "alpha": R * 0.25 / 0.3,
        "beta": R * 0.2 / 0.3,
        "radius": R,
        "max_iter": 20,
    }
    args.update(kw)
    return lass(model, x, generator=torch.Generator().manual_seed(seed), **args)  # type: ignore[arg-type]


# The box of radius r around x reaches w.x_hat = w.x - r * ||w||_1 at its corner
# x - r * sign(w), so a class-1 point is critical iff w.x < r * ||w||_1.
L1 = float(W.abs().sum())


def test_near_point_is_found_across_boundary_and_inside_box() -> None:
    # margin 0.9 r ||w||_1: the Euclidean distance 0.9 r ||w||_1 / ||w||_2 exceeds r, so only
    # the infinity-norm box (not a ball of radius r) reaches the boundary
    x = points_at_margin(torch.full((64,), 0.9 * R * L1))
    assert float((0.9 * R * L1) / W.norm()) > R
    model = linear_model()
    found, x_adv = run(model, x)
    assert found.all()
    assert (x_adv @ W <= 0).all()  # across the boundary: predicted class 0
    assert (model(x_adv).argmax(1) == 0).all()
    assert ((x_adv - x).abs() <= R + 1e-6).all()


def test_near_point_found_without_noise() -> None:
    x = points_at_margin(torch.full((8,), 0.95 * R * L1), seed=1)
    found, x_adv = run(linear_model(), x, beta=0.0)
    assert found.all()
    assert ((x_adv - x).abs() <= R + 1e-6).all()


@pytest.mark.parametrize("beta", [0.2, 5.0, 100.0])
def test_far_point_never_critical(beta: float) -> None:
    x = points_at_margin(torch.full((64,), 1.05 * R * L1), seed=2)
    found, x_adv = run(linear_model(), x, beta=beta, max_iter=50)
    assert not found.any()
    assert ((x_adv - x).abs() <= R + 1e-6).all()


def test_iterates_never_leave_box_with_large_noise() -> None:
    x = points_at_margin(torch.linspace(0.2, 3.0, 64) * R * L1, seed=3)
    seen: list[int] = []

    def hook(t: int, xt: torch.Tensor, done: torch.Tensor) -> None:
        seen.append(t)
        assert ((xt - x).abs() <= R + 1e-6).all()

    found, x_adv = run(linear_model(), x, beta=50.0, max_iter=30, on_step=hook)
    assert seen  # the hook ran
    assert ((x_adv - x).abs() <= R + 1e-6).all()
    # and the box stays the whole box: large noise pins coordinates to its faces
    assert ((x_adv - x).abs() > R - 1e-6).any()
    # geometry bounds what can be found
    margin = x @ W
    assert not found[margin > 1.001 * R * L1].any()


def test_clips_to_valid_range() -> None:
    x = points_at_margin(torch.full((32,), 2 * R * L1), seed=4)
    lo, hi = x.min() + 0.1, x.max() - 0.1
    x = x.clamp(lo, hi)
    _, x_adv = run(linear_model(), x, beta=50.0, lo=float(lo), hi=float(hi))
    assert (x_adv >= lo - 1e-6).all() and (x_adv <= hi + 1e-6).all()
    assert ((x_adv - x).abs() <= R + 1e-6).all()


def test_constant_classifier_has_zero_csr() -> None:
    x = torch.randn(50, 3, 4, 4, generator=torch.Generator().manual_seed(5))
    csr = critical_sample_ratio(
        Constant(),
        x,
        alpha=0.25,
        beta=10.0,
        radius=0.3,
        max_iter=20,
        generator=torch.Generator().manual_seed(0),
    )
    assert csr == 0.0


def test_csr_matches_geometry() -> None:
    margins = torch.cat([torch.full((30,), 0.5), torch.full((10,), 2.0)]) * R * L1
    x = points_at_margin(margins, seed=6)
    csr = critical_sample_ratio(
        linear_model(),
        x,
        alpha=0.25,
        beta=0.2,
        radius=R,
        max_iter=20,
        generator=torch.Generator().manual_seed(0),
    )
    assert csr == pytest.approx(0.75)


def test_done_mask_freezes_finished_samples() -> None:
    # sample 0 crosses on the first step (tiny margin); sample 1 never can; large noise
    # would move sample 0 on every later step were it not frozen
    x = points_at_margin(torch.tensor([0.01 * R * L1, 3 * R * L1]), seed=7)
    trace: list[torch.Tensor] = []
    dones: list[torch.Tensor] = []

    def hook(t: int, xt: torch.Tensor, done: torch.Tensor) -> None:
        trace.append(xt)
        dones.append(done)

    found, x_adv = run(linear_model(), x, beta=0.0, on_step=hook)
    assert found.tolist() == [True, False]
    assert dones[0].tolist() == [True, False]  # found at iteration 1
    assert len(trace) == 20
    for xt in trace[1:]:
        assert torch.equal(xt[0], trace[0][0])
    assert torch.equal(x_adv[0], trace[0][0])
    # the unfinished sample kept moving, with noise
    found2, x_adv2 = run(linear_model(), x, beta=5.0, seed=3)
    assert found2.tolist() == [True, False]
    assert not torch.equal(x_adv2[1], x_adv[1])


def test_frozen_sample_unaffected_by_noise() -> None:
    x = points_at_margin(torch.tensor([0.01 * R * L1, 3 * R * L1]), seed=7)
    trace: list[torch.Tensor] = []
    found, x_adv = run(
        linear_model(), x, beta=5.0, on_step=lambda t, xt, d: trace.append(xt) if d[0] else None
    )
    assert found[0]
    assert all(torch.equal(xt[0], x_adv[0]) for xt in trace)
    assert len(trace) >= 2


def test_deterministic_and_no_param_grads_and_mode_restored() -> None:
    model = linear_model()
    model.train()
    x = points_at_margin(torch.linspace(0.1, 2.0, 40) * R * L1, seed=8)
    f1, a1 = run(model, x, seed=11)
    f2, a2 = run(model, x, seed=11)
    assert torch.equal(f1, f2) and torch.equal(a1, a2)
    assert all(p.grad is None for p in model.parameters())
    assert model.training


def test_per_channel_tensors_broadcast() -> None:
    # channel 1 has zero radius: only channel 0 may move
    model = nn.Sequential(nn.Flatten(), linear_model(torch.ones(2 * 2 * 2)))
    x = torch.full((4, 2, 2, 2), 0.05)
    r = torch.tensor([0.3, 0.0]).reshape(1, 2, 1, 1)
    found, x_adv = lass(
        model,
        x,
        alpha=0.1,
        beta=0.5,
        radius=r,
        max_iter=20,
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.equal(x_adv[:, 1], x[:, 1])
    assert ((x_adv[:, 0] - x[:, 0]).abs() <= 0.3 + 1e-6).all()
    assert found.all()  # w.x = 0.4, channel 0 alone can lower it by 4 * 0.3


def test_pixel_box_hand_computed() -> None:
    box = pixel_box([0.5, 0.4, 0.25], [0.2, 0.25, 0.5])
    assert box.alpha.shape == (1, 3, 1, 1)
    torch.testing.assert_close(
        box.alpha.flatten(), torch.tensor([0.25 / 51, 0.25 / 63.75, 0.25 / 127.5])
    )
    torch.testing.assert_close(
        box.beta.flatten(), torch.tensor([0.2 / 51, 0.2 / 63.75, 0.2 / 127.5])
    )
    torch.testing.assert_close(
        box.radius.flatten(), torch.tensor([0.3 / 51, 0.3 / 63.75, 0.3 / 127.5])
    )
    assert box.lo is not None and box.hi is not None
    torch.testing.assert_close(box.lo.flatten(), torch.tensor([-2.5, -1.6, -0.5]))
    torch.testing.assert_close(box.hi.flatten(), torch.tensor([2.5, 2.4, 1.5]))
    # one pixel-unit radius round-trips: pixel 100 +- 0.3 in normalised units
    p = torch.tensor(100.0)
    norm = (p / 255 - 0.5) / 0.2
    torch.testing.assert_close(norm + box.radius.flatten()[0], ((p + 0.3) / 255 - 0.5) / 0.2)
    assert pixel_box([0.5], [0.2], clip=False).lo is None
