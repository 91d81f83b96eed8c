"""The engine's epoch plan: minibatch boundaries (never a batch-norm batch of one) and
``train.eval_every`` (fewer evaluations, the same training)."""

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from memrepro import io
from memrepro.device_data import to_device, to_device_many
from memrepro.engine import GroupTrainer, train_cell, train_group
from memrepro.epoch_plan import batch_bounds, evaluation_due
from memrepro.noise import apply_noise
from memrepro.paths import probe_path

CPU = torch.device("cpu")
BN_MLP = {"name": "mlp", "hidden": [12], "batchnorm": True, "feature_dim": 3}


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _arrays(n, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (rng.integers(0, 60, (n, 1, 4, 4)) + 50 * y[:, None, None, None]).astype(np.uint8)
    return {"x_train": x, "y_train": y, "x_test": x[:20], "y_test": y[:20]}


def _noisy(arrays, seed=0):
    r = apply_noise("symmetric_other", arrays["y_train"], 3, 0.2, seed)
    return {"labels": r.labels, "corrupted": r.corrupted}


def _spec(model, epochs=2, seed=0, **train):
    return {"model": model, "loss": {"name": "cce", "params": {}}, "seed": seed,
            "slug": f"seed-{seed}",
            "train": {"epochs": epochs, "batch_size": 32, "checkpoint_every": 100,
                      "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9}, **train}}


def test_batch_bounds():
    assert batch_bounds(97, 32) == [(0, 32), (32, 64), (64, 96), (96, 97)]
    assert batch_bounds(97, 32, batchnorm=True) == [(0, 32), (32, 64), (64, 97)]
    for n in (96, 98, 127, 31, 2):  # n % batch != 1: the plain slices, with or without BN
        assert batch_bounds(n, 32, True) == batch_bounds(n, 32) == \
            [(i, min(i + 32, n)) for i in range(0, n, 32)]
    assert batch_bounds(33, 32, True) == [(0, 33)]
    assert batch_bounds(1, 32) == [(0, 1)]
    with pytest.raises(ValueError, match="train.batch_size: 1 with a batch-norm model"):
        batch_bounds(10, 1, True)
    with pytest.raises(ValueError, match="examples: 1 with a batch-norm model"):
        batch_bounds(1, 32, True)


def test_a_batch_of_one_is_what_batch_norm_refuses():
    """Why the merge exists: BatchNorm1d cannot train on a single example."""
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        F.batch_norm(torch.randn(1, 4), None, None, training=True)


def _optimizer_steps(out):
    ck = torch.load(out / "checkpoint.pt", weights_only=True)
    return int(ck["optimizer"]["steps"])


@pytest.mark.parametrize("model,steps", [(BN_MLP, 3), ({"name": "mlp", "hidden": [12]}, 4)])
def test_last_batch_of_one_merges_only_with_batch_norm(tmp_path, model, steps):
    """97 = 3 x 32 + 1 examples: a batch-norm MLP takes 3 steps per epoch (the last batch holds
    33), a plain one still 4."""
    arrays = _arrays(97)
    data = to_device(arrays, _noisy(arrays), 3, CPU)
    spec = _spec(model, epochs=3)  # stopped after 2: the checkpoint stays
    hist = GroupTrainer([spec], [data]).run([tmp_path], stop_after=2, progress=False)
    assert _optimizer_steps(tmp_path) == 2 * steps
    assert np.isfinite(hist[-1][-1]["loss"])
    if model.get("batchnorm"):
        sd = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["model"]
        assert int(sd["norms.0.num_batches_tracked"]) == 2 * steps


def test_stacked_batch_norm_group_with_a_merged_batch_equals_alone(tmp_path):
    """65 = 2 x 32 + 1: batches of 32 and 33 in the stacked group too. (SGD: with Adam, the
    bias of a Linear before batch norm, whose true gradient is 0, follows normalised rounding
    noise, which differs between stacked and single runs and moves the running means.)"""
    arrays = _arrays(65)
    noisies = [_noisy(arrays, s) for s in (0, 1)]
    datas = to_device_many(arrays, noisies, 3, CPU)
    specs = [_spec(BN_MLP, epochs=2, seed=s) for s in (0, 1)]
    group = train_group(specs, datas, [tmp_path / "g" / s["slug"] for s in specs],
                        mode="stacked", progress=False)
    for spec, data, h in zip(specs, datas, group, strict=True):
        alone = train_cell(spec, data, tmp_path / "a" / spec["slug"], progress=False)
        pd.testing.assert_frame_equal(pd.DataFrame(h), pd.DataFrame(alone), check_exact=False,
                                      rtol=1e-4, atol=1e-5)
        sd = torch.load(tmp_path / "g" / spec["slug"] / "model.pt", weights_only=True)
        assert int(sd["norms.0.num_batches_tracked"]) == 2 * 2  # 32 + 33, two epochs


def test_evaluation_due():
    wanted = {"per_example": {"epochs": [4]}, "other": {"every": 5}}
    due = [e for e in range(12) if evaluation_due(e, 11, 3, wanted)]
    assert due == [0, 3, 4, 5, 6, 9, 10, 11]
    assert [e for e in range(8) if evaluation_due(e, 7, 1, {})] == list(range(8))


def test_eval_every_skips_evaluations_but_not_training(tmp_path):
    """eval_every 3 over 7 epochs evaluates at 0, 3, 6, 7 (final) and 4 (a probe is due):
    those rows, the losses of every epoch, the probe files and the final weights are exactly
    those of eval_every 1; the other rows hold NaN."""
    arrays = _arrays(80)
    data = to_device(arrays, _noisy(arrays), 3, CPU)
    runs = {}
    for k in (1, 3):
        spec = _spec({"name": "mlp", "hidden": [16]}, epochs=7, eval_every=k)
        spec["probes"] = {"per_example": {"epochs": [4, 5]}}
        runs[k] = pd.DataFrame(train_cell(spec, data, tmp_path / f"k{k}", progress=False))
    every, sparse = runs[1], runs[3]
    assert list(sparse["epoch"]) == list(range(8))
    pd.testing.assert_series_equal(sparse["loss"], every["loss"], check_exact=True)
    pd.testing.assert_series_equal(sparse["lr"], every["lr"], check_exact=True)
    evaluated = [0, 3, 4, 5, 6, 7]
    pd.testing.assert_frame_equal(sparse.loc[evaluated], every.loc[evaluated], check_exact=True)
    metrics = [c for c in every.columns if c not in ("epoch", "lr", "loss")]
    assert sparse.loc[[1, 2], metrics].isna().all().all()
    assert every[metrics].notna().all().all()
    a = torch.load(tmp_path / "k1" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "k3" / "model.pt", weights_only=True)
    assert all(torch.equal(a[key], b[key]) for key in a)
    for epoch in (4, 5):
        pa = io.load_npz(probe_path(tmp_path / "k1", "per_example", epoch))
        pb = io.load_npz(probe_path(tmp_path / "k3", "per_example", epoch))
        assert all(np.array_equal(pa[key], pb[key]) for key in pa)
    csv = pd.read_csv(tmp_path / "k3" / "history.csv")
    assert csv["j1"].isna().tolist() == [False, True, True, False, False, False, False, False]


@pytest.mark.parametrize("train,match", [
    ({"eval_every": 2, "stop_when_fit": True}, "train.eval_every: 2 is not allowed with "
                                               "train.stop_when_fit"),
    ({"eval_every": 0}, "train.eval_every: 0 is not allowed"),
    ({"eval_every": 1.5}, "train.eval_every: 1.5 is not allowed"),
])
def test_eval_every_is_checked(train, match):
    arrays = _arrays(40)
    data = to_device(arrays, _noisy(arrays), 3, CPU)
    with pytest.raises(ValueError, match=match):
        GroupTrainer([_spec({"name": "mlp", "hidden": [8]}, **train)], [data])
