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


# --- MD's losses (Nguyen et al. 2023, Sec. 4.1) -----------------------------------------------


@pytest.mark.parametrize("alpha", [0.1, 0.3])
def test_ls_is_torch_label_smoothing(alpha):
    logits = torch.randn(300, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    y = torch.randint(0, 5, (300,), generator=torch.Generator().manual_seed(4))
    want = torch.nn.functional.cross_entropy(logits * 3, y, label_smoothing=alpha,
                                             reduction="none")
    torch.testing.assert_close(get_loss("ls", alpha=alpha)(logits * 3, y), want)


def _relaxation_by_kl(logits, y, alpha):
    """Lienen & Hüllermeier 2021: KL(p^r || p) with p^r the projection of p onto the credal set
    {p_y >= 1 - alpha} (p^r_y = 1 - alpha, the rest rescaled), p^r a constant; 0 inside."""
    p = torch.softmax(logits, 1)
    own = torch.nn.functional.one_hot(y, p.shape[1]).bool()
    p_y = p[own]
    pr = torch.where(own, 1 - alpha, alpha * p / (1 - p_y)[:, None]).detach()
    kl = (pr * (pr.log() - p.log())).sum(1)
    return torch.where(p_y >= 1 - alpha, torch.zeros_like(kl), kl)


@pytest.mark.parametrize("k", [2, 10])
def test_label_relaxation_is_the_kl_to_the_projected_target(k):
    gen = torch.Generator().manual_seed(k)
    logits = (torch.randn(400, k, dtype=torch.float64, generator=gen) * 3).requires_grad_()
    y = torch.randint(0, k, (400,), generator=gen)
    got = get_loss("label_relaxation", alpha=0.1)(logits, y)
    want = _relaxation_by_kl(logits, y, 0.1)
    assert 0 < int((got == 0).sum()) < 400  # both regimes occur
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    g_got, = torch.autograd.grad(got.sum(), logits)
    g_want, = torch.autograd.grad(want.sum(), logits)
    torch.testing.assert_close(g_got, g_want, rtol=1e-9, atol=1e-12)


def test_label_relaxation_hand_made_and_zero_inside_the_credal_set():
    # p = (0.5, 0.25, 0.25), y = 0, alpha 0.1: 0.9 log(0.9/0.5) + 0.1 log(0.1/0.5)
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.95, 0.03, 0.02]],
                                    dtype=torch.float64)).requires_grad_()
    loss = get_loss("label_relaxation", alpha=0.1)(logits, torch.tensor([0, 0]))
    assert loss[0].item() == pytest.approx(0.9 * math.log(1.8) + 0.1 * math.log(0.2))
    assert loss[1].item() == 0.0  # p_y = 0.95 >= 0.9
    loss.sum().backward()
    assert torch.equal(logits.grad[1], torch.zeros(3, dtype=torch.float64))
    assert logits.grad[0].abs().sum() > 0


def test_label_relaxation_is_finite_for_extreme_logits():
    logits = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0], [0.0, 0.0, -1e4]],
                          requires_grad=True)
    loss = get_loss("label_relaxation")(logits, torch.tensor([0, 0, 2]))
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(logits.grad).all()
    assert loss[0] == 0 and loss[1] > 1e3  # confidently right; confidently wrong


def test_mse_logits_is_mse_on_raw_logits_against_one_hot():
    logits = torch.randn(50, 4, generator=torch.Generator().manual_seed(5)) * 3
    y = torch.randint(0, 4, (50,), generator=torch.Generator().manual_seed(6))
    one_hot = torch.nn.functional.one_hot(y, 4).float()
    want = torch.nn.MSELoss(reduction="none")(logits, one_hot).mean(1)
    torch.testing.assert_close(get_loss("mse_logits")(logits, y), want)
    assert torch.nn.MSELoss()(logits, one_hot).item() == pytest.approx(
        get_loss("mse_logits")(logits, y).mean().item(), rel=1e-6)
    # not the softmax MSE: logits (2, 0), label 0 -> ((2-1)^2 + 0^2) / 2
    assert get_loss("mse_logits")(torch.tensor([[2.0, 0.0]]), torch.tensor([0])).item() == 0.5


@pytest.mark.parametrize("name", ["ls", "label_relaxation"])
@pytest.mark.parametrize("alpha", [0, 1, -0.1, True])
def test_md_alpha_must_lie_in_the_open_unit_interval(name, alpha):
    with pytest.raises(ValueError, match=f"loss.alpha: {alpha!r} is not allowed for {name}"):
        get_loss(name, alpha=alpha)
