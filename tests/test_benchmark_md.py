"""benchmarks/md_step.py (``engine.py --md``): structure and arithmetic at a tiny size on CPU."""

import importlib.util
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, hang_limit

from memrepro.engine import build_model


def _md_step():
    spec = importlib.util.spec_from_file_location("md_step", ROOT / "benchmarks" / "md_step.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_md_workload_numbers_add_up():
    md_step = _md_step()
    md = md_step.run_md([1, 2], steps=3, width=64, dev=torch.device("cpu"), epochs=2,
                        peak=100.0)
    spec = md_step.md_specs(1, 64, 1)[0]
    params = sum(p.numel() for p in build_model(spec, torch.empty(0, 3, 32, 32), 2).parameters())
    assert md["parameters"] == params
    assert md["bytes_per_model_step"] == 32 * params
    assert md["n_train"] == 3 * 16 and md["width"] == 64
    assert [r["models"] for r in md["results"]] == [1, 2]
    assert [r["mode"] for r in md["results"]] == ["single", "stacked"]
    for r in md["results"]:
        g, s = r["models"], min(r["epoch_seconds"])
        assert len(r["epoch_seconds"]) == len(r["eval_seconds"]) == 2 and r["steps"] == 3
        assert r["model_steps_per_s"] == pytest.approx(g * 3 / s)
        assert r["ms_per_step"] == pytest.approx(1e3 * s / 3)
        assert r["eval_model_images_per_s"] == pytest.approx(
            g * (48 + 2000) / min(r["eval_seconds"]))
        frac = (12_247 / r["eval_model_images_per_s"]) / (633 / r["model_steps_per_s"])
        assert r["eval_fraction_of_epoch"] == pytest.approx(frac)
        assert r["achieved_gbs"] == pytest.approx(r["model_steps_per_s"] * 32 * params / 1e9)
        assert r["peak_fraction"] == pytest.approx(r["achieved_gbs"] / 100.0)
        for fig, total in (("fig1", 1.71e8), ("fig2", 6.8e7)):  # Fig. 2 at 10 seeds
            assert r["gpu_hours"][fig] == pytest.approx(total / r["model_steps_per_s"] / 3600)
        assert r["loss"] == r["loss"]  # finite training, not NaN
    best = max(md["results"], key=lambda r: r["model_steps_per_s"])
    assert md["best"]["models"] == best["models"]
    assert md["best"]["gpu_hours"]["fig1"] == pytest.approx(
        1.71e8 / best["model_steps_per_s"] / 3600)


def test_paper_width_parameters_and_peak_table():
    md_step = _md_step()
    assert md_step.parameters(2048) == 35_704_844  # notes Part B.1 (3072 inputs)
    assert md_step.peak_gbs(torch.device("cpu"), None) is None
    assert md_step.peak_gbs(torch.device("cpu"), 50.0) == 50.0


def test_engine_help_lists_md():
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "engine.py"), "--help"],
                         capture_output=True, text=True, timeout=hang_limit(20))
    assert res.returncode == 0, res.stderr
    for flag in ("--md", "--md-groups", "--md-steps", "--md-width", "--peak-gbs"):
        assert flag in res.stdout
