"""Liu, Lin & Jaggi 2022's training add-ons (memrepro.papers.llj.training) through the engine's
hooks: turn-over dropout training and its memorization scores, the full-set correctness bits,
per-step gradient statistics, and Eq. 5 influence."""

import numpy as np
import pandas as pd
import pytest
import torch
from test_groups import _arrays

from memrepro import io
from memrepro.device_data import to_device_many
from memrepro.engine import GroupTrainer, build_model, train_cell, train_group
from memrepro.noise import apply_noise
from memrepro.papers.llj import training as llj
from memrepro.papers.llj.tod import tod_masks
from memrepro.papers.llj.tracked import tracked_subsets
from memrepro.paths import probe_path
from memrepro.probes import CORE_PROBES

CPU = torch.device("cpu")
HOOKS = {"probes": {**CORE_PROBES, **llj.PROBES}, "objectives": llj.OBJECTIVES}
TOD_MLP = {"name": "mlp", "hidden": [16, 8], "tod": True}


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _data(seeds=(0,), rate=0.25, subset=None, noise="symmetric_other"):
    """(arrays, one TrainData per seed): 160 examples of 4 classes (tests/test_groups.py)."""
    arrays = _arrays()
    noisies = []
    for seed in seeds:
        r = apply_noise(noise, arrays["y_train"], 4, rate, seed)
        noisies.append({"labels": r.labels, "corrupted": r.corrupted, **r.extra})
    return arrays, to_device_many(arrays, noisies, 4, CPU, subset=subset)


def _spec(seed=0, model=None, epochs=3, probes=None, lr=0.01, batch=16, **objective):
    return {"model": model or TOD_MLP, "loss": {"name": "cce", "params": {}}, "seed": seed,
            "slug": f"seed-{seed}", "probes": probes or {},
            "train": {"epochs": epochs, "batch_size": batch, "checkpoint_every": 2,
                      "optimizer": {"name": "sgd", "lr": lr, "momentum": 0.9}, **objective}}


def _probe(run, name, epoch):
    return io.load_npz(probe_path(run, name, epoch))


def test_turnover_scores_mislabelled_examples_higher(tmp_path):
    _, datas = _data()
    probes = {"tod": {"epochs": [30]}, "tod_unmuted_acc": {"every": 10},
              "tod_muted_acc": {"every": 10}}
    spec = _spec(model={"name": "mlp", "hidden": [64], "tod": True}, epochs=30,
                 probes=probes, turnover={})
    hist = pd.DataFrame(train_cell(spec, datas[0], tmp_path, progress=False, **HOOKS))
    f = _probe(tmp_path, "tod", 30)
    corrupted = datas[0].corrupted.numpy().astype(bool)
    s = f["score"]
    assert s.dtype == np.float32 and f["pred_muted"].dtype == np.int16
    np.testing.assert_array_equal(f["ids"], np.arange(160))
    np.testing.assert_array_equal(f["label"], datas[0].y_noisy.numpy())
    np.testing.assert_allclose(s, f["loss_muted"] - f["loss_unmuted"], rtol=1e-6)
    # LLJ Sec. 3.1: random labels are memorised, so their muted sub-network misses them
    assert s[corrupted].mean() > 2 * s[~corrupted].mean()
    assert (s[corrupted][:, None] > s[~corrupted][None, :]).mean() > 0.75  # AUROC
    last = hist.iloc[-1]
    assert last["tod_unmuted_acc"] == pytest.approx((f["pred_unmuted"] == f["label"]).mean())
    assert last["tod_muted_acc"] == pytest.approx((f["pred_muted"] == f["label"]).mean())
    assert last["tod_unmuted_acc"] > last["tod_muted_acc"] + 0.1
    assert hist["tod_muted_acc"].iloc[[1, 2]].isna().all()  # due every 10 epochs only


