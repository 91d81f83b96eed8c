"""The generic ``curves`` figure kind: history metrics per epoch, one colour per noise rate.

Used by PS Figs. 1-5 and AR Figs. 7-8. How a metric is drawn (label, line style, marker, axis)
is a :class:`~memrepro.figures.MetricStyle`; papers add styles for their own history columns
(AR: ``csr``) and ``memrepro.catalog`` hands the merged styles to :func:`curves_kind`.
"""

from __future__ import annotations

import functools
import math

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from memrepro.figures import (
    NON_ACCURACY,
    PANEL_HEIGHT_IN,
    PANEL_WIDTH_IN,
    STYLE,
    TIDY_REQUIRED,
    FigureKind,
    MetricStyle,
    check_match,
    eta_colours,
    eta_label,
    split_panels,
    wrap_title,
)
from memrepro.tables import figure_table

# metric -> how it is drawn. Accuracies are drawn in percent.
METRIC_STYLES: dict[str, MetricStyle] = {
    "j1": MetricStyle("J1: noisy labels (train acc.)", "-"),
    "j2": MetricStyle("J2: clean labels", "--"),
    "test_acc": MetricStyle("test accuracy", ":"),
    "clean_acc": MetricStyle("clean-example fit", "-."),
    "corrupted_fit": MetricStyle("corrupted: noisy label", (0, (5, 1, 1, 1))),
    "corrupted_clean": MetricStyle("corrupted: clean label", (0, (1, 2))),
    "loss": MetricStyle("training loss", "-"),
    "test_loss": MetricStyle("test loss", "--"),
}
_FALLBACK_STYLES = ["-", "--", ":", "-."]

NOTE = ("Training accuracy = J1 (accuracy on the noisy training labels); J2 = accuracy on the "
        "clean training labels; both measured in eval mode after each epoch (epoch 0 = "
        "initialisation). Inputs scaled to [0, 1] and normalised per channel. No augmentation.")


def metric_style(styles: dict[str, MetricStyle], metric: str, position: int) -> MetricStyle:
    if metric in styles:
        return styles[metric]
    return MetricStyle(metric, _FALLBACK_STYLES[position % len(_FALLBACK_STYLES)])


def panel_rows(table: pd.DataFrame, spec: dict) -> list[tuple[dict, pd.DataFrame]]:
    """Validate the table against the spec; (panel spec, its rows) for every panel."""
    out = []
    for _, pspec, where, rows in split_panels(table, spec, TIDY_REQUIRED):
        metrics = list(pspec.get("metrics") or ["j1"])
        if pspec.get("etas") is not None:  # keep only the listed noise rates
            wanted = [float(e) for e in pspec["etas"]]
            keep = np.isclose(rows["eta"].to_numpy(float)[:, None], wanted, atol=1e-9).any(1)
            if not keep.any():
                raise ValueError(f"{where} has no rows for noise rate(s) {wanted}; the table "
                                 f"has {sorted(set(rows['eta']))}")
            rows = rows[keep]
        check_match(rows, pspec, where)
        kinds = {m in NON_ACCURACY for m in metrics}
        if len(kinds) > 1:
            raise ValueError(f"{where} mixes accuracies and losses {metrics}")
        absent = [m for m in metrics if not (rows["metric"] == m).any()]
        if absent:
            raise ValueError(f"{where} has no rows for metric(s) {absent}")
        rows = rows[rows["metric"].isin(metrics)]
        if rows["value"].isna().all():
            raise ValueError(f"{where} has only missing values")
        out.append(({**pspec, "metrics": metrics}, rows))
    return out


