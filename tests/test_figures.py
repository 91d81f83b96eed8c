"""The core ``curves`` kind and the figure base: layout, seed aggregation, byte-reproducible
outputs (PDF + PNG + caption)."""

import numpy as np
import pandas as pd
import pytest

from memrepro.catalog import figure_kinds
from memrepro.curves import build_curves_figure
from memrepro.figures import caption_path, eta_colours, write_figure

ETAS = [0.0, 0.2, 0.4]
SEEDS = [0, 1]
EPOCHS = 6
SPEC = {
    "kind": "curves",
    "title": "Fig. 4: J1 and J2 (test)",
    "ncols": 2,
    "panels": [
        {"experiment": "exp_a", "loss": "cce", "metrics": ["j1", "j2"], "title": "(a) A, CCE"},
        {"experiment": "exp_a", "loss": "rll", "metrics": ["j1", "j2"], "title": "(b) A, RLL"},
    ],
}


def make_table(spec=SPEC, etas=ETAS, seeds=SEEDS, epochs=EPOCHS, metrics=("j1", "j2", "loss")):
    rng = np.random.default_rng(0)
    rows = []
    for p, pspec in enumerate(spec["panels"]):
        for eta in etas:
            for seed in seeds:
                for epoch in range(epochs + 1):
                    for m in metrics:
                        rows.append({
                            "panel": p, "panel_title": pspec["title"],
                            "experiment": pspec["experiment"], "dataset": "cifar10",
                            "model": "resnet", "loss": pspec["loss"], "noise": "symmetric",
                            "eta": eta, "seed": seed, "epoch": epoch, "metric": m,
                            "value": float(np.clip(0.1 + 0.8 * epoch / epochs * (1 - eta)
                                                   + 0.05 * rng.standard_normal(), 0, 1)),
                        })
    return pd.DataFrame(rows)


def plot_curves(table, spec, caption, pdf, png):
    """What the figure job does for a ``curves`` figure: draw, then write the files."""
    write_figure(figure_kinds()["curves"].draw(table, spec), pdf, png, caption)


def test_plot_writes_pdf_png_caption_and_is_byte_reproducible(tmp_path):
    table = make_table()
    out = []
    for run in ("one", "two"):
        pdf, png = tmp_path / run / "fig4.pdf", tmp_path / run / "fig4.png"
        plot_curves(table, SPEC, "Caption line 1.\nLine 2.", pdf, png)
        cap = tmp_path / run / "fig4.caption.txt"
        assert caption_path(png) == cap
        for f in (pdf, png, cap):
            assert f.exists() and f.stat().st_size > 0
        assert pdf.read_bytes().startswith(b"%PDF")
        assert png.read_bytes().startswith(b"\x89PNG")
        assert cap.read_text() == "Caption line 1.\nLine 2.\n"
        # no timestamps or version strings (two runs in the same second would hide them)
        assert b"/CreationDate" not in pdf.read_bytes() and b"/ModDate" not in pdf.read_bytes()
        assert b"Software" not in png.read_bytes()
        out.append([f.read_bytes() for f in (pdf, png, cap)])
        # no temporary files left behind
        assert sorted(p.name for p in (tmp_path / run).iterdir()) == [
            "fig4.caption.txt", "fig4.pdf", "fig4.png"]
    assert out[0] == out[1]


def test_figure_layout_lines_titles_and_colours():
    table = make_table()
    fig = build_curves_figure(table, SPEC)
    axes = fig.get_axes()
    assert len(axes) == 2
    assert fig.get_suptitle() == SPEC["title"]
    assert [ax.get_title() for ax in axes] == ["(a) A, CCE", "(b) A, RLL"]
    assert fig.get_size_inches()[0] == pytest.approx(8.0)
    colours = eta_colours(ETAS)
    for ax in axes:
        lines = ax.get_lines()
        assert len(lines) == len(ETAS) * 2  # n_eta * n_metrics
        # per eta: j1 solid, then j2 dashed
        assert [ln.get_linestyle() for ln in lines] == ["-", "--"] * len(ETAS)
        assert {ln.get_color() for ln in lines} == set(colours.values())
        assert len(ax.collections) == len(ETAS) * 2  # one min-max band per line (2 seeds)
        assert ax.get_legend() is not None  # linestyle legend: two metrics
        assert ax.get_ylim() == (0, 101)
    # the eta legend at figure level
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["η = 0.0", "η = 0.2", "η = 0.4"]


