"""Loss identities (PS Sec. 2-3) and gradient sanity."""

import math

import pytest
import torch

from memrepro.losses import LOSSES, get_loss


def _sum_over_labels(loss, logits):
    n, k = logits.shape
    return sum(loss(logits, torch.full((n,), j, dtype=torch.long)) for j in range(k))


@pytest.mark.parametrize("k", [2, 10, 100])
@pytest.mark.parametrize("alpha", [0.01, 0.1, 1.0])
def test_rll_sums_to_k_log_ratio(k, alpha):
    gen = torch.Generator().manual_seed(k)
    logits = torch.randn(500, k, dtype=torch.float64, generator=gen) * 4
    s = _sum_over_labels(get_loss("rll", alpha=alpha), logits.double())
    assert torch.allclose(s, torch.full_like(s, k * math.log((1 + alpha) / alpha)), rtol=1e-5)


@pytest.mark.parametrize("k", [2, 10])
def test_nmse_sums_to_one(k):
    logits = torch.randn(500, k, generator=torch.Generator().manual_seed(1)) * 4
    s = _sum_over_labels(get_loss("nmse"), logits)
    assert torch.allclose(s, torch.ones_like(s), atol=1e-5)


def test_cce_and_mse_are_not_symmetric():
    logits = torch.randn(500, 10, generator=torch.Generator().manual_seed(2)) * 3
    for name in ("cce", "mse"):
        s = _sum_over_labels(get_loss(name), logits)
        assert (s.max() - s.min()) / s.mean().abs() > 0.05, name


def test_values_on_a_hand_made_case():
    # logits chosen so that softmax = (0.5, 0.25, 0.25)
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
    y = torch.tensor([0])
    assert get_loss("cce")(logits, y).item() == pytest.approx(math.log(2))
    assert get_loss("mse")(logits, y).item() == pytest.approx(0.25 + 0.0625 * 2)
    # sum_j MSE(g, e^j) = K||g||^2 - 2 + K = 3*0.375 + 1 = 2.125
    assert get_loss("nmse")(logits, y).item() == pytest.approx(0.375 / 2.125)
    a = 0.1
    expected = math.log(1.1 / 0.1) - math.log(0.6) + 0.5 * 2 * math.log(0.35)
    assert get_loss("rll", alpha=a)(logits, y).item() == pytest.approx(expected)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradients_are_finite_even_for_extreme_logits(name):
    logits = torch.tensor([[80.0, -80.0, 0.0], [0.0, 0.0, 0.0]], requires_grad=True)
    loss = get_loss(name)(logits, torch.tensor([1, 2])).mean()
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_unknown_loss_names_the_known_ones():
    with pytest.raises(KeyError, match="known: .*cce"):
        get_loss("hinge")
    with pytest.raises(ValueError, match="alpha"):
        get_loss("rll", alpha=0)
