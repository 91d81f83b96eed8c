"""Liu, Lin & Jaggi 2022, Figs. 3, 5 and 6: accuracy through training on named subsets of the
training or test set (full data, easy, difficult), from the ``correctness`` probe files.

A subset is all examples of its split, a tracked subset of the run's noise (Figs. 3-4: a share
of the real-label and of the random-label examples, ``tracked.tracked_subsets``), or a part of
a partition written from a scoring run (Figs. 5-6, ``results/partitions/<name>.npz``). A panel
draws one run set (its ``experiment``) or several ``series``; a series with ``control: true``
is drawn dotted with the same subsets (Fig. 5: training without the difficult subset).
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from memrepro import paths
from memrepro.figures import PANEL_HEIGHT_IN, STYLE, FigureKind, layout
from memrepro.io import load_npz
from memrepro.papers.llj.common import (
    corrupted_of,
    eta_matches,
    one_noise_rate,
    runs_of,
    share_text,
    subset_colour,
)
from memrepro.papers.llj.tracked import tracked_subsets
from memrepro.paths import recorded_probe_files
from memrepro.specs import check_keys as check_item_keys
from memrepro.specs import positive_int, refuse, where_panel

SPLITS = ("train", "test")
SOURCES = ("all", "tracked", "partition")
PARTS = ("easy", "difficult")
SUBSET_KEYS = ("name", "source", "partition", "part", "label", "split")
TRACKED_FRAC = 1 / 6  # LLJ Fig. 3: 10,000 of 60,000; a run's track_gradients.frac wins
SUBSET_COLUMNS = ["panel", "panel_title", "series", "series_label", "control", "experiment",
                  "eta", "seed", "subset", "subset_name", "subset_label", "part", "split",
                  "size", "split_size", "epoch", "accuracy", "smooth", "smoothed"]
SERIES_STYLES = ["-", "--", "-."]


def panel_subsets(p: dict, where: str) -> list[dict]:
    """The panel's ``subsets``, checked, with ``source`` and ``split`` filled in."""
    split = p.get("split", "train")
    if split not in SPLITS:
        raise refuse(where, "split", split, list(SPLITS))
    items = p.get("subsets")
    if not isinstance(items, list) or not items:
        raise refuse(where, "subsets", items, "a non-empty list of {name, source, ...}")
    out = []
    for j, item in enumerate(items):
        at = f"{where}: subsets[{j}]"
        item = check_item_keys(item, SUBSET_KEYS, at, required=("name",))
        sub = {"source": "partition" if "partition" in item else "all", "split": split, **item}
        if sub["source"] not in SOURCES:
            raise refuse(at, "source", sub["source"], list(SOURCES))
        if sub["split"] not in SPLITS:
            raise refuse(at, "split", sub["split"], list(SPLITS))
        if sub["source"] != "all" and sub.get("part") not in PARTS:
            raise refuse(at, "part", sub.get("part"), f"{list(PARTS)} (with source "
                                                      f"{sub['source']!r})")
        if sub["source"] == "partition" and not isinstance(sub.get("partition"), str):
            raise refuse(at, "partition", sub.get("partition"), "the name of a partition")
        if sub["source"] == "tracked" and sub["split"] != "train":
            raise refuse(at, "split", sub["split"], "'train' (tracked subsets are training "
                                                    "examples)")
        out.append(sub)
    return out


def smooth_window(p: dict, spec: dict, where: str) -> int:
    """The panel's (or figure's) ``smooth``: an odd window in epochs, 1 = none."""
    k = positive_int(p.get("smooth", spec.get("smooth")), where, "smooth", 1)
    if k % 2 == 0:
        raise refuse(where, "smooth", k, "an odd integer >= 1 (a centred window)")
    return k


def moving_average(values: np.ndarray, k: int) -> np.ndarray:
    """Centred moving average over ``k`` (odd) consecutive points; near the ends the window
    shrinks to the points that exist (LLJ Fig. 3: "sliding-window smoothed")."""
    v = np.asarray(values, dtype=float)
    h = k // 2
    csum = np.concatenate([[0.0], np.cumsum(v)])
    lo = np.clip(np.arange(v.size) - h, 0, v.size)
    hi = np.clip(np.arange(v.size) + h + 1, 0, v.size)
    return (csum[hi] - csum[lo]) / np.maximum(hi - lo, 1)


