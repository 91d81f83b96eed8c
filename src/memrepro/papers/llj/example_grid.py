"""Liu, Lin & Jaggi 2022, Figs. 7 and 8: the training examples with the lowest and the highest
memorization scores, one column per class, each image with its score and the triplet (true
label, unmuted prediction, muted prediction) above it.

The table holds every drawn image's pixels, one row per image line (channel, row) with the
line's values in columns ``px_0``, ``px_1``, ... and the example's numbers repeated, so the
figure is drawn from the table alone. (One row per pixel would make a CIFAR-10 table of about
300,000 rows, 28 MB; per line it is about 10,000 rows.)
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from memrepro.figures import STYLE, FigureKind, split_panels, wrap_title
from memrepro.io import load_npz, read_json
from memrepro.papers.llj.common import eta_matches, one_run
from memrepro.paths import dataset_files, probe_file_at
from memrepro.specs import positive_int, refuse, where_panel

PICKS = ("lowest", "highest")
DEFAULT_ROWS = 5
GRID_COLUMNS = ["panel", "panel_title", "experiment", "dataset", "eta", "seed", "epoch", "pick",
                "class", "class_name", "rank", "id", "score", "label", "true_label",
                "pred_unmuted", "pred_muted", "channel", "row"]  # then px_0, px_1, ...
PIXEL = "px_"


def pick_examples(score: np.ndarray, label: np.ndarray, ids: np.ndarray, pick: str, k: int
                  ) -> list[tuple[int, int, int]]:
    """(class, rank, position) of the ``k`` lowest (or highest) scores of each class (by the
    label trained on); ties broken by the smaller id; rank 0 is the most extreme."""
    key = score if pick == "lowest" else -np.asarray(score, dtype=float)
    order = np.lexsort((ids, key))
    out = []
    for c in np.unique(label):
        chosen = order[label[order] == c][:k]
        out += [(int(c), r, int(pos)) for r, pos in enumerate(chosen)]
    return out


def class_names(json_path: str, classes) -> dict[int, str]:
    """{class: name} from the prepared dataset's sidecar when it lists names, else the index."""
    names = []
    if Path(json_path).exists():
        names = read_json(json_path).get("class_names") or []
    return {int(c): str(names[c]) if c < len(names) else str(c) for c in classes}


def image_frame(image: np.ndarray, info: dict) -> pd.DataFrame:
    """One image (C, H, W): a row per line (channel, row) with the example's numbers and the
    line's pixel values in px_0 .. px_{W-1}."""
    c, h, w = image.shape
    ch, r = np.indices((c, h)).reshape(2, -1)
    values = image.reshape(c * h, w).astype(np.int64)
    return pd.DataFrame({**info, "channel": ch, "row": r,
                         **{f"{PIXEL}{j}": values[:, j] for j in range(w)}})


def grid_table(entries, spec: dict) -> pd.DataFrame:
    """Per panel: the ``rows`` lowest (``pick: lowest``) or highest scores of each class in
    the panel's run at ``epoch`` (default: the last recorded), with their images from the
    prepared training set."""
    entries, frames = list(entries), []
    k = positive_int(spec.get("rows"), f"figure {spec.get('title')!r}", "rows", DEFAULT_ROWS)
    for i, p in enumerate(spec.get("panels") or []):
        where = where_panel(spec, i)
        if p.get("pick") not in PICKS:
            raise refuse(where, "pick", p.get("pick"), list(PICKS))
        title, cell, files = one_run(entries, spec, i)
        epoch, path = probe_file_at(files, "tod", p.get("epoch", spec.get("epoch")), where)
        tod = load_npz(path)
        npz, sidecar = dataset_files(cell["dataset"])
        with np.load(npz, allow_pickle=False) as data:
            x, y = data["x_train"], data["y_train"]
        ids, label = tod["ids"].astype(np.int64), tod["label"].astype(np.int64)
        if ids.size and ids.max() >= len(x):
            raise ValueError(f"{where}: {path} has ids up to {ids.max()} but {npz} has "
                             f"{len(x)} training examples")
        picked = pick_examples(tod["score"], label, ids, p["pick"], k)
        names = class_names(sidecar, sorted({c for c, _, _ in picked}))
        base = {"panel": i, "panel_title": title, "experiment": cell["experiment"],
                "dataset": cell["dataset"], "eta": float(cell["noise"]["rate"]),
                "seed": int(cell["seed"]), "epoch": epoch, "pick": p["pick"]}
        for c, rank, pos in picked:
            frames.append(image_frame(x[ids[pos]], {
                **base, "class": c, "class_name": names[c], "rank": rank,
                "id": int(ids[pos]), "score": float(tod["score"][pos]),
                "label": int(label[pos]), "true_label": int(y[ids[pos]]),
                "pred_unmuted": int(tod["pred_unmuted"][pos]),
                "pred_muted": int(tod["pred_muted"][pos])}))
    if not frames:
        raise ValueError(f"figure {spec.get('title')!r}: no examples to draw")
    table = pd.concat(frames, ignore_index=True)
    return table[GRID_COLUMNS + pixel_columns(table)]