def test_single_metric_panel_has_no_linestyle_legend_and_extra_grid_cells_removed():
    spec = {**SPEC, "ncols": 2, "panels": [{**SPEC["panels"][0], "metrics": ["j1"]},
                                           {**SPEC["panels"][1], "metrics": ["j1"]},
                                           {**SPEC["panels"][0], "metrics": ["j1"]}]}
    fig = build_curves_figure(make_table(spec), spec)
    axes = fig.get_axes()
    assert len(axes) == 3
    for ax in axes:
        assert len(ax.get_lines()) == len(ETAS)
        assert ax.get_legend() is None


def test_y_data_is_mean_over_seeds_in_percent():
    spec = {"kind": "curves", "title": "hand", "ncols": 1,
            "panels": [{"experiment": "e", "loss": "cce", "metrics": ["j1"], "title": "(a)"}]}
    base = {"panel": 0, "panel_title": "(a)", "experiment": "e", "dataset": "d", "model": "m",
            "loss": "cce", "noise": "symmetric", "eta": 0.2, "metric": "j1"}
    values = {(0, 0): 0.10, (0, 1): 0.30, (1, 0): 0.50, (1, 1): 0.70, (2, 0): 0.9, (2, 1): 1.0}
    table = pd.DataFrame([{**base, "seed": s, "epoch": e, "value": v}
                          for (e, s), v in values.items()])
    fig = build_curves_figure(table, spec)
    (line,) = fig.get_axes()[0].get_lines()
    np.testing.assert_allclose(line.get_xdata(), [0, 1, 2])
    np.testing.assert_allclose(line.get_ydata(), [20.0, 60.0, 95.0])
    (band,) = fig.get_axes()[0].collections
    verts = band.get_paths()[0].vertices
    assert verts[:, 1].min() == pytest.approx(10.0) and verts[:, 1].max() == pytest.approx(100.0)


def test_single_seed_draws_no_band():
    table = make_table(seeds=[3])
    fig = build_curves_figure(table, SPEC)
    for ax in fig.get_axes():
        assert len(ax.get_lines()) == len(ETAS) * 2
        assert len(ax.collections) == 0


def test_panel_index_not_in_spec_raises():
    table = make_table()
    table.loc[table["panel"] == 1, "panel"] = 5
    with pytest.raises(ValueError, match=r"Fig\. 4.*panel index.*\[5\]"):
        build_curves_figure(table, SPEC)


def test_panel_without_rows_raises(tmp_path):
    table = make_table()
    table = table[table["panel"] == 0]
    with pytest.raises(ValueError, match=r"Fig\. 4.*panel 1 \(\(b\) A, RLL\) has no rows"):
        plot_curves(table, SPEC, "c", tmp_path / "f.pdf", tmp_path / "f.png")
    assert not any(tmp_path.iterdir())


def test_missing_metric_and_wrong_loss_raise():
    table = make_table(metrics=("j1",))
    with pytest.raises(ValueError, match=r"panel 0.*metric\(s\) \['j2'\]"):
        build_curves_figure(table, SPEC)
    table = make_table()
    table.loc[table["panel"] == 0, "loss"] = "mse"
    with pytest.raises(ValueError, match=r"panel 0.*expects loss 'cce'"):
        build_curves_figure(table, SPEC)


# --- legend: count (LLJ Fig. 10: "20,000 random labels") -------------------------------------

