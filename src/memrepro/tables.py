"""Tables: per-epoch histories -> tidy long tables, the entries a figure reads, and the DVC
metrics summary.

Reads only files under results/; never trains or imports the engine or torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from memrepro import io
from memrepro.paths import history_path, plot_path, probe_files, run_path

# the metrics every history.csv has (the engine's evaluation); history-writing probes add
# their own columns after these (memrepro.probes), and every column but epoch and lr is a metric
METRICS = ["loss", "j1", "j2", "corrupted_fit", "corrupted_clean", "clean_acc", "test_acc",
           "test_loss"]
NOT_METRICS = ("epoch", "lr")
TIDY_COLUMNS = ["panel", "panel_title", "series", "experiment", "dataset", "model", "loss",
                "noise", "eta", "seed", "sweep_name", "sweep_value", "sweep_label", "epoch",
                "metric", "value"]


def tidy_history(history: pd.DataFrame, cell: dict, panel: int, panel_title: str,
                 series: int = 0) -> pd.DataFrame:
    """One row per (epoch, metric) of one cell's history, labelled with what varies."""
    missing = [m for m in METRICS if m not in history.columns]
    if missing:
        raise ValueError(f"history of {cell['experiment']}/{cell['slug']} lacks columns {missing}")
    sweep = cell.get("sweep") or {}
    metrics = [c for c in history.columns if c not in NOT_METRICS]
    long = history.melt(id_vars=["epoch"], value_vars=metrics, var_name="metric")
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


FINAL = ("j1", "j2", "test_acc")


def cell_summary(entries: Iterable[tuple[dict, str | Path]]) -> dict:
    """Final epoch, J1, J2 and test accuracy per cell: {experiment: {slug: {...}}}."""
    out: dict[str, dict] = {}
    for cell, path in entries:
        last = pd.read_csv(path).iloc[-1]
        out.setdefault(cell["experiment"], {})[cell["slug"]] = {
            "epochs": int(last["epoch"]), **{k: round(float(last[k]), 4) for k in FINAL}}
    return out


def experiment_summary(cells: dict[str, dict]) -> dict:
    """One experiment's cells (``cell_summary()[experiment]``) in a few numbers: how many,
    their mean final epoch, and mean/min/max final J1, J2 and test accuracy."""
    rows = pd.DataFrame(list(cells.values()))
    epochs = float(rows["epochs"].mean())
    return {"cells": len(rows), "epochs": int(epochs) if epochs.is_integer() else round(epochs, 2),
            **{k: {"mean": round(float(rows[k].mean()), 4), "min": float(rows[k].min()),
                   "max": float(rows[k].max())} for k in FINAL}}


def write_summary(entries: list[tuple[dict, str | Path]], metrics: Iterable[str | Path],
                  cells_path: str | Path) -> None:
    """The DVC metrics, one small file per experiment (``metrics``: one
    ``.../<paper>/<experiment>.json`` for each experiment of ``entries``), and every cell's
    final numbers in ``cells_path``."""
    per_cell = cell_summary(entries)
    files = {(Path(m).parent.name, Path(m).stem): Path(m) for m in metrics}
    wanted = {(c.get("paper", "other"), c["experiment"]) for c, _ in entries}
    if set(files) != wanted:
        raise ValueError(f"write_summary: metrics files for {sorted(files)}, experiments "
                         f"{sorted(wanted)}")
    for (_, experiment), path in files.items():
        io.write_json(path, experiment_summary(per_cell[experiment]))
    io.write_json(cells_path, per_cell)


PLOT_COLUMNS = ["epoch", "j1", "j2", "test_acc"]


def write_plot_tables(entries: Iterable[tuple[dict, str | Path]],
                      outputs: Iterable[str | Path]) -> None:
    """One small CSV per cell (epoch, j1, j2, test_acc) for `dvc plots show`: ``outputs``
    holds a ``<experiment>__<slug>.csv`` (``plot_path``) for each cell of ``entries``.
    Anything else in their folder (a cell no longer planned, the `.snakemake_timestamp` of
    an older layout) is removed: DVC plots every file there."""
    outputs = {Path(o).name: Path(o) for o in outputs}
    for cell, path in entries:
        out = outputs[Path(plot_path(cell)).name]
        io.write_text(out, pd.read_csv(path)[PLOT_COLUMNS].to_csv(index=False))
    keep = set(outputs.values())
    for folder in {o.parent for o in keep}:
        for stale in folder.iterdir():
            if stale not in keep and not stale.is_dir():
                stale.unlink()


def figure_entries(plan, fid: str, reads: str, file_probes=()) -> list[tuple]:
    """What a figure reads, per run: ``(panel, panel title, series, cell, files)`` for every
    cell of every series of every panel (a panel without ``series`` is its own series 0).
    ``files``: the history path (``reads="history"``), the model path (``"model"``) or the
    list of the run's probe files (``"probes"``, the names in ``file_probes``)."""
    def files(cell):
        if reads == "history":
            return history_path(cell)
        if reads == "model":
            return run_path(cell, "model.pt")
        if reads == "probes":
            return probe_files(cell, file_probes)
        raise ValueError(f"figure_entries: reads {reads!r} reads no runs")

    out = []
    for i, p in enumerate(plan.figures[fid].get("panels", [])):
        for k, s in enumerate(p.get("series") or [p]):
            title = p.get("title") or p.get("experiment") or f"panel {i}"
            out += [(i, title, k, c, files(c))
                    for c in plan.cells_of(s["experiment"], s["loss"])]
    return out


def entry_files(entries) -> list[str]:
    """Every file behind ``figure_entries`` (the figure job's inputs)."""
    return [f for e in entries for f in (e[-1] if isinstance(e[-1], list) else [e[-1]])]