def pixel_columns(table: pd.DataFrame) -> list[str]:
    """px_0, px_1, ... in order."""
    return sorted((c for c in table.columns if c.startswith(PIXEL)),
                  key=lambda c: int(c[len(PIXEL):]))


def image_of(lines: pd.DataFrame) -> np.ndarray:
    """The (H, W) grey or (H, W, 3) RGB uint8 image of one example's rows (its lines)."""
    values = lines[pixel_columns(lines)].dropna(axis=1, how="all").to_numpy(float)
    ch, r = (lines[c].astype(int).to_numpy() for c in ("channel", "row"))
    img = np.zeros((ch.max() + 1, r.max() + 1, values.shape[1]), dtype=np.uint8)
    img[ch, r] = values.clip(0, 255).astype(np.uint8)
    return img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)


def score_text(score: float) -> str:
    """Two decimals; a small non-zero score in scientific notation (not "0.00")."""
    return f"{score:.2f}" if score == 0 or abs(score) >= 0.005 else f"{score:.1e}"


def draw_grid_panel(sub, rows: pd.DataFrame, classes: list[int], nrows: int) -> None:
    """One panel: ``nrows`` x classes images; above each its score and triplet, class names
    above the columns."""
    axes = sub.subplots(nrows, len(classes), squeeze=False)
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[])
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.xaxis.set_label_position("top")
    for (c, rank), px in rows.groupby(["class", "rank"], sort=True):
        ax = axes[int(rank), classes.index(int(c))]
        img = image_of(px)
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255,
                  interpolation="nearest")
        e = px.iloc[0]
        ax.set_xlabel(f"{score_text(float(e['score']))}\n({int(e['true_label'])}, "
                      f"{int(e['pred_unmuted'])}, {int(e['pred_muted'])})", fontsize=6.5,
                      labelpad=1)
    names = rows.drop_duplicates("class").set_index("class")["class_name"]
    for j, c in enumerate(classes):
        if c in names.index:
            axes[0, j].set_title(str(names[c]), fontsize=8, fontweight="bold")


def draw_grid(table: pd.DataFrame, spec: dict) -> Figure:
    """LLJ Figs. 7-8: one block of images per panel (lowest, highest scores), stacked."""
    panels = split_panels(table, spec, GRID_COLUMNS)
    classes = sorted(int(c) for c in table["class"].unique())
    nrows = int(table["rank"].max()) + 1
    width = max(5.0, 0.8 * len(classes) + 0.6)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(width, len(panels) * (1.08 * nrows + 0.6) + 0.6),
                     layout="constrained")
        FigureCanvasAgg(fig)
        subs = fig.subfigures(len(panels), 1, squeeze=False).flat
        for (i, p, _, rows), sub in zip(panels, subs, strict=False):
            sub.suptitle(str(p.get("title") or rows["panel_title"].iloc[0] or f"panel {i}"),
                         fontsize=10)
            draw_grid_panel(sub, rows, classes, nrows)
        if spec.get("title"):
            fig.suptitle(wrap_title(str(spec["title"]), width))
    return fig


def dataset_inputs(spec: dict, plan) -> list[str]:
    """The prepared datasets (arrays and sidecar) of the panels' runs."""
    return sorted({f for p in spec.get("panels") or []
                   for c in plan.cells_of(p["experiment"], p["loss"])
                   if eta_matches(c, p.get("eta")) for f in dataset_files(c["dataset"])})


KIND = FigureKind(
    table=grid_table, draw=draw_grid, reads="probes",
    keys=frozenset({"panels", "rows", "epoch"}),
    panel_keys=frozenset({"experiment", "loss", "eta", "seed", "epoch", "pick", "title"}),
    extra_inputs=dataset_inputs,
    note=("Memorization scores (LLJ Eq. 6) of one turn-over dropout run (the lowest seed) at "
          "its final recorded epoch; per class (the label trained on), the examples with the "
          "lowest and the highest scores (ties: smaller id first), 5 per class unless `rows` "
          "says otherwise. Above each image: its score and (true label, unmuted sub-network's "
          "prediction, muted sub-network's prediction) as class indices."))
