"""Arpit et al. 2017, Figs. 3 and 4 drawn from the tables of
:mod:`memrepro.papers.ar.sensitivity_runs`; the kinds are in
:mod:`memrepro.papers.ar.sensitivity_kinds`. Each drawing returns a bare ``Figure`` (no pyplot
state) under the fixed ``STYLE``. Never imports torch.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from memrepro.figures import ETA_PALETTE, STYLE, wrap_title

GINI_DRAW_COLUMNS = ["panel", "panel_title", "data", "step", "epoch", "gini"]
MATRIX_DRAW_COLUMNS = ["panel", "panel_title", "data", "i", "j", "value"]
DATA_COLOURS = {"real": ETA_PALETTE[0], "random": ETA_PALETTE[3]}
DATA_LABELS = {"real": "real data", "random": "random inputs"}
SENSITIVITY_PANEL_WIDTH_IN = 4.2  # a little wider than the base's 4.0: square heatmaps


def _checked_title(table: pd.DataFrame, spec: dict, columns: list[str]) -> str:
    """The figure's title; ValueError when the table lacks a column or has no rows."""
    title = str(spec.get("title", "<untitled figure>"))
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"figure {title!r}: table lacks columns {missing}")
    if table.empty:
        raise ValueError(f"figure {title!r}: table has no rows")
    return title


def _panels(table: pd.DataFrame, title: str, expected: int = 2) -> list[tuple[int, pd.DataFrame]]:
    panels = sorted(int(p) for p in table["panel"].unique())
    if panels != list(range(expected)):
        raise ValueError(f"figure {title!r}: table has panels {panels}, expected "
                         f"{list(range(expected))}")
    return [(p, table[table["panel"].astype(int) == p]) for p in panels]


def _data_order(rows: pd.DataFrame) -> list[str]:
    """Real first, then random, then anything else in sorted order."""
    kinds = sorted(set(rows["data"].astype(str)))
    return [k for k in DATA_COLOURS if k in kinds] + [k for k in kinds if k not in DATA_COLOURS]


def _acc_note(rows: pd.DataFrame) -> str:
    """" (train acc. 97%)" from the run's ``train_acc`` column, if the table has one."""
    if "train_acc" not in rows.columns or rows["train_acc"].isna().all():
        return ""
    return f" (train acc. {100 * float(rows['train_acc'].iloc[0]):.0f}%)"


def _titled(fig: Figure, spec: dict, width: float) -> Figure:
    if spec.get("title"):
        fig.suptitle(wrap_title(str(spec["title"]), width))
    return fig


# --- Fig. 3 -----------------------------------------------------------------------------------

def draw_gini(table: pd.DataFrame, spec: dict) -> Figure:
    """Fig. 3: Gini coefficient of gbar_x over examples vs epoch, one line per data kind;
    left: normal labels, right: one class per example."""
    title = _checked_title(table, spec, GINI_DRAW_COLUMNS)
    panels = _panels(table, title)
    width = SENSITIVITY_PANEL_WIDTH_IN * len(panels)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(width, 3.6), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
        for (_, rows), ax in zip(panels, axes, strict=True):
            for data in _data_order(rows):
                run = rows[rows["data"] == data].sort_values("step")
                ax.plot(run["epoch"].to_numpy(float), run["gini"].to_numpy(float),
                        color=DATA_COLOURS.get(str(data), "0.3"),
                        label=DATA_LABELS.get(str(data), str(data)) + _acc_note(run))
            ax.set_title(str(rows["panel_title"].iloc[0]))
            ax.set_xlabel("epoch")
            ax.set_ylim(0, 1)
            ax.legend(loc="upper left", framealpha=0.85)
        axes[0].set_ylabel(r"Gini coefficient of $\bar g_x$")
        return _titled(fig, spec, width)


# --- Fig. 4 -----------------------------------------------------------------------------------

def _matrix(rows: pd.DataFrame, title: str) -> np.ndarray:
    m = rows.pivot_table(index="i", columns="j", values="value", aggfunc="mean")
    k = max(len(m.index), len(m.columns))
    m = m.reindex(index=range(k), columns=range(k))
    if m.isna().all().all():
        raise ValueError(f"figure {title!r}: a panel has only missing values")
    return m.to_numpy(float)


def _log_norm(mats: list[np.ndarray], title: str) -> LogNorm:
    """One colour scale over both panels (log scale, paper Fig. 4)."""
    values = np.concatenate([m[np.isfinite(m) & (m > 0)] for m in mats])
    if values.size == 0:
        raise ValueError(f"figure {title!r}: no positive values for a log colour scale")
    lo, hi = float(values.min()), float(values.max())
    return LogNorm(vmin=lo, vmax=hi if hi > lo else lo * 10)


def draw_class_sensitivity(table: pd.DataFrame, spec: dict) -> Figure:
    """Fig. 4: heatmaps of gbar(i, j), i = class of the loss term (rows), j = class of the
    training examples (columns); real left, random right; shared log colour scale."""
    title = _checked_title(table, spec, MATRIX_DRAW_COLUMNS)
    panels = _panels(table, title)
    mats = [_matrix(rows, title) for _, rows in panels]
    norm = _log_norm(mats, title)
    width = SENSITIVITY_PANEL_WIDTH_IN * len(panels) + 0.8
    with matplotlib.rc_context({**STYLE, "axes.grid": False}):
        fig = Figure(figsize=(width, 4.0), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        image = None
        for (_, rows), m, ax in zip(panels, mats, axes, strict=True):
            image = ax.imshow(np.ma.masked_invalid(m), norm=norm, cmap="viridis",
                              interpolation="nearest")
            ax.set_title(str(rows["panel_title"].iloc[0]) + _acc_note(rows))
            ax.set_xlabel("j: class of the training examples x")
            ax.set_ylabel("i: class of the loss term L(y=i)")
            ticks = np.arange(m.shape[0])
            ax.set_xticks(ticks)
            ax.set_yticks(ticks)
        fig.colorbar(image, ax=list(axes), label=r"$\bar g(i, j)$ (log scale)", shrink=0.9)
        return _titled(fig, spec, width)
