"""The generic ``curves`` figure kind: history metrics per epoch, one colour per noise rate.

Used by PS Figs. 1-5, AR Figs. 7-8 and LLJ Figs. 9-10. How a metric is drawn (label, line
style, marker, axis) is a :class:`~memrepro.figures.MetricStyle`; papers add styles for their own
history columns (AR: ``csr``) and ``memrepro.catalog`` hands the merged styles to
:func:`curves_kind`. ``legend: count`` (figure or panel) names each noise rate by the number of
labels it redraws, round(eta n) (LLJ Fig. 10: "20,000 random labels"), n from the noise files'
sidecars.
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
from memrepro.io import read_json
from memrepro.paths import cell_noise_path
from memrepro.specs import not_allowed, where_figure
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
LEGENDS = ("eta", "count")

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
        counts = legend_of(spec, where_figure(spec)) == "count"
        handles = [Line2D([], [], color=colours[e],
                          label=count_label(table, e) if counts else eta_label(e))
                   for e in etas_present]
        fig.legend(handles=handles, loc="outside lower center", frameon=False,
                   ncols=min(len(handles), 3 if counts else 8))  # counts: long labels
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
        ax.add_artist(ax.legend(handles=handles, loc="best", framealpha=0.85,
                                handlelength=2.6))
    if legend_of(pspec, f"panel {index}") == "count":
        etas = sorted({round(float(e), 12) for e in rows["eta"]})
        ax.legend(handles=[Line2D([], [], color=colours[e], label=count_label(rows, e))
                           for e in etas], loc="lower right", framealpha=0.85)


def legend_of(spec: dict, where: str) -> str:
    """A figure's or panel's ``legend``: ``eta`` (default) or ``count``."""
    value = spec.get("legend", "eta")
    if value not in LEGENDS:
        raise ValueError(not_allowed("legend", value, list(LEGENDS), where=where))
    return value


def count_panels(spec: dict) -> list[int]:
    """The panels whose noise rates are named by count: all with a figure-level
    ``legend: count``, else those that ask."""
    title = where_figure(spec)
    panels = spec.get("panels") or []
    every = legend_of(spec, title) == "count"
    return [i for i, p in enumerate(panels)
            if legend_of(p, f"{title}: panel {i}") == "count" or every]


def noise_sidecar(cell: dict) -> str:
    """The JSON sidecar of the cell's noise file (``n``: how many training labels)."""
    return cell_noise_path(cell).removesuffix(".npz") + ".json"


def noise_count(cell: dict) -> tuple[int, bool]:
    """(round(eta n), approximate): how many labels the noise redraws among the n training
    labels; for a run on a fixed share of k examples, round(eta k), approximate."""
    n = int(read_json(noise_sidecar(cell))["n"])
    k = cell.get("subset")
    rate = float(cell["noise"]["rate"])
    part = isinstance(k, int) and not isinstance(k, bool) and 0 < k < n
    return int(round(rate * (k if part else n))), part and rate > 0


def curves_table(entries, spec: dict) -> pd.DataFrame:
    """The tidy history table; with ``legend: count``, also ``noise_count`` and
    ``count_approx`` on the rows of the panels that name rates by count."""
    entries = list(entries)
    table = figure_table(entries)
    wanted = count_panels(spec)
    if not wanted:
        return table
    counts = {(i, c["experiment"], round(float(c["noise"]["rate"]), 12)): noise_count(c)
              for i, _, _, c, _ in entries if i in wanted}
    keys = zip(table["panel"], table["experiment"], table["eta"].astype(float).round(12),
               strict=True)
    found = [counts.get(k, (np.nan, False)) for k in keys]
    return table.assign(noise_count=[c for c, _ in found],
                        count_approx=[a for _, a in found])


def count_label(rows: pd.DataFrame, eta: float) -> str:
    """"20,000 random labels" for the rows at noise rate ``eta`` ("≈" for a fixed share of
    the training set; several counts joined by " / ")."""
    if "noise_count" not in rows.columns:
        raise ValueError("legend: count needs the noise_count column (the table of a "
                         "figure or panel with legend: count)")
    r = rows[np.isclose(rows["eta"].to_numpy(float), eta, atol=1e-9, rtol=0)]
    r = r.dropna(subset=["noise_count"]).drop_duplicates(["noise_count", "count_approx"])
    if r.empty:
        raise ValueError(f"legend: count: no noise_count for eta {eta}")
    what = "random labels" if set(r["noise"]) == {"random_labels"} else "noisy labels"
    return " / ".join(f"{'≈' if str(a) == 'True' else ''}{int(c):,}"
                      for c, a in zip(r["noise_count"], r["count_approx"], strict=True)
                      ) + f" {what}"


def count_inputs(spec: dict, plan) -> list[str]:
    """The noise sidecars a ``legend: count`` reads (none without it)."""
    panels = spec.get("panels") or []
    return sorted({noise_sidecar(c) for i in count_panels(spec)
                   for s in panels[i].get("series") or [panels[i]]
                   for c in plan.cells_of(s["experiment"], s["loss"])})


def curves_kind(styles: dict[str, MetricStyle]) -> FigureKind:
    """The ``curves`` kind drawing with ``styles`` (the core's and every paper's)."""
    return FigureKind(
        table=curves_table,
        draw=functools.partial(build_curves_figure, styles=styles),
        reads="history",
        keys=frozenset({"panels", "ncols", "legend"}),
        panel_keys=frozenset({"experiment", "loss", "metrics", "etas", "title", "ylabel",
                              "legend"}),
        extra_inputs=count_inputs,
        note=NOTE)
