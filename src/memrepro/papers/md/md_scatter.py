"""MD Figs. 1 and 2: per run, the memorization of the corrupted training examples (Eq. 3)
against the collapse of the test features (NC1_test, "dilation") and the test accuracy.

The table has one row per run: its panel, series (one loss of one experiment), noise rate,
seed, feature dimension M and the numbers of ``memrepro.papers.md.nc.cell_metrics`` from its
``features`` probe file. The drawing (``memrepro.papers.md.scatter_draw``) puts one marker per
(loss, eta) at the seed mean.

A panel is one dataset (its ``series``: one entry per loss) and, with ``feature_dim``, only
the runs whose features have that dimension M (MD Fig. 2: one panel per dataset and M).
Torch-free.
"""

from __future__ import annotations

import pandas as pd

from memrepro.figures import MATCH_TOL, FigureKind
from memrepro.io import load_npz
from memrepro.papers.md.common import features_file, loss_label, where_panel
from memrepro.papers.md.nc import cell_metrics
from memrepro.papers.md.scatter_draw import draw_scatter
from memrepro.papers.md.scatter_spec import (
    COLUMNS,
    KEYS,
    PANEL_KEYS,
    SERIES_KEYS,
    check_spec,
    panel_filters,
)


def _series_label(spec: dict, i: int, k: int, cell: dict) -> str:
    p = spec["panels"][i]
    s = (p.get("series") or [p])[k]
    return str(s.get("label") or loss_label(cell["loss"]["name"]))


def _wanted(cell: dict, m: int | None, etas: list[float] | None) -> bool:
    """Whether a run belongs to the panel by what its spec says (M is checked again on the
    features themselves)."""
    eta = float(cell["noise"]["rate"])
    if etas is not None and not any(abs(eta - e) <= MATCH_TOL for e in etas):
        return False
    spec_m = (cell.get("model") or {}).get("feature_dim")
    return m is None or spec_m is None or int(spec_m) == m


def scatter_table(entries, spec: dict) -> pd.DataFrame:
    """One row per run of every panel: ids (panel, series, experiment, loss, eta, seed, M) and
    the MD numbers of its features file at the figure's ``epoch`` (default: the last
    recorded), ``memrepro.papers.md.nc.cell_metrics``."""
    check_spec(spec)
    filters = [panel_filters(spec, i) for i in range(len(spec["panels"]))]
    out = []
    for i, title, k, cell, files in entries:
        m, etas = filters[i]
        if not _wanted(cell, m, etas):
            continue
        where = f"{where_panel(spec, i)}: run {cell['experiment']}/{cell.get('slug', '?')}"
        epoch, path = features_file(files, spec.get("epoch"), where)
        try:
            metrics = cell_metrics(load_npz(path))
        except ValueError as err:
            raise ValueError(f"{where}: {path}: {err}") from err
        if m is not None and metrics["feature_dim"] != m:
            continue
        out.append({"panel": i, "panel_title": title, "series": k,
                    "series_label": _series_label(spec, i, k, cell),
                    "experiment": cell["experiment"], "dataset": cell["dataset"],
                    "loss": cell["loss"]["name"], "eta": float(cell["noise"]["rate"]),
                    "seed": int(cell["seed"]), "epoch": epoch, **metrics})
    table = pd.DataFrame(out, columns=COLUMNS)
    for i in range(len(spec["panels"])):
        if not (table["panel"] == i).any():
            m, etas = filters[i]
            raise ValueError(f"{where_panel(spec, i)}: no run with features"
                             + (f" of dimension M = {m}" if m is not None else "")
                             + (f" at eta in {etas}" if etas is not None else ""))
    return table.sort_values(["panel", "series", "eta", "seed"], kind="stable"
                             ).reset_index(drop=True)


NOTE = ("Each marker: one loss (marker) at one noise rate eta (colour), the mean over seeds "
        "of the runs' values at the last recorded epoch of the features probe (unless the "
        "figure names one), bars +-1 sample sd over seeds. Features: the classifier's input "
        "(the M-dim output of the last BatchNorm+ReLU layer), eval mode, float32. Memorization "
        "(MD Eq. 3): sum over the training examples trained on whose observed label differs "
        "from the true one of the squared distance of the feature to the mean test feature of "
        "the TRUE class. NC1 = tr(Sigma_W pinv(Sigma_B)) / N (Zhu et al. 2021) with the global "
        "mean the mean of the class means (the paper's; *_sm: the sample mean, as the released "
        "code); NC1_train uses the labels trained on, NC1_test (dilation) the test labels. "
        "Test accuracy: argmax of the saved classifier applied to the test features. Fit "
        "lines (when asked): least squares through one loss's seed-mean points whose "
        "memorization is at most the median of the fitted losses' points in the panel, NC1 "
        "rows only, R^2 in the legend.")

KIND = FigureKind(table=scatter_table, draw=draw_scatter, reads="probes", keys=KEYS,
                  panel_keys=PANEL_KEYS, series_keys=SERIES_KEYS, note=NOTE)
