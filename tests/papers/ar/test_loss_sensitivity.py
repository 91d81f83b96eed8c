"""Loss-sensitivity (Arpit et al. 2017, Sec. 3.2): Gini, unrolled gradients vs finite diffs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from memrepro.papers.ar.loss_sensitivity import (
    class_sensitivity,
    epoch_batches,
    gini,
    input_gradients,
    loss_sensitivity,
    running_gini,
    small_mlp,
    unrolled_sgd,
)

LR = 0.7
BATCHES = [[0, 1], [2, 3], [4, 5]]  # example 4 is first trained on in step 3


# ---------------------------------------------------------------- gini

def test_gini_all_equal_is_zero() -> None:
    assert gini([3.0] * 7) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("n", [1, 2, 5, 1000])
def test_gini_single_nonzero(n: int) -> None:
    x = np.zeros(n)
    x[n // 2] = 2.5
    assert gini(x) == pytest.approx((n - 1) / n)


def test_gini_hand_computed() -> None:
    # ordered pairs |xi - xj| sum to 20, over n^2 = 16 -> 1.25; / (2 * mean 2.5) = 0.25
    assert gini([1, 2, 3, 4]) == pytest.approx(0.25)
    assert gini(torch.tensor([0.0, 0.0, 1.0, 3.0])) == pytest.approx(
        (np.abs(np.subtract.outer([0, 0, 1, 3], [0, 0, 1, 3])).mean()) / (2 * 1.0))


def test_gini_matches_pairwise_definition_and_invariances() -> None:
    rng = np.random.default_rng(0)
    x = rng.exponential(size=50)
    pairwise = np.abs(x[:, None] - x[None, :]).mean() / (2 * x.mean())
    assert gini(x) == pytest.approx(pairwise, rel=1e-12)
    assert gini(7.3 * x) == pytest.approx(gini(x), rel=1e-12)
    assert gini(rng.permutation(x)) == pytest.approx(gini(x), rel=1e-12)


def test_gini_edge_cases() -> None:
    assert gini([0.0, 0.0]) == 0.0
    with pytest.raises(ValueError, match="non-negative"):
        gini([1.0, -0.5])
    with pytest.raises(ValueError):
        gini([])
    with pytest.raises(ValueError):
        gini([1.0, float("nan")])


def test_running_gini() -> None:
    g = np.array([[1.0, 0.0], [1.0, 2.0]])
    np.testing.assert_allclose(running_gini(g), [gini([1, 0]), gini([1, 1])])


# ---------------------------------------------------------------- unrolled sensitivity

def _tiny() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()
    X = torch.randn(6, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 0, 1, 0])
    # every example has a live ReLU unit (else its input gradient is trivially 0) and no
    # pre-activation sits near the kink (finite differences would straddle it)
    pre = model[0](X)
    assert torch.all((pre > 0).any(1)) and pre.abs().min() > 1e-2
    return model, X, y


def _plain_losses(model: nn.Module, X_train: torch.Tensor, X_eval: torch.Tensor, y: torch.Tensor,
                  batches: list[list[int]], lr: float) -> list[float]:
    """Independent reference: ordinary SGD on a copy of the module, full-set loss after each step.
    """
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()
    net.load_state_dict(model.state_dict())
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    out = []
    for b in batches:
        opt.zero_grad()
        F.cross_entropy(net(X_train[b]), y[b]).backward()
        opt.step()
        with torch.no_grad():
            out.append(F.cross_entropy(net(X_eval), y).item())
    return out


def _finite_difference(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *,
                       direct: bool = True, eps: float = 1e-6) -> np.ndarray:
    """Central differences of L_t w.r.t. every input coordinate: (T, n, d)."""
    fd = np.zeros((len(BATCHES), *X.shape))
    for k in range(X.shape[0]):
        for c in range(X.shape[1]):
            plus, minus = X.clone(), X.clone()
            plus[k, c] += eps
            minus[k, c] -= eps
            lp = _plain_losses(model, plus, plus if direct else X, y, BATCHES, LR)
            lm = _plain_losses(model, minus, minus if direct else X, y, BATCHES, LR)
            fd[:, k, c] = (np.array(lp) - np.array(lm)) / (2 * eps)
    return fd


def test_unrolled_gradient_matches_finite_differences() -> None:
    model, X, y = _tiny()
    grads = np.stack([g.numpy() for g in input_gradients(model, X, y, BATCHES, LR)])
    fd = _finite_difference(model, X, y)
    np.testing.assert_allclose(grads, fd, rtol=1e-5, atol=1e-9)
    # indirect effect: example 0 (trained on in step 1) at t = 3; direct only: example 4 at t = 1
    assert np.abs(grads[2, 0]).sum() > 1e-3 and np.abs(grads[0, 4]).sum() > 1e-3
    g = loss_sensitivity(model, X, y, BATCHES, LR, per_step=True)
    np.testing.assert_allclose(g.numpy(), np.abs(fd).sum(2), rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(loss_sensitivity(model, X, y, BATCHES, LR).numpy(),
                               np.abs(fd).sum(2).mean(0), rtol=1e-5, atol=1e-9)


def test_indirect_only_matches_finite_differences() -> None:
    model, X, y = _tiny()
    grads = np.stack([g.numpy() for g in input_gradients(model, X, y, BATCHES, LR,
                                                         include_direct=False)])
    fd = _finite_difference(model, X, y, direct=False)
    np.testing.assert_allclose(grads, fd, rtol=1e-5, atol=1e-9)
    # examples 4, 5 are not trained on before step 3: no indirect effect at t = 1, 2
    assert np.all(grads[:2, 4:] == 0)
    assert np.abs(grads[2, 0]).sum() > 1e-3  # example 0 still moves L_3 through the updates


def test_trajectory_matches_plain_sgd_and_restart_keeps_values() -> None:
    model, X, y = _tiny()
    ref = _plain_losses(model, X, X, y, BATCHES, LR)
    for restart in (None, 1):
        losses = [F.cross_entropy(torch.func.functional_call(model, p, (X,)), y).item()
                  for p in unrolled_sgd(model, X, y, BATCHES, LR, restart_every=restart)]
        np.testing.assert_allclose(losses, ref, rtol=1e-12)
    # with a restart every step, example 0 (step 1 only) no longer reaches L_3 indirectly
    g = list(input_gradients(model, X, y, BATCHES, LR, include_direct=False, restart_every=1))
    assert torch.all(g[2][:4] == 0) and g[2][4:].abs().sum() > 0


def _truncated_finite_difference(model: nn.Module, X: torch.Tensor, y: torch.Tensor, window: int,
                                 eps: float = 1e-6) -> np.ndarray:
    """Central differences of L_T when the input moves only from step ``window + 1`` on: the
    first ``window`` updates see the unperturbed X (what a restart after them keeps), the later
    updates and L_T the perturbed one. Plain SGD on a copy of the module: (n, d)."""
    def last_loss(X_late: torch.Tensor) -> float:
        net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()
        net.load_state_dict(model.state_dict())
        opt = torch.optim.SGD(net.parameters(), lr=LR)
        for t, b in enumerate(BATCHES, start=1):
            opt.zero_grad()
            F.cross_entropy(net((X if t <= window else X_late)[b]), y[b]).backward()
            opt.step()
        with torch.no_grad():
            return F.cross_entropy(net(X_late), y).item()

    fd = np.zeros(X.shape)
    for k in range(X.shape[0]):
        for c in range(X.shape[1]):
            plus, minus = X.clone(), X.clone()
            plus[k, c] += eps
            minus[k, c] -= eps
            fd[k, c] = (last_loss(plus) - last_loss(minus)) / (2 * eps)
    return fd


def test_full_unroll_is_exact_and_truncation_cuts_the_earlier_steps() -> None:
    # Sec. 3.2 differentiates L_t through all t updates: restart_every=None (and any window
    # >= T) is the exact derivative; a window W < T keeps only the updates since the restart
    model, X, y = _tiny()
    full = np.stack([g.numpy() for g in input_gradients(model, X, y, BATCHES, LR)])
    np.testing.assert_allclose(full, _finite_difference(model, X, y), rtol=1e-5, atol=1e-9)
    long_window = np.stack([g.numpy() for g in input_gradients(model, X, y, BATCHES, LR,
                                                               restart_every=len(BATCHES))])
    np.testing.assert_array_equal(long_window, full)
    cut = np.stack([g.numpy() for g in input_gradients(model, X, y, BATCHES, LR,
                                                       restart_every=2)])
    np.testing.assert_allclose(cut[:2], full[:2], rtol=1e-12, atol=1e-15)  # t <= W: untouched
    np.testing.assert_allclose(cut[2], _truncated_finite_difference(model, X, y, window=2),
                               rtol=1e-5, atol=1e-9)
    # examples 0-3 reach L_3 only through updates 1-2 and through their own terms of L_3: the
    # cut removes a visible part of their derivative, while examples 4-5 (in update 3) keep it
    assert np.abs(cut[2, :4] - full[2, :4]).sum() > 1e-3 * np.abs(full[2, :4]).sum()
    np.testing.assert_allclose(cut[2, 4:], full[2, 4:], rtol=1e-12, atol=1e-15)
    g_full = loss_sensitivity(model, X, y, BATCHES, LR, per_step=True)
    g_cut = loss_sensitivity(model, X, y, BATCHES, LR, per_step=True, restart_every=2)
    assert not torch.allclose(g_full[2], g_cut[2])


def _class_reference(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batches: list,
                     lr: float, num_classes: int) -> np.ndarray:
    """Brute force: for every class i a fresh unroll, per-example grads summed by class by hand."""
    n = X.shape[0]
    out = np.zeros((num_classes, num_classes))
    for i in range(num_classes):
        Xg = X.clone().requires_grad_(True)
        for params in unrolled_sgd(model, Xg, y, batches, lr):
            ce = F.cross_entropy(torch.func.functional_call(model, params, (Xg,)), y,
                                 reduction="none")
            term = sum(ce[k] for k in range(n) if y[k] == i) / n
            (g,) = torch.autograd.grad(term, Xg, retain_graph=True)
            for j in range(num_classes):
                members = [k for k in range(n) if y[k] == j]
                out[i, j] += np.mean([g[k].abs().sum().item() for k in members]) / len(batches)
    return out


@pytest.mark.parametrize("batched", [True, False])
def test_class_sensitivity_matches_brute_force(batched: bool) -> None:
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 3)).double()
    X = torch.randn(7, 4, dtype=torch.float64)
    assert torch.all((model[0](X) > 0).any(1))
    y = torch.tensor([0, 1, 2, 2, 1, 0, 2])
    batches = [[0, 1, 2], [3, 4], [5, 6], [1, 3]]
    m = class_sensitivity(model, X, y, batches, LR, 3, class_chunk=2, batched=batched)
    assert m.shape == (3, 3)
    np.testing.assert_allclose(m.numpy(), _class_reference(model, X, y, batches, LR, 3),
                               rtol=1e-10)
    # the class terms add up to L_t, so a class-1 column sums >= the full sensitivity of class 1
    gbar = loss_sensitivity(model, X, y, batches, LR)
    assert m[:, 1].sum() >= gbar[y == 1].mean() - 1e-12


def test_small_mlp_end_to_end_float32() -> None:
    torch.manual_seed(0)
    model = small_mlp(num_classes=10)
    X = torch.rand(40, 1, 14, 14)
    y = torch.arange(40) % 10
    batches = epoch_batches(40, 8, 6, torch.Generator().manual_seed(0))
    assert len(batches) == 6 and all(len(b) == 8 for b in batches)
    g = loss_sensitivity(model, X, y, batches, 0.1, per_step=True)
    assert g.shape == (6, 40) and torch.all(g > 0)
    assert 0 < gini(g.mean(0)) < 1
    assert class_sensitivity(model, X, y, batches, 0.1, 10).shape == (10, 10)
