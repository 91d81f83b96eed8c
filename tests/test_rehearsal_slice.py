"""The CI slice of the rehearsal (docs/rehearsal.md): one experiment of every paper at paper
shapes, through `memrepro rehearse` (full-size raw files in their formats, the real download,
prepare, noise and training rules, a figure, the cost report), in a copy of the project."""

import csv
import json
import subprocess
import sys
from pathlib import Path

from conftest import hang_limit

from memrepro.config.dataset_sizes import KNOWN_COUNTS

SLICE = ["ps_resnet32_cifar10", "ar_mnist_randy", "llj_tod_mnist", "md_mnist", "llj/fig1"]
JOBS = {"ps_resnet32_cifar10": 12, "ar_mnist_randy": 4, "llj_tod_mnist": 2, "md_mnist": 8}


def test_a_slice_of_the_paper_plan_rehearses_end_to_end(workdir):
    exe = Path(sys.executable).with_name("memrepro")
    # heavy-mb 1000: every job of these experiments is heavier, so one runs per signature;
    # max-mb 6000: MD's 40-model group (21 GB by accounting) trains the models that fit
    res = subprocess.run([str(exe), "rehearse", "--root", str(workdir), "--scale", "paper",
                          "--cores", "2", "--heavy-mb", "1000", "--max-mb", "6000",
                          "--eval-examples", "64",
                          "--probe-examples", "64", "--only", *SLICE],
                         capture_output=True, text=True, timeout=hang_limit(240))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]
    d = workdir / "rehearsal" / "paper"
    # the real rules prepared the datasets at their published sizes
    for name in ("mnist", "cifar10"):
        meta = json.loads((d / "results" / "data" / f"{name}.json").read_text())
        assert meta["n_train"] == sum(KNOWN_COUNTS[name][0]), meta
    # a row per real job; each measured by itself or by the job of its signature, or not run
    rows = list(csv.DictReader((d / "results" / "rehearsal.csv").open()))
    by_experiment = {e: [r for r in rows if r["experiment"] == e] for e in JOBS}
    for exp, n in JOBS.items():
        assert len(by_experiment[exp]) == n, (exp, by_experiment[exp])
        for r in by_experiment[exp]:
            assert float(r["flops_per_step"]) > 0 and float(r["gpu_hours"]) > 0, r
            assert r["measured_on"].startswith(exp + "/")
    # MD's group trained its first models and the report scaled them to all 40
    md = by_experiment["md_mnist"]
    assert all(r["measured_on"].endswith(" of 40 models, scaled)") for r in md), md
    assert all(int(r["cells"]) == 40 for r in md)
    copied = d / "results" / "runs" / "md_mnist"
    records = [json.loads(p.read_text()) for p in copied.glob("*/run.json")]
    assert len(records) == 8 * 40 and sum("rehearsal_copy" in r for r in records) > 8 * 30
    # the figure is marked; no claim, no manifest; the project's own results untouched
    assert (d / "results" / "figures" / "llj" / "fig1_REHEARSAL.png").is_file()
    assert not (d / "results" / "claims.json").exists()
    assert not (d / "results" / "manifest.json").exists()
    assert not (workdir / "results").exists()
