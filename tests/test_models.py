"""Parameter counts against the numbers the source papers report."""

import pytest
import torch
import torch.nn.functional as F

from memrepro.models import MODELS, count_parameters, get_model


def test_resnet32_matches_he_et_al():
    # He et al. 2016 Table 6: 0.46M; option-A shortcuts give exactly 464,154
    assert count_parameters(get_model("resnet32")) == 464_154
    assert count_parameters(get_model("resnet_cifar", depth=20)) == 269_722  # 0.27M


def test_resnet18_matches_common_count():
    assert count_parameters(get_model("resnet18")) == 11_173_962
    # one input channel (MNIST): the stem loses 2 * 64 * 3 * 3 weights
    assert count_parameters(get_model("resnet18", in_channels=1)) == 11_173_962 - 1152


def test_inception_lite_matches_zhang_et_al():
    assert count_parameters(get_model("inception_lite")) == 1_649_402  # Zhang et al. Table 1


def test_arpit_cnn_counts_by_hand():
    # footnote 2 of Arpit et al. 2017 with Keras defaults: 28 -> conv 24 -> pool 8 -> conv 4
    # -> pool 1; conv 3*25*200+200, 200*25*200+200; dense 200*384+384, 384*192+192, 192*10+10;
    # BN weight+bias 2*(200+200+384+192)
    by_hand = 15_200 + 1_000_200 + 77_184 + 73_920 + 1_930 + 2 * (200 + 200 + 384 + 192)
    assert count_parameters(get_model("ar_cnn")) == by_hand == 1_170_386
    with pytest.raises(ValueError, match="shrink to nothing"):
        get_model("ar_cnn", image_size=16)


@pytest.mark.parametrize("name,kw,shape", [
    ("ar_cnn", {}, (2, 3, 32, 32)),
    ("ar_cnn", {"width": 8, "dense": [16, 8], "padding": "same", "image_size": 16},
     (2, 3, 16, 16)),
    ("resnet32", {"width": 4}, (2, 3, 32, 32)),
    ("resnet18", {"width": 8, "in_channels": 1}, (2, 1, 28, 28)),
    ("resnet18", {"width": 8, "in_channels": 1}, (2, 1, 8, 8)),
    ("inception_lite", {"width": 0.125}, (2, 3, 28, 28)),
    ("mlp", {"hidden": [16, 16], "image_size": 14}, (2, 1, 14, 14)),
    ("vgg11", {"width": 8, "image_size": 16}, (2, 3, 16, 16)),
    ("vgg11", {"width": 8, "in_channels": 1, "image_size": 28}, (2, 1, 28, 28)),
    ("vgg11", {"width": 4, "image_size": 32, "tod": True}, (2, 3, 32, 32)),
    ("cct", {}, (2, 1, 28, 28)),
    ("cct", {"dim": 16, "in_channels": 3, "image_size": 32, "tod": True}, (2, 3, 32, 32)),
])
def test_forward_shapes(name, kw, shape):
    out = get_model(name, num_classes=7, **kw)(torch.zeros(shape))
    assert out.shape == (2, 7)


def test_registry_errors():
    assert {"resnet32", "resnet18", "inception_lite", "mlp", "vgg11", "cct"} <= set(MODELS)
    with pytest.raises(KeyError, match="known"):
        get_model("vgg99")
    with pytest.raises(ValueError, match="6n\\+2"):
        get_model("resnet_cifar", depth=30)


def test_vgg11_counts_by_hand():
    # CIFAR VGG-11 without batch norm: 3x3 convs 3-64-128-256-256-512-512-512-512 (+ biases),
    # five 2x2 pools take 32x32 to 1x1, then Linear(512, 10)
    chans = [3, 64, 128, 256, 256, 512, 512, 512, 512]
    by_hand = sum(a * b * 9 + b for a, b in zip(chans, chans[1:], strict=False)) + 512 * 10 + 10
    assert count_parameters(get_model("vgg11")) == by_hand == 9_225_610
    # TOD: no classifier bias
    assert count_parameters(get_model("vgg11", tod=True)) == 9_225_600
    # 16x16: the fifth pool is skipped (side already 1), so the classifier is the same
    small = get_model("vgg11", width=8, image_size=16)
    assert small.pool_after == (True, True, False, True, False, True, False, False)
    assert small.fc.in_features == 64


def test_vgg11_uses_torchvision_initialisation():
    torch.manual_seed(0)
    model = get_model("vgg11", width=16)
    conv = model.convs[3]  # 64 -> 64 channels: fan_out = 64 * 9
    assert conv.bias.detach().abs().max().item() == 0.0
    assert conv.weight.std().item() == pytest.approx((2 / (64 * 9)) ** 0.5, rel=0.05)
    assert model.fc.weight.std().item() == pytest.approx(0.01, rel=0.1)


