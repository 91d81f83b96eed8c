"""MD's ``features`` probe (memrepro.papers.md.training) through the engine: on a tiny stacked
group of batch-norm MLPs with a 2-unit feature layer, each run's file holds exactly what the
run's saved model computes, with the ids, labels and classifier of that run."""

import numpy as np
import pandas as pd
import pytest
import torch

from memrepro import io
from memrepro.device_data import GroupData, to_device_many
from memrepro.engine import build_model, train_cell, train_group
from memrepro.noise import apply_noise
from memrepro.papers.md import training as md
from memrepro.papers.md.nc import cell_metrics, classifier_accuracy
from memrepro.paths import probe_path
from memrepro.probes import CORE_PROBES

CPU = torch.device("cpu")
HOOKS = {"probes": {**CORE_PROBES, **md.PROBES}, "objectives": md.OBJECTIVES}
MODEL = {"name": "mlp", "hidden": [16, 16], "batchnorm": True, "feature_dim": 2}
SUBSET = 100  # of 120 training examples: ids are not 0..n-1


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def binary_arrays(n=120, n_test=40, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n + n_test)
    x = (rng.integers(0, 120, (n + n_test, 1, 6, 6)) + 100 * y[:, None, None, None])
    x = x.astype(np.uint8)
    return {"x_train": x[:n], "y_train": y[:n], "x_test": x[n:], "y_test": y[n:]}