def test_a_step_on_one_example_leaves_its_muted_sub_network_untouched():
    _, datas = _data()
    spec = _spec(turnover={})
    spec["train"]["optimizer"] = {"name": "sgd", "lr": 0.5}
    trainer = GroupTrainer([spec], datas, **HOOKS)
    model = trainer.group.model
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    i = 37
    loss = trainer.objective[1].make(trainer.hook_context, 0, {})(
        trainer.data.train_batch(torch.tensor([[i]]))[0], trainer.data.y_noisy[:, [i]],
        trainer.data.ids[None, [i]], False)
    trainer.opt.zero_grad()
    loss.sum().backward()
    trainer.opt.step()
    after = model.state_dict()
    on = [m[0, 0] > 0 for m in tod_masks([0], torch.tensor([[i]]), model.tod_widths)]
    off = [~m for m in on]
    muted = {"hidden.0.weight": before["hidden.0.weight"][off[0]],
             "hidden.0.bias": before["hidden.0.bias"][off[0]],
             "hidden.1.weight": before["hidden.1.weight"][off[1]][:, off[0]],
             "hidden.1.bias": before["hidden.1.bias"][off[1]],
             "fc.weight": before["fc.weight"][:, off[1]]}
    assert set(muted) == set(after)  # the classifier has no bias: every parameter is here
    now = {"hidden.0.weight": after["hidden.0.weight"][off[0]],
           "hidden.0.bias": after["hidden.0.bias"][off[0]],
           "hidden.1.weight": after["hidden.1.weight"][off[1]][:, off[0]],
           "hidden.1.bias": after["hidden.1.bias"][off[1]],
           "fc.weight": after["fc.weight"][:, off[1]]}
    for k in muted:
        assert torch.equal(muted[k], now[k]), k
    # the unmuted sub-network did learn from the example
    assert not torch.equal(before["fc.weight"][:, on[1]], after["fc.weight"][:, on[1]])
    assert not torch.equal(before["hidden.0.weight"][on[0]], after["hidden.0.weight"][on[0]])


def _tod_probes():
    return {"tod": {"epochs": [0, 3]}, "tod_unmuted_acc": {"every": 1},
            "tod_muted_acc": {"every": 1}, "correctness": {"epochs": [3]}}


def test_a_stacked_turnover_group_equals_each_cell_alone(tmp_path):
    seeds = (0, 1)
    _, datas = _data(seeds)
    specs = [_spec(s, probes=_tod_probes(), lr=0.05, turnover={}) for s in seeds]
    runs = [tmp_path / "g" / s["slug"] for s in specs]
    group = train_group(specs, datas, runs, mode="stacked", progress=False, **HOOKS)
    assert io.read_json(runs[0] / "run.json")["group"]["mode"] == "stacked"
    for spec, data, g, run in zip(specs, datas, group, runs, strict=True):
        alone = tmp_path / "a" / spec["slug"]
        a = train_cell(spec, data, alone, progress=False, **HOOKS)
        pd.testing.assert_frame_equal(pd.DataFrame(g), pd.DataFrame(a), check_exact=False,
                                      rtol=1e-4, atol=1e-5)
        for epoch in (0, 3):
            fg, fa = _probe(run, "tod", epoch), _probe(alone, "tod", epoch)
            for k in ("score", "loss_unmuted", "loss_muted"):
                np.testing.assert_allclose(fg[k], fa[k], rtol=1e-4, atol=1e-5, err_msg=k)
            for k in ("ids", "label", "pred_unmuted", "pred_muted"):
                np.testing.assert_array_equal(fg[k], fa[k], err_msg=k)
    # each cell's masks come from its own seed: the two cells' scores differ at init
    s0, s1 = (_probe(r, "tod", 0)["score"] for r in runs)
    assert np.abs(s0 - s1).max() > 1e-3


