"""Arpit et al. 2017, Figs. 5 and 6, the figure kind ``sweep_curves``: a statistic of each
run against the swept hyper-parameter (best validation accuracy vs width; epochs to 100%
training accuracy vs width and vs training-set size), one line per noise rate."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from memrepro.figures import (
    NON_ACCURACY,
    PANEL_HEIGHT_IN,
    STYLE,
    TIDY_REQUIRED,
    FigureKind,
    check_match,
    eta_colours,
    eta_label,
    layout,
)
from memrepro.fit import FIT_TOL
from memrepro.tables import figure_table

STATISTICS = ("best", "final", "epochs_to_fit")
# metric -> axis wording (the paper calls our test set the validation set)
AXIS_NAMES = {"j1": "training accuracy", "j2": "accuracy on clean labels", "test_acc":
              "validation accuracy", "csr": "critical sample ratio", "loss": "training loss",
              "test_loss": "validation loss"}


def axis_label(metric: str, prefix: str = "") -> str:
    """"best validation accuracy (%)", "critical sample ratio (%)", "training loss"."""
    return prefix + AXIS_NAMES.get(metric, metric) + ("" if metric in NON_ACCURACY else " (%)")


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


def sweep_statistics(rows: pd.DataFrame, statistic: str, metric: str) -> pd.DataFrame:
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
    cols = TIDY_REQUIRED + ["sweep_value", "sweep_label"]
    with matplotlib.rc_context(STYLE):
        fig, panels = layout(table, spec, cols, 2, PANEL_HEIGHT_IN)
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
            pts = sweep_statistics(rows, stat, metric)
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
                          if stat == "epochs_to_fit" else axis_label(metric, stat + " ")))
        etas = sorted({round(float(e), 12) for _, _, r, _ in panels for e in r["eta"]})
        handles = [Line2D([], [], color=colours[e], marker="o", label=eta_label(e))
                   for e in etas]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 8),
                   frameon=False)
    return fig


KIND = FigureKind(
    table=lambda entries, spec: figure_table(entries), draw=build_sweep_figure,
    keys=frozenset({"panels", "ncols"}),
    panel_keys=frozenset({"experiment", "loss", "statistic", "metric", "xlabel", "xscale",
                          "ylabel", "title"}),
    note=("x: the swept hyper-parameter (the run's `sweep`); y: per run, the best validation "
          "(test) accuracy over epochs, or the first epoch at which training accuracy on the "
          "labels trained on reaches 100% (runs stop there; runs that do not fit within the "
          "epoch cap are left out and counted in the panel); mean over seeds, bars min-max."))
