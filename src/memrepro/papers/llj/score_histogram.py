"""Liu, Lin & Jaggi 2022, Fig. 2: histograms of the turn-over dropout memorization scores
(Eq. 6) of one run per panel: (a) clean MNIST, one histogram; (b) MNIST with random labels,
the real-label and the random-label examples overlaid on shared bins."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from memrepro.figures import PANEL_HEIGHT_IN, STYLE, FigureKind, layout
from memrepro.io import load_npz
from memrepro.papers.llj.common import SUBSET_COLOURS, corrupted_of, eta_matches, one_run
from memrepro.paths import cell_noise_path, probe_file_at
from memrepro.specs import positive_int, refuse, where_panel

SCORE_COLUMNS = ["panel", "panel_title", "experiment", "dataset", "eta", "seed", "epoch", "id",
                 "label", "score", "corrupted"]
DEFAULT_BINS = 60


def score_table(entries, spec: dict) -> pd.DataFrame:
    """One row per scored training example of each panel's run: its score (LLJ Eq. 6) at the
    panel's (or figure's) ``epoch`` (default: the last recorded) and whether the noise changed
    its label (the cell's noise file, by id)."""
    entries = list(entries)
    frames = []
    for i, p in enumerate(spec.get("panels") or []):
        where = where_panel(spec, i)
        title, cell, files = one_run(entries, spec, i)
        epoch, path = probe_file_at(files, "tod", p.get("epoch", spec.get("epoch")), where)
        tod = load_npz(path)
        ids = tod["ids"].astype(np.int64)
        corrupted = corrupted_of(cell, where=where)
        if ids.size and (ids.min() < 0 or ids.max() >= corrupted.size):
            raise ValueError(f"{where}: {path} has ids up to {ids.max()} but the noise file "
                             f"{cell_noise_path(cell)} has {corrupted.size} labels")
        frames.append(pd.DataFrame({
            "panel": i, "panel_title": title, "experiment": cell["experiment"],
            "dataset": cell["dataset"], "eta": float(cell["noise"]["rate"]),
            "seed": int(cell["seed"]), "epoch": epoch, "id": ids,
            "label": tod["label"].astype(np.int64), "score": tod["score"].astype(np.float64),
            "corrupted": corrupted[ids]}))
    if not frames:
        raise ValueError(f"figure {spec.get('title')!r}: no panels to extract")
    return pd.concat(frames, ignore_index=True)[SCORE_COLUMNS]


def score_groups(rows: pd.DataFrame) -> list[tuple[str, np.ndarray, str]]:
    """(legend name, scores, colour): real- and random-label examples when the panel has
    corrupted labels, else all examples."""
    scores = rows["score"].to_numpy(float)
    bad = rows["corrupted"].astype(bool).to_numpy()
    if not bad.any():
        return [("all examples", scores, SUBSET_COLOURS["easy"])]
    return [("real labels", scores[~bad], SUBSET_COLOURS["easy"]),
            ("random labels", scores[bad], SUBSET_COLOURS["difficult"])]


def draw_histograms(table: pd.DataFrame, spec: dict) -> Figure:
    """LLJ Fig. 2: per panel, histograms of the scores on bins shared by its groups (counts);
    a dashed line at each group's mean; legends give group sizes and means."""
    nbins = positive_int(spec.get("bins"), f"figure {spec.get('title')!r}", "bins", DEFAULT_BINS)
    log_y = spec.get("log_y", False)
    if not isinstance(log_y, bool):
        raise refuse(f"figure {spec.get('title')!r}", "log_y", log_y, "true or false")
    n = len(spec.get("panels") or [])
    with matplotlib.rc_context(STYLE):
        fig, panels = layout(table, spec, SCORE_COLUMNS, n, PANEL_HEIGHT_IN)
        for _, _, rows, ax in panels:
            groups = score_groups(rows)
            edges = np.histogram_bin_edges(rows["score"].to_numpy(float), bins=nbins)
            for name, scores, colour in groups:
                ax.hist(scores, bins=edges, histtype="stepfilled", color=colour, alpha=0.45,
                        edgecolor=colour, linewidth=0.8,
                        label=f"{name}: n = {scores.size:,}, mean {scores.mean():.3f}")
                ax.axvline(float(scores.mean()), color=colour, linestyle="--", linewidth=1.0)
            epoch = int(rows["epoch"].iloc[0])
            ax.set_xlabel(f"memorization score at epoch {epoch}")
            ax.set_ylabel("count (log scale)" if log_y else "count")
            if log_y:
                ax.set_yscale("log")
            ax.legend(loc="upper right", framealpha=0.85)
    return fig


def noise_inputs(spec: dict, plan) -> list[str]:
    """The noise files behind the panels' runs (the corrupted masks)."""
    return sorted({cell_noise_path(c) for p in spec.get("panels") or []
                   for c in plan.cells_of(p["experiment"], p["loss"])
                   if eta_matches(c, p.get("eta"))})


KIND = FigureKind(
    table=score_table, draw=draw_histograms, reads="probes",
    keys=frozenset({"panels", "ncols", "bins", "log_y", "epoch"}),
    panel_keys=frozenset({"experiment", "loss", "eta", "seed", "epoch", "title"}),
    extra_inputs=noise_inputs,
    note=("Memorization score of each training example = cross-entropy of the muted "
          "sub-network minus that of the unmuted one on the label trained on (LLJ Eq. 6), "
          "at the final recorded epoch unless the figure names one; one run (the lowest seed) "
          "per panel. Histogram counts on bins shared by the groups of a panel (60 unless "
          "`bins` says otherwise); real vs random labels: whether the noise changed the label "
          "(a redrawn label that landed on the true class counts as real); dashed: group "
          "means."))
