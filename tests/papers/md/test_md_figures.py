"""MD figure kinds on hand-made ``features`` probe files: the numbers each table holds (known
answers), the seed means and the fitted lines, what each drawing contains, spec errors that
name the key, and the index (torch-free, option schema). The drawings are also saved to
/tmp/md_figs/ for a look. (Named test_md_figures.py: test file names are unique.)"""

import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Circle

from memrepro import io, paths
from memrepro.figures import MARKERS, write_figure
from memrepro.papers.md import feature_scatter, md_scatter
from memrepro.papers.md.index import PAPER
from memrepro.papers.md.md_scatter import panel_fits, seed_means
from memrepro.papers.md.nc import cell_metrics

FIGS = Path(os.environ.get("MD_FIGS", "/tmp/md_figs"))
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)  # every file at its real relative path, under tmp_path
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def make_cell(experiment="md_toy", loss="cce", eta=0.2, seed=0, m=2, dataset="toy_01"):
    model = {"name": "mlp", "hidden": 8, "depth": 2, "batchnorm": True, "feature_dim": m}
    return {"experiment": experiment, "slug": f"{loss}_eta-{eta}_seed-{seed}_m-{m}",
            "dataset": dataset, "noise": {"name": "resample_uniform", "rate": float(eta)},
            "seed": seed, "loss": {"name": loss, "params": {}}, "model": model,
            "train": {"epochs": 3}}


