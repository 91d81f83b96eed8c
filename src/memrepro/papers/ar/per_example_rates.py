"""Arpit et al. 2017, Fig. 1: per-example misclassification rates over many networks.

The table reads the ``per_example`` probe files of every run (``reads="probes"``); the
drawing sorts the rates per panel and adds the Binomial references of the panels that ask.

Why *within each class*: after one epoch on random inputs a network can learn only the label
prior, and then predicts the commonest class for most inputs. Rates then differ *between*
classes although no example is harder than another of its class, and a single Binomial for all
examples (the paper's reference) understates the spread. The fair reference draws each
example's rate from Binomial(runs, its class's mean rate) / runs, and :func:`class_dispersion`
measures how far the rates spread around their class means compared with that Binomial.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from memrepro.figures import (
    ETA_PALETTE,
    PANEL_WIDTH_IN,
    SINGLE_WIDTH_IN,
    STYLE,
    FigureKind,
    wrap_title,
)
from memrepro.io import load_npz

RATE_COLUMNS = ["panel", "panel_title", "experiment", "dataset", "noise", "eta", "runs", "rank",
                "rate", "label", "curve", "dispersion"]
MEASURED, BINOMIAL, BINOMIAL_CLASS = "measured", "binomial", "binomial_class"


def class_means(rate, label) -> np.ndarray:
    """Per example, the mean of ``rate`` over the examples with its ``label``."""
    _, inverse = np.unique(np.asarray(label), return_inverse=True)
    return (np.bincount(inverse, weights=rate) / np.bincount(inverse))[inverse]


def class_dispersion(rate, label, runs: int) -> float:
    """Within-class dispersion index of per-example rates over ``runs`` runs:

        D = sum_i (r_i - p_c(i))^2 / sum_i p_c(i) (1 - p_c(i)) / runs,

    with p_c the mean rate of class c. D is about 1 when the examples of a class differ only as
    Binomial(runs, p_c) noise (all equally hard), above 1 when some are harder than others of
    their class, below 1 when runs move whole classes together. NaN when every class rate is 0
    or 1 (no Binomial spread to compare with)."""
    rate = np.asarray(rate, float)
    pc = class_means(rate, label)
    expected = float(np.sum(pc * (1 - pc)) / runs)
    return float(np.sum((rate - pc) ** 2) / expected) if expected > 0 else float("nan")


def _labels(files, data) -> np.ndarray:
    """The labels the runs trained on: one set, the same for every run of a panel."""
    labels = []
    for path, d in zip(files, data, strict=True):
        if "label" not in d:
            raise ValueError(f"{path}: a per_example probe file without labels (written before "
                             "labels were recorded): delete the runs of this experiment and "
                             "build again")
        labels.append(d["label"].astype(np.int64))
    if any(not np.array_equal(labels[0], other) for other in labels[1:]):
        raise ValueError(f"per_example_rates: the runs of {files[0]} and its panel trained on "
                         "different labels (a noise seed per run?); the rates and the "
                         "within-class comparison need one label set: fix the noise seed")
    return labels[0]


def per_example_rates(entries: Iterable[tuple[int, str, dict, list[str | Path]]],
                      examples: int = 1000, binomial: Iterable[int] = ()) -> pd.DataFrame:
    """Arpit et al. 2017, Fig. 1: per-example misclassification rate over many runs, sorted.

    ``entries``: (panel, title, first cell, per_example probe files of every run of that
    panel). For ``examples`` fixed training examples (the first of one permutation with seed
    0, the same for every panel), the rate is the share of runs whose prediction is not the
    label the runs trained on; ``label`` is that label, ``dispersion`` the panel's
    :func:`class_dispersion`. Panels listed in ``binomial`` also get two references with as
    many examples: ``binomial``, draws of one Binomial(runs, mean rate) / runs (the paper's),
    and ``binomial_class``, each example's draw from Binomial(runs, its class's mean rate)."""
    frames, binomial = [], set(binomial)
    for panel, title, cell, paths in entries:
        data = [load_npz(p) for p in paths]
        correct = np.stack([d["correct"].astype(bool) for d in data])  # (runs, n)
        runs, n = correct.shape
        keep = np.random.default_rng(0).permutation(n)[:min(examples, n)]
        label = _labels(paths, data)[keep]
        rate = 1.0 - correct[:, keep].mean(0)
        order = np.lexsort((label, rate))
        curves = [(MEASURED, rate[order], label[order])]
        if panel in binomial:
            rng = np.random.default_rng(1)
            draws = rng.binomial(runs, rate.mean(), size=rate.size) / runs
            curves.append((BINOMIAL, np.sort(draws), np.full(rate.size, -1)))
            draws = rng.binomial(runs, class_means(rate, label)) / runs
            order = np.lexsort((label, draws))
            curves.append((BINOMIAL_CLASS, draws[order], label[order]))
        dispersion = class_dispersion(rate, label, runs)
        noise = cell.get("noise") or {}
        for name, values, labels in curves:
            frames.append(pd.DataFrame({
                "panel": panel, "panel_title": title, "experiment": cell["experiment"],
                "dataset": cell["dataset"], "noise": noise.get("name", "none"),
                "eta": float(noise.get("rate", 0.0)), "runs": runs, "rank": np.arange(values.size),
                "rate": values, "label": labels, "curve": name, "dispersion": dispersion}))
    if not frames:
        raise ValueError("per_example_rates: no runs to extract")
    return pd.concat(frames, ignore_index=True)[RATE_COLUMNS]


def _by_class(rows: pd.DataFrame, class_order) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """x, rate with the examples grouped by class (in ``class_order``), sorted within each;
    and the x where each class starts."""
    xs, ys, starts, x = [], [], [], 0
    for c in class_order:
        r = np.sort(rows.loc[rows["label"] == c, "rate"].to_numpy())
        starts.append(x)
        xs.append(np.arange(x, x + r.size))
        ys.append(r)
        x += r.size
    return np.concatenate(xs), np.concatenate(ys), starts


def _draw_within_classes(ax, table: pd.DataFrame, panel: int) -> None:
    rows = table[table["panel"] == panel]
    measured = rows[rows["curve"] == MEASURED]
    reference = rows[rows["curve"] == BINOMIAL_CLASS]
    title, runs = measured["panel_title"].iloc[0], measured["runs"].iloc[0]
    class_order = measured.groupby("label")["rate"].mean().sort_values().index
    colour = ETA_PALETTE[int(panel) % 10]
    x, y, starts = _by_class(measured, class_order)
    ax.plot(x, y, color=colour, label=f"{title}, measured")
    x, y, _ = _by_class(reference, class_order)
    ax.plot(x, y, color="black", linestyle="--", linewidth=0.9,
            label=f"Binomial({runs}, class rate) / {runs}")
    for start, c in zip(starts, class_order, strict=True):
        ax.axvline(start, color="0.85", linewidth=0.6, zorder=0)
        ax.text(start + 2, 1.0, str(int(c)), fontsize=7, va="top", color="0.35")
    ax.set_title(f"{title} class by class (label on top); dispersion "
                 f"{measured['dispersion'].iloc[0]:.2f}", fontsize=9)
    ax.set_xlabel("example (by class, by class rate; sorted within)")
    ax.legend(loc="lower right", framealpha=0.85)


def draw_per_example_rates(table: pd.DataFrame, spec: dict) -> Figure:
    """Arpit et al. 2017, Fig. 1: (a) sorted per-example misclassification rates, one line per
    panel (real, randX, randY); for a panel with the Binomial reference, dashed: the Binomial
    within each class, dotted: one Binomial for all (the paper's). (b) per such panel: its rates
    class by class beside the class Binomial."""
    within = sorted(table.loc[table["curve"] == BINOMIAL_CLASS, "panel"].unique())
    width = SINGLE_WIDTH_IN + PANEL_WIDTH_IN * len(within)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(width, 4.2), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, 1 + len(within), sharey=True, squeeze=False,
                            width_ratios=[SINGLE_WIDTH_IN] + [PANEL_WIDTH_IN] * len(within))[0]
        ax = axes[0]
        styles = {MEASURED: ("-", 1.5), BINOMIAL_CLASS: ("--", 1.0), BINOMIAL: (":", 1.0)}
        for (panel, curve), rows in table.groupby(["panel", "curve"], sort=True):
            title, runs = rows["panel_title"].iloc[0], rows["runs"].iloc[0]
            label = {MEASURED: f"{title} ({runs} runs; within-class dispersion "
                               f"{rows['dispersion'].iloc[0]:.2f})",
                     BINOMIAL_CLASS: f"{title}: Binomial within each class",
                     BINOMIAL: f"{title}: one Binomial({runs}, mean rate)"}[curve]
            style, lw = styles[curve]
            ax.plot(rows["rank"], rows["rate"], color=ETA_PALETTE[int(panel) % 10],
                    linestyle=style, linewidth=lw, label=label)
        ax.set_xlabel("example (sorted by misclassification rate)")
        ax.set_ylabel("misclassification rate after one epoch")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(loc="lower right", framealpha=0.85, fontsize=7)
        for ax_b, panel in zip(axes[1:], within, strict=True):
            _draw_within_classes(ax_b, table, panel)
        if spec.get("title"):
            fig.suptitle(wrap_title(str(spec["title"]), width))
    return fig


def _table(entries, spec: dict) -> pd.DataFrame:
    """Per panel: its first cell and the probe files of all its runs, in order."""
    panels: dict[int, list] = {}
    for panel, title, _, cell, files in entries:
        panels.setdefault(panel, [panel, title, cell, []])[3].extend(files)
    return per_example_rates(
        [tuple(v) for _, v in sorted(panels.items())], examples=spec.get("examples", 1000),
        binomial=[i for i, p in enumerate(spec["panels"]) if p.get("binomial")])


KIND = FigureKind(
    table=_table, draw=draw_per_example_rates, reads="probes",
    keys=frozenset({"panels", "examples"}),
    panel_keys=frozenset({"experiment", "loss", "title", "binomial"}),
    note=("Each network starts from its own initialisation and shuffling (its seed) on the same "
          "data; after one epoch, the misclassification rate of an example is the share of "
          "networks whose prediction (eval mode) differs from the label they trained on "
          "(randY: the random label). Rates of fixed training examples (the first of one seeded "
          "permutation), sorted. Dotted: sorted draws of one Binomial(runs, mean rate) / runs "
          "(the paper's reference). Dashed: each example drawn from Binomial(runs, its class's "
          "mean rate) / runs, the curve if the examples of a class were equally hard; a network "
          "that learns only the label prior spreads rates across classes, not within them. "
          "Within-class dispersion: the squared spread of the rates around their class means "
          "over the Binomial's (1: equally hard; above 1: some examples harder). Right: the "
          "panel with the reference, class by class. Inputs scaled to [0, 1] and normalised "
          "per channel; batch 128 (not stated in the paper)."))
