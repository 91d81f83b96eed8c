"""The figure base: what every figure kind shares.

A figure kind is one :class:`FigureKind` record (its table, its drawing, what it reads, the
keys it accepts, its caption note); each paper lists its kinds in its index and
``memrepro.catalog`` resolves a ``kind:`` name. This module holds the fixed style, the noise-rate
palette, panel validation and layout, and the one way a figure is written: PDF + PNG + caption,
atomically and with fixed metadata, so identical inputs give byte-identical files.

Drawing only: nothing here imports torch or the training engine.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from memrepro.io import atomic_path, write_text
from memrepro.provenance import KEY as PROVENANCE_KEY
from memrepro.provenance import canonical_json, caption_line
from memrepro.specs import not_allowed, title_of, where_panel

PANEL_WIDTH_IN = 4.0
PANEL_HEIGHT_IN = 3.2
SINGLE_WIDTH_IN = 5.5   # a one-panel figure gets room for legend and labels
DPI = 150
PDF_METADATA = {"CreationDate": None, "ModDate": None}
PNG_METADATA = {"Software": None}
MATCH_TOL = 1e-9        # eta / sweep values are floats: compare with this tolerance

# Fixed style, independent of the user's matplotlibrc.
STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "figure.titlesize": 12,
    "lines.linewidth": 1.6,
    "axes.grid": True,
    "grid.alpha": 0.3,
}

# Colours are assigned to the sorted noise rates of a table, so the paper's
# eta in {0, 0.2, 0.4, 0.6} get the same colours in every figure.
ETA_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#7f7f7f", "#bcbd22", "#17becf"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
NON_ACCURACY = {"loss", "test_loss"}  # history metrics drawn as they are, not in percent

# The columns of a tidy history table that every history-reading kind needs.
TIDY_REQUIRED = ["panel", "eta", "seed", "epoch", "metric", "value"]

READS = ("history", "probes", "model", "dataset", "none")


@dataclass(frozen=True)
class FigureKind:
    """Everything a figure ``kind:`` means, in one record.

    ``table(inputs, spec)`` makes the kind's tidy table. ``inputs`` depends on ``reads``:
    for ``history`` / ``probes`` / ``model``, entries ``(panel, panel title, series, cell,
    files)`` for every run the figure draws (files: the history path, the list of the run's
    probe files, or the model path); for ``dataset``, the prepared arrays (a dict); for
    ``none``, None. ``draw(table, spec)`` returns the figure; None means the table is the
    figure (written as CSV + Markdown). ``keys`` / ``panel_keys`` / ``series_keys``: what the
    figure, its panels and their series may contain besides ``kind`` and ``title``. ``note``:
    the caption's method paragraph. ``caption(spec, plan)``, when given, replaces the
    standard caption. ``threads``: the table computes (it gets the job's CPU threads).
    ``extra_inputs(spec, plan)``, when given, lists further files the table reads (noise
    files, partitions, prepared datasets), so Snakemake builds them first.
    """

    table: Callable[[Any, dict], pd.DataFrame]
    draw: Callable[[pd.DataFrame, dict], Figure] | None
    reads: str = "history"
    keys: frozenset[str] = frozenset()
    panel_keys: frozenset[str] = frozenset()
    series_keys: frozenset[str] = frozenset()
    note: str = ""
    caption: Callable[[dict, Any], str] | None = None
    threads: bool = False
    extra_inputs: Callable[[dict, Any], list[str]] | None = None

    def __post_init__(self):
        if self.reads not in READS:
            raise ValueError(not_allowed("FigureKind.reads", self.reads, list(READS)))


@dataclass(frozen=True)
class MetricStyle:
    """How a history metric is drawn in the ``curves`` kind: legend label, line style, a
    marker where it is measured sparsely, and ``free_top`` for a small share (the y axis
    starts at 0 and follows the data) labelled ``axis``."""

    label: str
    linestyle: str | tuple = "-"
    marker: str | None = None
    axis: str = ""
    free_top: bool = False


def eta_colours(etas) -> dict[float, str]:
    """{eta: colour} for the sorted distinct noise rates (cycling past ten)."""
    uniq = sorted({round(float(e), 12) for e in etas})
    return {e: ETA_PALETTE[i % len(ETA_PALETTE)] for i, e in enumerate(uniq)}


def eta_label(eta: float) -> str:
    """Legend text: "η = 0.0", "η = 0.2", "η = 0.25"."""
    return f"η = {eta:.1f}" if round(eta, 1) == eta else f"η = {eta:g}"


def close_to(values: pd.Series, target: float) -> np.ndarray:
    """Which float values equal ``target`` within MATCH_TOL."""
    return np.isclose(values.to_numpy(dtype=float), float(target), atol=MATCH_TOL, rtol=0)


def wrap_title(text: str, width_in: float) -> str:
    return textwrap.fill(text, width=max(40, int(width_in * 11)))


def split_panels(table: pd.DataFrame, spec: dict, columns: list[str]
                 ) -> list[tuple[int, dict, str, pd.DataFrame]]:
    """Validate a tidy table against the spec's panels: (index, panel spec, error-message
    prefix "figure 'T': panel i (title)", its rows) for every panel."""
    title = title_of(spec)
    panels = spec.get("panels") or []
    if not panels:
        raise ValueError(f"figure {title!r}: spec has no panels")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"figure {title!r}: table lacks columns {missing}")
    extra = sorted(set(table["panel"].astype(int)) - set(range(len(panels))))
    if extra:
        raise ValueError(f"figure {title!r}: table has panel index(es) {extra} but the spec "
                         f"defines only {len(panels)} panel(s) (0..{len(panels) - 1})")
    out = []
    for i, pspec in enumerate(panels):
        where = where_panel(spec, i)
        rows = table[table["panel"].astype(int) == i]
        if rows.empty:
            raise ValueError(f"{where} has no rows in the table")
        out.append((i, pspec, where, rows))
    return out


def check_match(rows: pd.DataFrame, want: dict, where: str) -> None:
    """The extractor filtered experiment and loss already; refuse rows that disagree."""
    for col in ("experiment", "loss"):
        if col in want and col in rows.columns:
            found = sorted(set(rows[col].astype(str)) - {str(want[col])})
            if found:
                raise ValueError(f"{where} expects {col} {want[col]!r} but the table has {found}")


def layout(table: pd.DataFrame, spec: dict, columns: list[str], ncols: int, height: float
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
        fig.suptitle(wrap_title(str(spec["title"]), width))
    return fig, [(p, where, rows, ax) for (_, p, where, rows), ax in zip(panels, axes,
                                                                         strict=False)]


def caption_path(out_png: str | os.PathLike) -> Path:
    """``<dir>/<stem>.caption.txt`` beside the PNG."""
    p = Path(out_png)
    return p.with_name(p.stem + ".caption.txt")


def write_figure(fig: Figure, out_pdf: str | os.PathLike, out_png: str | os.PathLike,
                 caption: str, provenance: dict | None = None) -> None:
    """The one way a figure is saved: PDF and PNG atomically with fixed metadata
    (byte-reproducible), then the caption beside the PNG. ``provenance``
    (``memrepro.provenance.record``) goes into all three: the PDF Info ``Keywords``, the PNG
    text chunk ``Provenance`` and the caption's last line."""
    pdf_meta, png_meta = dict(PDF_METADATA), dict(PNG_METADATA)
    if provenance is not None:
        pdf_meta["Keywords"] = caption_line(provenance)
        png_meta[PROVENANCE_KEY] = canonical_json(provenance)
    with matplotlib.rc_context(STYLE):
        with atomic_path(out_pdf, suffix=".pdf") as tmp:
            fig.savefig(tmp, format="pdf", metadata=pdf_meta)
        with atomic_path(out_png, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=DPI, metadata=png_meta)
    write_text(caption_path(out_png), with_provenance(caption, provenance))


def with_provenance(caption: str, provenance: dict | None) -> str:
    """The caption, ending in a "Provenance: {...}" line when there is a record."""
    text = caption.rstrip("\n") + "\n"
    return text + caption_line(provenance) + "\n" if provenance is not None else text


def _md_cell(value) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        return f"{value:.3e}" if value != 0 and abs(value) < 1e-3 else f"{value:.6g}"
    return str(value)


def table_markdown(table: pd.DataFrame, caption: str) -> str:
    """GitHub-style Markdown table followed by the caption."""
    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for rec in table.itertuples(index=False):
        lines.append("| " + " | ".join(_md_cell(v) for v in rec) + " |")
    return "\n".join(lines) + "\n\n" + caption.strip() + "\n"


def write_table_figure(table: pd.DataFrame, out_csv: str | os.PathLike,
                       out_md: str | os.PathLike, caption: str,
                       provenance: dict | None = None) -> None:
    """A kind whose table is the figure: CSV and Markdown with its caption (and provenance
    line), atomically."""
    write_text(out_csv, table.to_csv(index=False))
    write_text(out_md, table_markdown(table, with_provenance(caption, provenance)))
