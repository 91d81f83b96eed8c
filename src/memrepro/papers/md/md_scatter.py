"""MD Figs. 1 and 2, the figure kind ``md_scatter``: per run, the memorization of the
corrupted training examples (Eq. 3) against the collapse of the test features (NC1_test,
"dilation") and the test accuracy. In one file, as every kind: the spec's keys and checks,
the table, the drawing, the ``KIND`` record.

The table has one row per run: its panel, series (one loss of one experiment), noise rate,
seed, feature dimension M and the numbers of ``memrepro.papers.md.nc.cell_metrics`` from its
``features`` probe file. The drawing is a grid with one row of panels per y quantity
(``rows``) and one column per panel (``ncols`` wraps them), one marker per (loss, eta) at the
seed mean with +-1 sd bars in x and y, colour = eta, marker = loss, and optional
least-squares lines per loss on the NC1 rows.

A panel is one dataset (its ``series``: one entry per loss) and, with ``feature_dim``, only
the runs whose features have that dimension M (MD Fig. 2: one panel per dataset and M).
Torch-free.
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from memrepro.figures import (
    MARKERS,
    MATCH_TOL,
    PANEL_HEIGHT_IN,
    PANEL_WIDTH_IN,
    STYLE,
    FigureKind,
    eta_colours,
    eta_label,
    split_panels,
    wrap_title,
)
from memrepro.io import load_npz
from memrepro.papers.md.common import features_file, loss_label
from memrepro.papers.md.nc import cell_metrics
from memrepro.specs import check_keys, number, positive_int, refuse, where_figure, where_panel

# --- the spec -----------------------------------------------------------------------------------

QUANTITIES = ("mem", "mem_mean", "mem_unsquared", "n_corrupted", "nc1_train", "nc1_test",
              "nc1_train_sm", "nc1_test_sm", "test_acc")
QUANTITY_LABELS = {"mem": "memorization (Eq. 3)",
                   "mem_mean": "memorization per corrupted example",
                   "mem_unsquared": "memorization, unsquared distances",
                   "n_corrupted": "corrupted training examples",
                   "nc1_train": "NC1 train (labels trained on)",
                   "nc1_test": "NC1 test (dilation)",
                   "nc1_train_sm": "NC1 train, sample global mean",
                   "nc1_test_sm": "NC1 test, sample global mean",
                   "test_acc": "test accuracy"}
SIZES = ("n_train", "n_test")
ID_COLUMNS = ["panel", "panel_title", "series", "series_label", "experiment", "dataset", "loss",
              "eta", "seed", "epoch", "feature_dim"]
COLUMNS = [*ID_COLUMNS, *QUANTITIES, *SIZES]
DEFAULT_ROWS = ("nc1_test", "test_acc")
DEFAULT_X = "mem"
DEFAULT_FIT = ("cce", "ls")  # MD Sec. 4.1: the M-D line is claimed for "the CE derivatives"
SCALES = ("linear", "log")
KEYS = frozenset({"panels", "ncols", "rows", "x", "fit", "epoch", "xscale", "yscale"})
PANEL_KEYS = frozenset({"experiment", "loss", "series", "title", "feature_dim", "etas"})
SERIES_KEYS = frozenset({"experiment", "loss", "label"})


def rows_of(spec: dict) -> list[str]:
    """The figure's y quantities, one row of panels each (default: NC1_test, test accuracy)."""
    rows = spec.get("rows", list(DEFAULT_ROWS))
    if not isinstance(rows, list) or not rows or any(r not in QUANTITIES for r in rows):
        raise refuse(where_figure(spec), "rows", rows,
                     f"a non-empty list of quantities from {list(QUANTITIES)}")
    return rows


def x_of(spec: dict) -> str:
    x = spec.get("x", DEFAULT_X)
    if x not in QUANTITIES:
        raise refuse(where_figure(spec), "x", x, f"one of {list(QUANTITIES)}")
    return x