def test_cct_counts_by_hand():
    # dim 16, 2 heads, mlp ratio 2, 1 block, 2 tokenizer convs (kernel 3) on 12x12x1, 3 classes:
    # 12 -> pool 6 -> pool 3: 9 tokens
    tokenizer = 1 * 64 * 9 + 64 * 16 * 9
    positions = 9 * 16
    block = 2 * 2 * 16 + 16 * 48 + (16 * 16 + 16) + (16 * 32 + 32) + (32 * 16 + 16)
    head = 2 * 16 + (16 + 1) + (16 * 3 + 3)  # final LayerNorm, sequence pooling, classifier
    kw = {"layers": 1, "heads": 2, "mlp_ratio": 2, "dim": 16, "in_channels": 1,
          "image_size": 12, "num_classes": 3}
    model = get_model("cct", **kw)
    assert count_parameters(model) == tokenizer + positions + block + head == 12_212
    assert model.positions.shape == (9, 16)
    tod = get_model("cct", tod=True, **kw)
    assert count_parameters(tod) == 12_212 - 3 and tod.tod_widths == [64, 16, 32]
    # CCT-2/3x2 on 28x28 Fashion-MNIST: 49 tokens, 0.28M parameters (Hassani et al. 2021)
    assert count_parameters(get_model("cct")) == 280_651


def test_cct_refuses_bad_sizes():
    with pytest.raises(ValueError, match="model.dim: 10 is not divisible by model.heads 4"):
        get_model("cct", dim=10, heads=4)
    with pytest.raises(ValueError, match="model.kernel: 4"):
        get_model("cct", kernel=4)


def test_cct_pools_tokens_with_softmax_weights():
    """Sequence pooling: logits are fc of a convex combination of the normalised tokens."""
    torch.manual_seed(0)
    model = get_model("cct", dim=8, heads=2, image_size=8, conv_layers=1)
    x = torch.randn(2, 1, 8, 8)
    z = model.features(x)
    tokens = F.max_pool2d(F.relu(model.tokenizer[0](x)), 3, 2, 1).flatten(2).transpose(1, 2)
    tokens = tokens + model.positions
    for block in model.blocks:
        tokens = block(tokens)
    tokens = model.norm(tokens)
    w = torch.softmax(tokens @ model.pool.weight[0] + model.pool.bias, dim=1)
    torch.testing.assert_close(z, torch.einsum("bn,bnd->bd", w, tokens))
    torch.testing.assert_close(model(x), z @ model.fc.weight.T + model.fc.bias)


def _plain_mlp(model, x, bias=True):
    """The MLP's function written out: what it computed before TOD existed."""
    h = torch.flatten(x, 1)
    for layer in model.hidden:
        h = F.relu(h @ layer.weight.T + layer.bias)
    return h @ model.fc.weight.T + (model.fc.bias if bias else 0)


def test_mlp_without_masks_is_the_plain_network():
    from memrepro.stacked import Stacked

    x = torch.randn(2, 5, 1, 4, 4)
    for tod in (False, True):
        models = []
        for seed in (0, 1):
            torch.manual_seed(seed)
            models.append(get_model("mlp", hidden=[8, 6], image_size=4, tod=tod))
        assert (models[0].fc.bias is None) == tod
        want = torch.stack([_plain_mlp(m, x[i], not tod) for i, m in enumerate(models)])
        torch.testing.assert_close(models[0](x[0]), want[0])
        torch.testing.assert_close(Stacked(models)(x, True), want)


def test_mlp_masks_multiply_the_hidden_units():
    torch.manual_seed(0)
    model = get_model("mlp", hidden=[6], image_size=2, num_classes=3, tod=True)
    x = torch.randn(4, 1, 2, 2)
    mask = torch.tensor([[2.0, 0, 2, 0, 2, 0]]).expand(4, 6)
    h = F.relu(torch.flatten(x, 1) @ model.hidden[0].weight.T + model.hidden[0].bias)
    torch.testing.assert_close(model(x, [mask]), (h * mask) @ model.fc.weight.T)


def test_masks_need_a_tod_model_and_the_right_widths():
    with pytest.raises(ValueError, match="built without tod"):
        get_model("mlp", hidden=[4], image_size=2)(torch.zeros(1, 1, 2, 2), [torch.ones(1, 4)])
    model = get_model("vgg11", width=2, image_size=8, tod=True)
    with pytest.raises(ValueError, match="do not match the model's tod_widths"):
        model(torch.zeros(1, 3, 8, 8), [torch.ones(1, 2)])


# --- MLP with batch norm and a feature layer (MD, Sec. 4.1) --------------------------------


def _md_mlp_by_hand(inputs: int) -> int:
    """8 hidden layers of 2048 and a 2-wide feature layer, each Linear + BN (weight, bias),
    then Linear(2, 2) with bias."""
    widths = [inputs] + [2048] * 8 + [2]
    linears = sum(a * b + b for a, b in zip(widths, widths[1:], strict=False))
    return linears + 2 * sum(widths[1:]) + 2 * 2 + 2


@pytest.mark.parametrize("in_channels,side,count", [(1, 28, 31_019_020), (3, 32, 35_704_844)])
def test_md_mlp_counts(in_channels, side, count):
    with torch.device("meta"):  # no memory, no init
        model = get_model("mlp", hidden=2048, depth=8, batchnorm=True, feature_dim=2,
                          in_channels=in_channels, image_size=side, num_classes=2)
    assert count_parameters(model) == _md_mlp_by_hand(side * side * in_channels) == count
    assert model.fc.bias is not None and len(model.norms) == 9


def _bn_mlp_by_hand(model, x):
    """Linear -> BatchNorm1d (batch statistics in training, running ones in eval) -> ReLU."""
    h = torch.flatten(x, 1)
    for layer, bn in zip(model.hidden, model.norms, strict=True):
        h = h @ layer.weight.T + layer.bias
        if model.training:
            mean, var = h.mean(0), h.var(0, unbiased=False)
        else:
            mean, var = bn.running_mean, bn.running_var
        h = F.relu((h - mean) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias)
    return h


def test_batchnorm_mlp_is_linear_bn_relu_and_features_feed_the_classifier():
    torch.manual_seed(0)
    model = get_model("mlp", hidden=[8, 6], batchnorm=True, feature_dim=3, image_size=4,
                      num_classes=5)
    assert [m.out_features for m in model.hidden] == [8, 6, 3]
    with torch.no_grad():
        for bn in model.norms:  # non-trivial affine and running statistics
            bn.weight.uniform_(0.5, 2)
            bn.bias.uniform_(-1, 1)
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
    x = torch.randn(7, 1, 4, 4)
    seen = []
    model.fc.register_forward_pre_hook(lambda m, inp: seen.append(inp[0]))
    for train in (True, False):
        model.train(train)
        want = _bn_mlp_by_hand(model, x)
        torch.testing.assert_close(model.features(x), want)
        torch.testing.assert_close(model(x), want @ model.fc.weight.T + model.fc.bias)
        torch.testing.assert_close(seen[-1], want)  # features() = what fc receives
    assert model.features(x).shape == (7, 3)


def test_feature_dim_is_checked_and_off_by_default():
    assert [m.out_features for m in get_model("mlp", hidden=[8], image_size=2).hidden] == [8]
    assert not hasattr(get_model("mlp", hidden=[8], image_size=2), "norms")
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match=f"model.feature_dim: {bad!r} is not allowed"):
            get_model("mlp", hidden=[8], image_size=2, feature_dim=bad)


def _three(name, **kw):
    models = []
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        models.append(get_model(name, **kw))
    return models


def test_stacked_batchnorm_mlp_keeps_per_model_statistics():
    """forward_stacked in training: each model normalises over its own batch and updates its
    own running buffers (momentum 0.1, unbiased variance) and counter, as BatchNorm1d does."""
    import copy

    from memrepro.stacked import Stacked

    kw = {"hidden": [8, 6], "batchnorm": True, "feature_dim": 2, "image_size": 3,
          "num_classes": 3}
    models = _three("mlp", **kw)
    alone = [copy.deepcopy(m) for m in models]
    group = Stacked(models)
    for step in range(3):
        x = torch.randn(3, 5, 1, 3, 3, generator=torch.Generator().manual_seed(step))
        out = group(x, True)
        torch.testing.assert_close(out, torch.stack([m(x[i]) for i, m in enumerate(alone)]))
    for i, m in enumerate(alone):
        for k, v in m.state_dict().items():
            torch.testing.assert_close(group.state_dict(i)[k], v, rtol=1e-6, atol=1e-7, msg=k)
    assert group.buffers["norms.0.num_batches_tracked"].tolist() == [3, 3, 3]
    assert not torch.equal(group.buffers["norms.1.running_var"][0],
                           group.buffers["norms.1.running_var"][1])
    group.train(False)
    for m in alone:
        m.eval()
    x = torch.randn(3, 4, 1, 3, 3)
    torch.testing.assert_close(group(x, True), torch.stack([m(x[i]) for i, m in enumerate(alone)]))
    assert group.buffers["norms.0.num_batches_tracked"].tolist() == [3, 3, 3]  # eval: no update


@pytest.mark.parametrize("name,kw,shape", [
    ("mlp", {"hidden": [8, 6], "batchnorm": True, "feature_dim": 2, "image_size": 3},
     (1, 3, 3)),
    ("mlp", {"hidden": [8], "image_size": 3}, (1, 3, 3)),
    ("resnet_cifar", {"depth": 8, "width": 2}, (3, 8, 8)),  # no features_stacked: vmap
])
def test_group_features_are_each_models_features(name, kw, shape):
    from memrepro.stacked import Single, Stacked

    models = _three(name, num_classes=3, **kw)
    for m in models:
        m.eval()
    x = torch.randn(3, 4, *shape)
    want = torch.stack([m.features(x[i]) for i, m in enumerate(models)])
    group = Stacked(models)
    group.train(False)
    with torch.no_grad():
        torch.testing.assert_close(group.features(x, True), want)
        shared = torch.stack([m.features(x[0]) for m in models])
        torch.testing.assert_close(group.features(x[0], False), shared)
        torch.testing.assert_close(Single(models[1]).features(x[1:2], True), want[1:2])
        torch.testing.assert_close(Single(models[1]).features(x[1], False), want[1:2])