def synthetic(eta, factor, slope, seed, m=2, n=200, n_test=100):
    """Features of a binary run: test classes around (3, 0) and (0, 3) (padded with zeros for
    m > 2) with spread 0.2 + slope * factor * eta; training labels redrawn with probability
    eta; corrupted features moved a share factor * eta of the way to the observed class."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((2, m))
    centres[0, 0], centres[1, 1] = 3.0, 3.0
    spread, pull = 0.2 + slope * factor * eta, min(1.0, 2 * factor * eta)
    y_test, true = np.arange(n_test) % 2, np.arange(n) % 2
    observed = np.where(rng.random(n) < eta, rng.integers(0, 2, n), true)
    test = centres[y_test] + spread * np.abs(rng.normal(size=(n_test, m)))
    train = centres[true] + 0.1 * np.abs(rng.normal(size=(n, m)))
    train += pull * (centres[observed] - centres[true])
    w = np.zeros((2, m))
    w[0, 0], w[0, 1], w[1, 0], w[1, 1] = 1.0, -1.0, -1.0, 1.0
    return {"train": train.astype(np.float32), "test": test.astype(np.float32),
            "ids": np.arange(n), "label": observed, "true_label": true,
            "test_label": y_test, "fc_weight": w.astype(np.float32),
            "fc_bias": np.zeros(2, np.float32)}


def write_features(cell, epoch, arrays) -> str:
    f = paths.probe_path(paths.run_dir(cell), "features", epoch)
    io.write_npz(f, epoch=np.array([epoch]), **arrays)
    return str(f)


def roundtrip(table: pd.DataFrame, tmp_path) -> pd.DataFrame:
    """As the figure job does: the table written as CSV and read back before drawing."""
    table.to_csv(tmp_path / "t.csv", index=False)
    return pd.read_csv(tmp_path / "t.csv")


def save(fig, name):
    FIGS.mkdir(parents=True, exist_ok=True)
    write_figure(fig, FIGS / f"{name}.pdf", FIGS / f"{name}.png", "caption")
    assert (FIGS / f"{name}.png").read_bytes().startswith(b"\x89PNG")


# --- md_scatter: MD Figs. 1 and 2 -------------------------------------------------------------
FACTORS = {"cce": (1.0, 2.0), "ls": (0.6, 2.0), "mse_logits": (0.8, 5.0),
           "label_relaxation": (0.4, 0.5)}  # (memorization factor, dilation slope) per loss
ETAS = (0.05, 0.1, 0.2, 0.4)
DATASETS = ("mnist", "fashionmnist", "cifar10", "svhn")


def scatter_entries(datasets=DATASETS, losses=tuple(FACTORS), seeds=(0, 1, 2), ms=(2,)):
    entries = []
    for i, ds in enumerate(datasets):
        for k, loss in enumerate(losses):
            for eta in ETAS:
                for seed in seeds:
                    for m in ms:
                        cell = make_cell(f"md_{ds}", loss, eta, seed, m, f"{ds}_01")
                        factor, slope = FACTORS[loss]
                        files = [write_features(cell, 1, synthetic(eta, 0.0, 0.0, seed, m)),
                                 write_features(cell, 3, synthetic(eta, factor, slope,
                                                                   seed + 10 * i, m))]
                        entries.append((i, ds, k, cell, files))
    return entries


def scatter_spec(datasets=DATASETS, losses=tuple(FACTORS), **extra):
    return {"kind": "md_scatter", "title": "MD Fig. 1 (synthetic features)", **extra,
            "panels": [{"title": ds, "series": [{"experiment": f"md_{ds}", "loss": loss}
                                                for loss in losses]} for ds in datasets]}


def test_scatter_table_holds_each_runs_metrics_at_the_last_epoch():
    entries = scatter_entries(datasets=DATASETS[:2])
    spec = scatter_spec(DATASETS[:2])
    t = md_scatter.KIND.table(entries, spec)
    assert len(t) == 2 * 4 * len(ETAS) * 3 and list(t.columns) == md_scatter.COLUMNS
    row = t[(t["panel"] == 1) & (t["loss"] == "ls") & (t["eta"] == 0.2) & (t["seed"] == 1)]
    assert len(row) == 1 and row["epoch"].item() == 3 and row["feature_dim"].item() == 2
    want = cell_metrics(synthetic(0.2, *FACTORS["ls"], 1 + 10))
    for k in ("mem", "mem_mean", "nc1_test", "nc1_train_sm", "test_acc", "n_corrupted"):
        assert row[k].item() == pytest.approx(want[k], rel=1e-9), k
    assert row["series_label"].item() == "LS" and row["dataset"].item() == "fashionmnist_01"
    # epoch 1: the files without memorization (factor 0): no dilation beyond 0.2 spread
    early = md_scatter.KIND.table(entries, {**spec, "epoch": 1})
    assert (early["epoch"] == 1).all()
    assert early["nc1_test"].max() < t[t["eta"] == 0.4]["nc1_test"].min()
    with pytest.raises(ValueError, match=r"epoch 2 is not allowed; allowed: an epoch the "
                                         r"'features' probe recorded \[1, 3\]"):
        md_scatter.KIND.table(entries, {**spec, "epoch": 2})


def test_scatter_panels_pick_runs_by_feature_dimension():
    """MD Fig. 2: one experiment sweeping M; each panel keeps the runs of its M, read from
    the cell's model spec and checked on the features themselves."""
    entries = scatter_entries(datasets=("mnist",), losses=("cce", "ls"), seeds=(0,),
                              ms=(2, 8))
    entries = [(0 if c["model"]["feature_dim"] == 2 else 1, t, k, c, f)
               for _, t, k, c, f in entries] + [
        (1, t, k, c, f) for _, t, k, c, f in entries if c["model"]["feature_dim"] == 2]
    spec = {"kind": "md_scatter", "title": "Fig. 2", "rows": ["nc1_test"], "panels": [
        {"title": "M = 2", "feature_dim": 2, "series": [{"experiment": "md_mnist", "loss": "cce"},
                                                        {"experiment": "md_mnist", "loss": "ls"}]},
        {"title": "M = 8", "feature_dim": 8, "series": [{"experiment": "md_mnist", "loss": "cce"},
                                                        {"experiment": "md_mnist", "loss": "ls"}]}]}
    t = md_scatter.KIND.table(entries, spec)
    assert t.groupby("panel")["feature_dim"].unique().map(list).to_dict() == {0: [2], 1: [8]}
    assert t.groupby("panel").size().tolist() == [2 * len(ETAS), 2 * len(ETAS)]
    spec["panels"][1]["feature_dim"] = 32
    with pytest.raises(ValueError, match=r"panel 1 \(M = 8\): no run with features of "
                                         "dimension M = 32"):
        md_scatter.KIND.table(entries, spec)