def fit_losses(spec: dict) -> list[str]:
    """The losses that get a least-squares line: none (false, the default), CE and LS
    (true), or a list of loss names."""
    fit = spec.get("fit", False)
    if fit is False or fit is None:
        return []
    if fit is True:
        return list(DEFAULT_FIT)
    if isinstance(fit, list) and fit and all(isinstance(f, str) for f in fit):
        return list(fit)
    raise refuse(where_figure(spec), "fit", fit, "true, false or a non-empty list of loss "
                                                 "names")


def scale_of(spec: dict, key: str) -> str:
    value = spec.get(key, "linear")
    if value not in SCALES:
        raise refuse(where_figure(spec), key, value, f"one of {list(SCALES)}")
    return value


def check_spec(spec: dict) -> None:
    """The figure-level keys, checked before anything is read or drawn."""
    check_keys({k: v for k, v in spec.items() if k not in ("kind", "title")}, KEYS,
               where_figure(spec))
    if not spec.get("panels") or not isinstance(spec["panels"], list):
        raise ValueError(f"{where_figure(spec)}: spec has no panels")
    rows_of(spec), x_of(spec), fit_losses(spec), scale_of(spec, "xscale")
    scale_of(spec, "yscale")
    positive_int(spec.get("ncols"), where_figure(spec), "ncols", 1)
    epoch = spec.get("epoch")
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int)
                              or epoch < 0):
        raise refuse(where_figure(spec), "epoch", epoch,
                     "an epoch >= 0 (default: the last recorded)")


def panel_filters(spec: dict, i: int) -> tuple[int | None, list[float] | None]:
    """(feature_dim, etas) of panel i, its keys and its series' keys checked."""
    p, where = spec["panels"][i], where_panel(spec, i)
    check_keys(p, PANEL_KEYS, where)
    if "series" not in p and not ("experiment" in p and "loss" in p):
        raise ValueError(f"{where}: needs `series` (one entry per loss) or `experiment` and "
                         "`loss`")
    for j, s in enumerate(p.get("series") or []):
        check_keys(s, SERIES_KEYS, f"{where}: series {j}")
    m = positive_int(p.get("feature_dim"), where, "feature_dim", None)
    etas = p.get("etas")
    if etas is not None:
        if not isinstance(etas, list) or not etas:
            raise refuse(where, "etas", etas, "a non-empty list of noise rates")
        etas = [number(e, where, "etas") for e in etas]
    return m, etas


# --- the table ----------------------------------------------------------------------------------

def _series_label(spec: dict, i: int, k: int, cell: dict) -> str:
    p = spec["panels"][i]
    s = (p.get("series") or [p])[k]
    return str(s.get("label") or loss_label(cell["loss"]["name"]))


def _wanted(cell: dict, m: int | None, etas: list[float] | None) -> bool:
    """Whether a run belongs to the panel by what its spec says (M is checked again on the
    features themselves)."""
    eta = float(cell["noise"]["rate"])
    if etas is not None and not any(abs(eta - e) <= MATCH_TOL for e in etas):
        return False
    spec_m = (cell.get("model") or {}).get("feature_dim")
    return m is None or spec_m is None or int(spec_m) == m


def scatter_table(entries, spec: dict) -> pd.DataFrame:
    """One row per run of every panel: ids (panel, series, experiment, loss, eta, seed, M) and
    the MD numbers of its features file at the figure's ``epoch`` (default: the last
    recorded), ``memrepro.papers.md.nc.cell_metrics``."""
    check_spec(spec)
    filters = [panel_filters(spec, i) for i in range(len(spec["panels"]))]
    out = []
    for i, title, k, cell, files in entries:
        m, etas = filters[i]
        if not _wanted(cell, m, etas):
            continue
        where = f"{where_panel(spec, i)}: run {cell['experiment']}/{cell.get('slug', '?')}"
        epoch, path = features_file(files, spec.get("epoch"), where)
        try:
            metrics = cell_metrics(load_npz(path))
        except ValueError as err:
            raise ValueError(f"{where}: {path}: {err}") from err
        if m is not None and metrics["feature_dim"] != m:
            continue
        out.append({"panel": i, "panel_title": title, "series": k,
                    "series_label": _series_label(spec, i, k, cell),
                    "experiment": cell["experiment"], "dataset": cell["dataset"],
                    "loss": cell["loss"]["name"], "eta": float(cell["noise"]["rate"]),
                    "seed": int(cell["seed"]), "epoch": epoch, **metrics})
    table = pd.DataFrame(out, columns=COLUMNS)
    for i in range(len(spec["panels"])):
        if not (table["panel"] == i).any():
            m, etas = filters[i]
            raise ValueError(f"{where_panel(spec, i)}: no run with features"
                             + (f" of dimension M = {m}" if m is not None else "")
                             + (f" at eta in {etas}" if etas is not None else ""))
    return table.sort_values(["panel", "series", "eta", "seed"], kind="stable"
                             ).reset_index(drop=True)


