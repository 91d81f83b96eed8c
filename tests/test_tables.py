"""Tables: a run's history as tidy rows, what a figure reads (figure_entries / entry_files), the
DVC summary, and the figure job (workflow/scripts/figure.py) making a table and its figure."""

import math
import runpy
from io import StringIO
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from memrepro import catalog, io
from memrepro.config import Plan
from memrepro.figures import FigureKind, caption_path
from memrepro.paths import history_path, plot_path, probe_path, run_dir
from memrepro.tables import (
    METRICS,
    TIDY_COLUMNS,
    cell_summary,
    entry_files,
    figure_entries,
    figure_table,
    tidy_history,
    write_plot_tables,
    write_summary,
)


def _cell(experiment="e", loss="cce", rate=0.0, seed=0, sweep=None, probes=None):
    c = {"experiment": experiment, "slug": f"loss-{loss}_eta-{rate!r}_seed-{seed}",
         "dataset": "digits", "model": {"name": "mlp"}, "loss": {"name": loss},
         "noise": {"name": "symmetric", "rate": rate}, "seed": seed}
    if sweep:
        c["sweep"] = sweep
    if probes:
        c["probes"] = probes
    return c


def _history(epochs=3, seed=0, extra=()):
    rng = np.random.default_rng(seed)
    h = {"epoch": range(epochs + 1), "lr": [0.1] * (epochs + 1)}
    h.update({m: rng.random(epochs + 1) for m in [*METRICS, *extra]})
    return pd.DataFrame(h)


def test_tidy_history_labels_every_metric_and_refuses_missing_columns():
    sweep = {"name": "width", "values": [64], "label": "64"}
    long = tidy_history(_history(extra=("csr",)), _cell(rate=0.4, sweep=sweep), 1, "P", 2)
    assert list(long.columns) == TIDY_COLUMNS
    assert set(long["metric"]) == {*METRICS, "csr"}  # every column but epoch and lr
    assert len(long) == 4 * (len(METRICS) + 1)
    row = long.iloc[0]
    assert (row["panel"], row["panel_title"], row["series"], row["eta"]) == (1, "P", 2, 0.4)
    assert (row["sweep_name"], row["sweep_value"], row["sweep_label"]) == ("width", 64.0, "64")
    assert math.isnan(tidy_history(_history(), _cell(), 0, "P")["sweep_value"].iloc[0])
    with pytest.raises(ValueError, match=r"e/loss-cce_eta-0.0_seed-0 lacks columns \['j2'\]"):
        tidy_history(_history().drop(columns="j2"), _cell(), 0, "P")


def test_figure_table_reads_the_entries_sorted(tmp_path):
    entries = []
    for panel, seed in ((1, 0), (0, 1), (0, 0)):
        path = tmp_path / f"{panel}-{seed}.csv"
        _history(seed=seed).to_csv(path, index=False)
        entries.append((panel, f"P{panel}", 0, _cell(seed=seed), path))
    t = figure_table(entries)
    assert list(t.drop_duplicates(["panel", "seed"])[["panel", "seed"]].itertuples(
        index=False, name=None)) == [(0, 0), (0, 1), (1, 0)]
    want = pd.read_csv(tmp_path / "0-1.csv")["j1"].to_numpy()
    got = t[(t["panel"] == 0) & (t["seed"] == 1) & (t["metric"] == "j1")]["value"].to_numpy()
    np.testing.assert_allclose(got, want)
    with pytest.raises(ValueError, match="no runs"):
        figure_table([])


def _plan():
    cells = [_cell("a", "cce", 0.0, 0), _cell("a", "cce", 0.0, 1), _cell("a", "mse", 0.0, 0),
             _cell("b", "cce", 0.4, 0, probes={"per_example": {"epochs": [0, 1]},
                                             "csr": {"every": 1}})]
    figures = {"p/one": {"kind": "curves", "panels": [
        {"experiment": "a", "loss": "cce", "title": "A"},
        {"title": "two series", "series": [{"experiment": "a", "loss": "mse"},
                                           {"experiment": "b", "loss": "cce"}]}]}}
    return Plan(scale="smoke", datasets={}, cells={(c["experiment"], c["slug"]): c
                                                    for c in cells},
                experiments={}, figures=figures)


def test_figure_entries_name_every_run_of_every_series():
    plan = _plan()
    entries = figure_entries(plan, "p/one", "history")
    got = [(p, t, s, c["experiment"], c["loss"]["name"], c["seed"]) for p, t, s, c, _ in entries]
    assert got == [(0, "A", 0, "a", "cce", 0), (0, "A", 0, "a", "cce", 1),
                   (1, "two series", 0, "a", "mse", 0), (1, "two series", 1, "b", "cce", 0)]
    assert [e[-1] for e in entries] == [history_path(e[3]) for e in entries]
    model = figure_entries(plan, "p/one", "model")
    assert model[0][-1] == f"{run_dir(model[0][3])}/model.pt"
    probes = figure_entries(plan, "p/one", "probes", file_probes=["per_example"])
    assert [len(e[-1]) for e in probes] == [0, 0, 0, 2]  # csr writes no file
    assert probes[-1][-1] == [str(probe_path(run_dir(probes[-1][3]), "per_example", e))
                              for e in (0, 1)]
    assert entry_files(probes) == probes[-1][-1]
    assert entry_files(entries) == [e[-1] for e in entries]
    with pytest.raises(ValueError, match="reads 'none'"):
        figure_entries(plan, "p/one", "none")


