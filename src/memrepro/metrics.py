"""Extraction: per-epoch histories -> tidy long tables and a metrics summary.

Reads only files under results/ (history.csv); never trains or imports the engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

METRICS = ["loss", "j1", "j2", "corrupted_fit", "corrupted_clean", "clean_acc", "test_acc",
           "test_loss", "csr"]
OPTIONAL = {"csr"}  # histories written before the CSR probe existed lack it: NaN
TIDY_COLUMNS = ["panel", "panel_title", "series", "experiment", "dataset", "model", "loss",
                "noise", "eta", "seed", "sweep_name", "sweep_value", "sweep_label", "epoch",
                "metric", "value"]


def tidy_history(history: pd.DataFrame, cell: dict, panel: int, panel_title: str,
                 series: int = 0) -> pd.DataFrame:
    """One row per (epoch, metric) of one cell's history, labelled with what varies."""
    missing = [m for m in METRICS if m not in history.columns and m not in OPTIONAL]
    if missing:
        raise ValueError(f"history of {cell['experiment']}/{cell['slug']} lacks columns {missing}")
    history = history.assign(**{m: float("nan") for m in OPTIONAL if m not in history.columns})
    sweep = cell.get("sweep") or {}
    long = history.melt(id_vars=["epoch"], value_vars=METRICS, var_name="metric")
    long = long.assign(panel=panel, panel_title=panel_title, series=series,
                       experiment=cell["experiment"], dataset=cell["dataset"],
                       model=cell["model"]["name"], loss=cell["loss"]["name"],
                       noise=cell["noise"]["name"], eta=cell["noise"]["rate"], seed=cell["seed"],
                       sweep_name=sweep.get("name", ""),
                       sweep_value=float(sweep["values"][0]) if sweep else float("nan"),
                       sweep_label=sweep.get("label", ""))
    return long[TIDY_COLUMNS]


def figure_table(entries: Iterable[tuple[int, str, int, dict, str | Path]]) -> pd.DataFrame:
    """Tidy table of a figure from (panel index, panel title, series index, cell, history
    path) entries."""
    frames = [tidy_history(pd.read_csv(path), cell, panel, title, series)
              for panel, title, series, cell, path in entries]
    if not frames:
        raise ValueError("figure_table: no runs to extract")
    return pd.concat(frames, ignore_index=True).sort_values(
        ["panel", "series", "eta", "sweep_value", "seed", "metric", "epoch"],
        kind="stable").reset_index(drop=True)


FILTER_COLUMNS = ["panel", "panel_title", "experiment", "dataset", "eta", "filter", "channel",
                  "row", "col", "value"]


def filter_table(entries: Iterable[tuple[int, str, dict, str | Path]]) -> pd.DataFrame:
    """Arpit et al. 2017, Fig. 2: the first convolution's weights (out, in, kh, kw) of one
    trained model per panel, long format. The first 4-d weight in the state dict's order is
    the first convolution for every model in the registry."""
    import numpy as np
    import torch

    frames = []
    for panel, title, cell, path in entries:
        state = torch.load(path, map_location="cpu", weights_only=True)
        w = next((v for k, v in state.items() if k.endswith("weight") and v.dim() == 4), None)
        if w is None:
            raise ValueError(f"{path}: the model has no convolution; a filters figure needs a "
                             "convolutional model")
        w = w.float().numpy()
        o, c, h, k = np.indices(w.shape).reshape(4, -1)
        frames.append(pd.DataFrame({
            "panel": panel, "panel_title": title, "experiment": cell["experiment"],
            "dataset": cell["dataset"], "eta": cell["noise"]["rate"], "filter": o,
            "channel": c, "row": h, "col": k, "value": w.ravel()}))
    if not frames:
        raise ValueError("filter_table: no runs to extract")
    return pd.concat(frames, ignore_index=True)[FILTER_COLUMNS]


def summary(entries: Iterable[tuple[dict, str | Path]]) -> dict:
    """Final J1, J2 and test accuracy per cell: {experiment: {slug: {...}}} for `dvc metrics`."""
    out: dict[str, dict] = {}
    for cell, path in entries:
        last = pd.read_csv(path).iloc[-1]
        out.setdefault(cell["experiment"], {})[cell["slug"]] = {
            "epochs": int(last["epoch"]), "j1": round(float(last["j1"]), 4),
            "j2": round(float(last["j2"]), 4), "test_acc": round(float(last["test_acc"]), 4)}
    return out


PLOT_COLUMNS = ["epoch", "j1", "j2", "test_acc"]


def write_plot_tables(entries: Iterable[tuple[dict, str | Path]], out_dir: str | Path) -> None:
    """One small CSV per cell (epoch, j1, j2, test_acc) for `dvc plots show`."""
    from . import io

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for cell, path in entries:
        table = pd.read_csv(path)[PLOT_COLUMNS]
        io.write_text(out_dir / f"{cell['experiment']}__{cell['slug']}.csv",
                      table.to_csv(index=False))


def epochs_to_fit(history: pd.DataFrame, column: str = "j1", target: float = 1.0) -> float:
    """First epoch whose ``column`` reaches ``target`` (Arpit et al. 2017, Fig. 6: epochs to
    100% training accuracy); NaN when the run never gets there. Epoch 0 is the
    initialisation, so a run that fits after its first epoch returns 1."""
    if column not in history.columns:
        raise ValueError(f"epochs_to_fit: history has no column {column!r}; "
                         f"allowed: {sorted(history.columns)}")
    reached = history.loc[history[column] >= target - 1e-12, "epoch"]
    return float(reached.iloc[0]) if len(reached) else float("nan")


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
    import numpy as np

    from .io import load_npz

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
