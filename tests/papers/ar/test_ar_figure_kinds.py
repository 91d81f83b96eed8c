"""Arpit et al. 2017 figure kinds: the numbers each kind draws, files written, bad input."""

import math

import numpy as np
import pandas as pd
import pytest

from memrepro.catalog import figure_kinds
from memrepro.figures import caption_path, write_figure
from memrepro.papers.ar.filters import KIND as FILTERS
from memrepro.papers.ar.filters import build_filters_figure, filter_images, filter_mosaic
from memrepro.papers.ar.regularizers import KIND as REGULARIZERS
from memrepro.papers.ar.regularizers import build_regularizers_figure, regularizer_points
from memrepro.papers.ar.series import KIND as SERIES
from memrepro.papers.ar.series import build_series_figure, series_rows
from memrepro.papers.ar.sweep_curves import KIND as SWEEP
from memrepro.papers.ar.sweep_curves import (
    build_sweep_figure,
    run_statistic,
    sweep_statistics,
    unfitted_notes,
)


def run_rows(values: dict[str, list[float]], *, eta=0.0, seed=0, panel=0, series=0,
             sweep=math.nan, label="", sweep_name="", experiment="e", loss="cce"):
    """Tidy history rows of one run: ``values[metric][epoch]`` for epochs 0, 1, ..."""
    return [{"panel": panel, "panel_title": f"P{panel}", "series": series,
             "experiment": experiment, "dataset": "d", "model": "m", "loss": loss,
             "noise": "n", "eta": eta, "seed": seed, "sweep_name": sweep_name,
             "sweep_value": sweep, "sweep_label": label, "epoch": epoch, "metric": metric,
             "value": v}
            for metric, vs in values.items() for epoch, v in enumerate(vs)]


def frame(*runs) -> pd.DataFrame:
    return pd.DataFrame([r for run in runs for r in run])


def assert_written(kind, table, spec, tmp_path):
    """The kind's drawing written: PDF, PNG and caption, nothing else left behind,
    byte-identical twice."""
    out = []
    for run in ("a", "b"):
        pdf, png = tmp_path / run / "f.pdf", tmp_path / run / "f.png"
        write_figure(kind.draw(table, spec), pdf, png, "The caption.")
        assert pdf.read_bytes().startswith(b"%PDF")
        assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 1000
        assert caption_path(png).read_text() == "The caption.\n"
        assert sorted(p.name for p in pdf.parent.iterdir()) == [
            "f.caption.txt", "f.pdf", "f.png"]
        out.append([pdf.read_bytes(), png.read_bytes()])
    assert out[0] == out[1]


def test_catalog_resolves_the_ar_kinds():
    kinds = figure_kinds()
    for name, kind in (("filters", FILTERS), ("sweep_curves", SWEEP), ("series", SERIES),
                       ("regularizers", REGULARIZERS)):
        assert kinds[name] is kind
    assert kinds["filters"].reads == "model"


# --- filters (Fig. 2) ------------------------------------------------------------------------

def filter_table(weights: np.ndarray, panel=0) -> pd.DataFrame:
    o, c, h, w = weights.shape
    idx = np.indices(weights.shape).reshape(4, -1)
    return pd.DataFrame({"panel": panel, "panel_title": f"P{panel}", "experiment": "e",
                         "dataset": "d", "eta": 0.0, "filter": idx[0], "channel": idx[1],
                         "row": idx[2], "col": idx[3], "value": weights.reshape(-1)})


def test_filter_images_scale_each_filter_and_put_channels_last():
    w = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    w[1] = 7.0  # constant filter
    img = filter_images(filter_table(w).sample(frac=1, random_state=0))  # row order is free
    assert img.shape == (2, 2, 2, 3)
    np.testing.assert_allclose(img[0, :, :, 0], np.array([[0, 1], [2, 3]]) / 11)
    np.testing.assert_allclose(img[0, 1, 1, 2], 1.0)
    np.testing.assert_allclose(img[1], 0.5)
    assert filter_images(filter_table(w), max_filters=1).shape == (1, 2, 2, 3)
    grey = filter_mosaic(filter_images(filter_table(np.ones((5, 1, 3, 3)))))
    assert grey.shape == (2 * 4 + 1, 3 * 4 + 1)  # 2 rows x 3 columns of 3x3, 1-pixel gaps
    assert grey[0].tolist() == [1.0] * 13 and grey[1, 1:4].tolist() == [0.5] * 3