def read_correctness(path: str) -> dict[str, np.ndarray]:
    """{split: bool per example} of one ``correctness`` probe file (packed bits)."""
    f = load_npz(path)
    return {s: np.unpackbits(f[f"{s}_bits"].astype(np.uint8),
                             count=int(np.asarray(f[f"n_{s}"]).reshape(-1)[0])).astype(bool)
            for s in SPLITS}


def subset_positions(sub: dict, cell: dict, n: int, where: str, cache: dict) -> np.ndarray:
    """Positions in the split (ids) of one subset for one run; where the run's probe files hold
    only the split's first ``n`` examples (a rehearsal's ``train.probe_examples``), the
    subset's ids below ``n``."""
    capped = bool(cell["train"].get("probe_examples"))
    if sub["source"] == "all":
        return np.arange(n)
    if sub["source"] == "tracked":
        frac = (cell["train"].get("track_gradients") or {}).get("frac", TRACKED_FRAC)
        corrupted = corrupted_of(cell, None if capped else n, where)
        easy, difficult = tracked_subsets(corrupted, frac=frac, seed=0)
        ids = easy if sub["part"] == "easy" else difficult
        return ids[ids < n] if capped else ids
    name = sub["partition"]
    if name not in cache:
        cache[name] = load_npz(paths.partition_path(name))
    ids = cache[name][sub["part"]].astype(np.int64)
    if capped:
        return ids[ids < n]
    if ids.size and (ids.min() < 0 or ids.max() >= n):
        raise ValueError(f"{where}: partition {name!r} has ids up to {ids.max()}, not "
                         f"allowed for the {sub['split']} split of {n} examples")
    return ids


def run_rows(run: tuple, subs: list[dict], base: dict, where: str, cache: dict) -> list[dict]:
    """Accuracy of every subset at every recorded epoch of one run."""
    _, cell, files = run
    rows, positions = [], {}
    for epoch, path in recorded_probe_files(files, "correctness").items():
        bits = read_correctness(path)
        for j, sub in enumerate(subs):
            split = bits[sub["split"]]
            if j not in positions:
                positions[j] = subset_positions(sub, cell, split.size, where, cache)
            pos = positions[j]
            rows.append({**base, "experiment": cell["experiment"],
                         "eta": float(cell["noise"]["rate"]), "seed": int(cell["seed"]),
                         "subset": j, "subset_name": sub["name"],
                         "subset_label": sub.get("label", sub["name"]),
                         "part": sub.get("part", ""), "split": sub["split"],
                         "size": int(pos.size), "split_size": int(split.size), "epoch": epoch,
                         "accuracy": float(split[pos].mean()) if pos.size else float("nan")})
    if not rows:
        raise ValueError(f"{where}: run {cell['experiment']}/{cell['slug']} has no "
                         "'correctness' probe files")
    return rows


def subset_table(entries, spec: dict) -> pd.DataFrame:
    """LLJ Figs. 3, 5, 6: per panel, series, run, subset and recorded epoch, the accuracy
    (share of the subset whose prediction equals the label trained on), raw and smoothed."""
    entries, frames, cache = list(entries), [], {}
    for i, p in enumerate(spec.get("panels") or []):
        where = where_panel(spec, i)
        subs, k = panel_subsets(p, where), smooth_window(p, spec, where)
        title = next((t for q, t, *_ in entries if q == i), "")
        for s, sspec in enumerate(p.get("series") or [p]):
            at = f"{where} series {s}" if p.get("series") else where
            runs = runs_of(entries, i, s, sspec.get("eta", p.get("eta")))
            if not runs:
                raise ValueError(f"{at}: no run of {sspec.get('experiment')!r} at eta "
                                 f"{sspec.get('eta', p.get('eta'))}")
            one_noise_rate(runs, at)
            control = bool(sspec.get("control", False))
            base = {"panel": i, "panel_title": title, "series": s, "control": control,
                    "series_label": sspec.get("label") or ("control" if control
                                                           else sspec["experiment"]),
                    "smooth": k}
            rows = pd.DataFrame([r for run in runs for r in run_rows(run, subs, base, at,
                                                                      cache)])
            rows = rows.sort_values(["seed", "subset", "epoch"], kind="stable")
            rows["smoothed"] = rows.groupby(["seed", "subset"])["accuracy"].transform(
                moving_average, k=k)
            frames.append(rows)
    if not frames:
        raise ValueError(f"figure {spec.get('title')!r}: no panels to extract")
    return pd.concat(frames, ignore_index=True)[SUBSET_COLUMNS]


