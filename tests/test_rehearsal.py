"""The rehearsal (memrepro.rehearsal): the plan transform, the engine's step and evaluation
limits, what the meter counts, the cost report's arithmetic, full-size raw files through the
real download and prepare code, and the marks on its figures."""

import json
import os

import numpy as np
import pytest
import torch
from conftest import load_params

from memrepro.captions import figure_caption, figure_stem, figure_title
from memrepro.config import resolve
from memrepro.config.dataset_sizes import KNOWN_COUNTS
from memrepro.paths import probe_epochs
from memrepro.rehearsal import plan as rp
from memrepro.rehearsal.devices import CONTEXT_BYTES, seconds
from memrepro.rehearsal.meter import CostMeter
from memrepro.rehearsal.report import evaluations, job_row


def paper_plan():
    return resolve({**load_params(), "scale": "paper"}, check_files=False)


# --- the plan ---------------------------------------------------------------------------------

def test_epochs_map_onto_the_rehearsals_keeping_zero_and_order():
    assert [rp.map_epoch(e, 200, 2) for e in (0, 1, 100, 101, 200)] == [0, 1, 1, 2, 2]
    assert [rp.map_epoch(e, 200, 1) for e in (0, 5, 200)] == [0, 1, 1]
    assert rp.map_probe({"epochs": [1, 2, 5, 200], "every": 10}, 200, 2) == \
        {"epochs": [1, 2], "every": 1}


def test_every_cell_of_the_paper_plan_is_cut_and_its_probes_and_partitions_agree():
    plan = paper_plan()
    real = rp.rehearse(plan, rp.settings({"rehearse": {"all_jobs": True}}))
    assert set(real) == set(plan.groups) and len(real) > 300
    for cell in plan.cells.values():
        tr = cell["train"]
        assert (tr["epochs"], tr["steps_per_epoch"], tr["eval_every"]) == (1, 2, 1)
        for opts in (cell.get("probes") or {}).values():
            assert set(probe_epochs(opts, 1)) <= {0, 1}
    for part in plan.partitions.values():  # the scoring run records the file read
        cell = plan.cells[(part["experiment"], part["cell"]["slug"])]
        assert part["epoch"] in probe_epochs(cell["probes"][part["probe"]], 1)
        assert part["probe_file"].endswith(f"_epoch-{part['epoch']}.npz")
    # the real settings are kept: MD trains 200 epochs
    assert real[next(g for g in real if g.startswith("md_mnist/"))]["train"]["epochs"] == 200


def test_heavy_jobs_run_once_per_signature_and_stand_for_the_others():
    plan = paper_plan()
    n_md = sum(g["experiment"] == "md_mnist" for g in plan.groups.values())
    real = rp.rehearse(plan, rp.settings({"rehearse": True}))
    md = [gid for gid in real if real[gid]["experiment"] == "md_mnist"]
    assert len(md) == n_md == 8  # every real job keeps its row
    # one of them trains, the others copy its outputs
    assert [gid for gid in md if not plan.groups[gid].get("copy_of")] == [md[0]]
    assert {plan.groups[gid].get("copy_of") for gid in md[1:]} == {md[0]}
    assert {real[gid]["represented_by"] for gid in md} == {md[0]}
    assert all(real[gid]["memory_mb"] > 2500 for gid in md)
    # it trains the models that fit in heavy_mb (two of 495 MB), the rest copy them
    assert real[md[0]]["trained_models"] == len(plan.groups[md[0]]["cells"]) == 2
    assert rp.models_that_fit(40, 1500 + 40 * 495, 2500) == 2
    assert rp.models_that_fit(40, 1500 + 40 * 495, 1000) == 0
    assert rp.models_that_fit(40, 9000, 10_000) == 40
    # light jobs all train; every figure is drawn, and MD's say how many runs are copies
    assert not any(plan.groups[gid].get("copy_of") for gid in real
                   if real[gid]["memory_mb"] <= 2500)
    assert set(plan.figures) == set(paper_plan().figures)
    runs = sum(real[gid]["cells"] for gid in md)
    assert f"{runs - 2} of its {runs} runs are copies" in \
        figure_caption("md/fig3", plan.figures["md/fig3"], plan)
    assert "copies" not in figure_caption("ps/fig1", plan.figures["ps/fig1"], plan)
    # a job heavier than the machine trains the models that fit, and the rest copy them
    small = paper_plan()
    real = rp.rehearse(small, rp.settings({"rehearse": {"max_mb": 10_000, "all_jobs": True}}))
    trained = [c["slug"] for c in small.groups[md[0]]["cells"]]
    rest = small.groups[f"{md[0]}_rest"]
    fit = real[md[0]]["trained_models"]
    assert len(trained) == fit and len(rest["cells"]) == real[md[0]]["cells"] - fit
    assert rp.memory_mb(small.groups[md[0]], small.datasets) <= 10_000
    assert rp.memory_mb(paper_plan().groups[md[0]], small.datasets) > 10_000
    assert rest["copy_of"] == md[0]
    assert [c["slug"] for c in rest["copy_cells"]] == \
        [trained[i % fit] for i in range(len(rest["cells"]))]
    assert set(small.figures) == set(paper_plan().figures)
    copy = plan.groups[md[1]]  # a represented job copies the trained models too
    assert {c["slug"] for c in copy["copy_cells"]} == \
        {c["slug"] for c in plan.groups[md[0]]["cells"]}
    # a job of which not one model fits is not run, nor its copies; the report says why and
    # the figures reading them are not drawn
    tiny = paper_plan()
    real = rp.rehearse(tiny, rp.settings({"rehearse": {"max_mb": 1_000}}))
    assert not set(md) & set(tiny.groups)
    assert "1,000 MB" in real[md[0]]["not_run"]
    assert real[md[1]]["not_run"] == f"would copy {md[0]}, which is not run"
    assert "md/fig1" not in tiny.figures