def test_filter_images_bad_input():
    t = filter_table(np.zeros((2, 2, 2, 2)))
    with pytest.raises(ValueError, match="1 \\(grey\\) or 3 \\(RGB\\)"):
        filter_images(t)
    t = filter_table(np.zeros((2, 3, 2, 2)))
    with pytest.raises(ValueError, match="repeated"):
        filter_images(pd.concat([t, t]))
    with pytest.raises(ValueError, match="incomplete"):
        filter_images(t.iloc[1:])


def test_filters_figure_and_files(tmp_path):
    rng = np.random.default_rng(0)
    table = pd.concat([filter_table(rng.normal(size=(10, 3, 5, 5)), 0),
                       filter_table(rng.normal(size=(10, 1, 5, 5)), 1)])
    spec = {"title": "Fig. 2", "max_filters": 4, "panels": [{"title": "CIFAR-10"}, {}]}
    fig = build_filters_figure(table, spec)
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["CIFAR-10", "P1"]
    assert axes[0].get_images()[0].get_array().shape == (13, 13, 3)
    assert axes[1].get_images()[0].get_array().shape == (13, 13)
    assert list(axes[0].get_xticks()) == [] and "4 of 10 filters" in axes[0].get_xlabel()
    assert_written(FILTERS, table, spec, tmp_path)
    with pytest.raises(ValueError, match=r"Fig\. 2.*panel 1 \(untitled\).*channels"):
        build_filters_figure(pd.concat([table[table["panel"] == 0],
                                        filter_table(np.ones((2, 2, 1, 1)), 1)]), spec)
    with pytest.raises(ValueError, match=r"Fig\. 2.*lacks columns \['filter'\]"):
        build_filters_figure(table.drop(columns="filter"), spec)


# --- sweep (Figs. 5, 6) ----------------------------------------------------------------------

def sweep_table(panel=0):
    """Two widths x two noise rates x two seeds; one run never fits, one stops early."""
    runs = []
    for x in (256.0, 1024.0):
        for eta in (0.0, 0.6):
            for seed in (0, 1):
                j1 = [0.1, 0.6, 1.0, 1.0] if eta == 0 else [0.1, 0.4, 0.7, 0.9 + 0.1 * seed]
                if x == 1024 and eta == 0 and seed == 1:
                    j1 = [0.1, 1.0]  # fitted after one epoch, then stopped
                if x == 256 and eta == 0.6:
                    j1 = [0.1, 0.3, 0.5, 0.8]  # neither seed fits
                acc = [0.1, 0.5 + 0.1 * seed, 0.4, 0.45] if len(j1) == 4 else [0.1, 0.9]
                runs.append(run_rows({"j1": j1, "test_acc": acc}, eta=eta, seed=seed,
                                     sweep=x, label=f"{x:g}", sweep_name="hidden units",
                                     panel=panel))
    return frame(*runs)


def test_run_statistic():
    run = frame(run_rows({"j1": [0.2, 0.5, 1.0 - 1e-12, 1.0], "test_acc": [0.9, 0.3, 0.6, 0.5],
                          "loss": [3.0, 1.0, 2.0, 0.5], "csr": [math.nan, 0.1, math.nan, 0.2]}))
    assert run_statistic(run, "epochs_to_fit", "j1") == 2.0
    dip = frame(run_rows({"j1": [0.1, 0.9, 1.0, 0.99, 1.0]}))
    assert run_statistic(dip, "epochs_to_fit", "j1") == 2.0  # the first time, not the last
    assert math.isnan(run_statistic(run[run["epoch"] < 2], "epochs_to_fit", "j1"))
    assert run_statistic(run, "best", "test_acc") == 0.6  # epoch 0 is not a candidate
    assert run_statistic(run, "final", "test_acc") == 0.5
    assert run_statistic(run, "best", "loss") == 0.5
    assert run_statistic(run, "final", "csr") == 0.2
    with pytest.raises(ValueError, match="unknown statistic"):
        run_statistic(run, "median", "j1")


