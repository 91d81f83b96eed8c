"""Arpit et al. 2017's training add-ons through the engine's hooks
(memrepro.papers.ar.training, resolved by memrepro.catalog.training_hooks): the critical sample
ratio measured during training, per cell and independent of the group, and adversarial
training on LASS critical samples."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from test_groups import _cells

from memrepro.catalog import training_hooks
from memrepro.engine import CORE_HISTORY_COLUMNS, GroupTrainer, train_cell, train_group


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


PROBES, OBJECTIVES = training_hooks()
HOOKS = {"probes": PROBES, "objectives": OBJECTIVES}


def _csr_specs(mode_models):
    specs, datas = _cells([0, 1, 2], [0.0, 0.4], epochs=3)
    for s in specs:
        s["probes"] = {"csr": {"every": 2, "examples": 40, "max_iter": 10}}
        s["model"] = mode_models
    return specs, datas


def test_csr_is_recorded_when_due_and_equals_each_cell_alone(tmp_path):
    specs, datas = _csr_specs({"name": "mlp", "hidden": [32, 16]})
    group = train_group(specs, datas, [tmp_path / "g" / s["slug"] for s in specs],
                        mode="stacked", progress=False, **HOOKS)
    for s, d, h in zip(specs, datas, group, strict=True):
        csr = pd.DataFrame(h)["csr"]
        assert csr.iloc[[1, 3]].isna().all() and csr.iloc[[0, 2]].between(0, 1).all()
        alone = pd.DataFrame(train_cell(s, d, tmp_path / "a" / s["slug"], progress=False,
                                        **HOOKS))
        np.testing.assert_allclose(csr.iloc[[0, 2]], alone["csr"].iloc[[0, 2]], atol=0.03)
    # trained networks near random init have boundaries within reach of some test points
    assert max(pd.DataFrame(h)["csr"].max() for h in group) > 0
    # history.csv: the core columns, then one per history probe the trainer knows (every
    # paper's, asked for or not: the same columns in every history of a build)
    saved = pd.read_csv(tmp_path / "g" / specs[0]["slug"] / "history.csv")
    history_probes = [n for n, p in HOOKS["probes"].items() if p.writes == "history"]
    assert "csr" in history_probes
    assert list(saved.columns) == CORE_HISTORY_COLUMNS + history_probes


def _adv_spec(weight):
    specs, datas = _cells([0], [0.4], epochs=4, model={"name": "mlp", "hidden": [16, 16],
                                                       "dropout": 0.1})
    spec = copy.deepcopy(specs[0])
    spec.pop("probes")
    spec["train"]["adversarial"] = {"weight": weight, "max_iter": 3}
    return spec, datas[0]


def test_adversarial_training_resumes_exactly_and_changes_training(tmp_path):
    spec, data = _adv_spec(0.5)
    full = train_cell(spec, data, tmp_path / "full", progress=False, **HOOKS)
    GroupTrainer([spec], [data], **HOOKS).run([tmp_path / "part"], stop_after=2,
                                              progress=False)
    resumed = train_cell(spec, data, tmp_path / "part", progress=False, **HOOKS)
    pd.testing.assert_frame_equal(pd.DataFrame(full), pd.DataFrame(resumed))
    plain_spec, _ = _adv_spec(0.5)
    plain_spec["train"].pop("adversarial")
    plain = train_cell(plain_spec, data, tmp_path / "plain", progress=False, **HOOKS)
    assert pd.DataFrame(plain)["loss"].iloc[1:].ne(pd.DataFrame(full)["loss"].iloc[1:]).all()


def test_adversarial_training_refuses_a_stacked_group():
    specs, datas = _cells([0, 1], [0.0], epochs=1)
    for s in specs:
        s["train"]["adversarial"] = {"weight": 0.5}
    with pytest.raises(ValueError, match="train.adversarial"):
        GroupTrainer(specs, datas, mode="stacked", **HOOKS)


def test_an_adversarial_group_runs_its_cells_one_by_one(tmp_path):
    specs, datas = _cells([0, 1], [0.0], epochs=1)
    for s in specs:
        s.pop("probes")
        s["train"]["adversarial"] = {"weight": 0.5, "max_iter": 2}
    group = train_group(specs, datas, [tmp_path / s["slug"] for s in specs], progress=False,
                        **HOOKS)
    alone = [train_cell(s, d, tmp_path / "a" / s["slug"], progress=False, **HOOKS)
             for s, d in zip(specs, datas, strict=True)]
    for g, a in zip(group, alone, strict=True):
        pd.testing.assert_frame_equal(pd.DataFrame(g), pd.DataFrame(a))
