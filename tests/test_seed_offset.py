"""seed_offset (memrepro.seeds): a default build is unchanged, another offset moves every draw
(noisy labels, initialisation, shuffling) and keeps names and paths; the end-of-build line."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import load_params

from memrepro import claims
from memrepro.config import ConfigError, resolve
from memrepro.device_data import to_device
from memrepro.engine import train_cell
from memrepro.noise import apply_noise
from memrepro.seeds import SEED_OFFSET_STRIDE, cell_seed, drawn_seed


def _plan(offset=None):
    cfg = load_params()
    if offset is not None:
        cfg["seed_offset"] = offset
    return resolve(cfg, check_files=False)


def test_offset_zero_is_the_default_build():
    default, zero = _plan(), _plan(0)
    assert default.cells == zero.cells
    assert not any("seed_offset" in c for c in zero.cells.values())


def test_an_offset_keeps_names_and_paths_and_moves_the_drawn_seed():
    default, moved = _plan(), _plan(3)
    assert moved.cells.keys() == default.cells.keys()
    assert moved.groups.keys() == default.groups.keys()
    for key, cell in moved.cells.items():
        assert cell["seed"] == default.cells[key]["seed"]
        assert cell_seed(cell) == cell["seed"] + 3 * SEED_OFFSET_STRIDE
        assert cell_seed(default.cells[key]) == cell["seed"]


def test_a_negative_offset_is_refused_naming_the_key():
    cfg = load_params()
    cfg["seed_offset"] = -1
    with pytest.raises(ConfigError, match="seed_offset: -1 is not allowed"):
        resolve(cfg, check_files=False)


def test_the_noisy_labels_move_with_the_offset():
    y = np.arange(1000) % 10
    draws = [apply_noise("symmetric_other", y, 10, 0.4, drawn_seed(2, k)).labels
             for k in (0, 1, 1)]
    assert not np.array_equal(draws[0], draws[1])
    np.testing.assert_array_equal(draws[1], draws[2])


def _toy():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 96)
    x = (rng.integers(0, 60, (96, 1, 4, 4)) + 50 * y[:, None, None, None]).astype(np.uint8)
    arrays = {"x_train": x, "y_train": y, "x_test": x[:32], "y_test": y[:32]}
    r = apply_noise("symmetric_other", y, 3, 0.2, 0)
    return to_device(arrays, {"labels": r.labels, "corrupted": r.corrupted}, 3,
                     torch.device("cpu"))


SPEC = {"model": {"name": "mlp", "hidden": 8}, "loss": {"name": "cce"}, "seed": 1,
        "slug": "toy", "train": {"epochs": 2, "batch_size": 16,
                                 "optimizer": {"name": "sgd", "lr": 0.1}}}


def _trained(tmp_path, name, offset):
    spec = copy.deepcopy(SPEC) | ({"seed_offset": offset} if offset else {})
    train_cell(spec, _toy(), tmp_path / name, progress=False)
    return (pd.read_csv(tmp_path / name / "history.csv"),
            torch.load(tmp_path / name / "model.pt", weights_only=True))


def test_initialisation_and_shuffling_move_with_the_offset(tmp_path):
    (h0, w0), (h1, w1), (h1b, w1b) = (_trained(tmp_path, n, k)
                                      for n, k in (("a", 0), ("b", 1), ("c", 1)))
    assert any(not torch.equal(w0[k], w1[k]) for k in w0)
    pd.testing.assert_frame_equal(h1.drop(columns="seconds", errors="ignore"),
                                  h1b.drop(columns="seconds", errors="ignore"))
    assert all(torch.equal(w1[k], w1b[k]) for k in w1)


def _card(verdict, expected=True, scale="smoke"):
    row = {"id": "X-1", "quantity": "a rank correlation", "value": 0.2, "kind": ">=",
           "threshold": 0.8, "tolerance": 0.0, "verdict": verdict, "expected": expected}
    return {"scale": scale, "counts": claims.counts([row]), "claims": [row]}


def test_the_end_of_build_line_names_every_expected_claim_that_failed():
    line = claims.end_of_build_line(_card(claims.FAILS))
    assert "1 claims, 1 expected" in line and "EXPECTED BUT FAILED: X-1" in line
    assert "a rank correlation = 0.2, needs >= 0.8" in line
    assert "EXPECTED BUT FAILED" not in claims.end_of_build_line(_card(claims.FAILS, False))
    assert "EXPECTED BUT FAILED" not in claims.end_of_build_line(_card(claims.HOLDS))


def test_the_end_of_build_line_is_printed_only_for_this_scale(tmp_path, capsys):
    path = tmp_path / "claims.json"
    claims.write_json(path, _card(claims.FAILS))
    claims.print_end_of_build(path, "paper")
    claims.print_end_of_build(tmp_path / "absent.json", "smoke")
    assert capsys.readouterr().err == ""
    claims.print_end_of_build(path, "smoke")
    assert "EXPECTED BUT FAILED: X-1" in capsys.readouterr().err