def test_summary_and_plot_tables(tmp_path):
    entries = []
    for i, (exp, seed) in enumerate([("e", 0), ("e", 1), ("f", 0)]):
        path = tmp_path / f"h{i}.csv"
        _history(epochs=2 + i, seed=i).to_csv(path, index=False)
        entries.append(({**_cell(experiment=exp, seed=seed), "paper": "p"}, path))
    cell, path = entries[0]
    last = pd.read_csv(path).iloc[-1]
    per_cell = cell_summary(entries)
    assert per_cell["e"][cell["slug"]] == {
        "epochs": 2, "j1": round(last["j1"], 4), "j2": round(last["j2"], 4),
        "test_acc": round(last["test_acc"], 4)}
    metrics = [tmp_path / "summary" / "p" / f"{e}.json" for e in ("e", "f")]
    write_summary(entries, metrics, tmp_path / "cells.json")
    assert io.read_json(tmp_path / "cells.json") == per_cell
    e = io.read_json(metrics[0])  # one row of `dvc metrics show`: a few numbers per experiment
    finals = [per_cell["e"][c["slug"]]["test_acc"] for c, _ in entries[:2]]
    assert e["cells"] == 2 and e["epochs"] == 2.5
    assert e["test_acc"] == {"mean": round(sum(finals) / 2, 4), "min": min(finals),
                             "max": max(finals)}
    with pytest.raises(ValueError, match="metrics files"):
        write_summary(entries, metrics[:1], tmp_path / "cells.json")
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / ".snakemake_timestamp").touch()  # what a directory() output left there
    outputs = [plots / Path(plot_path(c)).name for c, _ in entries]
    write_plot_tables(entries, outputs)
    assert sorted(plots.iterdir()) == sorted(outputs)  # DVC plots every file in the folder
    plot = pd.read_csv(plots / f"e__{cell['slug']}.csv")
    assert list(plot.columns) == ["epoch", "j1", "j2", "test_acc"] and len(plot) == 3


# what the figure rules pass (memrepro.provenance.figure_params): no runs, no datasets
PROVENANCE = {"settings_sha256": "0" * 64, "runs": 0, "sidecars": {}}


def _job(tmp_path, spec, entries, drawn=True):
    names = ("table", "pdf", "png") if drawn else ("csv", "md")
    out = SimpleNamespace(**{n: str(tmp_path / f"out.{n}") for n in names})
    sm = SimpleNamespace(input=[], output=out, log=[], threads=1,
                         params=SimpleNamespace(spec=spec, caption="The caption.",
                                                entries=entries, provenance=PROVENANCE))
    runpy.run_path(str(ROOT / "workflow/scripts/figure.py"), init_globals={"snakemake": sm})
    return out


def test_figure_job_writes_the_table_and_draws_it(tmp_path):
    entries = []
    for seed in (0, 1):
        path = tmp_path / f"h{seed}.csv"
        _history(seed=seed).to_csv(path, index=False)
        entries.append((0, "A", 0, _cell(seed=seed), str(path)))
    spec = {"kind": "curves", "title": "T", "panels": [{"experiment": "e", "loss": "cce"}]}
    out = _job(tmp_path, spec, entries)
    want = figure_table(entries)  # the table as a CSV (empty sweep labels read back as NaN)
    pd.testing.assert_frame_equal(pd.read_csv(out.table),
                                  pd.read_csv(StringIO(want.to_csv(index=False))))
    assert len(want) == 2 * 4 * len(METRICS)
    assert open(out.pdf, "rb").read(5) == b"%PDF-"
    caption = caption_path(out.png).read_text().splitlines()
    assert caption[0] == "The caption." and caption[1].startswith('Provenance: {"commit":')


def test_figure_job_writes_a_table_figure(tmp_path, monkeypatch):
    """A kind without a drawing: its table is the figure (CSV + Markdown with the caption)."""
    table = pd.DataFrame({"loss": ["a", "b"], "value": [1.0, 2.5]})
    kind = FigureKind(table=lambda inputs, spec: table.assign(n=spec["n"]), draw=None,
                      reads="none")
    monkeypatch.setattr(catalog, "figure_kinds", lambda: {"table_only": kind})
    out = _job(tmp_path, {"kind": "table_only", "n": 3}, None, drawn=False)
    pd.testing.assert_frame_equal(pd.read_csv(out.csv), table.assign(n=3))
    md = open(out.md).read()
    assert md.startswith("| loss | value | n |") and "\nThe caption.\nProvenance: {" in md
