"""Turn-over dropout masks (Kobayashi et al. 2020; LLJ Sec. 2.2, App. B): the integer hash
against an independent pure-Python version and splitmix64's published outputs, exact halves,
complements, determinism, the numpy twin, uniqueness over a training set, and the property that
makes the memorization score work: an example's gradient never touches its muted sub-network."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from memrepro.models import get_model
from memrepro.papers.llj import mask_hash, tod
from memrepro.stacked import Single, Stacked

M64 = (1 << 64) - 1


def py_mix(z: int) -> int:
    """splitmix64's output function, written again with Python ints."""
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def py_hash(seed: int, layer: int, example: int, unit: int) -> int:
    return py_mix(py_mix(py_mix(py_mix(seed & M64) ^ layer) ^ (example & M64)) ^ unit)


def py_keep(seed: int, layer: int, example: int, width: int) -> list[bool]:
    ranked = sorted(range(width), key=lambda j: (py_hash(seed, layer, example, j), j))
    kept = set(ranked[: width // 2])
    return [j in kept for j in range(width)]


def test_mix_is_splitmix64():
    # the first two outputs of splitmix64 seeded with 0 (Vigna's reference generator)
    z = np.array([0, 0x9E3779B97F4A7C15], dtype=np.uint64)
    assert [int(v) for v in mask_hash.mix(z)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4]
    signed = torch.tensor([0, 0x9E3779B97F4A7C15 - (1 << 64)], dtype=torch.int64)
    assert [int(v) & M64 for v in tod.mix(signed)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4]


@pytest.mark.parametrize("seed,layer,example", [(0, 0, 0), (1, 3, 59_999), (2**31 - 1, 7, 12),
                                                (123456789, 1, 2**40 + 5)])
def test_hash_known_answers(seed, layer, example):
    width = 12
    expected = [py_hash(seed, layer, example, j) for j in range(width)]
    numpy_h = mask_hash.unit_hash(seed, layer, [example], width)[0]
    assert [int(v) for v in numpy_h] == expected
    torch_h = tod.unit_hash(torch.tensor([seed]), layer, torch.tensor([[example]]), width)[0, 0]
    assert [int(v) & M64 for v in torch_h] == expected
    keep = tod.tod_masks([seed], torch.tensor([[example]]), [width] * (layer + 1))[layer][0, 0]
    assert (keep > 0).tolist() == py_keep(seed, layer, example, width)


def test_exactly_half_kept_scaled_by_two_and_flip_is_the_complement():
    ids = torch.arange(300).reshape(3, 100)
    widths = [2, 7, 16, 64]
    unmuted = tod.tod_masks([5, 6, 7], ids, widths)
    muted = tod.tod_masks([5, 6, 7], ids, widths, flip=True)
    for w, u, m in zip(widths, unmuted, muted, strict=True):
        assert u.shape == m.shape == (3, 100, w) and u.dtype == torch.float32
        assert set(u.unique().tolist()) == {0.0, 2.0}
        assert ((u > 0).sum(-1) == w // 2).all()
        assert torch.equal(u + m, torch.full_like(u, 2.0))  # complement, both scaled by 2


def test_a_mask_depends_only_on_seed_layer_and_id():
    widths = [32, 32]
    a = tod.tod_masks([11], torch.tensor([[4, 9, 250]]), widths)
    b = tod.tod_masks([11], torch.tensor([[250, 77, 4]]), widths)  # other batch, other order
    assert torch.equal(a[0][0, 0], b[0][0, 2]) and torch.equal(a[1][0, 2], b[1][0, 0])
    assert not torch.equal(a[0][0, 0], a[1][0, 0])  # the layer index enters the hash
    c = tod.tod_masks([12], torch.tensor([[4, 9, 250]]), widths)
    assert not torch.equal(a[0], c[0])  # so does the seed


def test_numpy_twin_equals_the_torch_masks():
    seeds, widths = [0, 3, 2**33], [8, 33, 100]
    ids = torch.randint(0, 70_000, (3, 50), generator=torch.Generator().manual_seed(0))
    masks = tod.tod_masks(seeds, ids, widths)
    for layer, w in enumerate(widths):
        for m, seed in enumerate(seeds):
            keep = mask_hash.keep_mask(seed, layer, ids[m].numpy(), w)
            assert keep.shape == (50, w) and keep.dtype == bool
            np.testing.assert_array_equal(keep, (masks[layer][m] > 0).numpy())


def test_a_model_in_a_group_gets_the_masks_it_gets_alone():
    seeds, widths = [0, 1, 7], [16, 8]
    ids = torch.tensor([[3, 1, 4, 1], [5, 9, 2, 6], [5, 3, 5, 8]])
    group = tod.tod_masks(seeds, ids, widths)
    for m, seed in enumerate(seeds):
        alone = tod.tod_masks([seed], ids[m:m + 1], widths)
        assert all(torch.equal(g[m], a[0]) for g, a in zip(group, alone, strict=True))


def _distinct_rows(masks: list[torch.Tensor]) -> int:
    return len({tuple(row) for row in torch.cat(masks, -1)[0].bool().tolist()})


@pytest.mark.parametrize("name,kw", [("mlp", {"hidden": 64, "image_size": 4}),
                                     ("vgg11", {"width": 8, "image_size": 16})])
def test_no_two_examples_share_a_mask(name, kw):
    """LLJ Sec. 2.2: no two training instances share a mask (over all masked layers)."""
    widths = get_model(name, tod=True, **kw).tod_widths
    ids = torch.arange(1437)[None]
    masks = tod.tod_masks([0], ids, widths)
    assert _distinct_rows(masks) == 1437
    if name == "vgg11":  # 8 channels: C(8, 4) = 70 patterns, so one layer alone repeats
        assert widths[0] == 8 and _distinct_rows(masks[:1]) == 70


def test_tod_masks_refuse_bad_input():
    with pytest.raises(ValueError, match="one seed per model"):
        tod.tod_masks([0, 1], torch.zeros(3, 4, dtype=torch.int64), [4])
    with pytest.raises(ValueError, match="integer tensor"):
        tod.tod_masks([0], torch.zeros(1, 4), [4])
    with pytest.raises(ValueError, match="widths \\[1\\]"):
        tod.tod_masks([0], torch.zeros(1, 4, dtype=torch.int64), [4, 1])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_masks_are_the_same_on_cuda():
    ids = torch.randint(0, 60_000, (2, 256), generator=torch.Generator().manual_seed(1))
    cpu = tod.tod_masks([0, 9], ids, [4096, 64])
    gpu = tod.tod_masks([0, 9], ids.cuda(), [4096, 64])
    assert all(torch.equal(c, g.cpu()) for c, g in zip(cpu, gpu, strict=True))


# --- the muted sub-network never sees the example ---------------------------------------------


def _grads(model, x, y, masks):
    model.zero_grad()
    F.cross_entropy(model(x, masks), y).backward()
    return {k: p.grad.clone() for k, p in model.named_parameters()}


def test_mlp_gradient_never_reaches_the_muted_subnetwork():
    torch.manual_seed(0)
    model = get_model("mlp", hidden=[16, 12], image_size=4, num_classes=5, tod=True)
    assert model.fc.bias is None and model.tod_widths == [16, 12]
    for example in (0, 17, 40_000):
        x, y = torch.randn(1, 1, 4, 4), torch.tensor([example % 5])
        masks = [m[0] for m in tod.tod_masks([3], torch.tensor([[example]]), model.tod_widths)]
        g = _grads(model, x, y, masks)
        off0, off1 = masks[0] == 0, masks[1] == 0  # (1, d): muted units of each hidden layer
        off0, off1 = off0[0], off1[0]
        muted = [g["hidden.0.weight"][off0], g["hidden.0.bias"][off0],
                 g["hidden.1.weight"][:, off0], g["hidden.1.weight"][off1],
                 g["hidden.1.bias"][off1], g["fc.weight"][:, off1]]
        assert all(t.numel() and torch.all(t == 0) for t in muted)
        # the check can fail: the unmuted units do get gradient
        assert g["hidden.0.weight"][~off0].abs().sum() > 0
        assert g["fc.weight"][:, ~off1].abs().sum() > 0


def test_vgg_gradient_never_reaches_the_muted_channels():
    torch.manual_seed(0)
    model = get_model("vgg11", width=2, image_size=16, tod=True)
    assert model.fc.bias is None and model.tod_widths == [2, 4, 8, 8, 16, 16, 16, 16]
    x, y = torch.randn(1, 3, 16, 16), torch.tensor([3])
    masks = [m[0] for m in tod.tod_masks([1], torch.tensor([[123]]), model.tod_widths)]
    g = _grads(model, x, y, masks)
    for i in range(len(model.convs)):
        off = masks[i][0] == 0
        assert torch.all(g[f"convs.{i}.weight"][off] == 0)
        assert torch.all(g[f"convs.{i}.bias"][off] == 0)
        assert g[f"convs.{i}.weight"][~off].abs().sum() > 0
        if i + 1 < len(model.convs):
            assert torch.all(g[f"convs.{i + 1}.weight"][:, off] == 0)
    off = masks[-1][0] == 0  # the last conv's side is 1, so fc's columns are its channels
    assert torch.all(g["fc.weight"][:, off] == 0) and g["fc.weight"][:, ~off].abs().sum() > 0


# --- groups: stacked forwards with masks equal single forwards --------------------------------


def _models(name, seeds, **kw):
    out = []
    for s in seeds:
        torch.manual_seed(s)
        out.append(get_model(name, tod=True, **kw))
    return out


@pytest.mark.parametrize("name,kw,shape", [
    ("mlp", {"hidden": [16, 8], "image_size": 4}, (1, 4, 4)),  # own forward_stacked
    ("vgg11", {"width": 2, "image_size": 8}, (3, 8, 8)),  # vmap(functional_call)
    ("cct", {"dim": 8, "heads": 2, "image_size": 8, "conv_layers": 1}, (1, 8, 8)),
])
def test_stacked_forward_with_masks_equals_single_forwards(name, kw, shape):
    seeds = [0, 1, 2]
    models = _models(name, seeds, **kw)
    ids = torch.tensor([[0, 5, 9, 2], [7, 7, 1, 3], [4, 8, 6, 0]])
    masks = tod.tod_masks(seeds, ids, models[0].tod_widths)
    x = torch.randn(3, 4, *shape, generator=torch.Generator().manual_seed(0))
    group = Stacked(models)
    for per_model in (True, False):
        out = group(x if per_model else x[0], per_model, masks=masks)
        for m, model in enumerate(models):
            alone = model(x[m] if per_model else x[0], [k[m] for k in masks])
            torch.testing.assert_close(out[m], alone, rtol=1e-5, atol=1e-6)
            one = group.module(m)(x[m] if per_model else x[0], [k[m] for k in masks])
            torch.testing.assert_close(one, alone, rtol=1e-5, atol=1e-6)
    single = Single(models[1])
    out = single(x[1:2], True, masks=[k[1:2] for k in masks])
    torch.testing.assert_close(out[0], models[1](x[1], [k[1] for k in masks]))
    # the masks matter: the full network differs from the unmuted one
    assert not torch.allclose(group(x, True), group(x, True, masks=masks))
