"""`memrepro replay` (memrepro.pipeline.replay): a replay of an unchanged cell matches bitwise;
a perturbed recorded history value or weight is a mismatch that names the cell and the column
/ tensor. tests/test_cli.py runs the command itself."""

import numpy as np
import pandas as pd
import pytest
import torch

from memrepro import catalog, io
from memrepro.device_data import to_device_many
from memrepro.engine import train_cell
from memrepro.noise import apply_noise
from memrepro.pipeline import replay
from memrepro.run_files import save_torch

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture
def cell(tmp_path):
    """A tiny cell trained into tmp_path/rec: (spec, data, run directory)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 96)
    x = (rng.integers(0, 60, (96, 1, 5, 5)) + 40 * y[:, None, None, None]).astype(np.uint8)
    arrays = {"x_train": x, "y_train": y, "x_test": x[:24], "y_test": y[:24]}
    r = apply_noise("symmetric_other", y, 4, 0.4, 0)
    data = to_device_many(arrays, [{"labels": r.labels, "corrupted": r.corrupted, **r.extra}],
                          4, CPU)[0]
    spec = {"experiment": "tiny", "slug": "loss-cce_eta-0.4_seed-0",
            "model": {"name": "mlp", "hidden": [8]}, "loss": {"name": "cce", "params": {}},
            "seed": 0, "noise": {"name": "symmetric_other", "rate": 0.4},
            "train": {"epochs": 2, "batch_size": 32, "checkpoint_every": 1,
                      "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
                      "schedule": {"name": "constant"}}}
    out = tmp_path / "rec"
    probes, objectives = catalog.training_hooks()  # as the training job does
    train_cell(spec, data, out, progress=False, probes=probes, objectives=objectives)
    return spec, data, out


def test_an_unchanged_cell_replays_bitwise(cell, tmp_path):
    spec, data, rec = cell
    res = replay.replay_cell(spec, data, rec, work=tmp_path)
    assert res["ok"] and res["comparison"].startswith("bitwise")
    assert res["history"] == [] and res["weights"] == []
    assert "1 of 1 cell(s) match" in replay.summary([res])


def test_a_perturbed_history_value_fails_and_is_named(cell, tmp_path):
    spec, data, rec = cell
    hist = pd.read_csv(rec / "history.csv")
    hist.loc[1, "j1"] = hist.loc[1, "j1"] + 1e-7
    io.write_text(rec / "history.csv", hist.to_csv(index=False))
    res = replay.replay_cell(spec, data, rec, work=tmp_path)
    assert not res["ok"] and [d["column"] for d in res["history"]] == ["j1"]
    assert res["history"][0]["max_abs_diff"] == pytest.approx(1e-7, rel=1e-3)
    text = replay.summary([res])
    assert "FAIL tiny/loss-cce_eta-0.4_seed-0" in text and "history column j1" in text
    assert "MISMATCH" in text
    # within a stated tolerance it is a match
    assert replay.replay_cell(spec, data, rec, tolerance=1e-3, work=tmp_path)["ok"]


def test_a_perturbed_weight_fails_and_names_the_tensor(cell, tmp_path):
    spec, data, rec = cell
    state = torch.load(rec / "model.pt", weights_only=True)
    name = sorted(state)[0]
    state[name].view(-1)[0] += 0.5
    save_torch(rec / "model.pt", state)
    res = replay.replay_cell(spec, data, rec, work=tmp_path)
    assert not res["ok"] and res["history"] == []
    assert [d["tensor"] for d in res["weights"]] == [name]
    assert res["weights"][0]["max_abs_diff"] == pytest.approx(0.5)
    assert f"weight tensor {name}" in replay.summary([res])


def test_stacked_cells_compare_within_the_stated_tolerance(cell):
    rtol, how = replay.tolerance_for({"group": {"mode": "stacked"}}, None)
    assert rtol == replay.STACKED_RTOL and "stacked" in how
    assert replay.tolerance_for({"group": {"mode": "sequential"}}, None)[0] is None
    assert replay.tolerance_for({"group": {"mode": "stacked"}}, 0.1)[0] == 0.1


def test_pick_is_seeded_and_takes_named_cells():
    cells = [{"experiment": "e", "slug": f"s{i}"} for i in range(10)]
    assert replay.pick(cells, 3, 7, None) == replay.pick(cells, 3, 7, None)
    assert len(replay.pick(cells, 3, 7, None)) == 3
    assert replay.pick(cells, 3, 7, ["e/s4", "s1"]) == [cells[4], cells[1]]
    with pytest.raises(SystemExit, match="nope"):
        replay.pick(cells, 1, 0, ["nope"])
