"""The whole smoke DAG, in a temporary directory, produces every figure file."""

import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import snakemake

from memrepro.captions import figure_stem
from memrepro.catalog import figure_kinds
from memrepro.config import resolve
from memrepro.paths import cell_noise_path
from memrepro.pipeline.figure_jobs import gallery_entry, natural_key

pytestmark = pytest.mark.slow


def test_smoke_dag_builds_every_figure_and_is_idempotent(workdir):
    t0 = time.time()
    res = snakemake(workdir, "--cores", "2", "figures")
    elapsed = time.time() - t0
    assert res.returncode == 0, res.stderr[-3000:]
    # the manifest came last: it lists every result with the sha256 the file has at the end
    from memrepro.pipeline import manifest

    recorded = manifest.load(workdir / "results/manifest.json")
    now = manifest.compare(recorded, manifest.manifest_of(workdir / "results"))
    assert now["differ"] == now["only_a"] == now["only_b"] == [], now
    assert now["same"] == recorded["count"] > 1000
    from memrepro.config import load_config

    plan = resolve(load_config(workdir))
    for fid, spec in plan.figures.items():
        stem = workdir / "results" / "figures" / figure_stem(fid, spec, plan)
        drawn = figure_kinds()[spec["kind"]].draw is not None
        exts = ["pdf", "png", "caption.txt"] if drawn else ["csv", "md"]
        for ext in exts:
            f = stem.with_name(f"{stem.name}.{ext}")
            assert f.exists() and f.stat().st_size > 0, f
        if drawn:  # the figure's tidy table, written by the same job before drawing
            stem_name = figure_stem(fid, spec, plan)
            table = pd.read_csv(workdir / "results" / "metrics" / f"{stem_name}.csv")
            assert len(table) > 0, fid
    # the smoke figures say they come from stand-in data
    caption = (workdir / "results/figures/ps/fig1_standin.caption.txt").read_text()
    assert "STAND-IN" in caption and "smoke" in caption
    # every training cell wrote its history, with J1/J2 in [0, 1] for every epoch
    for cell in plan.cells.values():
        run_dir = workdir / "results/runs" / cell["experiment"] / cell["slug"]
        h = pd.read_csv(run_dir / "history.csv")
        if cell["train"].get("stop_when_fit") and len(h) <= cell["train"]["epochs"]:
            # stopped early: exactly at the first epoch with 100% training accuracy
            assert h["j1"].iloc[-1] == 1.0 and (h["j1"].iloc[:-1] < 1.0).all()
        else:
            assert len(h) == cell["train"]["epochs"] + 1
        # evaluated epochs (every one, or every train.eval_every-th and the last) in [0, 1]
        every = int(cell["train"].get("eval_every", 1))
        due = (h["epoch"] % every == 0) | (h["epoch"] == h["epoch"].iloc[-1])
        metrics = h[["j1", "j2", "test_acc"]]
        assert metrics[due].apply(lambda c: c.between(0, 1)).all().all()
        assert metrics[~due].isna().all().all()
    # the symmetry table: RLL and NMSE symmetric, CCE and MSE not
    sym = pd.read_csv(workdir / "results/figures/ps/symmetry.csv").set_index("loss")
    assert sym.loc["rll", "symmetric"] and sym.loc["nmse", "symmetric"]
    assert not sym.loc["cce", "symmetric"] and not sym.loc["mse", "symmetric"]
    noise = json.loads(next((workdir / "results/noise").rglob("seed0.json")).read_text())
    assert "realised_flip_rate" in noise
    # CSR measured at the scheduled epochs only, a share in [0, 1]
    csr = pd.read_csv(next((workdir / "results/runs/ar_cifar_randy").rglob("history.csv")))
    every = plan.experiments["ar_cifar_randy"]["probes"]["csr"]["every"]
    assert csr["csr"].notna().tolist() == [e % every == 0 for e in csr["epoch"]]
    assert csr["csr"].dropna().between(0, 1).all()
    # LLJ Fig. 2(b) on the stand-in: random-label examples get higher memorization scores
    # (a scientific regression guard: turn-over dropout that stopped working would fail here)
    from memrepro.claims import auroc

    rand = next(c for c in plan.cells_of("llj_tod_mnist", "cce") if c["noise"]["rate"] > 0)
    last = rand["probes"]["tod"]["epochs"][-1]
    tod = np.load(workdir / "results/runs/llj_tod_mnist" / rand["slug"] / "probes"
                  / f"tod_epoch-{last}.npz")
    corrupted = np.load(workdir / cell_noise_path(rand))["corrupted"][tod["ids"]]
    assert tod["score"][corrupted].mean() > tod["score"][~corrupted].mean()
    assert auroc(tod["score"], corrupted) >= 0.9
    for part in plan.partitions.values():
        arrays = np.load(workdir / part["path"])
        assert len(arrays["easy"]) == len(arrays["difficult"]) > 0
    cells = json.loads((workdir / "results/summary_cells.json").read_text())
    assert len(cells["ps_resnet18_mnist"]) == len(plan.cells_of("ps_resnet18_mnist")) == 12
    # the DVC metrics: a few numbers per experiment, one file each
    metrics = sorted((workdir / "results/summary").rglob("*.json"))
    assert len(metrics) == len(plan.experiments)
    ps = json.loads((workdir / "results/summary/ps/ps_resnet18_mnist.json").read_text())
    assert ps["cells"] == 12 and set(ps) == {"cells", "epochs", "j1", "j2", "test_acc"}
    # no line of the build's output runs past ~200 characters (tests/test_terminal.py)
    assert max(len(line) for line in (res.stdout + res.stderr).splitlines()) < 200
    print(f"smoke DAG: {elapsed:.0f} s")  # the budget (< 5 min) is checked by hand, not here
    # the HTML report holds every figure with its caption
    rep = snakemake(workdir, "--report", "results/report.html", "figures")
    assert rep.returncode == 0, rep.stderr[-3000:]
    html = (workdir / "results/report.html").read_text()
    curves = [f for f, s in plan.figures.items() if s["kind"] != "symmetry"]
    for fid, spec in plan.figures.items():
        name = Path(figure_stem(fid, spec, plan)).name
        assert f"{name}.{'csv' if spec['kind'] == 'symmetry' else 'png'}" in html, name
    assert html.count("Rebuilt by memrepro at scale") >= len(curves)
    assert "Sec. 3 symmetry condition" in html
    # it opens on the gallery (tests/test_report.py): every figure, paper by paper, in the
    # order of their numbers (fig2 before fig10), each with its settings folded away
    desc = json.loads(re.search(r'<script id="workflow-desc">\s*var workflow_desc = (.+);',
                                html).group(1))
    cards = re.findall(r'<article class="memrepro-figure"><h3><a href="[^"]*">([^<]*)</a>', desc)
    assert len(cards) == len(plan.figures), cards
    assert cards == [gallery_entry(f, plan.figures[f], "")["label"]
                     for f in sorted(plan.figures, key=natural_key)], cards
    assert cards.index("Fig. 2") < cards.index("Fig. 10")
    # the claims scorecard (memrepro.claims): a claim expected at smoke that fails is a
    # scientific regression; the others are evaluated and shown
    from memrepro.claims import read_json as read_claims

    card = read_claims(workdir / "results/claims.json")
    print((workdir / "results/claims.md").read_text())
    assert card["scale"] == "smoke" and card["counts"]["claims"] == len(card["claims"])
    failed = [f"{r['id']}: {r['quantity']} = {r['value']} ({r['kind']} {r['threshold']})"
              for r in card["claims"] if r["expected"] and r["verdict"] != "holds"]
    assert failed == [], failed
    # ... and the report opens on it, above the figures, a row per claim
    assert desc.index("Claims scorecard") < desc.index('<article class="memrepro-figure">')
    assert all(f">{r['id']}<" in desc for r in card["claims"])
    # the at-a-glance status view agrees: every job of the build is done
    from memrepro.pipeline.build_status import assess, plan_jobs

    jobs = assess(plan_jobs(plan), workdir)
    assert [f"{j.kind} {j.name}" for j in jobs if j.state != "done"] == []
    # a second run has nothing to do
    again = snakemake(workdir, "--cores", "2", "figures")
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr
