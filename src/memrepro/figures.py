"""Figures from tidy tables, and the loss-symmetry check table.

Every figure kind takes (tidy table, spec from params.yaml, caption, out_pdf, out_png) and
writes a PDF, a PNG and ``<stem>.caption.txt`` beside the PNG, all atomically and with
fixed metadata so identical inputs give byte-identical files.

This module draws only: it never imports the models or the training engine (torch is
imported lazily by :func:`symmetry_table`).
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from memrepro.io import atomic_path, write_text

PANEL_WIDTH_IN = 4.0
PANEL_HEIGHT_IN = 3.2
DPI = 150
PDF_METADATA = {"CreationDate": None, "ModDate": None}
PNG_METADATA = {"Software": None}

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

# metric -> (legend label, linestyle). Accuracies are drawn in percent.
METRIC_STYLE: dict[str, tuple[str, str]] = {
    "j1": ("J1: noisy labels (train acc.)", "-"),
    "j2": ("J2: clean labels", "--"),
    "test_acc": ("test accuracy", ":"),
    "clean_acc": ("clean-example fit", "-."),
    "corrupted_fit": ("corrupted: noisy label", (0, (5, 1, 1, 1))),
    "corrupted_clean": ("corrupted: clean label", (0, (1, 2))),
    "loss": ("training loss", "-"),
    "test_loss": ("test loss", "--"),
    "csr": ("critical sample ratio", (0, (3, 1, 1, 1, 1, 1))),  # AR Figs. 7-9
}
NON_ACCURACY = {"loss", "test_loss"}
_FALLBACK_STYLES = ["-", "--", ":", "-."]

# Colours are assigned to the sorted noise rates of a table, so the paper's
# eta in {0, 0.2, 0.4, 0.6} get the same colours in every figure.
ETA_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#7f7f7f", "#bcbd22", "#17becf"]

REQUIRED_COLUMNS = ["panel", "eta", "seed", "epoch", "metric", "value"]


def eta_colours(etas) -> dict[float, str]:
    """{eta: colour} for the sorted distinct noise rates (cycling past ten)."""
    uniq = sorted({round(float(e), 12) for e in etas})
    return {e: ETA_PALETTE[i % len(ETA_PALETTE)] for i, e in enumerate(uniq)}


def eta_label(eta: float) -> str:
    """Legend text: "η = 0.0", "η = 0.2", "η = 0.25"."""
    return f"η = {eta:.1f}" if round(eta, 1) == eta else f"η = {eta:g}"


def _metric_style(metric: str, position: int) -> tuple[str, str | tuple]:
    if metric in METRIC_STYLE:
        return METRIC_STYLE[metric]
    return metric, _FALLBACK_STYLES[position % len(_FALLBACK_STYLES)]


def split_panels(table: pd.DataFrame, spec: dict, columns: list[str]
                 ) -> list[tuple[int, dict, str, pd.DataFrame]]:
    """Validate a tidy table against the spec's panels: (index, panel spec, error-message
    prefix "figure 'T': panel i (title)", its rows) for every panel."""
    title = spec.get("title") or "<untitled figure>"
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
        where = f"figure {title!r}: panel {i} ({pspec.get('title', 'untitled')})"
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


def _panel_rows(table: pd.DataFrame, spec: dict) -> list[tuple[dict, pd.DataFrame]]:
    """Validate the table against the spec; (panel spec, its rows) for every panel."""
    out = []
    for _, pspec, where, rows in split_panels(table, spec, REQUIRED_COLUMNS):
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


def _wrap(text: str, width_in: float) -> str:
    return textwrap.fill(text, width=max(40, int(width_in * 11)))


def build_curves_figure(table: pd.DataFrame, spec: dict) -> Figure:
    """One subplot per panel: x = epoch, y = accuracy (%), one colour per eta, one
    linestyle per metric; mean over seeds with a shaded min-max band."""
    panels = _panel_rows(table, spec)
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
            _draw_panel(ax, pspec, rows, colours, i, table)
        etas_present = sorted({round(float(e), 12) for _, r in panels for e in r["eta"]})
        handles = [Line2D([], [], color=colours[e], label=eta_label(e)) for e in etas_present]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 8),
                   frameon=False)
        if spec.get("title"):
            fig.suptitle(_wrap(str(spec["title"]), width))
    return fig


def _draw_panel(ax, pspec: dict, rows: pd.DataFrame, colours: dict[float, str], index: int,
                table: pd.DataFrame) -> None:
    metrics = list(pspec.get("metrics") or ["j1"])
    percent = metrics[0] not in NON_ACCURACY
    scale = 100.0 if percent else 1.0
    csr_only = set(metrics) == {"csr"}
    stats = seed_summary(rows.dropna(subset=["value"]))  # csr: NaN where not measured
    for eta in sorted(stats["eta"].unique()):
        colour = colours[round(float(eta), 12)]
        for pos, metric in enumerate(metrics):
            s = stats[(stats["eta"] == eta) & (stats["metric"] == metric)]
            if s.empty:
                continue
            _, style = _metric_style(metric, pos)
            x = s["epoch"].to_numpy(dtype=float)
            ax.plot(x, s["mean"].to_numpy(dtype=float) * scale, color=colour, linestyle=style,
                    marker="o" if metric == "csr" else None, markersize=3)
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
    if csr_only:  # CSR stays small: let the top follow the data (AR Figs. 7, 8)
        ax.set_ylabel(pspec.get("ylabel") or "critical sample ratio (%)")
        ax.set_ylim(bottom=0)
    elif percent:
        ax.set_ylabel(pspec.get("ylabel") or "accuracy (%)")
        ax.set_ylim(0, 101)
    else:
        ax.set_ylabel(pspec.get("ylabel") or "loss")
    if len(metrics) > 1:
        handles = [Line2D([], [], color="0.25", linestyle=_metric_style(m, p)[1],
                          label=_metric_style(m, p)[0]) for p, m in enumerate(metrics)]
        ax.legend(handles=handles, loc="best", framealpha=0.85, handlelength=2.6)


def caption_path(out_png: str | os.PathLike) -> Path:
    """``<dir>/<stem>.caption.txt`` beside the PNG."""
    p = Path(out_png)
    return p.with_name(p.stem + ".caption.txt")


def save_figure(fig: Figure, out_pdf: str | os.PathLike, out_png: str | os.PathLike) -> None:
    """Write PDF and PNG atomically with fixed metadata (byte-reproducible)."""
    with matplotlib.rc_context(STYLE):
        with atomic_path(out_pdf, suffix=".pdf") as tmp:
            fig.savefig(tmp, format="pdf", metadata=PDF_METADATA)
        with atomic_path(out_png, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=DPI, metadata=PNG_METADATA)


def plot_curves(table: pd.DataFrame, spec: dict, caption: str, out_pdf: str | os.PathLike,
                out_png: str | os.PathLike) -> None:
    """Training curves figure (PS Figs. 1-5): PDF, PNG and the caption file."""
    fig = build_curves_figure(table, spec)
    save_figure(fig, out_pdf, out_png)
    write_text(caption_path(out_png), caption.rstrip("\n") + "\n")


def plot_per_example_rates(table: pd.DataFrame, spec: dict, caption: str,
                           out_pdf: str | os.PathLike, out_png: str | os.PathLike) -> None:
    """Arpit et al. 2017, Fig. 1: sorted per-example misclassification rates, one line per
    panel (real, randX, randY), dashed: the Binomial reference of a panel."""
    width = 5.5
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(width, 4.2), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        for (panel, curve), rows in table.groupby(["panel", "curve"], sort=True):
            title = rows["panel_title"].iloc[0]
            binom = curve == "binomial"
            ax.plot(rows["rank"], rows["rate"], color=ETA_PALETTE[int(panel) % 10],
                    linestyle="--" if binom else "-",
                    label=f"{title}: Binomial({rows['runs'].iloc[0]}, mean rate)" if binom
                    else f"{title} ({rows['runs'].iloc[0]} runs)")
        ax.set_xlabel("example (sorted by misclassification rate)")
        ax.set_ylabel("misclassification rate after one epoch")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(loc="best", framealpha=0.85)
        if spec.get("title"):
            fig.suptitle(_wrap(str(spec["title"]), width))
    save_figure(fig, out_pdf, out_png)
    write_text(caption_path(out_png), caption.rstrip("\n") + "\n")


FigureKind = Callable[[pd.DataFrame, dict, str, str | os.PathLike, str | os.PathLike], None]
FIGURES: dict[str, FigureKind] = {"curves": plot_curves,
                                  "per_example_rates": plot_per_example_rates}


def register_figures(kinds: dict[str, FigureKind]) -> dict[str, FigureKind]:
    """Add figure kinds to ``FIGURES`` (their names become valid `kind:` values)."""
    FIGURES.update(kinds)
    return kinds


# --- Symmetry condition (PS Sec. 3): sum_j L(g(x), j) = constant -----------------------------

def symmetry_table(losses: dict[str, Callable], num_classes: int = 10, n: int = 1000,
                   seed: int = 0, tol: float | None = None) -> pd.DataFrame:
    """S(x) = sum_j L(g(x), j) over n random logits (float64, N(0, 3^2)) for every loss.

    ``symmetric`` is ``rel_spread < tol``. With ``tol=None`` the tolerance is 1e-9, raised
    to 100 machine epsilons of the loss's output dtype (a loss that computes in float32
    cannot be constant to 1e-9); the ``dtype`` and ``tol`` columns record what was used.
    """
    import torch  # lazy: figures never need torch

    if num_classes < 2 or n < 1:
        raise ValueError(f"symmetry_table: need num_classes >= 2 and n >= 1, got "
                         f"{num_classes}, {n}")
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, num_classes, generator=gen, dtype=torch.float64) * 3.0
    rows = []
    for name, fn in losses.items():
        total = torch.zeros(n, dtype=torch.float64)
        dtype = None
        for j in range(num_classes):
            targets = torch.full((n,), j, dtype=torch.int64)
            with torch.no_grad():
                out = fn(logits.clone(), targets)
            if tuple(out.shape) != (n,):
                raise ValueError(f"symmetry_table: loss {name!r} returned shape "
                                 f"{tuple(out.shape)}, expected per-example ({n},)")
            dtype = out.dtype
            total += out.detach().to(torch.float64).cpu()
        s = total.numpy()
        mean, lo, hi = float(s.mean()), float(s.min()), float(s.max())
        spread = hi - lo
        rel = spread / abs(mean) if mean != 0 else (0.0 if spread == 0 else math.inf)
        limit = tol if tol is not None else max(1e-9, 100 * torch.finfo(dtype).eps)
        rows.append({"loss": name, "num_classes": num_classes, "mean": mean, "min": lo,
                     "max": hi, "std": float(s.std()), "rel_spread": rel,
                     "symmetric": bool(rel < limit), "dtype": str(dtype).removeprefix("torch."),
                     "tol": float(limit)})
    cols = ["loss", "num_classes", "mean", "min", "max", "std", "rel_spread", "symmetric",
            "dtype", "tol"]
    return pd.DataFrame(rows, columns=cols)


def _md_cell(value) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        return f"{value:.3e}" if value != 0 and abs(value) < 1e-3 else f"{value:.6g}"
    return str(value)


def symmetry_markdown(table: pd.DataFrame, caption: str) -> str:
    """GitHub-style Markdown table followed by the caption."""
    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for rec in table.itertuples(index=False):
        lines.append("| " + " | ".join(_md_cell(v) for v in rec) + " |")
    return "\n".join(lines) + "\n\n" + caption.strip() + "\n"


def write_symmetry(table: pd.DataFrame, out_csv: str | os.PathLike, out_md: str | os.PathLike,
                   caption: str) -> None:
    """The symmetry table as CSV and as Markdown with its caption, both atomically."""
    write_text(out_csv, table.to_csv(index=False))
    write_text(out_md, symmetry_markdown(table, caption))


# Arpit et al. 2017 figure kinds (figures_ar: filters, sweep, series, regularizers;
# sensitivity_figures: Figs. 3, 4) register themselves; imported last because they use the
# helpers above. Importing either module first works too: it finds this one complete.
from memrepro import figures_ar, sensitivity_figures  # noqa: E402, F401
