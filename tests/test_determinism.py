"""Byte-deterministic artifacts: two identical trainings write identical files (model.pt,
checkpoint.pt, history.csv, run.json, probe files), so DVC stores them once and a replay can
compare bytes. torch.save to a path names the archive's root folder after the file, which for
an atomic write was a random temporary name; the files are now serialised in memory."""

import io as _io
import zipfile

import numpy as np
import pytest
import torch

from memrepro import io
from memrepro.device_data import to_device_many
from memrepro.engine import train_cell, train_group
from memrepro.noise import apply_noise
from memrepro.run_files import save_torch, torch_bytes

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _cells(seeds, epochs=3):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 128)
    x = (rng.integers(0, 60, (128, 1, 6, 6)) + 40 * y[:, None, None, None]).astype(np.uint8)
    arrays = {"x_train": x, "y_train": y, "x_test": x[:32], "y_test": y[:32]}
    specs, noisies = [], []
    for seed in seeds:
        r = apply_noise("symmetric_other", y, 4, 0.4, seed)
        noisies.append({"labels": r.labels, "corrupted": r.corrupted, **r.extra})
        specs.append({
            "model": {"name": "mlp", "hidden": [16]}, "loss": {"name": "cce", "params": {}},
            "seed": seed, "slug": f"loss-cce_eta-0.4_seed-{seed}",
            "noise": {"name": "symmetric_other", "rate": 0.4},
            "probes": {"per_example": {"epochs": [0, epochs]}},
            "train": {"epochs": epochs, "batch_size": 32, "checkpoint_every": 1,
                      "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
                      "schedule": {"name": "constant"}}})
    return specs, to_device_many(arrays, noisies, 4, CPU)


def _tree(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _same_bytes(a, b):
    ta, tb = _tree(a), _tree(b)
    assert ta.keys() == tb.keys()
    differ = [str(k) for k in ta if ta[k] != tb[k]]
    assert not differ, f"files whose bytes differ between identical runs: {differ}"
    return ta


def test_torch_bytes_do_not_depend_on_the_file_name(tmp_path):
    state = {"w": torch.arange(6.0).reshape(2, 3)}
    save_torch(tmp_path / "a.pt", state)
    save_torch(tmp_path / "b" / "model.pt", state)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()
    assert (tmp_path / "a.pt").read_bytes() == torch_bytes(state)
    with zipfile.ZipFile(tmp_path / "a.pt") as z:  # no temporary name inside the archive
        assert {n.split("/")[0] for n in z.namelist()} == {"archive"}
    assert torch.equal(torch.load(tmp_path / "a.pt", weights_only=True)["w"], state["w"])
    # what torch.save to the temporary path used to write: the name leaks into the bytes
    torch.save(state, tmp_path / ".model.pt.x1y2z3.pt")
    torch.save(state, tmp_path / ".model.pt.a9b8c7.pt")
    assert (tmp_path / ".model.pt.x1y2z3.pt").read_bytes() != \
        (tmp_path / ".model.pt.a9b8c7.pt").read_bytes()


def test_two_identical_trainings_write_identical_bytes(tmp_path):
    specs, datas = _cells([0])
    for run in ("first", "second"):
        train_cell(specs[0], datas[0], tmp_path / run, progress=False)
    files = _same_bytes(tmp_path / "first", tmp_path / "second")
    assert {"model.pt", "history.csv", "run.json"} <= {p.name for p in files}
    run = io.read_json(tmp_path / "first" / "run.json")
    assert "wall_time_s" not in run and "wall_time_s" not in run["group"]


def test_checkpoints_are_byte_identical(tmp_path):
    specs, datas = _cells([0], epochs=4)
    for run in ("first", "second"):
        train_cell(specs[0], datas[0], tmp_path / run, stop_after=2, progress=False)
    files = _same_bytes(tmp_path / "first", tmp_path / "second")
    assert "checkpoint.pt" in {p.name for p in files}
    ck = torch.load(_io.BytesIO(files[next(p for p in files if p.name == "checkpoint.pt")]),
                    weights_only=True)
    assert ck["epoch"] == 2


def test_a_stacked_group_writes_identical_bytes_twice(tmp_path):
    specs, datas = _cells([0, 1, 2])
    for run in ("first", "second"):
        train_group(specs, datas, [tmp_path / run / s["slug"] for s in specs], mode="stacked",
                    progress=False)
    files = _same_bytes(tmp_path / "first", tmp_path / "second")
    names = {p.name for p in files}
    assert {"model.pt", "history.csv", "run.json"} <= names
    assert any(n.endswith(".npz") for n in names), names  # the per-example probe files