def make_cells(seeds, rate=0.4, epochs=3):
    arrays = binary_arrays()
    specs, noisies = [], []
    for seed in seeds:
        r = apply_noise("resample_uniform", arrays["y_train"], 2, rate, seed)
        noisies.append({"labels": r.labels, "corrupted": r.corrupted, **r.extra})
        specs.append({"model": MODEL, "loss": {"name": "cce", "params": {}}, "seed": seed,
                      "slug": f"cce_eta-{rate}_seed-{seed}",
                      "noise": {"name": "resample_uniform", "rate": rate},
                      "probes": {"features": {"epochs": [0, epochs]}},
                      "train": {"epochs": epochs, "batch_size": 16, "checkpoint_every": 5,
                                "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9}}})
    return specs, to_device_many(arrays, noisies, 2, CPU, subset=SUBSET)


def direct_features(spec, data, run):
    """The saved model's own ``features`` on the normalised training and test inputs (eval)."""
    model = build_model(spec, data.x, 2)
    model.load_state_dict(torch.load(run / "model.pt", weights_only=True))
    model.eval()
    g = GroupData.of([data])
    with torch.no_grad():
        (train, _), = list(g.eval_batches("train", 10_000))
        (test, _), = list(g.eval_batches("test", 10_000))
        return model.features(train).numpy(), model.features(test).numpy(), model


def check_run(spec, data, run, epochs, hist):
    f = io.load_npz(probe_path(run, "features", epochs))
    n, n_test = data.x.shape[0], data.x_test.shape[0]
    assert f["train"].shape == (n, 2) and f["test"].shape == (n_test, 2)
    assert f["train"].dtype == np.float32 and f["label"].dtype == np.int64
    assert f["fc_weight"].shape == (2, 2) and f["fc_bias"].shape == (2,)
    np.testing.assert_array_equal(f["ids"], data.ids.numpy())
    assert f["ids"].max() >= n  # a subset: stable ids of the prepared set, not positions
    np.testing.assert_array_equal(f["label"], data.y_noisy.numpy())
    np.testing.assert_array_equal(f["true_label"], data.y_clean.numpy())
    np.testing.assert_array_equal(f["test_label"], data.y_test.numpy())
    train, test, model = direct_features(spec, data, run)
    np.testing.assert_allclose(f["train"], train, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(f["test"], test, rtol=1e-5, atol=1e-5)
    assert (f["train"] >= 0).all() and f["train"].std(0).min() > 0  # ReLU output, not constant
    np.testing.assert_array_equal(f["fc_weight"], model.fc.weight.detach().numpy())
    np.testing.assert_array_equal(f["fc_bias"], model.fc.bias.detach().numpy())
    # the classifier on the recorded features is the run's test accuracy of its last epoch
    acc = classifier_accuracy(f["test"], f["test_label"], f["fc_weight"], f["fc_bias"])
    assert acc == pytest.approx(float(pd.DataFrame(hist)["test_acc"].iloc[-1]), abs=1e-6)
    assert cell_metrics(f)["n_corrupted"] == int(data.corrupted.sum())
    return f


def test_a_stacked_group_records_each_models_own_features(tmp_path):
    specs, datas = make_cells([0, 1, 2])
    runs = [tmp_path / s["slug"] for s in specs]
    hists = train_group(specs, datas, runs, mode="stacked", progress=False, **HOOKS)
    assert io.read_json(runs[0] / "run.json")["group"]["mode"] == "stacked"
    files = [check_run(s, d, r, 3, h)
             for s, d, r, h in zip(specs, datas, runs, hists, strict=True)]
    assert not np.allclose(files[0]["train"], files[1]["train"])  # each model its own
    assert not np.array_equal(files[0]["label"], files[1]["label"])  # each seed's noise
    assert probe_path(runs[0], "features", 0).exists()  # at initialisation too


def test_a_single_run_records_the_same_format(tmp_path):
    specs, datas = make_cells([4])
    hist = train_cell(specs[0], datas[0], tmp_path, progress=False, **HOOKS)
    check_run(specs[0], datas[0], tmp_path, 3, hist)


def test_the_classifier_comes_from_state_dicts_without_stacked_parameters():
    """A group without a stacked ``params`` mapping (Single, sequential) gives its models'
    state dicts; a classifier without bias is refused with the key named."""
    class Group:
        size = 2

        def __init__(self, bias=True):
            self.sds = [{"fc.weight": torch.full((2, 3), float(i))} for i in range(2)]
            for i, sd in enumerate(self.sds):
                if bias:
                    sd["fc.bias"] = torch.tensor([i, -i], dtype=torch.float64)

        def state_dict(self, i):
            return self.sds[i]

    class Context:  # what classifier reads of the HookContext
        size = 2
        group = Group()

    w, b = md.classifier(Context())
    assert w.shape == (2, 2, 3) and w[1].eq(1).all() and b.dtype == torch.float32
    assert b[1].tolist() == [1.0, -1.0]
    Context.group = Group(bias=False)
    with pytest.raises(ValueError, match="probes.features: the model's classifier `fc` has "
                                         "no bias"):
        md.classifier(Context())


def test_the_figure_kinds_read_what_the_probe_wrote(tmp_path):
    """End to end on real probe files: md_scatter's numbers are those of the saved models'
    own features; feature_scatter draws the same run's centroids."""
    from memrepro.papers.md import feature_scatter, md_scatter
    from memrepro.papers.md.nc import memorization, nc1

    specs, datas = make_cells([0, 1])
    runs = [tmp_path / s["slug"] for s in specs]
    train_group(specs, datas, runs, mode="stacked", progress=False, **HOOKS)
    entries = [(0, "toy", 0, {**s, "experiment": "md_toy", "dataset": "toy_01"},
                [str(probe_path(r, "features", e)) for e in (0, 3)])
               for s, r in zip(specs, runs, strict=True)]
    spec = {"kind": "md_scatter", "title": "t",
            "panels": [{"experiment": "md_toy", "loss": "cce", "title": "toy"}]}
    table = md_scatter.KIND.table(entries, spec)
    assert table["epoch"].tolist() == [3, 3] and table["seed"].tolist() == [0, 1]
    train, test, _ = direct_features(specs[1], datas[1], runs[1])
    d = datas[1]
    want = memorization(train, d.y_clean.numpy(), d.y_noisy.numpy(), test, d.y_test.numpy())
    row = table.iloc[1]
    assert row["mem"] == pytest.approx(want.total, rel=1e-4)
    assert row["n_corrupted"] == want.count == int(d.corrupted.sum()) > 0
    assert row["nc1_test"] == pytest.approx(nc1(test, d.y_test.numpy(), 2), rel=1e-4)
    fig3 = {"kind": "feature_scatter", "title": "t",
            "panels": [{"experiment": "md_toy", "loss": "cce", "seed": 1}]}
    geo = feature_scatter.KIND.table(entries, fig3)
    h1 = geo[(geo["part"] == "centroid") & (geo["cls"] == 1)]
    np.testing.assert_allclose(h1[["x", "y"]].to_numpy()[0],
                               test[d.y_test.numpy() == 1].mean(0), rtol=1e-5, atol=1e-6)
