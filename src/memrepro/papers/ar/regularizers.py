"""Arpit et al. 2017, Fig. 10: per regularizer and strength, memorization of random labels
(final training accuracy on randY) against generalization on real data (best validation
accuracy)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from memrepro.figures import (
    ETA_PALETTE,
    MARKERS,
    PANEL_HEIGHT_IN,
    STYLE,
    TIDY_REQUIRED,
    FigureKind,
    check_match,
    close_to,
    layout,
)
from memrepro.papers.ar.sweep_curves import run_statistic
from memrepro.tables import figure_table


def regularizer_points(rows: pd.DataFrame, where: str = "regularizer") -> pd.DataFrame:
    """Per sweep value: x = final j1 on eta 1 (randY), y = best test_acc over epochs >= 1 on
    eta 0 (real labels), each the mean over seeds (fractions); sorted by x."""
    real, rand = rows[close_to(rows["eta"], 0.0)], rows[close_to(rows["eta"], 1.0)]
    other = sorted(set(rows["eta"]) - set(real["eta"]) - set(rand["eta"]))
    if other:
        raise ValueError(f"{where}: expected eta 0 (real) and 1 (randY) only, got {other}")
    recs = []
    labels = rows.drop_duplicates("sweep_value").set_index("sweep_value")["sweep_label"]
    for x in sorted(rows["sweep_value"].unique()):
        def pick(r: pd.DataFrame, x: float = x) -> pd.DataFrame:
            return r[r["sweep_value"].isna()] if pd.isna(x) else r[close_to(r["sweep_value"], x)]
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
    cols = TIDY_REQUIRED + ["series", "sweep_value", "sweep_label"]
    with matplotlib.rc_context(STYLE):
        fig, panels = layout(table, spec, cols, 2, PANEL_HEIGHT_IN + 0.8)
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


KIND = FigureKind(
    table=lambda entries, spec: figure_table(entries), draw=build_regularizers_figure,
    keys=frozenset({"panels", "ncols"}),
    panel_keys=frozenset({"title", "series"}),
    series_keys=frozenset({"experiment", "loss", "label"}),
    note=("Per regularizer strength (labels at the points): x = final training accuracy on "
          "randY (all labels random), y = best validation accuracy over epochs on real labels, "
          "same network and schedule; flatter curves mean memorization is held back without "
          "losing generalization."))
