"""Gram matrices of per-example gradients (memrepro.papers.llj.gram): the closed form for
chains of Linear layers and the vmap fallback against gradients taken one example at a time,
and LLJ's Eq. 3 / Eq. 4 statistics against their definitions on explicit gradients."""

import math

import pytest
import torch
from torch import nn

from memrepro.losses import get_loss
from memrepro.models import mlp
from memrepro.papers.llj import gram as gm
from memrepro.papers.llj.tod import tod_masks

CCE = get_loss("cce")


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _batch(b=12, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, 1, 3, 3, generator=g, dtype=torch.float64),
            torch.randint(0, k, (b,), generator=g))


def _explicit(model, x, y, loss_fn=CCE, **kw):
    """(B, P) per-example gradients, one backward per example (no vmap)."""
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for i in range(x.shape[0]):
        mkw = {k: [m[i:i + 1] for m in v] for k, v in kw.items()}
        loss = loss_fn(model(x[i:i + 1], **mkw), y[i:i + 1]).sum()
        rows.append(torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)]))
    return torch.stack(rows).double()


def _bias_free_chain():
    torch.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Linear(9, 7, bias=False), nn.ReLU(),
                         nn.Linear(7, 5, bias=False), nn.Tanh(),
                         nn.Linear(5, 4, bias=False)).double()


def _mlp(**kw):
    torch.manual_seed(0)
    return mlp(hidden=[8, 6], in_channels=1, image_size=3, num_classes=4, **kw).double()


@pytest.mark.parametrize("make", [_mlp, _bias_free_chain], ids=["bias", "no-bias"])
def test_closed_form_equals_vmap_and_explicit_gradients_in_float64(make):
    model = make()
    x, y = _batch()
    layers = gm.linear_layers(model)
    assert layers is not None and len(layers) == 3
    closed, losses = gm.gram_linear(model, layers, x, y, CCE)
    vmapped, _ = gm.gram_functional(model, x, y, CCE)
    v = _explicit(model, x, y)
    assert closed.dtype == torch.float64 and closed.shape == (12, 12)
    assert (closed - vmapped).abs().max() < 1e-10
    assert (closed - v @ v.T).abs().max() < 1e-10
    assert closed.abs().max() > 1e-2  # not a trivial zero match
    torch.testing.assert_close(losses, CCE(model(x), y), rtol=0, atol=0)


def test_closed_form_holds_with_turnover_masks_per_example():
    model = _mlp(tod=True)
    x, y = _batch()
    masks = [m[0].double() for m in tod_masks([3], torch.arange(12)[None], model.tod_widths)]
    closed, _ = gm.batch_gram(model, x, y, CCE, masks=masks)
    v = _explicit(model, x, y, masks=masks)
    assert (closed - v @ v.T).abs().max() < 1e-10
    # a masked unit changes the gradients: the unmasked Gram differs
    plain, _ = gm.batch_gram(model, x, y, CCE)
    assert (plain - closed).abs().max() > 1e-3


def test_returned_losses_step_like_the_mean_loss():
    """The per-example losses stay on the graph: the gradient of their mean is the mean of
    the per-example gradients (what the optimizer steps on)."""
    model = _mlp()
    x, y = _batch()
    _, losses = gm.batch_gram(model, x, y, CCE)
    grads = torch.autograd.grad(losses.mean(), list(model.parameters()))
    torch.testing.assert_close(torch.cat([g.flatten() for g in grads]),
                               _explicit(model, x, y).mean(0), rtol=0, atol=1e-12)


def _explicit_cosine(v, members):
    idx = members.nonzero().flatten().tolist()
    u = v / v.norm(dim=1, keepdim=True)
    pairs = [float(u[i] @ u[j]) for i in idx for j in idx if i != j]
    return sum(pairs) / len(pairs)