def test_seed_means_and_fit_lines_by_hand():
    rows = pd.DataFrame({"series": [0, 0, 0, 0], "series_label": ["CE"] * 4,
                         "loss": ["cce"] * 4, "eta": [0.1, 0.1, 0.2, 0.2],
                         "mem": [1.0, 3.0, 5.0, 5.0], "nc1_test": [0.1, 0.3, 0.4, 0.6]})
    p = seed_means(rows, "mem", "nc1_test")
    np.testing.assert_allclose(p[["x", "y"]].to_numpy(), [[2.0, 0.2], [5.0, 0.5]])
    assert p["x_sd"].tolist() == pytest.approx([np.sqrt(2.0), 0.0])  # sample sd
    assert p["y_sd"].tolist() == pytest.approx([np.sqrt(0.02), np.sqrt(0.02)])
    # CE on y = 2x + 1 up to the median x, LS on y = 2x + 3; both far off above the median
    pts = pd.DataFrame({"loss": ["cce"] * 6 + ["ls"] * 6,
                        "x": [1.0, 2.0, 2.5, 50.0, 55.0, 70.0, 1.5, 2.2, 2.6, 40.0, 45.0, 60.0],
                        "y": [3.0, 5.0, 6.0, 0.0, 0.0, 0.0, 6.0, 7.4, 8.2, -9.0, -9.0, -9.0]})
    fits = panel_fits(pts, ["cce", "ls"])  # median of the 12 x: 21.3
    assert fits["cce"][:3] == pytest.approx((2.0, 1.0, 1.0))
    assert fits["cce"][3].tolist() == [1.0, 2.0, 2.5]
    assert "cce" not in panel_fits(pts[pts["x"] != 2.5], ["cce", "ls"])  # two points: no line
    assert fits["ls"][:3] == pytest.approx((2.0, 3.0, 1.0))
    assert "mse_logits" not in panel_fits(pts, ["cce", "mse_logits"])


def test_scatter_draws_one_row_per_quantity_and_one_marker_per_loss_and_eta(tmp_path):
    spec = scatter_spec(fit=True)
    table = roundtrip(md_scatter.KIND.table(scatter_entries(), spec), tmp_path)
    fig = md_scatter.KIND.draw(table, spec)
    axes = fig.axes
    assert len(axes) == 2 * 4
    assert [a.get_title() for a in axes[:4]] == list(DATASETS)
    assert axes[0].get_ylabel() == "NC1 test (dilation)"
    assert axes[4].get_ylabel() == "test accuracy"
    # 4 losses x 4 etas markers per axis (errorbar: one marker line each, besides its caps)
    markers = [ln.get_marker() for ln in axes[0].lines if ln.get_marker() in MARKERS]
    assert sorted(markers) == sorted(MARKERS[:4] * 4)
    # 4 noise rates: 2 points per loss below the median, too few for a line (a line through
    # two points fits them exactly); fits by hand in test_seed_means_and_fit_lines_by_hand
    assert axes[0].get_legend() is None and axes[4].get_legend() is None
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["CE", "LS", "MSE", "LR", "η = 0.05", "η = 0.1", "η = 0.2", "η = 0.4"]
    save(fig, "md_fig1")


def test_scatter_fig2_grid_of_datasets_and_feature_dimensions(tmp_path):
    entries = []
    panels = []
    for r, ds in enumerate(("mnist", "cifar10")):
        for c, m in enumerate((2, 8, 32)):
            i = 3 * r + c
            for _, _, k, cell, files in scatter_entries((ds,), ("cce", "ls"), (0, 1), (m,)):
                entries.append((i, f"{ds}, M = {m}", k, cell, files))
            panels.append({"title": f"{ds}, M = {m}", "feature_dim": m, "series": [
                {"experiment": f"md_{ds}", "loss": "cce"}, {"experiment": f"md_{ds}",
                                                            "loss": "ls"}]})
    spec = {"kind": "md_scatter", "title": "MD Fig. 2 (synthetic)", "rows": ["nc1_test"],
            "ncols": 3, "fit": True, "xscale": "log", "panels": panels}
    table = roundtrip(md_scatter.KIND.table(entries, spec), tmp_path)
    fig = md_scatter.KIND.draw(table, spec)
    assert len(fig.axes) == 6 and fig.axes[3].get_title() == "cifar10, M = 2"
    assert fig.axes[0].get_xscale() == "log" and fig.axes[3].get_ylabel()
    assert not fig.axes[1].get_ylabel()  # only the first column is labelled
    save(fig, "md_fig2")


@pytest.mark.parametrize("extra,match", [
    ({"rows": ["nc2"]}, r"rows \['nc2'\] is not allowed; allowed: a non-empty list"),
    ({"x": "memo"}, r"x 'memo' is not allowed; allowed: one of \['mem'"),
    ({"fit": "yes"}, r"fit 'yes' is not allowed; allowed: true, false or a non-empty list"),
    ({"xscale": "log2"}, r"xscale 'log2' is not allowed; allowed: one of \['linear', 'log'\]"),
    ({"epoch": -1}, r"epoch -1 is not allowed"),
    ({"metric": "mem"}, r"key\(s\) \['metric'\] are not allowed"),
])
def test_scatter_spec_errors_name_the_key(extra, match):
    with pytest.raises(ValueError, match=match):
        md_scatter.KIND.table([], scatter_spec(("mnist",), **extra))


