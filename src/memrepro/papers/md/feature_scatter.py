"""MD Fig. 3, the figure kind ``feature_scatter``: the 2-D penultimate features of one run
(M = 2, so no projection), the picture behind the memorization-dilation model (Sec. 4.2). In
one file, as every kind: the spec's keys and checks, the table, the drawing, the ``KIND``
record.

Per panel (one run: experiment, loss, eta, seed), the table holds downsampled points and the
summary geometry, so the drawing is made from the table alone:

- ``test``: test features by true class, at most ``max_points`` per class (a fixed seed-0
  subsample);
- ``train``: training features (examples trained on) by true class, clean and corrupted
  (observed label != true label) each at most ``max_points`` per class;
- ``centroid``: each class's test centroid h_c, ``radius`` = the sd of the test features'
  distances to it (the dilation circle, as the released code draws it), ``rms`` = their
  root-mean-square distance (the "standard deviation r" of MD Def. 4.1's cluster
  distributions), ``count`` = the class's test examples;
- ``corrupted_centroid``: u_c, the centroid of the corrupted training examples of TRUE class
  c (all of them, not the subsample), ``count`` = how many;
- ``boundary`` (two classes): the classifier's decision line, where the two logits are equal,
  as a point (x, y) on it and a unit direction (dx, dy).

The drawing, per panel: the test features with centroids, dilation circles, corrupted-example
centroids and the decision boundary, and (``train_panel``, default true) the training
features beside them, corrupted ones in red. Torch-free.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from memrepro.figures import MATCH_TOL, STYLE, FigureKind, eta_label, wrap_title
from memrepro.io import load_npz
from memrepro.papers.md.common import features_file, loss_label
from memrepro.papers.md.nc import FEATURE_ARRAYS
from memrepro.specs import check_keys, positive_int, refuse, refused, where_figure, where_panel

# --- the spec and the table ---------------------------------------------------------------------

COLUMNS = ["panel", "panel_title", "experiment", "dataset", "loss", "eta", "seed", "epoch",
           "part", "cls", "label", "corrupted", "count", "x", "y", "radius", "rms", "dx", "dy"]
DEFAULT_MAX_POINTS = 1000
SUBSAMPLE_SEED = 0
KEYS = frozenset({"panels", "epoch", "max_points", "train_panel", "radius"})
# the dilation circle (`radius`): sd of the distances (default) or their RMS -> table column
RADIUS_COLUMNS = {"sd": "radius", "rms": "rms"}
PANEL_KEYS = frozenset({"experiment", "loss", "eta", "seed", "epoch", "title"})


def _eta_matches(cell: dict, eta) -> bool:
    return eta is None or abs(float(cell["noise"]["rate"]) - float(eta)) <= MATCH_TOL


def one_run(entries, spec: dict, i: int) -> tuple[str, dict, list[str]]:
    """(panel title, cell, probe files) of the run panel ``i`` draws: its experiment's cells
    at the panel's ``eta`` (required when there are several) and ``seed`` (default: the
    lowest)."""
    p, where = spec["panels"][i], where_panel(spec, i)
    runs = [(t, c, f) for q, t, _, c, f in entries if q == i and _eta_matches(c, p.get("eta"))]
    if not runs:
        raise ValueError(f"{where}: no run of {p.get('experiment')!r} at eta {p.get('eta')}")
    rates = sorted({float(c["noise"]["rate"]) for _, c, _ in runs})
    if len(rates) > 1:
        raise ValueError(f"{where}: runs at several noise rates {rates}; give 'eta' to pick "
                         "one")
    seeds = sorted({int(c["seed"]) for _, c, _ in runs})
    seed = seeds[0] if p.get("seed") is None else p["seed"]
    chosen = [r for r in runs if int(r[1]["seed"]) == seed]
    if not chosen:
        raise refuse(where, "seed", seed, f"one of the runs' seeds {seeds}")
    return chosen[0]


def subsample(idx: np.ndarray, cap: int) -> np.ndarray:
    """At most ``cap`` of the indices, drawn without replacement with a fixed seed, sorted."""
    if idx.size <= cap:
        return idx
    return np.sort(np.random.default_rng(SUBSAMPLE_SEED).choice(idx, cap, replace=False))


def _points(part: str, h: np.ndarray, idx: np.ndarray, true: np.ndarray,
            observed: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"part": part, "cls": true[idx], "label": observed[idx],
                         "corrupted": observed[idx] != true[idx], "x": h[idx, 0],
                         "y": h[idx, 1]})


def _centroid(part: str, c: int, h: np.ndarray, with_radius: bool) -> dict:
    mu = h.mean(0)
    dist = np.linalg.norm(h - mu, axis=1)
    nan = float("nan")
    return {"part": part, "cls": c, "label": c, "corrupted": part != "centroid",
            "count": h.shape[0], "x": float(mu[0]), "y": float(mu[1]),
            "radius": float(dist.std()) if with_radius else nan,
            "rms": float(np.sqrt((dist ** 2).mean())) if with_radius else nan}


def boundary(fc_weight: np.ndarray, fc_bias: np.ndarray) -> dict | None:
    """The line where the logits of classes 1 and 0 are equal, (w1 - w0)·h + (b1 - b0) = 0:
    its point nearest the origin and a unit direction; None unless the classifier has two
    classes and distinct weight rows."""
    w, b = np.asarray(fc_weight, np.float64), np.asarray(fc_bias, np.float64)
    if w.shape[0] != 2:
        return None
    normal, offset = w[1] - w[0], float(b[1] - b[0])
    norm2 = float(normal @ normal)
    if norm2 == 0:
        return None
    foot = -offset * normal / norm2
    direction = np.array([-normal[1], normal[0]]) / np.sqrt(norm2)
    return {"part": "boundary", "x": float(foot[0]), "y": float(foot[1]),
            "dx": float(direction[0]), "dy": float(direction[1])}


def geometry(arrays, cap: int, where: str) -> pd.DataFrame:
    """The rows of one run (no ids): points, centroids, corrupted centroids, boundary."""
    missing = [k for k in FEATURE_ARRAYS if k not in arrays]
    if missing:
        raise ValueError(f"{where}: the features file lacks {missing}")
    train, test = np.asarray(arrays["train"], np.float64), np.asarray(arrays["test"], np.float64)
    if train.ndim != 2 or train.shape[1] != 2 or test.shape[1:] != (2,):
        raise ValueError(refused(f"{where}: features of dimension M = {train.shape[1:]}",
                                 "M = 2 (MD Fig. 3 draws the features as they are: a run "
                                 "with model.feature_dim 2)", many=True))
    true, observed = arrays["true_label"].astype(np.int64), arrays["label"].astype(np.int64)
    y_test = arrays["test_label"].astype(np.int64)
    bad = observed != true
    frames, extra = [], []
    for c in np.unique(y_test):
        frames.append(_points("test", test, subsample(np.flatnonzero(y_test == c), cap),
                              y_test, y_test))
        extra.append(_centroid("centroid", int(c), test[y_test == c], True))
    for c in np.unique(true):
        for mask in (~bad, bad):
            frames.append(_points("train", train,
                                  subsample(np.flatnonzero(mask & (true == c)), cap),
                                  true, observed))
        if (bad & (true == c)).any():
            extra.append(_centroid("corrupted_centroid", int(c), train[bad & (true == c)],
                                   False))
    line = boundary(arrays["fc_weight"], arrays["fc_bias"])
    extra += [line] if line else []
    return pd.concat([*frames, pd.DataFrame(extra)], ignore_index=True)


def check_spec(spec: dict) -> tuple[int, bool]:
    """(max_points, train_panel), the figure's keys checked."""
    where = where_figure(spec)
    check_keys({k: v for k, v in spec.items() if k not in ("kind", "title")}, KEYS, where)
    if not spec.get("panels") or not isinstance(spec["panels"], list):
        raise ValueError(f"{where}: spec has no panels")
    for i, p in enumerate(spec["panels"]):
        check_keys(p, PANEL_KEYS, where_panel(spec, i))
    train_panel = spec.get("train_panel", True)
    if not isinstance(train_panel, bool):
        raise refuse(where, "train_panel", train_panel, "true or false")
    if spec.get("radius", "sd") not in RADIUS_COLUMNS:
        raise refuse(where, "radius", spec["radius"], f"one of {list(RADIUS_COLUMNS)}")
    return (positive_int(spec.get("max_points"), where, "max_points", DEFAULT_MAX_POINTS),
            train_panel)