def test_only_keeps_the_named_experiments_their_partitions_sources_and_their_figures():
    plan = paper_plan()
    rp.rehearse(plan, rp.settings({"rehearse": {"only": ["llj_mlp_mnist_control"]}}))
    # it trains on a part of llj_tod_mnist's training set: that experiment comes along
    assert set(plan.experiments) == {"llj_mlp_mnist_control", "llj_tod_mnist"}
    assert set(plan.datasets) == {"mnist"}
    for spec in plan.figures.values():
        assert {p["experiment"] for panel in spec["panels"]
                for p in panel.get("series") or [panel]} <= set(plan.experiments)
    with pytest.raises(ValueError, match="rehearse.only: 'no_such'"):
        rp.rehearse(paper_plan(), rp.settings({"rehearse": {"only": ["no_such"]}}))


def test_probe_files_are_full_size_where_a_forward_pass_over_every_example_is_cheap():
    plan = paper_plan()
    real = rp.rehearse(plan, rp.settings({"rehearse": {"all_jobs": True}}))
    # an MLP of 784-512-512-10 over MNIST's 70,000 examples: 2 x 0.67 MFLOP per example,
    # by hand from its weights (the biases and activations add under 1%)
    llj = next(gid for gid in real if real[gid]["experiment"] == "llj_mlp_mnist")
    mlp = plan.groups[llj]["cells"][0]["model"]
    weights = 784 * mlp["hidden"] + (mlp["depth"] - 1) * mlp["hidden"] ** 2 + mlp["hidden"] * 10
    assert real[llj]["probe_tflop"] == pytest.approx(2 * weights * 70_000 / 1e12, rel=0.01)
    # cheap (< 1 TFLOP): every example; MD's 40-model groups: the first 256
    assert "probe_examples" not in plan.groups[llj]["cells"][0]["train"]
    md = next(gid for gid in real if real[gid]["experiment"] == "md_mnist")
    assert real[md]["probe_tflop"] > 100
    assert plan.groups[md]["cells"][0]["train"]["probe_examples"] == 256
    # a job without probes has nothing to cap
    ps = next(gid for gid in real if real[gid]["experiment"].startswith("ps_"))
    assert real[ps]["probe_tflop"] == 0 and "probe_examples" not in \
        plan.groups[ps]["cells"][0]["train"]
    # the captions say which
    assert "every example where it wrote probe files" in figure_caption(
        "llj/fig3", plan.figures["llj/fig3"], plan)
    assert "the first 256 examples where" in figure_caption("md/fig1", plan.figures["md/fig1"],
                                                             plan)