def test_scatter_panel_errors_name_the_panel():
    spec = scatter_spec(("mnist",))
    spec["panels"][0]["feature_dim"] = 0
    with pytest.raises(ValueError, match=r"panel 0 \(mnist\): feature_dim 0 is not allowed"):
        md_scatter.KIND.table([], spec)
    spec["panels"][0] = {"title": "x", "series": [{"experiment": "e", "loss": "cce", "eta": 1}]}
    with pytest.raises(ValueError, match=r"series 0: key\(s\) \['eta'\] are not allowed"):
        md_scatter.KIND.table([], spec)


# --- feature_scatter: MD Fig. 3 ---------------------------------------------------------------
def fig3_arrays():
    """Hand geometry: test class 0 at distances 1, 1, 3, 3 from (3, 1) (sd 1), class 1 at
    distance 2 from (1, 4) (sd 0); corrupted: ids 4, 5 (true 1, observed 0) at (3, 2) and
    (5, 2), centroid u1 = (4, 2); id 6 (true 0, observed 1) at (1, 3)."""
    test = np.array([[3, 0], [3, 2], [6, 1], [0, 1], [1, 6], [1, 2]], np.float32)
    train = np.array([[4, 1], [4, 0], [1, 4], [0, 4], [3, 2], [5, 2], [1, 3]], np.float32)
    return {"train": train, "test": test, "ids": np.arange(7),
            "label": np.array([0, 0, 1, 1, 0, 0, 1]),
            "true_label": np.array([0, 0, 1, 1, 1, 1, 0]),
            "test_label": np.array([0, 0, 0, 0, 1, 1]),
            "fc_weight": np.array([[1.0, 0.0], [0.0, 1.0]], np.float32),
            "fc_bias": np.array([0.0, -1.0], np.float32)}


FIG3_CELLS = [make_cell("md_mnist", "cce", eta, seed) for eta in (0.1, 0.2) for seed in (0, 1)]
FIG3_SPEC = {"kind": "feature_scatter", "title": "MD Fig. 3 (hand-made)",
             "panels": [{"experiment": "md_mnist", "loss": "cce", "eta": 0.2, "title": "MNIST"}]}


def fig3_entries(arrays):
    return [(0, "MNIST", 0, c, [write_features(c, 3, arrays)]) for c in FIG3_CELLS]


def test_feature_table_geometry_by_hand():
    t = feature_scatter.KIND.table(fig3_entries(fig3_arrays()), FIG3_SPEC)
    assert list(t.columns) == feature_scatter.COLUMNS
    assert (t["eta"] == 0.2).all() and (t["seed"] == 0).all()  # lowest seed by default
    c = t[t["part"] == "centroid"].set_index("cls")
    assert c.loc[0, ["x", "y", "radius", "count"]].tolist() == pytest.approx([3, 1, 1, 4])
    assert c.loc[1, ["x", "y", "radius"]].tolist() == pytest.approx([1, 4, 0])
    assert c["rms"].tolist() == pytest.approx([np.sqrt(5.0), 2.0])  # sqrt((1+1+9+9)/4)
    u = t[t["part"] == "corrupted_centroid"].set_index("cls")
    assert u.loc[1, ["x", "y", "count"]].tolist() == pytest.approx([4, 2, 2])
    assert u.loc[0, ["x", "y", "count"]].tolist() == pytest.approx([1, 3, 1])
    b = t[t["part"] == "boundary"].iloc[0]
    # logit_1 - logit_0 = y - 1 - x: the line y = x + 1; nearest point to 0 is (-0.5, 0.5)
    assert [b["x"], b["y"]] == pytest.approx([-0.5, 0.5])
    assert abs(b["dx"]) == pytest.approx(np.sqrt(0.5)) and b["dx"] == pytest.approx(b["dy"])
    train = t[t["part"] == "train"]
    assert len(train) == 7 and train["corrupted"].sum() == 3 and len(t[t["part"] == "test"]) == 6


def test_feature_table_subsamples_points_but_not_the_geometry():
    rng = np.random.default_rng(0)
    arrays = fig3_arrays()
    arrays["test"] = rng.random((40, 2)).astype(np.float32)
    arrays["test_label"] = np.arange(40) % 2
    t = feature_scatter.KIND.table(fig3_entries(arrays), {**FIG3_SPEC, "max_points": 5})
    test = t[t["part"] == "test"]
    assert test.groupby("cls").size().tolist() == [5, 5]
    c = t[t["part"] == "centroid"].set_index("cls")
    assert c.loc[1, "x"] == pytest.approx(arrays["test"][1::2, 0].astype(float).mean())
    assert c.loc[1, "count"] == 20
    assert len(t[t["part"] == "train"]) == 7  # under the cap: all