def test_pack_bits_equals_numpy_packbits():
    rng = np.random.default_rng(0)
    for n in (1, 7, 8, 13, 64):
        bits = rng.random((2, n)) < 0.5
        out = llj.pack_bits(torch.from_numpy(bits))
        assert out.dtype == torch.uint8
        np.testing.assert_array_equal(out.numpy(), np.packbits(bits, axis=1))
        np.testing.assert_array_equal(np.unpackbits(out.numpy()[1], count=n), bits[1])


def _direct_predictions(spec, data, run):
    """argmax of the saved model on the full training and the test set, computed here."""
    model = build_model(spec, data.x, 4)
    model.load_state_dict(torch.load(run / "model.pt", weights_only=True))
    model.eval()
    with torch.no_grad():
        return [model((x.float() / 255 - data.mean) / data.std).argmax(1).numpy()
                for x in (data.x_all, data.x_test)]


@pytest.mark.parametrize("subset", [None, 100])
def test_correctness_bits_cover_the_full_training_set(tmp_path, subset):
    arrays, datas = _data(rate=0.4, subset=subset)
    data = datas[0]
    assert data.x.shape[0] == (subset or 160) and data.x_all.shape[0] == 160
    spec = _spec(model={"name": "mlp", "hidden": [16]}, epochs=2, lr=0.05,
                 probes={"correctness": {"every": 1}, "per_example": {"epochs": [2]}})
    train_cell(spec, data, tmp_path, progress=False, **HOOKS)
    f = _probe(tmp_path, "correctness", 2)
    assert f["n_train"].tolist() == [160] and f["n_test"].tolist() == [48]
    train = np.unpackbits(f["train_bits"], count=160).astype(bool)
    test = np.unpackbits(f["test_bits"], count=48).astype(bool)
    pred_all, pred_test = _direct_predictions(spec, data, tmp_path)
    np.testing.assert_array_equal(train, pred_all == data.y_all.numpy())
    np.testing.assert_array_equal(test, pred_test == arrays["y_test"])
    assert 0 < train.sum() < 160
    ids = data.ids.numpy()
    np.testing.assert_array_equal(train[ids], _probe(tmp_path, "per_example", 2)["correct"])
    left_out = np.setdiff1d(np.arange(160), ids)
    assert len(left_out) == 160 - len(ids)
    if subset:
        assert train[left_out].any()  # examples never trained on are evaluated too
    assert _probe(tmp_path, "correctness", 0)["train_bits"].shape == (20,)


def test_without_a_full_set_correctness_covers_the_trained_examples(tmp_path):
    _, datas = _data(rate=0.5, noise="random_inputs", subset=100)
    assert datas[0].x_all is None
    spec = _spec(model={"name": "mlp", "hidden": [16]}, epochs=1,
                 probes={"correctness": {"every": 1}, "per_example": {"epochs": [1]}})
    train_cell(spec, datas[0], tmp_path, progress=False, **HOOKS)
    f = _probe(tmp_path, "correctness", 1)
    assert f["n_train"].tolist() == [100]
    np.testing.assert_array_equal(np.unpackbits(f["train_bits"], count=100).astype(bool),
                                  _probe(tmp_path, "per_example", 1)["correct"])


def _probe_files(run):
    return {p.name: io.load_npz(p) for p in sorted((run / "probes").glob("*.npz"))}


def test_a_resumed_turnover_run_equals_an_uninterrupted_one(tmp_path):
    _, datas = _data()
    probes = {"tod": {"every": 1}, "tod_muted_acc": {"every": 1},
              "correctness": {"every": 1}}
    spec = _spec(epochs=4, probes=probes, lr=0.05, turnover={})
    full = train_cell(spec, datas[0], tmp_path / "full", progress=False, **HOOKS)
    GroupTrainer([spec], datas, **HOOKS).run([tmp_path / "part"], stop_after=2,
                                             progress=False)
    assert (tmp_path / "part" / "checkpoint.pt").exists()
    resumed = train_cell(spec, datas[0], tmp_path / "part", progress=False, **HOOKS)
    pd.testing.assert_frame_equal(pd.DataFrame(full), pd.DataFrame(resumed), check_exact=True)
    a, b = _probe_files(tmp_path / "full"), _probe_files(tmp_path / "part")
    assert a.keys() == b.keys() and len(a) == 10
    for name in a:
        for k in a[name]:
            np.testing.assert_array_equal(a[name][k], b[name][k], err_msg=f"{name}: {k}")