def test_sweep_points_leave_unfitted_runs_out():
    pts = sweep_statistics(sweep_table(), "epochs_to_fit", "j1").set_index(["eta", "sweep_value"])
    assert pts.loc[(0.0, 256.0), ["mean", "min", "max", "used", "runs"]].tolist() == [
        2, 2, 2, 2, 2]
    assert pts.loc[(0.0, 1024.0), ["mean", "min", "max", "used"]].tolist() == [1.5, 1, 2, 2]
    assert pts.loc[(0.6, 1024.0), ["mean", "used", "runs"]].tolist() == [3, 1, 2]
    assert math.isnan(pts.loc[(0.6, 256.0), "mean"]) and pts.loc[(0.6, 256.0), "used"] == 0
    assert pts.loc[(0.6, 256.0), "last_epoch"] == 3
    notes = unfitted_notes(pts.reset_index())
    assert notes == ["η = 0.6: not fitted within 3 epochs: 3 runs (x = 256, 1024)"]
    best = sweep_statistics(sweep_table(), "best", "test_acc").set_index(["eta", "sweep_value"])
    assert best.loc[(0.0, 256.0), ["mean", "min", "max"]].tolist() == pytest.approx(
        [0.55, 0.5, 0.6])
    assert best.loc[(0.0, 1024.0), ["min", "max"]].tolist() == pytest.approx([0.5, 0.9])