def test_feature_table_refuses_other_dimensions_and_ambiguous_runs():
    arrays = fig3_arrays()
    arrays["train"] = np.zeros((7, 3), np.float32)
    with pytest.raises(ValueError, match=r"M = \(3,\) are not allowed; allowed: M = 2"):
        feature_scatter.KIND.table(fig3_entries(arrays), FIG3_SPEC)
    spec = {**FIG3_SPEC, "panels": [{"experiment": "md_mnist", "loss": "cce"}]}
    with pytest.raises(ValueError, match=r"several noise rates \[0.1, 0.2\]; give 'eta'"):
        feature_scatter.KIND.table(fig3_entries(fig3_arrays()), spec)
    spec = {**FIG3_SPEC, "panels": [{**FIG3_SPEC["panels"][0], "seed": 7}]}
    with pytest.raises(ValueError, match=r"seed 7 is not allowed; allowed: one of the runs' "
                                         r"seeds \[0, 1\]"):
        feature_scatter.KIND.table(fig3_entries(fig3_arrays()), spec)
    with pytest.raises(ValueError, match=r"max_points 0 is not allowed"):
        feature_scatter.KIND.table([], {**FIG3_SPEC, "max_points": 0})


def test_feature_scatter_draws_test_and_training_panels(tmp_path):
    arrays = synthetic(0.2, 1.0, 2.0, 0, n=1500, n_test=1200)
    table = roundtrip(feature_scatter.KIND.table(fig3_entries(arrays), FIG3_SPEC), tmp_path)
    assert table.groupby(["part", "cls"]).size()[("test", 0)] == 600  # under the cap
    fig = feature_scatter.KIND.draw(table, FIG3_SPEC)
    test_ax, train_ax = fig.axes
    assert "test features" in test_ax.get_title() and "training" in train_ax.get_title()
    circles = [p for p in test_ax.patches if isinstance(p, Circle)]
    sd = table.query("part == 'centroid'").sort_values("cls")
    assert [c.get_radius() for c in circles] == pytest.approx(sd["radius"].tolist())
    labels = [t.get_text() for t in test_ax.get_legend().get_texts()]
    assert "decision boundary" in labels
    assert any(lb.startswith("u1: ") and "|u-h1|" in lb for lb in labels)
    red = [c for c in train_ax.collections if c.get_label().startswith("train, corrupted")]
    assert len(red) == 1 and len(red[0].get_offsets()) == int(
        (table.query("part == 'train'")["corrupted"]).sum())
    save(fig, "md_fig3")
    rms = feature_scatter.KIND.draw(table, {**FIG3_SPEC, "radius": "rms", "train_panel": False})
    assert len(rms.axes) == 1
    assert [c.get_radius() for c in rms.axes[0].patches] == pytest.approx(sd["rms"].tolist())
    assert sd["rms"].gt(sd["radius"]).all()
    with pytest.raises(ValueError, match=r"radius 'mean' is not allowed; allowed: one of "
                                         r"\['sd', 'rms'\]"):
        feature_scatter.KIND.draw(table, {**FIG3_SPEC, "radius": "mean"})


# --- the index --------------------------------------------------------------------------------
def test_index_is_torch_free_and_its_schema_is_closed():
    code = ("import sys\nfrom memrepro.papers.md import index\n"
            "assert not [m for m in sys.modules if m.split('.')[0] == 'torch']\n"
            "print(sorted(index.PAPER.kinds))")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "['feature_scatter', 'md_scatter']" in res.stdout
    code = ("import sys\nimport memrepro.papers.md.training as t\nassert set(t.PROBES) == "
            "{'features'}\nloaded = [m for m in sys.modules if m.split('.')[0] == 'matplotlib' "
            "or m == 'memrepro.figures' or m.startswith('memrepro.papers.md.') and m not in "
            "('memrepro.papers.md.training',)]\nassert not loaded, loaded\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr  # a training job loads no figure code
    schema = PAPER.option_schemas["features"]
    jsonschema.validate({}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"layer": 3}, schema)
    assert PAPER.file_probes == frozenset({"features"}) and set(PAPER.probes) == {"features"}
    assert PAPER.note_kinds == frozenset(PAPER.kinds)
