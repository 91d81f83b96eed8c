"""Arpit et al. 2017, Figs. 9 and 11: named series of one history metric through training
(CSR on real, randX and randY data; training curves per regularizer)."""

from __future__ import annotations

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

from memrepro.figures import (
    ETA_PALETTE,
    NON_ACCURACY,
    PANEL_HEIGHT_IN,
    STYLE,
    TIDY_REQUIRED,
    FigureKind,
    check_match,
    close_to,
    layout,
)
from memrepro.papers.ar.sweep_curves import axis_label
from memrepro.tables import figure_table


def series_rows(rows: pd.DataFrame, k: int, sspec: dict, metric: str, where: str
                ) -> pd.DataFrame:
    """Rows of series ``k`` of a panel for ``metric``, restricted to the series' ``eta`` and
    ``sweep`` when given, NaN values dropped; refuses empty or mixed settings."""
    where = f"{where} series {k} ({sspec.get('label', 'unlabelled')})"
    r = rows[(rows["series"].astype(int) == k) & (rows["metric"] == metric)]
    check_match(r, sspec, where)
    if sspec.get("eta") is not None:
        r = r[close_to(r["eta"], sspec["eta"])]
    if sspec.get("sweep") is not None:
        if "sweep_value" not in r.columns:
            raise ValueError(f"{where}: the table has no sweep_value column")
        r = r[close_to(r["sweep_value"], sspec["sweep"])]
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
        fig, panels = layout(table, spec, TIDY_REQUIRED + ["series"], 2, PANEL_HEIGHT_IN)
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
            ax.set_ylabel(p.get("ylabel") or axis_label(metric))
            if metric not in NON_ACCURACY:
                ax.set_ylim(bottom=0)
            ax.legend(loc="best", framealpha=0.85)
    return fig


KIND = FigureKind(
    table=lambda entries, spec: figure_table(entries), draw=build_series_figure,
    keys=frozenset({"panels", "ncols"}),
    panel_keys=frozenset({"title", "metric", "series", "ylabel"}),
    series_keys=frozenset({"experiment", "loss", "eta", "sweep", "label"}),
    note=("One line per setting named in the legend (experiment, noise rate, sweep value); mean "
          "over seeds, band min-max. Training accuracy in eval mode after each epoch; training "
          "loss = mean minibatch loss in training mode (with the regularizer active)."))