def test_sweep_figure_draws_means_and_the_note(tmp_path):
    table = pd.concat([sweep_table(0), sweep_table(1)])
    spec = {"title": "Fig. 6", "panels": [
        {"experiment": "e", "loss": "cce", "title": "(a)", "statistic": "epochs_to_fit",
         "xscale": "log2"},
        {"experiment": "e", "loss": "cce", "title": "(b)", "statistic": "best",
         "xlabel": "width"}]}
    fig = build_sweep_figure(table, spec)
    a, b = fig.get_axes()
    ys = {ln.get_color(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in a.get_lines()
          if len(ln.get_xdata()) and ln.get_marker() == "o"}
    assert sorted(ys.values()) == [([256.0, 1024.0], [2.0, 1.5]), ([1024.0], [3.0])]
    assert a.get_xscale() == "log" and a.get_ylabel() == "epochs to 100% training accuracy"
    assert a.get_xlabel() == "hidden units" and b.get_xlabel() == "width"
    assert [t.get_text() for t in a.get_legend().get_texts()] == [
        "η = 0.6: not fitted within 3 epochs: 3 runs (x = 256, 1024)"]
    assert b.get_ylabel() == "best validation accuracy (%)" and b.get_legend() is None
    eta0 = [ln for ln in b.get_lines() if list(ln.get_xdata()) == [256.0, 1024.0]]
    assert [list(ln.get_ydata()) for ln in eta0][0] == pytest.approx([55.0, 70.0])
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["η = 0.0", "η = 0.6"]
    assert_written(SWEEP, table, spec, tmp_path)


@pytest.mark.parametrize("change, match", [
    ({"statistic": "median"}, "statistic 'median'"),
    ({"xscale": "log10"}, "xscale 'log10'"),
    ({"metric": "j2"}, "no rows for metric 'j2'"),
    ({"loss": "mse"}, "expects loss 'mse'"),
])
def test_sweep_bad_spec(change, match):
    spec = {"title": "Fig. 5", "panels": [{"experiment": "e", "loss": "cce", **change}]}
    with pytest.raises(ValueError, match=r"Fig\. 5.*panel 0.*" + match):
        build_sweep_figure(sweep_table(), spec)


def test_sweep_without_sweep_values_or_panel_rows_raises():
    spec = {"title": "Fig. 5", "panels": [{"title": "randX"}, {"title": "randY"}]}
    with pytest.raises(ValueError, match=r"panel 1 \(randY\) has no rows"):
        build_sweep_figure(sweep_table(), spec)
    with pytest.raises(ValueError, match="without a sweep value"):
        build_sweep_figure(sweep_table().assign(sweep_value=math.nan), spec | {"panels": [{}]})


# --- series (Figs. 9, 11) --------------------------------------------------------------------

def series_table():
    runs = []
    for seed in (0, 1):
        for eta, base in ((0.2 + 1e-12, 0.1), (0.4, 0.3)):  # eta stored with float noise
            csr = [base + 0.1 * seed, math.nan, base + 0.2 + 0.1 * seed, math.nan, base + 0.3]
            runs.append(run_rows({"csr": csr, "loss": [2, 1, 0.5, 0.4, 0.3]}, eta=eta,
                                 seed=seed, series=0))
        for sweep in (0.1, 0.5):
            runs.append(run_rows({"csr": [0.5] * 5, "loss": [sweep] * 5}, eta=1.0, seed=seed,
                                 series=1, sweep=sweep, label=f"{sweep:g}"))
    return frame(*runs)


SERIES_SPEC = {"title": "Fig. 9", "panels": [{"title": "CSR", "metric": "csr", "series": [
    {"experiment": "e", "loss": "cce", "label": "real", "eta": 0.2},
    {"experiment": "e", "loss": "cce", "label": "randY", "sweep": 0.5}]}]}


def test_series_rows_filter_by_eta_and_sweep():
    t, where = series_table(), "figure 'x': panel 0"
    r = series_rows(t, 0, {"eta": 0.2}, "csr", where)
    assert set(r["seed"]) == {0, 1} and np.allclose(r["eta"], 0.2) and len(r) == 6  # NaN gone
    r = series_rows(t, 1, {"sweep": 0.5}, "loss", where)
    assert (r["value"] == 0.5).all() and len(r) == 10
    with pytest.raises(ValueError, match=r"series 0 \(real\): no rows"):
        series_rows(t, 0, {"label": "real", "eta": 0.6}, "csr", where)
    with pytest.raises(ValueError, match="mix eta values"):
        series_rows(t, 0, {}, "csr", where)
    with pytest.raises(ValueError, match="mix sweep_value"):
        series_rows(t, 1, {}, "csr", where)
    with pytest.raises(ValueError, match="expects loss 'mse'"):
        series_rows(t, 1, {"loss": "mse", "sweep": 0.1}, "csr", where)


def test_series_figure_skips_nan_and_draws_percent(tmp_path):
    fig = build_series_figure(series_table(), SERIES_SPEC)
    (ax,) = fig.get_axes()
    real, rand = ax.get_lines()
    np.testing.assert_allclose(real.get_xdata(), [0, 2, 4])
    np.testing.assert_allclose(real.get_ydata(), [15, 35, 40])
    np.testing.assert_allclose(rand.get_ydata(), [50] * 5)
    assert real.get_marker() == "o" and real.get_color() != rand.get_color()
    assert ax.get_ylabel() == "critical sample ratio (%)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["real", "randY"]
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(10) and band.max() == pytest.approx(40)
    spec = {"title": "Fig. 11", "panels": [{**SERIES_SPEC["panels"][0], "metric": "loss",
                                            "ylabel": "train loss"}]}
    ax = build_series_figure(series_table(), spec).get_axes()[0]
    assert ax.get_ylabel() == "train loss"
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [2, 1, 0.5, 0.4, 0.3])
    assert_written(SERIES, series_table(), SERIES_SPEC, tmp_path)
    with pytest.raises(ValueError, match=r"Fig\. 9.*panel 0 \(CSR\).*'metric'"):
        build_series_figure(series_table(), {"title": "Fig. 9", "panels": [{"title": "CSR"}]})


# --- regularizers (Fig. 10) ------------------------------------------------------------------