def _legend_name(r: pd.DataFrame, several: bool) -> str:
    first = r.iloc[0]
    text = f"{first['subset_label']} ({share_text(int(first['size']), int(first['split_size']))})"
    return f"{first['series_label']}: {text}" if several else text


def draw_panel(ax, rows: pd.DataFrame) -> None:
    """One panel: a line per (series, subset), mean over seeds, in percent; the raw curve faint
    under a smoothed one; control series dotted."""
    main = sorted(rows.loc[~rows["control"].astype(bool), "series"].unique())
    for (s, j), r in rows.groupby(["series", "subset"], sort=True):
        control = bool(r["control"].iloc[0])
        part = r["part"].iloc[0] if isinstance(r["part"].iloc[0], str) else None
        colour = subset_colour(str(r["subset_name"].iloc[0]), part, int(j))
        style = ":" if control else SERIES_STYLES[main.index(s) % len(SERIES_STYLES)]
        mean = r.groupby("epoch", sort=True)[["accuracy", "smoothed"]].mean()
        x = mean.index.to_numpy(float)
        if int(r["smooth"].iloc[0]) > 1:
            ax.plot(x, mean["accuracy"] * 100, color=colour, linestyle=style, alpha=0.25,
                    linewidth=0.8)
        ax.plot(x, mean["smoothed"] * 100, color=colour, linestyle=style,
                label=None if control else _legend_name(r, len(main) > 1))
    handles, _ = ax.get_legend_handles_labels()
    controls = rows[rows["control"].astype(bool)]
    if not controls.empty:
        handles.append(Line2D([], [], color="0.3", linestyle=":",
                              label=f"dotted: {controls['series_label'].iloc[0]}"))
    ax.legend(handles=handles, loc="best", framealpha=0.85)


def draw_subset_curves(table: pd.DataFrame, spec: dict) -> Figure:
    """LLJ Figs. 3, 5, 6: one panel per spec panel, accuracy (%) vs epoch per subset: full
    black, easy blue, difficult red; the legend gives each subset's share of its split."""
    n = len(spec.get("panels") or [])
    with matplotlib.rc_context(STYLE):
        fig, panels = layout(table, spec, SUBSET_COLUMNS, 2 if n != 3 else 3, PANEL_HEIGHT_IN)
        for p, _, rows, ax in panels:
            draw_panel(ax, rows)
            splits = set(rows["split"])
            what = "training" if splits == {"train"} else "test" if splits == {"test"} else ""
            ax.set_xlabel("epoch")
            ax.set_ylabel(p.get("ylabel") or f"{what} accuracy (%)".strip().capitalize())
            ax.set_ylim(0, 101)
    return fig


def subset_inputs(spec: dict, plan) -> list[str]:
    """The noise files of runs with tracked subsets and the partitions the subsets name."""
    out = set()
    for p in spec.get("panels") or []:
        subs = [s for s in p.get("subsets") or [] if isinstance(s, dict)]
        out |= {paths.partition_path(s["partition"]) for s in subs if "partition" in s}
        if any(s.get("source") == "tracked" for s in subs):
            out |= {paths.cell_noise_path(c) for s in p.get("series") or [p]
                    for c in plan.cells_of(s["experiment"], s["loss"])
                    if eta_matches(c, s.get("eta", p.get("eta")))}
    return sorted(out)


KIND = FigureKind(
    table=subset_table, draw=draw_subset_curves, reads="probes",
    keys=frozenset({"panels", "ncols", "smooth"}),
    panel_keys=frozenset({"experiment", "loss", "eta", "series", "split", "subsets", "smooth",
                          "title", "ylabel"}),
    series_keys=frozenset({"experiment", "loss", "eta", "label", "control"}),
    extra_inputs=subset_inputs,
    note=("Accuracy of a subset = share of its examples whose prediction (eval mode, full "
          "network, after the epoch) equals the label trained on, from per-example "
          "correctness bits over the whole training and test sets; mean over seeds. Legend: "
          "the subset's share of its split. Easy/difficult of a partition: the lowest/highest "
          "memorization scores of a separate turn-over dropout run; tracked subsets (random "
          "labels): a share of the unchanged and of the changed labels drawn with seed 0. "
          "Where smoothed, a centred moving average over `smooth` epochs (shrinking at the "
          "ends), the raw curve faint. Dotted: the control run, same subsets."))
