"""Regularizers of Arpit et al. 2017, Sec. 5, in the core models (models.ar_cnn / models.mlp,
alone and stacked). Adversarial training on LASS critical samples, the paper's other
regularizer, is tested in tests/papers/ar/test_adversarial_training.py."""

import math

import pytest
import torch
from torch import nn

from memrepro.models import count_parameters, get_model
from memrepro.stacked import Stacked

SMALL = {
    "ar_cnn": ({"width": 6, "dense": [12, 8], "padding": "same", "image_size": 16},
               (8, 3, 16, 16)),
    "mlp": ({"hidden": [24, 16], "in_channels": 3, "image_size": 8}, (8, 3, 8, 8)),
}
REG_KEYS = ("dropout", "input_dropout", "input_noise", "hidden_noise")
ZERO = dict.fromkeys(REG_KEYS, 0.0)


def build(name: str, seed: int = 0, **reg: float) -> nn.Module:
    torch.manual_seed(seed)
    return get_model(name, **SMALL[name][0], **reg)


def batch(name: str, seed: int = 1) -> torch.Tensor:
    return torch.randn(SMALL[name][1], generator=torch.Generator().manual_seed(seed))


# --- models with regularizers ------------------------------------------------------------


def test_zero_regularizers_keep_full_width_ar_cnn_count():
    assert count_parameters(get_model("ar_cnn", **ZERO)) == 1_170_386


@pytest.mark.parametrize("name", sorted(SMALL))
def test_zero_regularizers_are_the_plain_model(name):
    plain, zero = build(name), build(name, **ZERO)
    assert list(plain.state_dict()) == list(zero.state_dict())
    for a, b in zip(plain.state_dict().values(), zero.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    x = batch(name)
    for train in (True, False):
        plain.train(train)
        zero.train(train)
        rng = torch.get_rng_state()
        out = zero(x)
        assert torch.equal(torch.get_rng_state(), rng)  # no random draws at all
        assert torch.equal(out, plain(x))


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("key,value", [("dropout", 0.5), ("input_dropout", 0.3),
                                       ("input_noise", 0.5), ("hidden_noise", 0.2)])
def test_regularizer_acts_in_train_mode_only(name, key, value):
    plain, reg = build(name), build(name, **{key: value})
    x = batch(name)
    plain.eval()
    reg.eval()
    rng = torch.get_rng_state()
    assert torch.equal(reg(x), plain(x))  # eval first: train mode moves BN running stats
    assert torch.equal(torch.get_rng_state(), rng)
    plain.train()
    reg.train()
    assert not torch.allclose(reg(x), plain(x), atol=1e-4)
    torch.manual_seed(7)
    a = reg(x)
    torch.manual_seed(7)
    assert torch.equal(reg(x), a)  # seeded: drawn from torch's global RNG


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_keep_rate_and_scaling(p):
    model = get_model("mlp", hidden=[64], in_channels=1, image_size=8, dropout=p).train()
    with torch.no_grad():
        model.hidden[0].weight.copy_(torch.eye(64))
        model.hidden[0].bias.zero_()
    h = model.features(torch.ones(4096, 1, 8, 8))
    kept = h != 0
    assert abs(kept.float().mean().item() - (1 - p)) < 0.01
    assert torch.allclose(h[kept], torch.full_like(h[kept], 1 / (1 - p)))  # inverted dropout


def test_ar_cnn_regularizers_act_where_documented():
    """Input ones on the cropped input (before conv1), hidden ones after the first max-pool
    (before conv2); checked against the plain model through forward pre-hooks."""
    x, p = batch("ar_cnn"), 0.4

    def inputs(model: nn.Module) -> dict[str, torch.Tensor]:
        seen: dict[str, torch.Tensor] = {}
        for n in ("conv1", "conv2"):
            getattr(model, n).register_forward_pre_hook(
                lambda _m, a, n=n: seen.__setitem__(n, a[0].detach()))
        model.train()(x)
        return seen

    plain = inputs(build("ar_cnn"))
    assert torch.equal(plain["conv1"], x[..., 2:-2, 2:-2])
    for key, layer, other in (("input_dropout", "conv1", None), ("dropout", "conv2", "conv1")):
        seen = inputs(build("ar_cnn", **{key: p}))
        kept = seen[layer] != 0
        assert 0.4 < 1 - kept.float().mean().item() < 0.6 or key == "dropout"
        assert torch.allclose(seen[layer][kept], plain[layer][kept] / (1 - p), atol=1e-6)
        assert not kept.all()
        if other:
            assert torch.equal(seen[other], plain[other])
    noisy = inputs(build("ar_cnn", hidden_noise=0.1))
    assert torch.equal(noisy["conv1"], plain["conv1"])
    assert not torch.allclose(noisy["conv2"], plain["conv2"])


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("key,value,allowed", [
    ("dropout", 1.0, "rate in"), ("dropout", -0.1, "rate in"),
    ("input_dropout", math.nan, "rate in"), ("input_noise", -1.0, "std >= 0"),
    ("hidden_noise", math.inf, "std >= 0"), ("dropout", "0.5", "rate in"),
    ("input_noise", True, "std >= 0"),
])
def test_bad_values_raise_with_key(name, key, value, allowed):
    with pytest.raises(ValueError, match=rf"model\.{key}: .*{allowed}"):
        get_model(name, **SMALL[name][0], **{key: value})


REG = {"dropout": 0.3, "input_dropout": 0.2, "input_noise": 0.3, "hidden_noise": 0.1}


@pytest.mark.parametrize("per_model", [False, True])
def test_stacked_mlp_eval_equals_each_model_alone(per_model):
    models = [build("mlp", seed=s, **REG) for s in range(3)]
    group = Stacked(models)
    group.train(False)
    x = torch.randn(3, 5, 3, 8, 8) if per_model else torch.randn(5, 3, 8, 8)
    out = group(x, per_model)
    for i, m in enumerate(models):
        alone = m.eval()(x[i] if per_model else x)
        assert torch.allclose(out[i], alone, atol=1e-5)


@pytest.mark.parametrize("per_model", [False, True])
@pytest.mark.parametrize("key", REG_KEYS)
def test_stacked_mlp_draws_its_own_noise_per_model(per_model, key):
    # three copies of one model: any difference between their outputs is the noise
    models = [build("mlp", seed=0, **{key: REG[key]}) for _ in range(3)]
    group = Stacked(models)
    group.train(True)
    x = torch.randn(5, 3, 8, 8)
    out = group(x.expand(3, *x.shape) if per_model else x, per_model)
    assert out.shape == (3, 5, 10)
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[1], out[2])
    group.train(False)
    out = group(x.expand(3, *x.shape) if per_model else x, per_model)
    assert torch.equal(out[0], out[1])