def reg_table(series=0):
    runs = []
    for sweep, final_j1, best in ((0.0, 0.9, 0.7), (0.5, 0.3, 0.72), (0.9, 0.1, 0.5)):
        for seed in (0, 1):
            d = 0.02 * seed
            runs.append(run_rows({"j1": [0.1, 0.5, final_j1 + d]}, eta=1.0, seed=seed,
                                 series=series, sweep=sweep, label=f"{sweep:g}"))
            runs.append(run_rows({"test_acc": [0.95, best + d, best - 0.1]}, eta=0.0,
                                 seed=seed, series=series, sweep=sweep, label=f"{sweep:g}"))
    return frame(*runs)


def test_regularizer_points():
    pts = regularizer_points(reg_table())
    assert pts["sweep_label"].tolist() == ["0.9", "0.5", "0"]  # sorted by x
    np.testing.assert_allclose(pts["x"], [0.11, 0.31, 0.91])
    np.testing.assert_allclose(pts["y"], [0.51, 0.73, 0.71])  # epoch 0 (0.95) not counted
    with pytest.raises(ValueError, match="sweep value 0.9 needs"):
        regularizer_points(reg_table().query("not (sweep_value == 0.9 and eta == 0)"))
    with pytest.raises(ValueError, match=r"eta 0 \(real\) and 1 \(randY\) only, got \[0.5\]"):
        regularizer_points(reg_table().replace({"eta": {1.0: 0.5}}))


def test_regularizers_figure(tmp_path):
    table = pd.concat([reg_table(0), reg_table(1)])
    spec = {"title": "Fig. 10", "panels": [{"title": "CIFAR-10", "series": [
        {"experiment": "e", "loss": "cce", "label": "dropout"},
        {"experiment": "e", "loss": "cce", "label": "weight decay"}]}]}
    ax = build_regularizers_figure(table, spec).get_axes()[0]
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), [11, 31, 91])
    np.testing.assert_allclose(line.get_ydata(), [51, 73, 71])
    assert [t.get_text() for t in ax.texts][:3] == ["0.9", "0.5", "0"]
    assert ax.get_xlabel() == "final training accuracy on randY (%)"
    assert ax.get_ylabel() == "best validation accuracy on real data (%)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["dropout", "weight decay"]
    assert_written(REGULARIZERS, table, spec, tmp_path)
    with pytest.raises(ValueError, match=r"Fig\. 10.*series 1 \(weight decay\): no rows"):
        build_regularizers_figure(reg_table(0), spec)


# --- curves with csr and an eta subset (Figs. 7, 8) ------------------------------------------

def test_curves_csr_panel_and_eta_subset():
    runs = [run_rows({"j1": [0.1, 0.5, 0.9], "test_acc": [0.1, 0.4, 0.5],
                      "csr": [0.02, math.nan, 0.04 + 0.02 * seed]}, eta=eta, seed=seed,
                     panel=p) for p in (0, 1) for eta in (0.0, 0.2, 0.4) for seed in (0, 1)]
    spec = {"title": "Fig. 8", "panels": [
        {"metrics": ["j1", "test_acc"], "etas": [0.0, 0.4], "ylabel": "acc. (%)"},
        {"metrics": ["csr"], "etas": [0.4]}]}
    curves = figure_kinds()["curves"].draw  # with the AR metric style of csr
    fig = curves(frame(*runs), spec)
    acc, csr = fig.get_axes()
    assert len(acc.get_lines()) == 4 and acc.get_ylabel() == "acc. (%)"
    (line,) = csr.get_lines()
    np.testing.assert_allclose(line.get_xdata(), [0, 2])
    np.testing.assert_allclose(line.get_ydata(), [2, 5])
    assert csr.get_ylabel() == "critical sample ratio (%)" and csr.get_ylim()[1] < 10
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["η = 0.0", "η = 0.4"]
    with pytest.raises(ValueError, match=r"panel 1.*noise rate\(s\) \[0.8\]"):
        curves(frame(*runs), spec | {"panels": [spec["panels"][0],
                                                {"metrics": ["csr"], "etas": [0.8]}]})