def seed_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean, min, max and seed count of ``value`` per (eta, metric, epoch)."""
    g = rows.groupby(["eta", "metric", "epoch"], sort=True)["value"]
    return g.agg(["mean", "min", "max", "count"]).reset_index()


def build_curves_figure(table: pd.DataFrame, spec: dict,
                        styles: dict[str, MetricStyle] | None = None) -> Figure:
    """One subplot per panel: x = epoch, y = accuracy (%), one colour per eta, one
    linestyle per metric; mean over seeds with a shaded min-max band."""
    styles = METRIC_STYLES if styles is None else styles
    panels = panel_rows(table, spec)
    ncols = max(1, min(int(spec.get("ncols", 2)), len(panels)))
    nrows = math.ceil(len(panels) / ncols)
    colours = eta_colours(table["eta"])
    width = PANEL_WIDTH_IN * ncols
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(width, PANEL_HEIGHT_IN * nrows + 1.0), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for ax in axes.flat[len(panels):]:
            ax.remove()
        for i, ((pspec, rows), ax) in enumerate(zip(panels, axes.flat, strict=False)):
            _draw_panel(ax, pspec, rows, colours, i, table, styles)
        etas_present = sorted({round(float(e), 12) for _, r in panels for e in r["eta"]})
        handles = [Line2D([], [], color=colours[e], label=eta_label(e)) for e in etas_present]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 8),
                   frameon=False)
        if spec.get("title"):
            fig.suptitle(wrap_title(str(spec["title"]), width))
    return fig


def _draw_panel(ax, pspec: dict, rows: pd.DataFrame, colours: dict[float, str], index: int,
                table: pd.DataFrame, styles: dict[str, MetricStyle]) -> None:
    metrics = list(pspec.get("metrics") or ["j1"])
    percent = metrics[0] not in NON_ACCURACY
    scale = 100.0 if percent else 1.0
    looks = [metric_style(styles, m, p) for p, m in enumerate(metrics)]
    free_top = all(s.free_top for s in looks)
    stats = seed_summary(rows.dropna(subset=["value"]))  # NaN where a probe did not measure
    for eta in sorted(stats["eta"].unique()):
        colour = colours[round(float(eta), 12)]
        for metric, look in zip(metrics, looks, strict=True):
            s = stats[(stats["eta"] == eta) & (stats["metric"] == metric)]
            if s.empty:
                continue
            x = s["epoch"].to_numpy(dtype=float)
            ax.plot(x, s["mean"].to_numpy(dtype=float) * scale, color=colour,
                    linestyle=look.linestyle, marker=look.marker, markersize=3)
            if (s["count"] > 1).any():
                ax.fill_between(x, s["min"].to_numpy(dtype=float) * scale,
                                s["max"].to_numpy(dtype=float) * scale, color=colour,
                                alpha=0.18, linewidth=0)
    title = pspec.get("title")
    if not title and "panel_title" in table.columns and not rows.empty:
        title = str(rows["panel_title"].iloc[0])
    ax.set_title(title or f"panel {index}")
    ax.set_xlabel("epoch")
    epochs = rows["epoch"].to_numpy(dtype=float)
    ax.set_xlim(float(np.min(epochs)), max(float(np.max(epochs)), float(np.min(epochs)) + 1))
    if free_top:  # a small share (AR's CSR): let the top follow the data
        ax.set_ylabel(pspec.get("ylabel") or looks[0].axis)
        ax.set_ylim(bottom=0)
    elif percent:
        ax.set_ylabel(pspec.get("ylabel") or "accuracy (%)")
        ax.set_ylim(0, 101)
    else:
        ax.set_ylabel(pspec.get("ylabel") or "loss")
    if len(metrics) > 1:
        handles = [Line2D([], [], color="0.25", linestyle=look.linestyle, label=look.label)
                   for look in looks]
        ax.legend(handles=handles, loc="best", framealpha=0.85, handlelength=2.6)


def curves_kind(styles: dict[str, MetricStyle]) -> FigureKind:
    """The ``curves`` kind drawing with ``styles`` (the core's and every paper's)."""
    return FigureKind(
        table=lambda entries, spec: figure_table(entries),
        draw=functools.partial(build_curves_figure, styles=styles),
        reads="history",
        keys=frozenset({"panels", "ncols"}),
        panel_keys=frozenset({"experiment", "loss", "metrics", "etas", "title", "ylabel"}),
        note=NOTE)
