"""Drawing of ``md_scatter`` (MD Figs. 1 and 2) from its table: a grid with one row of panels
per y quantity (``rows``) and one column per panel (``ncols`` wraps them), one marker per
(loss, eta) at the seed mean with +-1 sd bars in x and y, colour = eta, marker = loss, and
optional least-squares lines per loss on the NC1 rows. Torch-free."""

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
    PANEL_HEIGHT_IN,
    PANEL_WIDTH_IN,
    STYLE,
    eta_colours,
    eta_label,
    split_panels,
    wrap_title,
)
from memrepro.papers.md.common import loss_label
from memrepro.papers.md.scatter_spec import (
    COLUMNS,
    QUANTITY_LABELS,
    check_spec,
    fit_losses,
    rows_of,
    scale_of,
    x_of,
)

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
    panel per dataset and feature dimension M) from ``md_scatter``'s table."""
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