def feature_table(entries, spec: dict) -> pd.DataFrame:
    """The rows of every panel's run at the panel's (or figure's) ``epoch`` (default: the
    last recorded features file)."""
    cap, _ = check_spec(spec)
    entries = list(entries)
    frames = []
    for i, p in enumerate(spec["panels"]):
        where = where_panel(spec, i)
        title, cell, files = one_run(entries, spec, i)
        epoch, path = features_file(files, p.get("epoch", spec.get("epoch")), where)
        rows = geometry(load_npz(path), cap, f"{where}: {path}")
        frames.append(rows.assign(
            panel=i, panel_title=title, experiment=cell["experiment"],
            dataset=cell["dataset"], loss=cell["loss"]["name"],
            eta=float(cell["noise"]["rate"]), seed=int(cell["seed"]), epoch=epoch))
    return pd.concat(frames, ignore_index=True).reindex(columns=COLUMNS)


# --- the drawing --------------------------------------------------------------------------------

CLASS_COLOURS = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22"]
CORRUPTED = "#d62728"
PANEL_SIDE_IN = 4.6
NEEDED = ["panel", "part", "cls", "corrupted", "count", "x", "y", "radius", "rms", "dx", "dy"]


def class_colour(c) -> str:
    return CLASS_COLOURS[int(c) % len(CLASS_COLOURS)]