def test_figures_computed_over_sgd_steps_compute_over_figure_steps_and_say_so():
    plan = paper_plan()
    real_steps = plan.figures["ar/fig3"]["settings"]["steps"]
    rp.rehearse(plan, rp.settings({"rehearse": {"figure_steps": 7}}))
    for fid in ("ar/fig3", "ar/fig4"):
        spec = plan.figures[fid]
        assert spec["settings"]["steps"] == 7
        assert spec["rehearsal_steps"] == {"real": real_steps, "run": 7}
        assert f"computed over 7 of the real {real_steps} SGD steps" in \
            figure_caption(fid, spec, plan)
    assert paper_plan().figures["ar/fig3"]["settings"]["steps"] == real_steps  # not shared


def test_an_unknown_device_model_is_refused_when_the_settings_are_read():
    with pytest.raises(ValueError, match=r"rehearse.device_model: 'h100' is not allowed.*"
                                         r"h100-80gb"):
        rp.settings({"rehearse": {"device_model": "h100"}})
    assert rp.settings({"rehearse": True})["device_model"] == "h100-80gb"


def test_a_copied_job_gets_every_file_of_the_job_trained_for_it(tmp_path):
    from memrepro.rehearsal.copies import copy_outputs

    def outputs(name):
        d = tmp_path / name
        return {"history": [str(d / f"c{i}" / "history.csv") for i in range(2)],
                "model": [str(d / f"c{i}" / "model.pt") for i in range(2)],
                "run": [str(d / f"c{i}" / "run.json") for i in range(2)],
                "probes": [str(d / f"c{i}" / "probes" / "features_epoch-1.npz")
                           for i in range(2)]}

    src, dst = outputs("trained"), outputs("copy")
    for kind, files in src.items():
        for i, f in enumerate(files):
            (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps({"spec": {"slug": f"t{i}"}}) if kind == "run" else f"{kind}{i}"
            (tmp_path / f).write_text(text)
    copy_outputs(src, dst, ["a", "b"])
    for kind in ("history", "model", "probes"):
        assert [open(f).read() for f in dst[kind]] == [open(f).read() for f in src[kind]]
    # model files are relative links (a rehearsal's are temporary); the rest are files
    assert all(os.path.islink(f) and not os.path.isabs(os.readlink(f)) for f in dst["model"])
    assert not any(os.path.islink(f) for k in ("history", "probes", "run") for f in dst[k])
    runs = [json.loads(open(f).read()) for f in dst["run"]]
    assert [r["spec"]["slug"] for r in runs] == ["t0", "t1"]  # what was trained
    assert [r["rehearsal_copy"]["for"] for r in runs] == ["a", "b"]
    assert runs[1]["rehearsal_copy"]["of"] == str(tmp_path / "trained" / "c1")
    with pytest.raises(ValueError, match="the same outputs"):
        copy_outputs(src, {**dst, "probes": dst["probes"][:1]}, ["a", "b"])


def test_a_rehearsal_outside_its_directory_is_refused(tmp_path):
    with pytest.raises(ValueError, match="memrepro rehearse"):
        rp.check_directory(tmp_path)
    (tmp_path / rp.MARKER).write_text("")
    rp.check_directory(tmp_path)


def test_figures_of_a_rehearsal_say_so_in_name_title_and_caption():
    plan = paper_plan()
    rp.rehearse(plan, rp.settings({"rehearse": {"all_jobs": True}}))
    for fid in ("ps/fig1", "md/fig1"):
        spec = plan.figures[fid]
        assert figure_stem(fid, spec, plan).endswith("_REHEARSAL")
        assert figure_title(spec, plan).startswith("REHEARSAL")
        assert figure_caption(fid, spec, plan).startswith("REHEARSAL")
    assert not figure_stem("ps/fig1", paper_plan().figures["ps/fig1"], paper_plan()) \
        .endswith("_REHEARSAL")


# --- the engine's limits and the meter ----------------------------------------------------------

def _train(tmp_path, train_extra, meter=None, n=40, probes=None):
    from memrepro.device_data import to_device
    from memrepro.engine import train_cell, train_group

    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (n, 1, 4, 4), dtype=np.uint8),
              "y_train": rng.integers(0, 3, n), "x_test": rng.integers(0, 256, (12, 1, 4, 4),
                                                                        dtype=np.uint8),
              "y_test": rng.integers(0, 3, 12)}
    y = arrays["y_train"]
    noisy = {"labels": y, "corrupted": np.zeros(n, dtype=bool)}
    data = to_device(arrays, noisy, 3, torch.device("cpu"))
    spec = {"slug": "s", "seed": 0, "model": {"name": "mlp", "hidden": 8, "depth": 1},
            "loss": {"name": "cce"}, "train": {"epochs": 2, "batch_size": 8,
                                               "optimizer": {"name": "sgd", "lr": 0.1},
                                               **train_extra},
            **({"probes": probes} if probes else {})}
    if meter is None:
        return train_cell(spec, data, tmp_path / "run", progress=False)
    return train_group([spec], [data], [tmp_path / "run"], progress=False, meter=meter)[0]