def count_entries(tmp_path, monkeypatch, subset=None):
    """Two runs (eta 0 and 0.2) of one experiment: history files and noise sidecars (n 50000)."""
    from memrepro import io, paths
    from memrepro.tables import METRICS

    monkeypatch.chdir(tmp_path)
    entries = []
    for eta in (0.0, 0.2):
        cell = {"experiment": "e", "slug": f"cce_eta-{eta}", "dataset": "d", "seed": 0,
                "model": {"name": "m"}, "loss": {"name": "cce"}, "subset": subset,
                "noise": {"name": "random_labels", "rate": eta}}
        io.write_json(paths.cell_noise_path(cell).removesuffix(".npz") + ".json", {"n": 50000})
        hist = pd.DataFrame({"epoch": [0, 1], "lr": 0.1, **{m: [0.1, 0.5 - eta] for m in METRICS}})
        io.write_text(paths.history_path(cell), hist.to_csv(index=False))
        entries += [(0, "(a)", 0, cell, paths.history_path(cell)),
                    (1, "(b)", 0, cell, paths.history_path(cell))]
    return entries


class CellsPlan:
    def __init__(self, entries):
        self.cells = [e[3] for e in entries if e[0] == 0]

    def cells_of(self, experiment, loss=None):
        return [c for c in self.cells if c["experiment"] == experiment]


COUNT_SPEC = {"kind": "curves", "title": "Fig. 10", "legend": "count", "panels": [
    {"experiment": "e", "loss": "cce", "metrics": ["j1"], "title": "(a)"},
    {"experiment": "e", "loss": "cce", "metrics": ["test_acc"], "title": "(b)"}]}


def test_count_legend_names_each_rate_by_the_labels_it_redraws(tmp_path, monkeypatch):
    kind = figure_kinds()["curves"]
    entries = count_entries(tmp_path, monkeypatch)
    table = kind.table(entries, COUNT_SPEC)
    counts = set(zip(table["eta"], table["noise_count"], strict=True))
    assert sorted(counts) == [(0.0, 0), (0.2, 10000)]
    table.to_csv(tmp_path / "t.csv", index=False)  # drawn from the table as written
    fig = kind.draw(pd.read_csv(tmp_path / "t.csv"), COUNT_SPEC)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "0 random labels", "10,000 random labels"]
    plan = CellsPlan(entries)
    assert kind.extra_inputs(COUNT_SPEC, plan) == [
        f"results/noise/d/random_labels_eta-{eta}/seed0.json" for eta in ("0.0", "0.2")]
    # the default is unchanged: no counts read, no extra inputs, eta in the legend
    plain = {k: v for k, v in COUNT_SPEC.items() if k != "legend"}
    assert kind.extra_inputs(plain, plan) == []
    table = kind.table(entries, plain)
    assert "noise_count" not in table.columns
    assert [t.get_text() for t in kind.draw(table, plain).legends[0].get_texts()] == [
        "η = 0.0", "η = 0.2"]


def test_count_legend_per_panel_and_on_a_fixed_share(tmp_path, monkeypatch):
    kind = figure_kinds()["curves"]
    entries = count_entries(tmp_path, monkeypatch, subset=10000)
    spec = {**COUNT_SPEC, "legend": "eta",
            "panels": [COUNT_SPEC["panels"][0], {**COUNT_SPEC["panels"][1], "legend": "count"}]}
    table = kind.table(entries, spec)
    assert table.loc[table["panel"] == 0, "noise_count"].isna().all()
    fig = kind.draw(table, spec)
    assert fig.get_axes()[0].get_legend() is None
    assert [t.get_text() for t in fig.get_axes()[1].get_legend().get_texts()] == [
        "0 random labels", "≈2,000 random labels"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["η = 0.0", "η = 0.2"]
    assert len(kind.extra_inputs(spec, CellsPlan(entries))) == 2
    with pytest.raises(ValueError, match=r"legend 'counts' is not allowed; allowed: \['eta', "):
        kind.table(entries, {**COUNT_SPEC, "legend": "counts"})
