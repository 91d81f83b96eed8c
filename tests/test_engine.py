"""Engine: J1/J2 on a hand-made case, schedules, resume == uninterrupted, memorisation."""

import numpy as np
import pandas as pd
import pytest
import torch

from memrepro import io
from memrepro.device_data import to_device
from memrepro.engine import train_cell
from memrepro.noise import apply_noise
from memrepro.optim import lr_at
from memrepro.probes import label_metrics


def test_j1_j2_on_a_hand_made_case():
    clean = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    noisy = torch.tensor([0, 1, 2, 3, 1, 2, 3, 0])  # last four corrupted
    pred = torch.tensor([0, 1, 2, 0, 1, 2, 2, 3])
    m = label_metrics(pred, noisy, clean, noisy != clean)
    assert m["j1"] == pytest.approx(5 / 8)   # matches noisy at 0,1,2,4,5
    assert m["j2"] == pytest.approx(5 / 8)   # matches clean at 0,1,2,6,7
    assert m["corrupted_fit"] == pytest.approx(2 / 4)
    assert m["corrupted_clean"] == pytest.approx(2 / 4)
    assert m["clean_acc"] == pytest.approx(3 / 4)


def test_schedules():
    assert lr_at(99, 0.1, {"name": "multistep", "milestones": [100, 150], "gamma": 0.1}) == 0.1
    assert lr_at(100, 0.1, {"name": "multistep", "milestones": [100, 150],
                            "gamma": 0.1}) == pytest.approx(0.01)
    assert lr_at(150, 0.1, {"name": "multistep", "milestones": [100, 150],
                            "gamma": 0.1}) == pytest.approx(0.001)
    assert lr_at(2, 0.01, {"name": "exponential", "gamma": 0.95}) == pytest.approx(0.01 * 0.9025)
    assert lr_at(31, 0.01, {"name": "step", "step_size": 15, "gamma": 0.5}) == pytest.approx(0.0025)
    with pytest.raises(ValueError, match="schedule.name"):
        lr_at(0, 0.1, {"name": "cosine"})


def _toy(n=192, seed=0, rate=0.4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = (rng.integers(0, 60, (n, 1, 6, 6)) + 40 * y[:, None, None, None]).astype(np.uint8)
    arrays = {"x_train": x, "y_train": y, "x_test": x[:64], "y_test": y[:64]}
    r = apply_noise("symmetric_other", y, 4, rate, seed)
    return to_device(arrays, {"labels": r.labels, "corrupted": r.corrupted}, 4, torch.device("cpu"))


def _spec(epochs, model=None, optimizer=None):
    return {"model": model or {"name": "resnet18", "width": 4}, "loss": {"name": "cce"},
            "seed": 3, "slug": "toy",
            "train": {"epochs": epochs, "batch_size": 32, "checkpoint_every": 2,
                      "optimizer": optimizer or {"name": "sgd", "lr": 0.05, "momentum": 0.9},
                      "schedule": {"name": "multistep", "milestones": [3], "gamma": 0.1}}}


def _same(a, b):
    pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b), check_exact=True)


def test_resume_after_interruption_equals_uninterrupted(tmp_path):
    torch.set_num_threads(1)
    full = train_cell(_spec(5), _toy(), tmp_path / "full", progress=False)
    part = train_cell(_spec(5), _toy(), tmp_path / "resumed", stop_after=3, progress=False)
    assert len(part) == 4 and (tmp_path / "resumed" / "checkpoint.pt").exists()
    assert not (tmp_path / "resumed" / "history.csv").exists()
    resumed = train_cell(_spec(5), _toy(), tmp_path / "resumed", progress=False)
    _same(resumed, full)  # bitwise: every float of every epoch
    a = torch.load(tmp_path / "full" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "model.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not (tmp_path / "resumed" / "checkpoint.pt").exists()
    h = pd.read_csv(tmp_path / "full" / "history.csv")
    assert list(h["epoch"]) == [0, 1, 2, 3, 4, 5]
    run = io.read_json(tmp_path / "full" / "run.json")
    assert run["spec"]["seed"] == 3 and run["versions"]["torch"] == torch.__version__


def test_stale_checkpoint_of_another_config_is_ignored(tmp_path):
    train_cell(_spec(5), _toy(), tmp_path, stop_after=2, progress=False)
    other = _spec(4, optimizer={"name": "sgd", "lr": 0.01})
    fresh = train_cell(other, _toy(), tmp_path / "fresh", progress=False)
    resumed = train_cell(other, _toy(), tmp_path, progress=False)
    _same(resumed, fresh)




@pytest.fixture
def memorised(tmp_path):
    torch.set_num_threads(1)
    return train_cell(_spec(80, model={"name": "mlp", "hidden": [256, 256]},
                            optimizer={"name": "adam", "lr": 3e-3}),
                      _toy(n=128), tmp_path, progress=False)


def test_memorisation_shows_in_j1_and_j2(memorised):
    last = memorised[-1]
    assert last["j1"] > 0.95                 # the noisy labels are fitted
    assert last["corrupted_fit"] > 0.9       # ... including the flipped ones
    assert last["j2"] < 0.8                  # so the clean labels are no longer reproduced


def test_subset_is_fixed_and_keeps_labels_aligned():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 50)
    x = np.arange(50, dtype=np.uint8).reshape(50, 1, 1, 1).repeat(2, 2).repeat(2, 3)
    r = apply_noise("symmetric_other", y, 4, 0.5, 0)
    arrays = {"x_train": x, "y_train": y, "x_test": x[:5], "y_test": y[:5]}
    d = to_device(arrays, {"labels": r.labels, "corrupted": r.corrupted}, 4,
                  torch.device("cpu"), subset=20)
    keep = d.x[:, 0, 0, 0].long().numpy()  # pixel value = original index
    assert len(keep) == 20 and np.all(np.diff(keep) > 0)
    assert np.array_equal(d.y_clean.numpy(), y[keep])
    assert np.array_equal(d.y_noisy.numpy(), r.labels[keep])
    assert np.array_equal(d.corrupted.numpy(), r.corrupted[keep])
    again = to_device(arrays, {"labels": r.labels, "corrupted": r.corrupted}, 4,
                      torch.device("cpu"), subset=20)
    assert torch.equal(again.x, d.x)