# --- the drawing --------------------------------------------------------------------------------

FIT_STYLES = ["-", "--", ":", "-."]
LEGEND_WIDTH_IN = 1.8


def seed_means(rows: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Per (series, eta): mean and sample sd (ddof 1; 0 for one seed) of x and y over the
    seeds, and the number of seeds; points whose mean is not finite are left out."""
    keys = ["series", "series_label", "loss", "eta"]
    g = rows.groupby(keys, sort=True)[[x, y]]
    mean, sd, n = g.mean(), g.std(ddof=1).fillna(0.0), g.size()
    out = pd.DataFrame({"x": mean[x], "y": mean[y], "x_sd": sd[x], "y_sd": sd[y],
                        "seeds": n}).reset_index()
    return out[np.isfinite(out["x"]) & np.isfinite(out["y"])].reset_index(drop=True)


def line_fit(x, y) -> tuple[float, float, float] | None:
    """Least-squares line y = slope x + intercept and its R² (NaN when y is constant); None
    with fewer than three distinct x (a line through two points fits them exactly: R² = 1
    would say nothing)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if np.unique(x).size < 3:
        return None
    slope, intercept = np.polyfit(x, y, 1)
    ss_res = float(((y - (slope * x + intercept)) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return float(slope), float(intercept), 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def panel_fits(points: pd.DataFrame, losses: list[str]) -> dict[str, tuple]:
    """MD Sec. 4.1's "approximately linear ... when mem is not large": per fitted loss, the
    least-squares line through its seed-mean points whose x is at most the median x of all
    fitted losses' points of the panel. {loss: (slope, intercept, R², x values used)}."""
    pool = points[points["loss"].isin(losses)]
    if pool.empty:
        return {}
    cut = float(np.median(pool["x"]))
    out = {}
    for loss in losses:
        use = pool[(pool["loss"] == loss) & (pool["x"] <= cut)]
        fit = line_fit(use["x"].to_numpy(), use["y"].to_numpy())
        if fit is not None:
            out[loss] = (*fit, use["x"].to_numpy(float))
    return out


def _draw_points(ax, points: pd.DataFrame, colours: dict, markers: dict) -> None:
    for pt in points.itertuples(index=False):
        ax.errorbar(pt.x, pt.y, xerr=pt.x_sd, yerr=pt.y_sd, fmt=markers[pt.series_label],
                    color=colours[round(float(pt.eta), 12)], markersize=6, capsize=2,
                    elinewidth=0.8, markeredgecolor="black", markeredgewidth=0.4)


def _draw_fits(ax, points: pd.DataFrame, losses: list[str]) -> None:
    fits = panel_fits(points, losses)
    for j, (loss, (slope, intercept, r2, xs)) in enumerate(fits.items()):
        line_x = np.linspace(xs.min(), xs.max(), 50)
        ax.plot(line_x, slope * line_x + intercept, color="black", linewidth=1.1,
                linestyle=FIT_STYLES[j % len(FIT_STYLES)],
                label=f"{loss_label(loss)} fit, {xs.size} points: slope {slope:.3g}, "
                      f"R² = {r2:.2f}")
    if fits:
        ax.legend(loc="best", fontsize=7, framealpha=0.85)


def _legend_handles(colours: dict, markers: dict) -> list[Line2D]:
    """Markers for the losses (grey), colours for the noise rates."""
    return ([Line2D([], [], marker=m, color="0.45", markeredgecolor="black",
                    markeredgewidth=0.4, linestyle="none", label=label)
             for label, m in markers.items()]
            + [Line2D([], [], marker="o", color=c, linestyle="none", label=eta_label(e))
               for e, c in colours.items()])


def _grid(n_panels: int, n_rows: int, spec: dict):
    """The figure and its axes array: ``n_rows`` blocks (one per quantity) of
    ceil(n/ncols) x ncols panels; (fig, axes, ncols, block height)."""
    ncols = max(1, min(int(spec.get("ncols") or n_panels), n_panels))
    block = math.ceil(n_panels / ncols)
    width = PANEL_WIDTH_IN * ncols + LEGEND_WIDTH_IN
    fig = Figure(figsize=(width, PANEL_HEIGHT_IN * block * n_rows + 1.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(block * n_rows, ncols, squeeze=False)
    for r in range(n_rows):
        for j in range(n_panels, block * ncols):
            axes[r * block + j // ncols, j % ncols].remove()
    if spec.get("title"):
        fig.suptitle(wrap_title(str(spec["title"]), width))
    return fig, axes, ncols, block


def draw_scatter(table: pd.DataFrame, spec: dict) -> Figure:
    """MD Fig. 1 (rows NC1_test and test accuracy, one column per dataset) or Fig. 2 (one
    panel per dataset and feature dimension M) from the table of :func:`scatter_table`."""
    check_spec(spec)
    quantities, x, losses = rows_of(spec), x_of(spec), fit_losses(spec)
    panels = split_panels(table, spec, COLUMNS)
    ordered = table.sort_values(["panel", "series"], kind="stable")
    colours = eta_colours(table["eta"])
    markers = {label: MARKERS[i % len(MARKERS)]
               for i, label in enumerate(dict.fromkeys(ordered["series_label"].astype(str)))}
    with matplotlib.rc_context(STYLE):
        fig, axes, ncols, block = _grid(len(panels), len(quantities), spec)
        for r, q in enumerate(quantities):
            for j, (i, p, _, rows) in enumerate(panels):
                ax = axes[r * block + j // ncols, j % ncols]
                points = seed_means(rows.assign(series_label=rows["series_label"].astype(str)),
                                    x, q)
                _draw_points(ax, points, colours, markers)
                if losses and q.startswith("nc1"):
                    _draw_fits(ax, points, losses)
                title = p.get("title") or rows["panel_title"].iloc[0] or f"panel {i}"
                ax.set_title(str(title) if r == 0 or block > 1 else "")
                ax.set_xlabel(QUANTITY_LABELS[x])
                if j % ncols == 0:
                    ax.set_ylabel(QUANTITY_LABELS[q])
                ax.set_xscale(scale_of(spec, "xscale"))
                ax.set_yscale(scale_of(spec, "yscale"))
        handles = _legend_handles(colours, markers)
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 8),
                   title="loss (marker) / noise rate (colour)")
    return fig


NOTE = ("Each marker: one loss (marker) at one noise rate eta (colour), the mean over seeds "
        "of the runs' values at the last recorded epoch of the features probe (unless the "
        "figure names one), bars +-1 sample sd over seeds. Features: the classifier's input "
        "(the M-dim output of the last BatchNorm+ReLU layer), eval mode, float32. Memorization "
        "(MD Eq. 3): sum over the training examples trained on whose observed label differs "
        "from the true one of the squared distance of the feature to the mean test feature of "
        "the TRUE class. NC1 = tr(Sigma_W pinv(Sigma_B)) / N (Zhu et al. 2021) with the global "
        "mean the mean of the class means (the paper's; *_sm: the sample mean, as the released "
        "code); NC1_train uses the labels trained on, NC1_test (dilation) the test labels. "
        "Test accuracy: argmax of the saved classifier applied to the test features. Fit "
        "lines (when asked): least squares through one loss's seed-mean points whose "
        "memorization is at most the median of the fitted losses' points in the panel, NC1 "
        "rows only, R^2 in the legend.")

KIND = FigureKind(table=scatter_table, draw=draw_scatter, reads="probes", keys=KEYS,
                  panel_keys=PANEL_KEYS, series_keys=SERIES_KEYS, note=NOTE)
