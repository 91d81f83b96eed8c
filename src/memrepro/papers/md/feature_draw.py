"""Drawing of ``feature_scatter`` (MD Fig. 3) from its table: per panel, the test features with
centroids, dilation circles, corrupted-example centroids and the decision boundary, and
(``train_panel``, default true) the training features beside them, corrupted ones in red.
Torch-free."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from memrepro.figures import STYLE, eta_label, wrap_title
from memrepro.papers.md.common import loss_label, refuse, where_figure

CLASS_COLOURS = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22"]
CORRUPTED = "#d62728"
PANEL_SIDE_IN = 4.6
NEEDED = ["panel", "part", "cls", "corrupted", "count", "x", "y", "radius", "rms", "dx", "dy"]
RADIUS_COLUMNS = {"sd": "radius", "rms": "rms"}


def class_colour(c) -> str:
    return CLASS_COLOURS[int(c) % len(CLASS_COLOURS)]


def _distances_text(u, centroids: pd.DataFrame) -> str:
    """"|u - h_c|" to every test centroid, the true class's first."""
    ordered = sorted(centroids.itertuples(index=False), key=lambda h: int(h.cls) != int(u.cls))
    return ", ".join(f"|u-h{int(h.cls)}| = {np.hypot(u.x - h.x, u.y - h.y):.3g}"
                     for h in ordered)


def _draw_geometry(ax, rows: pd.DataFrame, radius: str) -> None:
    """Test centroids with their dilation circles (``radius``: the table's column ``radius``,
    the sd of the distances, or ``rms``), corrupted centroids, the boundary."""
    centroids = rows[rows["part"] == "centroid"]
    what = "sd" if radius == "radius" else "RMS"
    for h in centroids.itertuples(index=False):
        colour, r = class_colour(h.cls), float(getattr(h, radius))
        ax.plot(h.x, h.y, marker="X", markersize=9, color=colour, markeredgecolor="black",
                linestyle="none", zorder=4,
                label=f"h{int(h.cls)}: test centroid, class {int(h.cls)}")
        ax.add_patch(Circle((h.x, h.y), r, fill=False, edgecolor="black", linewidth=1.5,
                            linestyle="--", zorder=3,
                            label=f"class {int(h.cls)} dilation ({what} of distances) = {r:.3g}"))
    for u in rows[rows["part"] == "corrupted_centroid"].itertuples(index=False):
        ax.plot(u.x, u.y, marker="*", markersize=15, color=class_colour(u.cls),
                markeredgecolor=CORRUPTED, markeredgewidth=1.2, linestyle="none", zorder=5,
                label=f"u{int(u.cls)}: {int(u.count)} corrupted of true class {int(u.cls)}; "
                      + _distances_text(u, centroids))
    for b in rows[rows["part"] == "boundary"].itertuples(index=False):
        ax.axline((b.x, b.y), (b.x + b.dx, b.y + b.dy), color="black", linewidth=1.0,
                  label="decision boundary")


def _test_axis(ax, rows: pd.DataFrame, radius: str) -> None:
    pts = rows[rows["part"] == "test"]
    for c, group in pts.groupby("cls", sort=True):
        ax.scatter(group["x"], group["y"], s=5, alpha=0.35, color=class_colour(c),
                   linewidths=0, label=f"test, class {int(c)} ({len(group)} shown)")
    _draw_geometry(ax, rows, radius)


def _train_axis(ax, rows: pd.DataFrame, radius: str) -> None:
    pts = rows[rows["part"] == "train"]
    bad = pts["corrupted"].astype(bool)
    for c, group in pts[~bad].groupby("cls", sort=True):
        ax.scatter(group["x"], group["y"], s=5, alpha=0.35, color=class_colour(c),
                   linewidths=0, label=f"train, class {int(c)} ({len(group)} shown)")
    ax.scatter(pts.loc[bad, "x"], pts.loc[bad, "y"], s=9, alpha=0.8, color=CORRUPTED,
               linewidths=0, label=f"train, corrupted ({int(bad.sum())} shown)")
    _draw_geometry(ax, rows, radius)


def _panel_name(rows: pd.DataFrame, spec: dict) -> str:
    r = rows.iloc[0]
    p = spec["panels"][int(r["panel"])]
    return str(p.get("title") or f"{r['panel_title']}, {loss_label(str(r['loss']))}, "
                                  f"{eta_label(float(r['eta']))}, seed {int(r['seed'])}")


def draw_features(table: pd.DataFrame, spec: dict) -> Figure:
    """MD Fig. 3 from ``feature_scatter``'s table: one row of axes per panel."""
    where = where_figure(spec)
    panels = spec.get("panels") or []
    missing = [c for c in NEEDED if c not in table.columns]
    if missing or not panels:
        raise ValueError(f"{where}: table lacks columns {missing}" if missing
                         else f"{where}: spec has no panels")
    train_panel = spec.get("train_panel", True)
    if not isinstance(train_panel, bool):
        raise refuse(where, "train_panel", train_panel, "true or false")
    if spec.get("radius", "sd") not in RADIUS_COLUMNS:
        raise refuse(where, "radius", spec["radius"], f"one of {list(RADIUS_COLUMNS)}")
    radius = RADIUS_COLUMNS[spec.get("radius", "sd")]
    ncols = 2 if train_panel else 1
    width = PANEL_SIDE_IN * ncols + 0.6
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(width, (PANEL_SIDE_IN + 1.6) * len(panels) + 0.6),
                     layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(panels), ncols, squeeze=False)
        for i in range(len(panels)):
            rows = table[table["panel"].astype(int) == i]
            if rows.empty:
                raise ValueError(f"{where}: panel {i} has no rows in the table")
            name = _panel_name(rows, spec)
            draws = [(_test_axis, "test features")] + (
                [(_train_axis, "training features")] if train_panel else [])
            for ax, (draw, what) in zip(axes[i], draws, strict=True):
                draw(ax, rows, radius)
                ax.set_title(f"{name}: {what}", fontsize=9)
                ax.set_xlabel("feature 1")
                ax.set_ylabel("feature 2")
                ax.set_aspect("equal", adjustable="datalim")
                ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=7,
                          ncols=1, framealpha=0.9)
        if spec.get("title"):
            fig.suptitle(wrap_title(str(spec["title"]), width))
    return fig
