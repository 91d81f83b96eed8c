"""What the LLJ figure kinds share: picking the runs of a panel, finding a run's probe files by
epoch, reading a cell's noise file, the easy/difficult colours.

Torch-free (numpy): figure jobs import it.
"""

from __future__ import annotations

import numpy as np

from memrepro.figures import MATCH_TOL
from memrepro.io import load_npz
from memrepro.paths import cell_noise_path
from memrepro.specs import refuse, where_panel

# LLJ Figs. 3-6 colour the subsets: full data black, easy blue, difficult red
SUBSET_COLOURS = {"full": "black", "all": "black", "easy": "#1f5fbf", "difficult": "#d62728",
                  "test": "0.45"}
OTHER_COLOURS = ["#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


def eta_matches(cell: dict, eta) -> bool:
    return eta is None or abs(float(cell["noise"]["rate"]) - float(eta)) <= MATCH_TOL


def runs_of(entries, panel: int, series: int | None = None, eta=None) -> list[tuple]:
    """(series, cell, files) of the entries of one panel (and series), at noise rate ``eta``
    when given."""
    return [(s, cell, files) for p, _, s, cell, files in entries
            if p == panel and (series is None or s == series) and eta_matches(cell, eta)]


def one_noise_rate(runs: list[tuple], where: str) -> None:
    """Refuse runs at several noise rates: the spec must say which (``eta``)."""
    rates = sorted({float(c["noise"]["rate"]) for _, c, _ in runs})
    if len(rates) > 1:
        raise ValueError(f"{where}: runs at several noise rates {rates}; give 'eta' to pick "
                         "one")


def one_run(entries, spec: dict, i: int) -> tuple[str, dict, list[str]]:
    """(panel title, cell, probe files) of the one run panel ``i`` draws: its experiment's
    cells at the panel's ``eta`` (required when there are several), the panel's ``seed``
    (default: the lowest)."""
    p, where = spec["panels"][i], where_panel(spec, i)
    runs = runs_of(entries, i, eta=p.get("eta"))
    if not runs:
        raise ValueError(f"{where}: no run of {p.get('experiment')!r} at eta {p.get('eta')}")
    one_noise_rate(runs, where)
    seeds = sorted({int(c["seed"]) for _, c, _ in runs})
    seed = seeds[0] if p.get("seed") is None else p["seed"]
    chosen = [(c, f) for _, c, f in runs if int(c["seed"]) == seed]
    if not chosen:
        raise refuse(where, "seed", seed, f"one of the runs' seeds {seeds}")
    title = next(t for q, t, *_ in entries if q == i)
    return title, chosen[0][0], chosen[0][1]


def corrupted_of(cell: dict, n: int | None = None, where: str = "") -> np.ndarray:
    """Bool (N,) of the cell's noise file: which training labels the noise changed, by id."""
    path = cell_noise_path(cell)
    corrupted = load_npz(path)["corrupted"].astype(bool)
    if n is not None and corrupted.size != n:
        raise ValueError(f"{where}: noise file {path} has {corrupted.size} labels, the probe "
                         f"files {n} examples")
    return corrupted


def subset_colour(name: str, part: str | None, position: int) -> str:
    """Full data black, easy blue, difficult red (LLJ Figs. 3-6); others from a palette."""
    for key in (name, part):
        if key in SUBSET_COLOURS:
            return SUBSET_COLOURS[key]
    return OTHER_COLOURS[position % len(OTHER_COLOURS)]


def share_text(size: int, total: int) -> str:
    """The subset's size as a share of its split, as the paper's legends: "20%", "16.7%"."""
    pct = 100.0 * size / total if total else float("nan")
    return f"{pct:.0f}%" if abs(pct - round(pct)) < 0.05 else f"{pct:.1f}%"