def test_steps_per_epoch_takes_that_many_minibatches_and_a_full_cap_changes_nothing(tmp_path):
    meter = CostMeter()
    _train(tmp_path / "a", {"steps_per_epoch": 2}, meter)
    assert meter.stats["train"]["sections"] == 4  # 2 epochs x 2 of the 5 minibatches
    assert meter.stats["train"]["examples"] == 4 * 8
    full = _train(tmp_path / "b", {})
    capped_at_all = _train(tmp_path / "c", {"steps_per_epoch": 5})
    assert json.dumps(full) == json.dumps(capped_at_all)  # NaN where not measured


def test_eval_examples_reads_that_many_examples_unless_it_covers_the_split(tmp_path):
    meter = CostMeter()
    _train(tmp_path / "a", {"eval_examples": 10}, meter)
    assert meter.stats["eval"]["sections"] == 3  # epochs 0, 1, 2
    assert meter.stats["eval"]["examples"] == 3 * (10 + 10)
    assert json.dumps(_train(tmp_path / "b", {})) == \
        json.dumps(_train(tmp_path / "c", {"eval_examples": 1000}))


def test_probe_examples_makes_probe_files_of_that_many_examples(tmp_path):
    meter = CostMeter()
    _train(tmp_path, {"eval_examples": 4, "probe_examples": 10}, meter,
           probes={"per_example": {"epochs": [2]}})
    # epochs 0 and 1 read 4 + 4 examples, epoch 2 (the probe's) 10 + 10
    assert meter.stats["eval"]["examples"] == 2 * 8 + 20
    with np.load(tmp_path / "run" / "probes" / "per_example_epoch-2.npz") as f:
        assert {len(f[k]) for k in f.files if k != "epoch"} == {10}


def test_the_meter_counts_a_linear_steps_flops_and_saved_input_by_hand():
    lin = torch.nn.Linear(8, 4, bias=False)
    x = torch.randn(16, 8, requires_grad=False)
    meter = CostMeter()

    class Trainer:  # what watch_group reads
        group, tr, size, mode = lin, {"optimizer": {"name": "sgd"}}, 1, "single"
        data = type("D", (), {"n": 16, "y_test": torch.zeros(2), "num_classes": 4})()

    meter.watch_group(Trainer)
    with meter.section("train", 16):
        lin(x).square().sum().backward()
    s = meter.summary()["train"]
    # forward 2*16*8*4; backward: the weight's gradient only (x needs none), same count
    assert s["flops_per_section"] == 2 * (2 * 16 * 8 * 4)
    assert s["saved_bytes"] >= 16 * 8 * 4  # x, saved for the weight's gradient
    assert meter.summary()["group"]["parameters"] == 32


# --- the report ---------------------------------------------------------------------------------

DEV = {"name": "toy", "memory_bytes": 10 * 2**30, "bf16_flops": 1e12, "bandwidth": 1e11}


def test_projection_takes_the_slowest_of_compute_memory_and_launches():
    t, bound = seconds(4e11, 0, 1, DEV)  # 4e11 / (1e12 x 0.4) = 1 s
    assert bound == "compute" and t == pytest.approx(1.0)
    t, bound = seconds(0, 7e10, 1, DEV)  # 7e10 / (1e11 x 0.7) = 1 s
    assert bound == "memory" and t == pytest.approx(1.0)
    assert seconds(1, 1, 1e6, DEV)[1] == "launch"


def _measured(models=4, params=10**8, saved=2**30, data=2**30):
    counts = {"flops_per_section": 4e11, "bytes_per_section": 0, "kernels_per_section": 10,
              "seconds_per_section": 2.0, "saved_bytes": saved, "flops_per_example": 4e8,
              "bytes_per_example": 0, "kernels_per_example": 0, "seconds_per_example": 0.01}
    return {"trainers": 1, "train": counts, "eval": counts, "rss_bytes": {"peak": 2**30},
            "group": {"models": models, "mode": "stacked", "n_train": 1000, "n_test": 200,
                      "num_classes": 10, "parameters": params, "parameter_bytes": 4 * params,
                      "optimizer_states": 1, "data_bytes": data}}