def _distances_text(u, centroids: pd.DataFrame) -> str:
    """"|u - h_c|" to every test centroid, the true class's first."""
    ordered = sorted(centroids.itertuples(index=False), key=lambda h: int(h.cls) != int(u.cls))
    return ", ".join(f"|u-h{int(h.cls)}| = {np.hypot(u.x - h.x, u.y - h.y):.3g}"
                     for h in ordered)


def _draw_geometry(ax, rows: pd.DataFrame, radius: str) -> None:
    """Test centroids with their dilation circles (``radius``: the table's column ``radius``,
    the sd of the distances, or ``rms``), corrupted centroids, the boundary."""
    centroids = rows[rows["part"] == "centroid"]
    what = "sd" if radius == "radius" else "RMS"
    for h in centroids.itertuples(index=False):
        colour, r = class_colour(h.cls), float(getattr(h, radius))
        ax.plot(h.x, h.y, marker="X", markersize=9, color=colour, markeredgecolor="black",
                linestyle="none", zorder=4,
                label=f"h{int(h.cls)}: test centroid, class {int(h.cls)}")
        ax.add_patch(Circle((h.x, h.y), r, fill=False, edgecolor="black", linewidth=1.5,
                            linestyle="--", zorder=3,
                            label=f"class {int(h.cls)} dilation ({what} of distances) = {r:.3g}"))
    for u in rows[rows["part"] == "corrupted_centroid"].itertuples(index=False):
        ax.plot(u.x, u.y, marker="*", markersize=15, color=class_colour(u.cls),
                markeredgecolor=CORRUPTED, markeredgewidth=1.2, linestyle="none", zorder=5,
                label=f"u{int(u.cls)}: {int(u.count)} corrupted of true class {int(u.cls)}; "
                      + _distances_text(u, centroids))
    for b in rows[rows["part"] == "boundary"].itertuples(index=False):
        ax.axline((b.x, b.y), (b.x + b.dx, b.y + b.dy), color="black", linewidth=1.0,
                  label="decision boundary")


