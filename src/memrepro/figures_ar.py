"""Figure kinds of Arpit et al. 2017, "A Closer Look at Memorization in Deep Networks".

``filters`` (Fig. 2), ``sweep`` (Figs. 5, 6), ``series`` (Figs. 9, 11) and ``regularizers``
(Fig. 10); Figs. 7 and 8 use ``curves`` from :mod:`memrepro.figures`. Each kind has the
signature ``fn(table, spec, caption, out_pdf, out_png)``; the pure functions that compute
what is drawn (:func:`filter_images`, :func:`sweep_points`, :func:`series_rows`,
:func:`regularizer_points`) are public so that tests can check the numbers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from memrepro.figures import (
    ETA_PALETTE,
    NON_ACCURACY,
    PANEL_HEIGHT_IN,
    PANEL_WIDTH_IN,
    STYLE,
    FigureKind,
    _wrap,
    caption_path,
    check_match,
    eta_colours,
    eta_label,
    register_figures,
    save_figure,
    split_panels,
)
from memrepro.io import write_text

FIT_TOL = 1e-9          # "100% training accuracy" (Fig. 6) is j1 >= 1 - FIT_TOL
MATCH_TOL = 1e-9        # eta / sweep values are floats: compare with this tolerance
SINGLE_WIDTH_IN = 5.5   # a one-panel figure (Figs. 9, 10) gets room for legend and labels
STATISTICS = ("best", "final", "epochs_to_fit")
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
# metric -> axis wording (the paper calls our test set the validation set)
AXIS_NAMES = {"j1": "training accuracy", "j2": "accuracy on clean labels", "test_acc":
              "validation accuracy", "csr": "critical sample ratio", "loss": "training loss",
              "test_loss": "validation loss"}
HISTORY_COLUMNS = ["panel", "eta", "seed", "epoch", "metric", "value"]
FILTER_COLUMNS = ["panel", "filter", "channel", "row", "col", "value"]


# --- shared validation and layout -----------------------------------------------------------

def _title(spec: dict) -> str:
    return str(spec.get("title") or "<untitled figure>")


def _layout(table: pd.DataFrame, spec: dict, columns: list[str], ncols: int, height: float
            ) -> tuple[Figure, list[tuple[dict, str, pd.DataFrame, object]]]:
    """Validate the spec's panels and the table's columns, lay out one titled axes per
    panel. The figure and, per panel, (panel spec, error-message prefix, its rows, its
    axes). Call inside ``rc_context(STYLE)``."""
    panels = split_panels(table, spec, columns)
    n = len(panels)
    ncols = max(1, min(int(spec.get("ncols", ncols)), n))
    width = SINGLE_WIDTH_IN if n == 1 else PANEL_WIDTH_IN * ncols
    fig = Figure(figsize=(width, height * math.ceil(n / ncols) + 1.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = list(fig.subplots(math.ceil(n / ncols), ncols, squeeze=False).flat)
    for ax in axes[n:]:
        ax.remove()
    for (i, p, _, rows), ax in zip(panels, axes, strict=False):  # title: spec, table, index
        ax.set_title(str(p.get("title") or next(iter(rows.get("panel_title", [""])))
                         or f"panel {i}"))
    if spec.get("title"):
        fig.suptitle(_wrap(str(spec["title"]), width))
    return fig, [(p, where, rows, ax) for (_, p, where, rows), ax in zip(panels, axes,
                                                                         strict=False)]


def _close(values: pd.Series, target: float) -> np.ndarray:
    return np.isclose(values.to_numpy(dtype=float), float(target), atol=MATCH_TOL, rtol=0)


def _kind(build: Callable[[pd.DataFrame, dict], Figure]) -> FigureKind:
    """The figure kind of a builder: draw, write PDF + PNG, then the caption beside the PNG."""
    def plot(table: pd.DataFrame, spec: dict, caption: str, out_pdf: str | os.PathLike,
             out_png: str | os.PathLike) -> None:
        save_figure(build(table, spec), out_pdf, out_png)
        write_text(caption_path(out_png), caption.rstrip("\n") + "\n")
    plot.__doc__ = build.__doc__
    return plot


def _ylabel(metric: str, prefix: str = "") -> str:
    """"best validation accuracy (%)", "critical sample ratio (%)", "training loss"."""
    return prefix + AXIS_NAMES.get(metric, metric) + ("" if metric in NON_ACCURACY else " (%)")


# --- Fig. 2: first-layer filters -------------------------------------------------------------

def filter_images(rows: pd.DataFrame, max_filters: int = 64) -> np.ndarray:
    """(n, kh, kw, channels) weights of the first ``max_filters`` filters, each min-max
    scaled to [0, 1] on its own (a constant filter becomes 0.5)."""
    if rows.duplicated(["filter", "channel", "row", "col"]).any():
        raise ValueError("filter table has repeated (filter, channel, row, col) entries: "
                         "expected one run per panel")
    idx = [rows[c].astype(int).to_numpy() for c in ("filter", "channel", "row", "col")]
    shape = tuple(int(a.max()) + 1 for a in idx)
    if math.prod(shape) != len(rows):
        raise ValueError(f"filter table is incomplete: {len(rows)} values for a weight of "
                         f"shape {shape}")
    if shape[1] not in (1, 3):
        raise ValueError(f"filters need 1 (grey) or 3 (RGB) input channels, got {shape[1]}")
    w = np.empty(shape)
    w[tuple(idx)] = rows["value"].to_numpy(dtype=float)
    w = w[:max_filters].transpose(0, 2, 3, 1)
    lo = w.min(axis=(1, 2, 3), keepdims=True)
    span = w.max(axis=(1, 2, 3), keepdims=True) - lo
    return np.where(span > 0, (w - lo) / np.where(span > 0, span, 1.0), 0.5)


def filter_mosaic(images: np.ndarray, pad: int = 1) -> np.ndarray:
    """Square-ish grid of filter images separated by white lines; 2-D when grey."""
    n, kh, kw, c = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.ones((rows * (kh + pad) + pad, cols * (kw + pad) + pad, c))
    for k in range(n):
        r, q = divmod(k, cols)
        out[pad + r * (kh + pad):pad + r * (kh + pad) + kh,
            pad + q * (kw + pad):pad + q * (kw + pad) + kw] = images[k]
    return out[..., 0] if c == 1 else out


def build_filters_figure(table: pd.DataFrame, spec: dict) -> Figure:
    """Arpit et al. Fig. 2: one mosaic of first-layer filters per panel (real vs randY)."""
    max_filters = int(spec.get("max_filters", 64))
    if max_filters < 1:
        raise ValueError(f"figure {_title(spec)!r}: max_filters must be >= 1")
    n = len(spec.get("panels") or [])
    with matplotlib.rc_context(STYLE):
        fig, panels = _layout(table, spec, FILTER_COLUMNS, n, PANEL_WIDTH_IN)
        for _, where, rows, ax in panels:
            try:
                images = filter_images(rows, max_filters)
            except ValueError as err:
                raise ValueError(f"{where}: {err}") from None
            ax.imshow(filter_mosaic(images), cmap="gray" if images.shape[-1] == 1 else None,
                      vmin=0, vmax=1, interpolation="nearest")
            ax.set(xticks=[], yticks=[])
            ax.grid(False)
            total = int(rows["filter"].max()) + 1
            ax.set_xlabel(f"{len(images)} of {total} filters, each min-max scaled", fontsize=8)
    return fig


# --- Figs. 5, 6: a statistic per run against the swept hyper-parameter -----------------------

def run_statistic(run: pd.DataFrame, statistic: str, metric: str) -> float:
    """One run's ``best`` (max over epochs >= 1; min for losses), ``final`` (last measured
    epoch) or ``epochs_to_fit`` (first epoch with metric >= 1 - FIT_TOL, NaN if never)."""
    r = run[run["metric"] == metric].dropna(subset=["value"]).sort_values("epoch")
    if statistic == "epochs_to_fit":
        hit = r.loc[r["value"] >= 1.0 - FIT_TOL, "epoch"]
        return float(hit.iloc[0]) if len(hit) else math.nan
    if statistic == "final":
        return float(r["value"].iloc[-1]) if len(r) else math.nan
    if statistic == "best":
        v = r.loc[r["epoch"] >= 1, "value"]
        return math.nan if v.empty else float(v.min() if metric in NON_ACCURACY else v.max())
    raise ValueError(f"unknown statistic {statistic!r}; allowed: {list(STATISTICS)}")


def sweep_points(rows: pd.DataFrame, statistic: str, metric: str) -> pd.DataFrame:
    """Per (eta, sweep_value): mean/min/max over the runs (seeds) whose statistic is not NaN,
    ``runs``, ``used`` (runs in the mean) and ``last_epoch`` (max over the runs)."""
    recs = []
    for (eta, x, seed), run in rows.groupby(["eta", "sweep_value", "seed"], sort=True):
        recs.append({"eta": float(eta), "sweep_value": float(x), "seed": seed,
                     "sweep_label": str(run["sweep_label"].iloc[0]),
                     "stat": run_statistic(run, statistic, metric),
                     "last_epoch": int(run["epoch"].max())})
    runs = pd.DataFrame(recs)
    g = runs.groupby(["eta", "sweep_value"], sort=True)
    out = g["stat"].agg(["mean", "min", "max"]).reset_index()
    out["runs"] = g["stat"].size().to_numpy()
    out["used"] = g["stat"].count().to_numpy()
    out["last_epoch"] = g["last_epoch"].max().to_numpy()
    out["sweep_label"] = g["sweep_label"].first().to_numpy()
    return out


def unfitted_notes(points: pd.DataFrame) -> list[str]:
    """One line per noise rate with runs that never reached the target (Fig. 6)."""
    notes = []
    for eta, p in points[points["used"] < points["runs"]].groupby("eta", sort=True):
        k = int((p["runs"] - p["used"]).sum())
        where = ", ".join(p["sweep_label"])
        notes.append(f"{eta_label(eta)}: not fitted within {int(p['last_epoch'].max())} "
                     f"epochs: {k} run{'s' if k != 1 else ''} (x = {where})")
    return notes


def build_sweep_figure(table: pd.DataFrame, spec: dict) -> Figure:
    """Arpit et al. Fig. 5 (best validation accuracy vs MLP width) and Fig. 6 (epochs to
    100% training accuracy vs width / training-set size): one line per noise rate."""
    cols = HISTORY_COLUMNS + ["sweep_value", "sweep_label"]
    with matplotlib.rc_context(STYLE):
        fig, panels = _layout(table, spec, cols, 2, PANEL_HEIGHT_IN)
        colours = eta_colours(table["eta"])  # same colour per eta in every panel
        for p, where, rows, ax in panels:
            check_match(rows, p, where)
            stat = p.get("statistic", "best")
            metric = p.get("metric") or ("j1" if stat == "epochs_to_fit" else "test_acc")
            if stat not in STATISTICS:
                raise ValueError(f"{where}: statistic {stat!r} not in {list(STATISTICS)}")
            if p.get("xscale", "linear") not in ("linear", "log2"):
                raise ValueError(f"{where}: xscale {p['xscale']!r} not in ['linear', 'log2']")
            if rows["sweep_value"].isna().any():
                raise ValueError(f"{where}: rows without a sweep value (experiment has no sweep)")
            if not (rows["metric"] == metric).any():
                raise ValueError(f"{where}: no rows for metric {metric!r}")
            pts = sweep_points(rows, stat, metric)
            scale = 1.0 if stat == "epochs_to_fit" or metric in NON_ACCURACY else 100.0
            for eta, e in pts[pts["used"] > 0].groupby("eta", sort=True):
                m, lo, hi = (e[c].to_numpy(float) * scale for c in ("mean", "min", "max"))
                err = [np.maximum(m - lo, 0), np.maximum(hi - m, 0)]
                ax.errorbar(e["sweep_value"], m, yerr=err, marker="o",
                            markersize=4, capsize=3, color=colours[round(float(eta), 12)])
            notes = unfitted_notes(pts) if stat == "epochs_to_fit" else []
            if notes:  # text-only legend in head room above the data (about 10 pt a line)
                lo, hi = ax.get_ylim()
                f = min(0.5, (10 * len(notes) + 12) / 180)
                ax.set_ylim(lo, hi + (hi - lo) * f / (1 - f))
                ax.legend(handles=[Line2D([], [], linestyle="none", label=n) for n in notes],
                          loc="upper center", handlelength=0, handletextpad=0, fontsize=6.5,
                          framealpha=0.85)
            if p.get("xscale") == "log2":
                ax.set_xscale("log", base=2)
            xs = pts.drop_duplicates("sweep_value")
            if len(xs) <= 8:
                ax.set_xticks(xs["sweep_value"], xs["sweep_label"])
                ax.minorticks_off()
            name = str(rows["sweep_name"].iloc[0]) if "sweep_name" in rows.columns else ""
            ax.set_xlabel(p.get("xlabel") or name or "sweep value")
            ax.set_ylabel(p.get("ylabel") or ("epochs to 100% " + AXIS_NAMES.get(metric, metric)
                          if stat == "epochs_to_fit" else _ylabel(metric, stat + " ")))
        etas = sorted({round(float(e), 12) for _, _, r, _ in panels for e in r["eta"]})
        handles = [Line2D([], [], color=colours[e], marker="o", label=eta_label(e))
                   for e in etas]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 8),
                   frameon=False)
    return fig


# --- Figs. 9, 11: named series of one metric through training --------------------------------

def series_rows(rows: pd.DataFrame, k: int, sspec: dict, metric: str, where: str
                ) -> pd.DataFrame:
    """Rows of series ``k`` of a panel for ``metric``, restricted to the series' ``eta`` and
    ``sweep`` when given, NaN values dropped; refuses empty or mixed settings."""
    where = f"{where} series {k} ({sspec.get('label', 'unlabelled')})"
    r = rows[(rows["series"].astype(int) == k) & (rows["metric"] == metric)]
    check_match(r, sspec, where)
    if sspec.get("eta") is not None:
        r = r[_close(r["eta"], sspec["eta"])]
    if sspec.get("sweep") is not None:
        if "sweep_value" not in r.columns:
            raise ValueError(f"{where}: the table has no sweep_value column")
        r = r[_close(r["sweep_value"], sspec["sweep"])]
    r = r.dropna(subset=["value"])
    if r.empty:
        raise ValueError(f"{where}: no rows with metric {metric!r}, eta {sspec.get('eta')} "
                         f"and sweep {sspec.get('sweep')}")
    for col, key in (("eta", "eta"), ("sweep_value", "sweep")):
        if col in r.columns and r[col].dropna().nunique() > 1:
            raise ValueError(f"{where}: rows mix {col} values {sorted(r[col].unique())}; "
                             f"give {key!r} in the series spec")
    return r


def build_series_figure(table: pd.DataFrame, spec: dict) -> Figure:
    """Arpit et al. Fig. 9 (CSR through training: real, randX, randY) and Fig. 11 (training
    curves per regularizer): one colour per series, mean over seeds, min-max band."""
    with matplotlib.rc_context(STYLE):
        fig, panels = _layout(table, spec, HISTORY_COLUMNS + ["series"], 2, PANEL_HEIGHT_IN)
        for p, where, rows, ax in panels:
            metric, series = p.get("metric"), p.get("series") or []
            if not metric or not series:
                raise ValueError(f"{where}: spec needs 'metric' and a non-empty 'series'")
            scale = 1.0 if metric in NON_ACCURACY else 100.0
            for k, s in enumerate(series):
                r = series_rows(rows, k, s, metric, where)
                st = r.groupby("epoch", sort=True)["value"].agg(["mean", "min", "max", "size"])
                x, c = st.index.to_numpy(float), ETA_PALETTE[k % len(ETA_PALETTE)]
                sparse = metric == "csr" or len(x) <= 15  # markers where measured sparsely
                ax.plot(x, st["mean"] * scale, color=c, label=s.get("label", f"series {k}"),
                        marker="o" if sparse else None, markersize=3)
                if (st["size"] > 1).any():
                    ax.fill_between(x, st["min"] * scale, st["max"] * scale, color=c,
                                    alpha=0.18, linewidth=0)
            ax.set_xlabel("epoch")
            ax.set_ylabel(p.get("ylabel") or _ylabel(metric))
            if metric not in NON_ACCURACY:
                ax.set_ylim(bottom=0)
            ax.legend(loc="best", framealpha=0.85)
    return fig


# --- Fig. 10: memorization of randY vs generalization on real data per regularizer ----------

def regularizer_points(rows: pd.DataFrame, where: str = "regularizer") -> pd.DataFrame:
    """Per sweep value: x = final j1 on eta 1 (randY), y = best test_acc over epochs >= 1 on
    eta 0 (real labels), each the mean over seeds (fractions); sorted by x."""
    real, rand = rows[_close(rows["eta"], 0.0)], rows[_close(rows["eta"], 1.0)]
    other = sorted(set(rows["eta"]) - set(real["eta"]) - set(rand["eta"]))
    if other:
        raise ValueError(f"{where}: expected eta 0 (real) and 1 (randY) only, got {other}")
    recs = []
    labels = rows.drop_duplicates("sweep_value").set_index("sweep_value")["sweep_label"]
    for x in sorted(rows["sweep_value"].unique()):
        def pick(r: pd.DataFrame, x: float = x) -> pd.DataFrame:
            return r[r["sweep_value"].isna()] if pd.isna(x) else r[_close(r["sweep_value"], x)]
        xs = [run_statistic(g, "final", "j1") for _, g in pick(rand).groupby("seed")]
        ys = [run_statistic(g, "best", "test_acc") for _, g in pick(real).groupby("seed")]
        if not xs or not ys or np.isnan(xs).all() or np.isnan(ys).all():
            raise ValueError(f"{where}: sweep value {x} needs j1 on eta 1 and test_acc on "
                             f"eta 0 (has {len(xs)} randY and {len(ys)} real runs)")
        recs.append({"sweep_value": x, "sweep_label": str(labels.get(x, "")),
                     "x": float(np.nanmean(xs)), "y": float(np.nanmean(ys)),
                     "runs_x": len(xs), "runs_y": len(ys)})
    return pd.DataFrame(recs).sort_values(["x", "sweep_value"], ignore_index=True)


def build_regularizers_figure(table: pd.DataFrame, spec: dict) -> Figure:
    """Arpit et al. Fig. 10: one line per regularizer through its settings, annotated."""
    cols = HISTORY_COLUMNS + ["series", "sweep_value", "sweep_label"]
    with matplotlib.rc_context(STYLE):
        fig, panels = _layout(table, spec, cols, 2, PANEL_HEIGHT_IN + 0.8)
        for p, where, rows, ax in panels:
            if not p.get("series"):
                raise ValueError(f"{where}: spec needs a non-empty 'series'")
            for k, s in enumerate(p["series"]):
                w = f"{where} series {k} ({s.get('label', 'unlabelled')})"
                r = rows[rows["series"].astype(int) == k]
                if r.empty:
                    raise ValueError(f"{w}: no rows in the table")
                check_match(r, s, w)
                pts = regularizer_points(r, w)
                c = ETA_PALETTE[k % len(ETA_PALETTE)]
                ax.plot(pts["x"] * 100, pts["y"] * 100, color=c, marker=MARKERS[k % 8],
                        markersize=5, label=s.get("label", f"series {k}"))
                for rec in pts.itertuples():
                    ax.annotate(rec.sweep_label, (rec.x * 100, rec.y * 100), fontsize=6.5,
                                color=c, xytext=(3, 3), textcoords="offset points")
            ax.set_xlabel("final training accuracy on randY (%)")
            ax.set_ylabel("best validation accuracy on real data (%)")
            ax.legend(loc="best", framealpha=0.85)
    return fig


plot_filters = _kind(build_filters_figure)
plot_sweep = _kind(build_sweep_figure)
plot_series = _kind(build_series_figure)
plot_regularizers = _kind(build_regularizers_figure)
AR_FIGURES = register_figures({"filters": plot_filters, "sweep": plot_sweep,
                               "series": plot_series, "regularizers": plot_regularizers})