def test_a_job_row_counts_the_real_steps_and_evaluations_and_flags_what_does_not_fit():
    real = {"experiment": "e", "paper": "p", "cells": 4, "mode": "auto", "dataset": "d",
            "model": "mlp", "probes": {"x": {"epochs": [3]}},
            "train": {"epochs": 10, "batch_size": 100, "eval_every": 5}}
    assert evaluations(real["train"], real["probes"]) == 4  # epochs 0, 3, 5, 10
    row = job_row("e/all", _measured(), real, DEV)
    assert row["steps"] == 10 * 10 and row["evaluations"] == 4
    # 100 steps of 1 s, 4 evaluations of 4 x 1200 examples at 4e8 FLOPs (1e-3 s) each
    assert row["gpu_hours"] == pytest.approx((100 * 1.0 + 4 * 4800 * 1e-3) / 3600)
    # 4e8 bytes of weights x 3 (weights, gradients, momentum) + 1 GiB saved + 1 GiB data
    # + logits 4 x 1000 x 10 x 4 + the context: 3.3 GiB, fits in 10 GiB
    assert row["fits"] and row["gpu_memory_gib"] == pytest.approx(
        (1.2e9 + 2 * 2**30 + 160000 + CONTEXT_BYTES) / 2**30)
    big = job_row("e/all", _measured(params=10**9), real, DEV)  # 12 GB of state alone
    assert not big["fits"]
    per_model = (big["gpu_memory_gib"] * 2**30 - CONTEXT_BYTES - 2**30) / 4
    assert big["split_to"] == int((10 * 2**30 - CONTEXT_BYTES - 2**30) // per_model)


def test_a_job_measured_on_half_its_models_is_scaled_to_all_of_them(tmp_path):
    from memrepro import io
    from memrepro.rehearsal.report import rows_of, to_group_size

    real = {"experiment": "e", "paper": "p", "cells": 4, "mode": "auto", "dataset": "d",
            "model": "mlp", "probes": {}, "train": {"epochs": 10, "batch_size": 100}}
    half = {**_measured(models=2, params=5 * 10**7, saved=2**29), "job": "e/all",
            "output_bytes": 10}
    scaled = to_group_size(half, 4)
    whole = _measured(models=4, params=10**8, saved=2**30)
    assert scaled["group"]["parameter_bytes"] == whole["group"]["parameter_bytes"]
    assert scaled["train"]["saved_bytes"] == whole["train"]["saved_bytes"]
    assert scaled["train"]["flops_per_section"] == 2 * half["train"]["flops_per_section"]
    assert scaled["train"]["kernels_per_section"] == half["train"]["kernels_per_section"]
    assert scaled["output_bytes"] == 20
    assert to_group_size(whole, 4) is whole  # nothing to scale
    io.write_json(tmp_path / "e.json", half)
    [row] = rows_of([str(tmp_path / "e.json")], {"e/all": real}, DEV)
    assert row["measured_on"] == "e/all (its first 2 of 4 models, scaled)"
    assert row["gpu_memory_gib"] == pytest.approx(
        job_row("e/all", {**whole, "train": scaled["train"]}, real, DEV)["gpu_memory_gib"])


# --- full-size raw files through the real download and prepare ------------------------------

def test_full_size_mnist_in_its_raw_format_goes_through_download_and_prepare(tmp_path):
    from memrepro.data import load_prepared, prepare
    from memrepro.download import download
    from memrepro.rehearsal.raw_formats import mirror_resources, write_full_size

    mirror = tmp_path / "mirror"
    write_full_size(mirror / "mnist", "mnist")
    sums = json.loads((mirror / "mnist" / "md5.json").read_text())
    assert len(sums) == 4
    download("mnist", tmp_path / "raw", str(mirror / "mnist"),
             resources=mirror_resources(mirror, "mnist"))
    prepare({"name": "mnist", "source": "torchvision"}, tmp_path / "raw",
            tmp_path / "mnist.npz", tmp_path / "mnist.json")
    d = load_prepared(tmp_path / "mnist.npz")
    assert d["x_train"].shape == (60000, 1, 28, 28) and d["x_test"].shape == (10000, 1, 28, 28)
    assert np.bincount(d["y_train"]).tolist() == KNOWN_COUNTS["mnist"][0]
    assert np.bincount(d["y_test"]).tolist() == KNOWN_COUNTS["mnist"][1]
