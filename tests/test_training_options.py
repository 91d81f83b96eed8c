"""Core training options that Arpit et al.'s Figs. 5-11 rely on: sweeps over a
hyper-parameter (one cell per value, each on its own training-set size where the sweep is a
subset), training until the labels are fitted, and how cells are grouped into jobs."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import load_params
from test_groups import _arrays, _cells

from memrepro.config import ConfigError, make_groups, resolve
from memrepro.device_data import to_device_many
from memrepro.engine import GroupTrainer, train_cell, train_group
from memrepro.fit import FIT_TOL
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
    cfg["experiments"], cfg["partitions"] = {"x": {**base, **exp}}, {}
    cfg["figures"] = {}
    cfg["scales"] = {"smoke": {"substitute": {"mnist": "digits"}}}
    return cfg


def _first_fitted_epoch(history: pd.DataFrame) -> float:
    """The first epoch at which J1 reaches 100% (within FIT_TOL); NaN if never."""
    hit = history.loc[history["j1"] >= 1.0 - FIT_TOL, "epoch"]
    return float(hit.iloc[0]) if len(hit) else float("nan")


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
    arrays = _arrays()
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


def test_stop_when_fit_ends_at_the_first_fitted_epoch(tmp_path):
    specs, datas = _cells([0], [0.0], epochs=60)
    spec = copy.deepcopy(specs[0])
    spec["train"].update(optimizer={"name": "sgd", "lr": 0.1, "momentum": 0.9},
                         schedule={"name": "constant"})
    full = pd.DataFrame(train_cell(spec, datas[0], tmp_path / "full", progress=False))
    first = _first_fitted_epoch(full)
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


def test_figure_groups_default_to_seed_and_keep_sweeps_apart():
    cells = {("e", f"s{k}"): {"experiment": "e", "loss": {"name": "cce"}, "seed": k % 2,
                              "noise": {"rate": 0.0},
                              "sweep": {"label": str(k // 2)}} for k in range(4)}
    groups = make_groups(cells, {"e": {}})
    assert sorted(groups) == ["e/loss-cce_eta-0.0_sweep-0", "e/loss-cce_eta-0.0_sweep-1"]
