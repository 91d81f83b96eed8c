"""Arpit et al. 2017, Fig. 1: per-example misclassification rates over many networks.

The table reads the ``per_example`` probe files of every run (``reads="probes"``); the
drawing sorts the rates per panel and adds the Binomial reference of the panels that ask.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from memrepro.figures import ETA_PALETTE, SINGLE_WIDTH_IN, STYLE, FigureKind, wrap_title
from memrepro.io import load_npz

RATE_COLUMNS = ["panel", "panel_title", "experiment", "dataset", "runs", "rank", "rate", "curve"]


def per_example_rates(entries: Iterable[tuple[int, str, dict, list[str | Path]]],
                      examples: int = 1000, binomial: Iterable[int] = ()) -> pd.DataFrame:
    """Arpit et al. 2017, Fig. 1: per-example misclassification rate over many runs, sorted.

    ``entries``: (panel, title, first cell, per_example probe files of every run of that
    panel). For ``examples`` fixed training examples (the first of one permutation with seed
    0, the same for every panel), the rate is the share of runs whose prediction is not the
    label the run trained on. Panels listed in ``binomial`` also get the curve of as many
    Binomial(runs, mean rate) / runs draws: what the rates would look like if every example
    were equally hard.
    """
    frames, binomial = [], set(binomial)
    for panel, title, cell, paths in entries:
        correct = np.stack([load_npz(p)["correct"].astype(bool) for p in paths])  # (runs, n)
        runs, n = correct.shape
        keep = np.random.default_rng(0).permutation(n)[:min(examples, n)]
        rate = np.sort(1.0 - correct[:, keep].mean(0))
        curves = [("measured", rate)]
        if panel in binomial:
            draws = np.random.default_rng(1).binomial(runs, rate.mean(), size=rate.size)
            curves.append(("binomial", np.sort(draws / runs)))
        for name, values in curves:
            frames.append(pd.DataFrame({
                "panel": panel, "panel_title": title, "experiment": cell["experiment"],
                "dataset": cell["dataset"], "runs": runs, "rank": np.arange(values.size),
                "rate": values, "curve": name}))
    if not frames:
        raise ValueError("per_example_rates: no runs to extract")
    return pd.concat(frames, ignore_index=True)[RATE_COLUMNS]


def draw_per_example_rates(table: pd.DataFrame, spec: dict) -> Figure:
    """Arpit et al. 2017, Fig. 1: sorted per-example misclassification rates, one line per
    panel (real, randX, randY), dashed: the Binomial reference of a panel."""
    width = SINGLE_WIDTH_IN
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
          "permutation), sorted. Dashed: sorted draws of Binomial(runs, mean rate) / runs, the "
          "curve if every example were equally hard. Inputs scaled to [0, 1] and normalised per "
          "channel; batch 128 (not stated in the paper)."))
