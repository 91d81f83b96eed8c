"""Seed groups: a cell trained in a group equals the same cell trained alone; groups resume
exactly; the mode rule; per-example probes agree with the history."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from memrepro import io
from memrepro.device_data import to_device_many
from memrepro.engine import GroupTrainer, train_cell, train_group
from memrepro.models import get_model
from memrepro.noise import apply_noise
from memrepro.paths import probe_path
from memrepro.stacked import choose_mode

CPU = torch.device("cpu")


def _arrays(n=160, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = (rng.integers(0, 60, (n, 1, 6, 6)) + 40 * y[:, None, None, None]).astype(np.uint8)
    return {"x_train": x, "y_train": y, "x_test": x[:48], "y_test": y[:48]}


def _cells(seeds, rates, losses=("cce",), noise="symmetric_other", model=None, epochs=4):
    """Specs and on-device data of every (loss, rate, seed): one shared image tensor."""
    arrays = _arrays()
    specs, noisies = [], []
    for loss in losses:
        for rate in rates:
            for seed in seeds:
                r = apply_noise(noise, arrays["y_train"], 4, rate, seed)
                noisies.append({"labels": r.labels, "corrupted": r.corrupted, **r.extra})
                specs.append({
                    "model": model or {"name": "mlp", "hidden": [32, 16]},
                    "loss": {"name": loss, "params": {}}, "seed": seed,
                    "slug": f"loss-{loss}_eta-{rate}_seed-{seed}",
                    "noise": {"name": noise, "rate": rate},
                    "probes": {"per_example": {"epochs": [0, epochs]}},
                    "train": {"epochs": epochs, "batch_size": 32, "checkpoint_every": 2,
                              "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9,
                                            "weight_decay": 1e-4},
                              "schedule": {"name": "multistep", "milestones": [3],
                                           "gamma": 0.1}}})
    return specs, to_device_many(arrays, noisies, 4, CPU)


def _alone(specs, datas, root):
    return [train_cell(s, d, root / s["slug"], progress=False)
            for s, d in zip(specs, datas, strict=True)]


def _close(group, alone, exact=False):
    for g, a in zip(group, alone, strict=True):
        g, a = pd.DataFrame(g), pd.DataFrame(a)
        if exact:
            pd.testing.assert_frame_equal(g, a, check_exact=True)
        else:
            pd.testing.assert_frame_equal(g, a, check_exact=False, rtol=1e-4, atol=1e-5)


def _models_close(root_a, root_b, slugs, atol):
    for slug in slugs:
        a = torch.load(root_a / slug / "model.pt", weights_only=True)
        b = torch.load(root_b / slug / "model.pt", weights_only=True)
        assert a.keys() == b.keys()
        for k in a:
            torch.testing.assert_close(a[k].float(), b[k].float(), atol=atol, rtol=1e-4,
                                       msg=f"{slug}: {k}")


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.mark.parametrize("losses,rates", [(("cce",), (0.4,)), (("cce", "rll", "nmse"), (0.0, 0.6))])
def test_stacked_group_equals_cells_trained_alone(tmp_path, losses, rates):
    specs, datas = _cells([0, 1, 2], rates, losses)
    group = train_group(specs, datas, [tmp_path / "g" / s["slug"] for s in specs],
                        mode="stacked", progress=False)
    alone = _alone(specs, datas, tmp_path / "a")
    _close(group, alone)
    _models_close(tmp_path / "g", tmp_path / "a", [s["slug"] for s in specs], atol=1e-5)
    # seeds differ, so do the runs: the group did not train one model M times
    assert group[0][-1]["loss"] != group[1][-1]["loss"]
    run = io.read_json(tmp_path / "g" / specs[0]["slug"] / "run.json")
    assert run["group"]["mode"] == "stacked" and run["group"]["size"] == len(specs)


def test_stacked_group_with_adam_equals_alone(tmp_path):
    specs, datas = _cells([0, 1, 2], (0.4,), epochs=3)
    for s in specs:
        s["train"] = {**s["train"], "optimizer": {"name": "adam", "lr": 3e-3}}
    group = train_group(specs, datas, [tmp_path / "g" / s["slug"] for s in specs],
                        mode="stacked", progress=False)
    _close(group, _alone(specs, datas, tmp_path / "a"))
    _models_close(tmp_path / "g", tmp_path / "a", [s["slug"] for s in specs], atol=1e-5)


def test_stacked_batchnorm_convnet_keeps_per_model_statistics(tmp_path):
    model = {"name": "resnet_cifar", "depth": 8, "width": 4}
    specs, datas = _cells([0, 1], (0.2,), model=model, epochs=2)
    group = train_group(specs, datas, [tmp_path / "g" / s["slug"] for s in specs],
                        mode="stacked", progress=False)
    alone = _alone(specs, datas, tmp_path / "a")
    _close(group, alone)
    _models_close(tmp_path / "g", tmp_path / "a", [s["slug"] for s in specs], atol=1e-4)
    a = torch.load(tmp_path / "g" / specs[0]["slug"] / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "g" / specs[1]["slug"] / "model.pt", weights_only=True)
    assert not torch.equal(a["bn1.running_mean"], b["bn1.running_mean"])
    assert int(a["bn1.num_batches_tracked"]) == 2 * 5  # 160 examples / 32, 2 epochs


def test_stacked_batchnorm_mlp_equals_cells_trained_alone(tmp_path):
    """MD's MLP shape in miniature (Linear -> BN -> ReLU, a feature layer, classifier with
    bias): the hand-batched forward_stacked trains each model as BatchNorm1d alone would, same
    histories and same weights and running statistics, on 160 = 5 x 32 examples."""
    model = {"name": "mlp", "hidden": [32, 16], "batchnorm": True, "feature_dim": 4}
    specs, datas = _cells([0, 1, 2], (0.4,), model=model, epochs=3)
    group = train_group(specs, datas, [tmp_path / "g" / s["slug"] for s in specs],
                        mode="stacked", progress=False)
    alone = _alone(specs, datas, tmp_path / "a")
    _close(group, alone)
    _models_close(tmp_path / "g", tmp_path / "a", [s["slug"] for s in specs], atol=1e-5)
    a = torch.load(tmp_path / "g" / specs[0]["slug"] / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "g" / specs[1]["slug"] / "model.pt", weights_only=True)
    assert "norms.2.running_var" in a and not torch.equal(a["norms.2.running_var"],
                                                          b["norms.2.running_var"])
    assert int(a["norms.0.num_batches_tracked"]) == 3 * 5
    run = io.read_json(tmp_path / "g" / specs[0]["slug"] / "run.json")
    assert run["group"]["mode"] == "stacked"


def test_per_model_inputs_randx_equal_alone(tmp_path):
    specs, datas = _cells([0, 1], (0.5,), noise="random_inputs", epochs=3)
    assert datas[0].x is not datas[1].x  # each seed replaced other inputs
    group = train_group(specs, datas, [tmp_path / "g" / s["slug"] for s in specs],
                        mode="stacked", progress=False)
    _close(group, _alone(specs, datas, tmp_path / "a"))


def test_sequential_group_is_bitwise_alone_and_shares_images(tmp_path):
    specs, datas = _cells([0, 1, 2], (0.4,))
    assert datas[0].x is datas[1].x  # one copy of the images for the whole job
    group = train_group(specs, datas, [tmp_path / "g" / s["slug"] for s in specs],
                        mode="sequential", progress=False)
    _close(group, _alone(specs, datas, tmp_path / "a"), exact=True)
    assert not list((tmp_path / "g").rglob("checkpoint.pt"))
    run = io.read_json(tmp_path / "g" / specs[2]["slug"] / "run.json")
    assert run["group"]["mode"] == "sequential" and len(run["group"]["cells"]) == 3


@pytest.mark.parametrize("mode", ["stacked", "sequential"])
def test_group_resume_equals_uninterrupted(tmp_path, mode):
    specs, datas = _cells([0, 1, 2], (0.4,), epochs=5)
    dirs = [tmp_path / "full" / s["slug"] for s in specs]
    full = train_group(specs, datas, dirs, mode=mode, progress=False)
    dirs = [tmp_path / "cut" / s["slug"] for s in specs]
    part = train_group(specs, datas, dirs, mode=mode, progress=False, stop_after=3)
    assert len(part[0]) == 4 and not (dirs[0] / "history.csv").exists()
    resumed = train_group(specs, datas, dirs, mode=mode, progress=False)
    _close(resumed, full, exact=True)
    _models_close(tmp_path / "full", tmp_path / "cut", [s["slug"] for s in specs], atol=0)
    assert not list((tmp_path / "cut").rglob("checkpoint.pt"))


def test_a_checkpoint_from_a_stacked_run_resumes_alone(tmp_path):
    """Checkpoints are per cell in the single-model format, whichever mode wrote them."""
    specs, datas = _cells([0, 1], (0.4,), epochs=4)
    dirs = [tmp_path / s["slug"] for s in specs]
    train_group(specs, datas, dirs, mode="stacked", progress=False, stop_after=2)
    resumed = train_cell(specs[1], datas[1], dirs[1], progress=False)
    _close([resumed], [train_cell(specs[1], datas[1], tmp_path / "alone", progress=False)])


def test_group_refuses_cells_with_different_models(tmp_path):
    specs, datas = _cells([0, 1], (0.4,))
    specs[1] = copy.deepcopy(specs[1])
    specs[1]["model"]["hidden"] = [8]
    with pytest.raises(ValueError, match="differ in 'model'"):
        GroupTrainer(specs, datas, mode="stacked")


def test_mode_rule():
    tiny = get_model("mlp", hidden=[16, 16], image_size=14)
    wide = get_model("mlp", hidden=[4096], image_size=28)
    narrow_but_784_in = get_model("mlp", hidden=[16], image_size=28)
    digits = get_model("mlp", hidden=[256, 256], image_size=8)
    conv = get_model("resnet_cifar", depth=8, width=4)
    cuda = torch.device("cuda")
    assert choose_mode("auto", tiny, 1, CPU) == "single"
    assert choose_mode("auto", tiny, 16, CPU) == "stacked"
    assert choose_mode("auto", wide, 16, CPU) == "sequential"
    assert choose_mode("auto", narrow_but_784_in, 16, CPU) == "sequential"
    assert choose_mode("auto", digits, 16, CPU) == "stacked"
    assert choose_mode("auto", wide, 100, cuda) == "stacked"
    assert choose_mode("auto", conv, 4, CPU) == "sequential"
    assert choose_mode("stacked", conv, 4, CPU) == "stacked"
    with pytest.raises(ValueError, match="group.mode: 'vmap'"):
        choose_mode("vmap", tiny, 4, CPU)


def test_per_example_probe_agrees_with_history(tmp_path):
    specs, datas = _cells([0, 1], (0.4,), losses=("cce",), epochs=3)
    dirs = [tmp_path / s["slug"] for s in specs]
    hist = train_group(specs, datas, dirs, mode="stacked", progress=False)
    for h, d, out in zip(hist, datas, dirs, strict=True):
        for epoch in (0, 3):
            p = io.load_npz(probe_path(out, "per_example", epoch))
            assert p["pred"].shape == (160,) and int(p["epoch"][0]) == epoch
            j1 = float((p["pred"] == d.y_noisy.numpy()).mean())
            assert j1 == pytest.approx(h[epoch]["j1"])
            # each model's own noisy labels, and `correct` is agreement with them
            np.testing.assert_array_equal(p["label"], d.y_noisy.numpy())
            np.testing.assert_array_equal(p["correct"], p["pred"] == p["label"])
        # per-example CCE at the end: its mean is the training loss in eval mode, >= 0
        assert (p["loss"] >= 0).all() and np.isfinite(p["loss"]).all()


def test_many_network_group_equals_networks_trained_one_by_one(tmp_path):
    """Arpit et al. Fig. 1 in miniature: 24 independently initialised and shuffled MLPs
    (196-16-16-10 shape, here 36-16-16-4) stacked for one epoch; each network's per-example
    predictions and losses equal those of the network trained alone."""
    specs, datas = _cells(list(range(24)), (0.0,), model={"name": "mlp", "hidden": [16, 16]},
                          epochs=1)
    group = train_group(specs, datas, [tmp_path / "g" / s["slug"] for s in specs],
                        mode="auto", progress=False)
    run = io.read_json(tmp_path / "g" / specs[0]["slug"] / "run.json")
    assert run["group"]["mode"] == "stacked"  # auto stacks these on a CPU
    _close(group, _alone(specs, datas, tmp_path / "a"))
    mismatched = 0
    for s in specs:
        g = io.load_npz(probe_path(tmp_path / "g" / s["slug"], "per_example", 1))
        a = io.load_npz(probe_path(tmp_path / "a" / s["slug"], "per_example", 1))
        np.testing.assert_allclose(g["loss"], a["loss"], rtol=1e-4, atol=1e-5)
        mismatched += int((g["pred"] != a["pred"]).sum())
    assert mismatched <= 2  # of 24 x 160 predictions: only exact near-ties may flip


def test_an_objective_the_trainer_was_not_given_is_refused():
    """train.<name> switches an objective on: a trainer that does not know the name must not
    silently train the plain loss."""
    specs, datas = _cells([0], (0.0,))
    spec = copy.deepcopy(specs[0])
    spec["train"]["adversarial"] = {"weight": 0.5}
    with pytest.raises(ValueError, match=r"train\.adversarial: no such setting or objective"):
        GroupTrainer([spec], datas)
    spec["train"] = {**specs[0]["train"], "epoch": 3}  # a typo is refused the same way
    with pytest.raises(ValueError, match=r"train\.epoch"):
        GroupTrainer([spec], datas)
