"""What Arpit et al.'s Figs. 5-11 need from the pipeline: sweeps over a hyper-parameter,
training until the labels are fitted, and the critical sample ratio measured during
training, per cell and independent of the group."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import load_params
from test_groups import _cells

from memrepro.config import ConfigError, make_groups, resolve
from memrepro.device_data import to_device_many
from memrepro.engine import GroupTrainer, train_cell, train_group
from memrepro.metrics import epochs_to_fit
from memrepro.stacked import Stacked


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _with_experiment(**exp):
    cfg = load_params()
    base = {"paper": "ar", "dataset": "mnist", "model": {"name": "mlp", "hidden": 8},
            "losses": ["cce"], "noise": {"name": "random_inputs", "rates": [0.0, 0.5]},
            "seeds": 2, "train": {"epochs": 2, "batch_size": 8,
                                  "optimizer": {"name": "sgd", "lr": 0.1}}}
    cfg["experiments"] = {"x": {**base, **exp}}
    cfg["figures"] = {}
    cfg["scales"] = {"smoke": {"substitute": {"mnist": "digits"}}}
    return cfg


def test_sweep_expands_cells_and_sets_the_swept_key():
    plan = resolve(_with_experiment(sweep={"name": "width", "key": "model.hidden",
                                           "values": [4, 16, 64]}))
    assert len(plan.cells) == 3 * 2 * 2  # widths x rates x seeds
    cell = plan.cells[("x", "loss-cce_eta-0.5_seed-1_width-16")]
    assert cell["model"] == {"name": "mlp", "hidden": 16}
    assert cell["sweep"] == {"name": "width", "keys": ["model.hidden"], "values": [16],
                             "label": "16"}
    # by default a job never mixes sweep values (they are other models)
    assert len(plan.groups) == 3 * 2
    assert all(len({c["model"]["hidden"] for c in g["cells"]}) == 1
               for g in plan.groups.values())


def test_sweep_of_several_keys_and_grouping_across_the_sweep():
    cfg = _with_experiment(
        sweep={"name": "adv", "keys": ["model.dropout", "train.optimizer.weight_decay"],
               "values": [[0.1, 0.0], [0.5, 0.01]]},
        group={"by": ["seed", "eta", "sweep"]})
    plan = resolve(cfg)
    cell = plan.cells[("x", "loss-cce_eta-0.0_seed-0_adv-0.5-0.01")]
    assert cell["model"]["dropout"] == 0.5 and cell["train"]["optimizer"]["weight_decay"] == 0.01
    assert list(plan.groups) == ["x/loss-cce"] and len(plan.groups["x/loss-cce"]["cells"]) == 8
    # the base experiment is untouched by its sweep points
    assert "dropout" not in plan.experiments["x"]["model"]


@pytest.mark.parametrize("sweep, needle", [
    ({"name": "w", "key": "noise.rates", "values": [1]}, "noise.rates"),
    ({"name": "w", "key": "model.hidden", "keys": ["model.hidden"], "values": [1]}, "exactly one"),
    ({"name": "w", "keys": ["model.hidden", "subset"], "values": [[8]]}, "values[0]"),
    ({"name": "w", "key": "train.epochs", "values": [0]}, "train.epochs"),
])
def test_bad_sweeps_name_the_key(sweep, needle):
    with pytest.raises(ConfigError) as err:
        resolve(_with_experiment(sweep=sweep))
    assert needle in str(err.value), str(err.value)


def test_subset_sweep_cells_train_in_one_job_each_on_its_own_subset(tmp_path):
    specs, _ = _cells([0], [0.0], epochs=2)
    arrays = _arrays_of_cells()
    specs = [dict(copy.deepcopy(specs[0]), subset=n, slug=f"n{n}") for n in (40, 96)]
    noisy = {"labels": arrays["y_train"], "corrupted": np.zeros(len(arrays["y_train"]), bool)}
    datas = [to_device_many(arrays, [noisy], 4, torch.device("cpu"), subset=s["subset"])[0]
             for s in specs]
    group = train_group(specs, datas, [tmp_path / "g" / s["slug"] for s in specs],
                        progress=False)
    for s, d, h in zip(specs, datas, group, strict=True):
        assert d.x.shape[0] == s["subset"]
        alone = train_cell(s, d, tmp_path / "alone" / s["slug"], progress=False)
        pd.testing.assert_frame_equal(pd.DataFrame(h), pd.DataFrame(alone))


def _arrays_of_cells():
    from test_groups import _arrays
    return _arrays()


def test_stop_when_fit_ends_at_the_first_fitted_epoch(tmp_path):
    specs, datas = _cells([0], [0.0], epochs=60)
    spec = copy.deepcopy(specs[0])
    spec["train"].update(optimizer={"name": "sgd", "lr": 0.1, "momentum": 0.9},
                         schedule={"name": "constant"})
    full = pd.DataFrame(train_cell(spec, datas[0], tmp_path / "full", progress=False))
    first = epochs_to_fit(full)
    assert 1 <= first < 60, "the toy problem must be fitted within the cap"
    spec["train"]["stop_when_fit"] = True
    stopped = pd.DataFrame(train_cell(spec, datas[0], tmp_path / "stop", progress=False))
    assert stopped["epoch"].iloc[-1] == first
    pd.testing.assert_frame_equal(stopped, full.iloc[: int(first) + 1])
    saved = pd.read_csv(tmp_path / "stop" / "history.csv")
    assert len(saved) == first + 1


def test_a_stopped_job_resumed_does_not_train_further(tmp_path):
    specs, datas = _cells([0], [0.0], epochs=60)
    spec = copy.deepcopy(specs[0])
    spec["train"].update(optimizer={"name": "sgd", "lr": 0.1, "momentum": 0.9},
                         schedule={"name": "constant"}, stop_when_fit=True, checkpoint_every=1)
    out = tmp_path / "run"
    ref = train_cell(spec, datas[0], tmp_path / "ref", progress=False)
    fitted_at = len(ref) - 1
    # interrupted exactly at the fitted epoch: the checkpoint says done, a rerun adds nothing
    part = GroupTrainer([spec], [datas[0]]).run([out], stop_after=fitted_at, progress=False)
    again = train_cell(spec, datas[0], out, progress=False)
    assert len(part[0]) == len(again) == fitted_at + 1


def test_stacked_module_view_is_that_model():
    torch.manual_seed(0)
    models = [torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(36, 5)) for _ in range(3)]
    group = Stacked(models)
    x = torch.randn(7, 1, 6, 6)
    for i, m in enumerate(models):
        torch.testing.assert_close(group.module(i)(x), m(x))


def _csr_specs(mode_models):
    specs, datas = _cells([0, 1, 2], [0.0, 0.4], epochs=3)
    for s in specs:
        s["probes"] = {"csr": {"every": 2, "examples": 40, "max_iter": 10}}
        s["model"] = mode_models
    return specs, datas


def test_csr_is_recorded_when_due_and_equals_each_cell_alone(tmp_path):
    specs, datas = _csr_specs({"name": "mlp", "hidden": [32, 16]})
    group = train_group(specs, datas, [tmp_path / "g" / s["slug"] for s in specs],
                        mode="stacked", progress=False)
    for s, d, h in zip(specs, datas, group, strict=True):
        csr = pd.DataFrame(h)["csr"]
        assert csr.iloc[[1, 3]].isna().all() and csr.iloc[[0, 2]].between(0, 1).all()
        alone = pd.DataFrame(train_cell(s, d, tmp_path / "a" / s["slug"], progress=False))
        np.testing.assert_allclose(csr.iloc[[0, 2]], alone["csr"].iloc[[0, 2]], atol=0.03)
    # trained networks near random init have boundaries within reach of some test points
    assert max(pd.DataFrame(h)["csr"].max() for h in group) > 0


def test_figure_groups_default_to_seed_and_keep_sweeps_apart():
    cells = {("e", f"s{k}"): {"experiment": "e", "loss": {"name": "cce"}, "seed": k % 2,
                              "noise": {"rate": 0.0},
                              "sweep": {"label": str(k // 2)}} for k in range(4)}
    groups = make_groups(cells, {"e": {}})
    assert sorted(groups) == ["e/loss-cce_eta-0.0_sweep-0", "e/loss-cce_eta-0.0_sweep-1"]


def _adv_spec(weight):
    specs, datas = _cells([0], [0.4], epochs=4, model={"name": "mlp", "hidden": [16, 16],
                                                       "dropout": 0.1})
    spec = copy.deepcopy(specs[0])
    spec.pop("probes")
    spec["train"]["adversarial"] = {"weight": weight, "max_iter": 3}
    return spec, datas[0]


def test_adversarial_training_resumes_exactly_and_changes_training(tmp_path):
    spec, data = _adv_spec(0.5)
    full = train_cell(spec, data, tmp_path / "full", progress=False)
    GroupTrainer([spec], [data]).run([tmp_path / "part"], stop_after=2, progress=False)
    resumed = train_cell(spec, data, tmp_path / "part", progress=False)
    pd.testing.assert_frame_equal(pd.DataFrame(full), pd.DataFrame(resumed))
    plain_spec, _ = _adv_spec(0.5)
    plain_spec["train"].pop("adversarial")
    plain = train_cell(plain_spec, data, tmp_path / "plain", progress=False)
    assert pd.DataFrame(plain)["loss"].iloc[1:].ne(pd.DataFrame(full)["loss"].iloc[1:]).all()


def test_adversarial_training_refuses_a_stacked_group():
    specs, datas = _cells([0, 1], [0.0], epochs=1)
    for s in specs:
        s["train"]["adversarial"] = {"weight": 0.5}
    with pytest.raises(ValueError, match="train.adversarial"):
        GroupTrainer(specs, datas, mode="stacked")


def test_an_adversarial_group_runs_its_cells_one_by_one(tmp_path):
    specs, datas = _cells([0, 1], [0.0], epochs=1)
    for s in specs:
        s.pop("probes")
        s["train"]["adversarial"] = {"weight": 0.5, "max_iter": 2}
    group = train_group(specs, datas, [tmp_path / s["slug"] for s in specs], progress=False)
    alone = [train_cell(s, d, tmp_path / "a" / s["slug"], progress=False)
             for s, d in zip(specs, datas, strict=True)]
    for g, a in zip(group, alone, strict=True):
        pd.testing.assert_frame_equal(pd.DataFrame(g), pd.DataFrame(a))
