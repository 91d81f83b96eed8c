"""Liu, Lin & Jaggi 2022, Fig. 4, the figure kind ``gradient_curves``: per-example gradient
statistics of the tracked easy (real label) and difficult (random label) subsets through
training, from the ``grad_stats`` probe files: (a) mean pairwise cosine similarity within a
subset (Eq. 3), (b) mean contribution <v_i, g>/||g|| of a subset and of the whole batch
(Eq. 4)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from memrepro.figures import PANEL_HEIGHT_IN, STYLE, FigureKind, layout
from memrepro.io import load_npz
from memrepro.papers.llj.common import SUBSET_COLOURS, one_noise_rate, runs_of
from memrepro.paths import recorded_probe_files
from memrepro.specs import refuse, where_figure, where_panel

# panel `quantity` -> the per-step arrays it draws, with their legend names
QUANTITIES = {
    "cosine": {"cos_easy": "easy (real labels)", "cos_difficult": "difficult (random labels)"},
    "contribution": {"contrib_easy": "easy (real labels)",
                     "contrib_difficult": "difficult (random labels)",
                     "contrib_all": "entire batch"},
    "grad_norm": {"grad_norm": "mini-batch gradient norm"},
}
AXIS = {"cosine": "mean pairwise cosine similarity (Eq. 3)",
        "contribution": "mean contribution <v_i, g>/||g|| (Eq. 4)",
        "grad_norm": "||g||"}
COLOURS = {"easy": SUBSET_COLOURS["easy"], "difficult": SUBSET_COLOURS["difficult"],
           "all": "black", "norm": "black"}
GRAD_COLUMNS = ["panel", "panel_title", "experiment", "eta", "seed", "epoch", "statistic",
                "value", "steps"]


def panel_quantity(p: dict, where: str) -> str:
    q = p.get("quantity")
    if q not in QUANTITIES:
        raise refuse(where, "quantity", q, list(QUANTITIES))
    return q


def epoch_means(path: str, stats) -> dict[str, tuple[float, int]]:
    """{statistic: (mean over the epoch's steps where it is defined, how many)}; NaN steps
    (a subset with fewer than two members in the batch, or none) are left out."""
    f = load_npz(path)
    out = {}
    for name in stats:
        values = np.asarray(f[name], dtype=float).reshape(-1)
        ok = np.isfinite(values)
        out[name] = (float(values[ok].mean()) if ok.any() else float("nan"), int(ok.sum()))
    return out


def grad_table(entries, spec: dict) -> pd.DataFrame:
    """Per panel, run, recorded epoch and statistic: the mean over the epoch's training steps
    (epochs without steps, e.g. 0, are left out)."""
    entries, rows = list(entries), []
    for i, p in enumerate(spec.get("panels") or []):
        where = where_panel(spec, i)
        stats = QUANTITIES[panel_quantity(p, where)]
        runs = runs_of(entries, i, eta=p.get("eta"))
        if not runs:
            raise ValueError(f"{where}: no run of {p.get('experiment')!r} at eta "
                             f"{p.get('eta')}")
        one_noise_rate(runs, where)
        title = next(t for q, t, *_ in entries if q == i)
        for _, cell, files in runs:
            found = recorded_probe_files(files, "grad_stats")
            if not found:
                raise ValueError(f"{where}: run {cell['experiment']}/{cell['slug']} has no "
                                 "'grad_stats' probe files")
            for epoch, path in found.items():
                for name, (value, steps) in epoch_means(path, stats).items():
                    if steps:
                        rows.append({"panel": i, "panel_title": title,
                                     "experiment": cell["experiment"],
                                     "eta": float(cell["noise"]["rate"]),
                                     "seed": int(cell["seed"]), "epoch": epoch,
                                     "statistic": name, "value": value, "steps": steps})
    if not rows:
        raise ValueError(f"{where_figure(spec)}: the grad_stats files hold no steps")
    return pd.DataFrame(rows)[GRAD_COLUMNS]


def draw_gradient_curves(table: pd.DataFrame, spec: dict) -> Figure:
    """LLJ Fig. 4: one line per statistic of the panel's quantity vs epoch (mean over seeds):
    easy blue, difficult red, the entire batch black."""
    n = len(spec.get("panels") or [])
    with matplotlib.rc_context(STYLE):
        fig, panels = layout(table, spec, GRAD_COLUMNS, n, PANEL_HEIGHT_IN)
        for p, where, rows, ax in panels:
            q = panel_quantity(p, where)
            for name, label in QUANTITIES[q].items():
                r = rows[rows["statistic"] == name]
                if r.empty:
                    raise ValueError(f"{where}: no rows for statistic {name!r}")
                mean = r.groupby("epoch", sort=True)["value"].mean()
                ax.plot(mean.index.to_numpy(float), mean.to_numpy(float),
                        color=COLOURS[name.split("_")[-1]], label=label)
            ax.set_xlabel("epoch")
            ax.set_ylabel(p.get("ylabel") or AXIS[q])
            ax.legend(loc="best", framealpha=0.85)
    return fig


KIND = FigureKind(
    table=grad_table, draw=draw_gradient_curves, reads="probes",
    keys=frozenset({"panels", "ncols"}),
    panel_keys=frozenset({"experiment", "loss", "eta", "quantity", "title", "ylabel"}),
    note=("Per-example gradients v_i (all parameters) of every training step's mini-batch; "
          "cosine similarity: mean over pairs of distinct members of a subset in the batch "
          "(Eq. 3); contribution of an example: <v_i, g>/||g|| with g the mini-batch gradient, "
          "averaged over the members in the batch (Eq. 4). Easy/difficult: the tracked "
          "subsets of unchanged and of changed labels (a share drawn with seed 0). Per-step "
          "values averaged per epoch over the steps where defined; mean over seeds."))