def _test_axis(ax, rows: pd.DataFrame, radius: str) -> None:
    pts = rows[rows["part"] == "test"]
    for c, group in pts.groupby("cls", sort=True):
        ax.scatter(group["x"], group["y"], s=5, alpha=0.35, color=class_colour(c),
                   linewidths=0, label=f"test, class {int(c)} ({len(group)} shown)")
    _draw_geometry(ax, rows, radius)


def _train_axis(ax, rows: pd.DataFrame, radius: str) -> None:
    pts = rows[rows["part"] == "train"]
    bad = pts["corrupted"].astype(bool)
    for c, group in pts[~bad].groupby("cls", sort=True):
        ax.scatter(group["x"], group["y"], s=5, alpha=0.35, color=class_colour(c),
                   linewidths=0, label=f"train, class {int(c)} ({len(group)} shown)")
    ax.scatter(pts.loc[bad, "x"], pts.loc[bad, "y"], s=9, alpha=0.8, color=CORRUPTED,
               linewidths=0, label=f"train, corrupted ({int(bad.sum())} shown)")
    _draw_geometry(ax, rows, radius)


def _panel_name(rows: pd.DataFrame, spec: dict) -> str:
    r = rows.iloc[0]
    p = spec["panels"][int(r["panel"])]
    return str(p.get("title") or f"{r['panel_title']}, {loss_label(str(r['loss']))}, "
                                  f"{eta_label(float(r['eta']))}, seed {int(r['seed'])}")


def draw_features(table: pd.DataFrame, spec: dict) -> Figure:
    """MD Fig. 3 from the table of :func:`feature_table`: one row of axes per panel."""
    where = where_figure(spec)
    panels = spec.get("panels") or []
    missing = [c for c in NEEDED if c not in table.columns]
    if missing or not panels:
        raise ValueError(f"{where}: table lacks columns {missing}" if missing
                         else f"{where}: spec has no panels")
    _, train_panel = check_spec(spec)
    radius = RADIUS_COLUMNS[spec.get("radius", "sd")]
    ncols = 2 if train_panel else 1
    width = PANEL_SIDE_IN * ncols + 0.6
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(width, (PANEL_SIDE_IN + 1.6) * len(panels) + 0.6),
                     layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(panels), ncols, squeeze=False)
        for i in range(len(panels)):
            rows = table[table["panel"].astype(int) == i]
            if rows.empty:
                raise ValueError(f"{where}: panel {i} has no rows in the table")
            name = _panel_name(rows, spec)
            draws = [(_test_axis, "test features")] + (
                [(_train_axis, "training features")] if train_panel else [])
            for ax, (draw, what) in zip(axes[i], draws, strict=True):
                draw(ax, rows, radius)
                ax.set_title(f"{name}: {what}", fontsize=9)
                ax.set_xlabel("feature 1")
                ax.set_ylabel("feature 2")
                ax.set_aspect("equal", adjustable="datalim")
                ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=7,
                          ncols=1, framealpha=0.9)
        if spec.get("title"):
            fig.suptitle(wrap_title(str(spec["title"]), width))
    return fig


NOTE = ("The penultimate features (M = 2, the classifier's input, eval mode) of one run. Left: "
        "test features by true class (at most `max_points` per class, default 1000, a fixed "
        "seed-0 subsample), each class's test centroid h_c (cross) and a dashed circle of "
        "radius = the standard deviation of the test features' distances to it (dilation; "
        "with `radius: rms`, their root-mean-square distance); "
        "stars: u_c, the centroid of the corrupted training examples (observed label != true "
        "label) of TRUE class c, with its distances to the test centroids; line: the "
        "classifier's decision boundary (equal logits). Right: the training features, "
        "corrupted ones in red.")

KIND = FigureKind(table=feature_table, draw=draw_features, reads="probes", keys=KEYS,
                  panel_keys=PANEL_KEYS, note=NOTE)