@pytest.mark.parametrize("subset", [None, 100])
def test_gradient_statistics_are_logged_every_step_without_changing_training(tmp_path, subset):
    _, datas = _data(rate=0.4, subset=subset)
    data = datas[0]
    n = data.x.shape[0]
    probes = {"grad_stats": {"every": 1}, "per_example": {"epochs": [2]}}
    spec = _spec(model={"name": "mlp", "hidden": [16]}, epochs=2, batch=32, probes=probes,
                 lr=0.05, track_gradients={"frac": 0.5})
    tracked = pd.DataFrame(train_cell(spec, data, tmp_path / "t", progress=False, **HOOKS))
    assert _probe(tmp_path / "t", "grad_stats", 0)["step"].shape == (0,)
    corrupted = data.corrupted.numpy().astype(bool)
    easy, difficult = tracked_subsets(corrupted, 0.5)
    assert (len(easy), len(difficult)) == (n // 2, corrupted.sum()) and corrupted.sum() < n // 2
    steps = -(-n // 32)
    for epoch in (1, 2):
        f = _probe(tmp_path / "t", "grad_stats", epoch)
        np.testing.assert_array_equal(f["step"], np.arange(steps) + steps * (epoch - 1))
        assert (f["n_easy"] + f["n_difficult"] <= 32).all()
        # every example is seen once per epoch: the counts add up to the subsets' sizes
        assert (f["n_easy"].sum(), f["n_difficult"].sum()) == (len(easy), len(difficult))
        for part in ("easy", "difficult", "all"):
            defined = f[f"n_{part}"] >= 2 if part != "all" else np.ones(steps, bool)
            cos = f[f"cos_{part}"]
            assert np.isfinite(cos[defined]).all() and np.isnan(cos[~defined]).all()
            assert (np.abs(cos[defined]) <= 1 + 1e-12).all()
        np.testing.assert_allclose(f["contrib_all"], f["grad_norm"], rtol=1e-10)  # Eq. 4
        assert (f["grad_norm"] > 0).all()
    # the statistics ride along: training is exactly the plain one
    spec["train"].pop("track_gradients")
    spec["probes"] = {"per_example": {"epochs": [2]}}
    plain = pd.DataFrame(train_cell(spec, data, tmp_path / "p", progress=False, **HOOKS))
    pd.testing.assert_frame_equal(tracked, plain, check_exact=True)


def test_self_influence_equals_the_memorization_score(tmp_path):
    """On a subset run, so masks follow stable ids, not positions in the trained data."""
    _, datas = _data(subset=100)
    spec = _spec(epochs=3, lr=0.05, probes={"tod": {"epochs": [3]}}, turnover={}, seed=5)
    trainer = GroupTrainer([spec], datas, **HOOKS)
    trainer.run([tmp_path], progress=False)
    score = _probe(tmp_path, "tod", 3)["score"]
    data, model = trainer.data, trainer.group.model
    picks = [3, 50, 91]
    x = data.normalize(data.x[picks])
    ids = data.ids[picks].numpy()
    assert (ids != picks).all()
    np.testing.assert_array_equal(_probe(tmp_path, "tod", 3)["ids"], data.ids.numpy())
    inf = llj.influence(model, 5, ids, x, data.y_noisy[0, picks], trainer.loss_fns[0])
    assert inf.shape == (3, 3) and not model.training
    np.testing.assert_allclose(inf.diagonal().numpy(), score[picks], rtol=1e-5, atol=1e-6)
    assert np.abs(inf.numpy() - np.diag(inf.diagonal().numpy())).max() > 1e-4  # others differ


def test_tracked_subsets_by_hand():
    corrupted = np.zeros(12, bool)
    corrupted[[2, 5, 11]] = True
    easy, difficult = tracked_subsets(corrupted, frac=1 / 3)  # round(12 / 3) = 4 each
    assert len(easy) == 4 and difficult.tolist() == [2, 5, 11]  # only 3 are corrupted
    assert (np.diff(easy) > 0).all() and not corrupted[easy].any()
    again, _ = tracked_subsets(corrupted, frac=1 / 3)
    np.testing.assert_array_equal(easy, again)
    draws = {tuple(tracked_subsets(corrupted, 1 / 3, seed)[0]) for seed in range(5)}
    assert len(draws) > 1  # the seed decides the draw
    for bad in ({"frac": 0}, {"frac": 1.5}):
        with pytest.raises(ValueError, match="frac"):
            tracked_subsets(corrupted, **bad)
    with pytest.raises(ValueError, match="bool"):
        tracked_subsets(corrupted.astype(int))


def test_bad_settings_are_refused_with_their_key():
    """What only a run can tell (the model's layers, the group's mode) is refused by the
    engine; options are closed by their schemas at planning (tests/test_hooks.py)."""
    _, datas = _data(seeds=(0, 1))
    with pytest.raises(ValueError, match=r"train\.turnover.*'mlp'.*tod_widths"):
        GroupTrainer([_spec(model={"name": "mlp", "hidden": [8]}, turnover={})], datas[:1],
                     **HOOKS).train_epoch(0)
    with pytest.raises(ValueError, match=r"train\.track_gradients"):
        GroupTrainer([_spec(s, track_gradients={}) for s in (0, 1)], datas,
                     mode="stacked", **HOOKS)
    # a caller that skipped planning: the engine refuses the probe's unmet need at once
    with pytest.raises(ValueError, match=r"probes\.grad_stats.*only with "
                                         r"train\.track_gradients"):
        GroupTrainer([_spec(model={"name": "mlp", "hidden": [8]},
                            probes={"grad_stats": {"every": 1}})], datas[:1], **HOOKS)
    plain = GroupTrainer([_spec(model={"name": "mlp", "hidden": [8]})], datas[:1], **HOOKS)
    ctx = plain.hook_context
    with pytest.raises(ValueError, match=r"probes\.tod"):
        llj.measure_tod({}, ctx, 0, plain.logits("train"))


def test_scores_and_correctness_bits_are_float32_under_the_engines_autocast():
    """On CUDA the engine trains under bf16 autocast (``ctx.amp``); the memorization scores
    (a difference of two nearby losses) and the correctness bits are computed in float32
    anyway. CPU bf16 autocast stands in for CUDA's: the outputs equal those without it, while
    the same pass under bf16 does move the scores (so the check can fail)."""
    import contextlib
    import dataclasses

    _, datas = _data()
    spec = _spec(probes={"tod": {"epochs": [1]}, "correctness": {"every": 1}}, turnover={})
    ctx = GroupTrainer([spec], datas, **HOOKS).hook_context
    plain = dataclasses.replace(ctx, amp=contextlib.nullcontext, state={})
    bf16 = dataclasses.replace(ctx, amp=lambda: torch.autocast("cpu", dtype=torch.bfloat16),
                               state={})
    for name, value in llj._tod_pass(plain).items():
        torch.testing.assert_close(llj._tod_pass(bf16)[name], value, rtol=0, atol=0)
    torch.testing.assert_close(llj._correct_on_all(bf16), llj._correct_on_all(plain))
    with torch.autocast("cpu", dtype=torch.bfloat16):  # what the probe used to compute
        rounded = llj._tod_pass(plain)
    assert not torch.equal(rounded["loss_muted"], llj._tod_pass(plain)["loss_muted"])