def test_cosine_and_contribution_from_the_gram_equal_their_definitions():
    model = _mlp()
    x, y = _batch(b=10)
    g_mat, _ = gm.batch_gram(model, x, y, CCE)
    v = _explicit(model, x, y)
    g = v.mean(0)
    easy = torch.tensor([1, 1, 1, 0, 0, 0, 0, 1, 0, 0], dtype=torch.bool)
    difficult = torch.tensor([0, 0, 0, 0, 1, 1, 0, 0, 0, 0], dtype=torch.bool)
    c, norm = gm.contributions(g_mat)
    torch.testing.assert_close(c, v @ g / g.norm(), rtol=1e-10, atol=1e-12)
    assert math.isclose(float(norm), float(g.norm()), rel_tol=1e-10)
    assert math.isclose(float(c.mean()), float(norm), rel_tol=1e-10)  # mean_i c_i = ||g||
    row = dict(zip(gm.STAT_FIELDS, gm.gram_statistics(g_mat, easy, difficult).tolist(),
                   strict=True))
    assert (row["n_easy"], row["n_difficult"]) == (4, 2)
    assert math.isclose(row["cos_easy"], _explicit_cosine(v, easy), rel_tol=1e-9)
    assert math.isclose(row["cos_difficult"], _explicit_cosine(v, difficult), rel_tol=1e-9)
    assert math.isclose(row["cos_all"], _explicit_cosine(v, torch.ones(10, dtype=torch.bool)),
                        rel_tol=1e-9)
    assert math.isclose(row["contrib_easy"], float((v[easy] @ g).mean() / g.norm()),
                        rel_tol=1e-9)
    assert math.isclose(row["contrib_all"], float(g.norm()), rel_tol=1e-9)


def test_statistics_on_hand_made_gradients():
    """v = (1,0), (2,0), (0,3), (0,0): cos{0,1} = 1, cos{0,2} = 0, a zero gradient has cosine
    0; g = (3/4, 3/4), ||g|| = 3/4·√2, c = (<v_i, g>)/||g|| = (1, 2, 3, 0)/√2."""
    v = torch.tensor([[1.0, 0], [2, 0], [0, 3], [0, 0]], dtype=torch.float64)
    g_mat = v @ v.T
    mask = lambda *i: torch.tensor([k in i for k in range(4)])  # noqa: E731
    assert float(gm.mean_cosine(g_mat, mask(0, 1))) == pytest.approx(1.0)
    assert float(gm.mean_cosine(g_mat, mask(0, 2))) == pytest.approx(0.0)
    assert float(gm.mean_cosine(g_mat, mask(0, 1, 3))) == pytest.approx(1 / 3)
    assert math.isnan(float(gm.mean_cosine(g_mat, mask(2))))
    c, norm = gm.contributions(g_mat)
    torch.testing.assert_close(c, torch.tensor([1.0, 2, 3, 0], dtype=torch.float64) / 2 ** .5)
    assert float(norm) == pytest.approx(0.75 * 2 ** .5)
    row = gm.gram_statistics(g_mat, mask(0, 1), mask())
    assert math.isnan(float(row[gm.STAT_FIELDS.index("contrib_difficult")]))
    assert float(row[gm.STAT_FIELDS.index("contrib_easy")]) == pytest.approx(1.5 / 2 ** .5)


def _tiny_conv():
    torch.manual_seed(2)
    return nn.Sequential(nn.Conv2d(1, 3, 2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(12, 4)).double()


@pytest.mark.parametrize("max_elements", [1 << 20, 40], ids=["one-chunk", "chunked"])
def test_fallback_for_a_conv_model_equals_explicit_gradients(max_elements):
    model = _tiny_conv()
    assert gm.linear_layers(model) is None  # conv weights: no closed form
    x, y = _batch(b=7)
    g_mat, losses = gm.batch_gram(model, x, y, CCE, max_elements=max_elements)
    v = _explicit(model, x, y)
    assert (g_mat - v @ v.T).abs().max() < 1e-10
    torch.testing.assert_close(losses, CCE(model(x), y))


def test_batch_norm_in_training_mode_is_refused():
    model = nn.Sequential(nn.Conv2d(1, 2, 2), nn.BatchNorm2d(2), nn.Flatten(),
                          nn.Linear(8, 4)).double()
    x, y = _batch(b=4)
    with pytest.raises(ValueError, match="batch norm"):
        gm.batch_gram(model, x, y, CCE)
