"""Liu, Lin & Jaggi 2022, Fig. 1 (after Kobayashi et al. 2020): the turn-over dropout
mechanism, drawn from the real masks (``mask_hash.keep_mask``) of a toy one-hidden-layer MLP.

For each example, its unmuted sub-network (the hidden units its mask keeps, and their edges:
the only weights a step on this example updates) and the muted complement (never updated by
it). The classifier has no bias, so the two share no parameter.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from memrepro.figures import STYLE, FigureKind, wrap_title
from memrepro.papers.llj.mask_hash import keep_mask
from memrepro.specs import positive_int, refuse

DEFAULTS = {"inputs": 4, "hidden": 8, "outputs": 3, "ids": [0, 1], "seed": 0}
MASK_COLUMNS = ["example", "layer", "unit", "kept", "seed"]
COLOURS = {"unmuted": "#1f5fbf", "muted": "#e07b00"}
IDLE = "0.8"


def settings(spec: dict) -> dict:
    """The toy network and examples: ``inputs``, ``hidden`` (>= 2), ``outputs``, ``ids`` (a
    non-empty list of distinct example ids >= 0), ``seed`` (the cell seed of the masks)."""
    where = f"figure {spec.get('title')!r}"
    out = {k: positive_int(spec.get(k), where, k, DEFAULTS[k])
           for k in ("inputs", "hidden", "outputs")}
    if out["hidden"] < 2:
        raise refuse(where, "hidden", out["hidden"], "an integer >= 2 (half is kept)")
    ids = spec.get("ids", DEFAULTS["ids"])
    if (not isinstance(ids, list) or not ids or len(set(ids)) != len(ids)
            or any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in ids)):
        raise refuse(where, "ids", ids, "a non-empty list of distinct integers >= 0")
    seed = spec.get("seed", DEFAULTS["seed"])
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise refuse(where, "seed", seed, "an integer")
    return {**out, "ids": ids, "seed": seed}


def mask_table(_inputs, spec: dict) -> pd.DataFrame:
    """One row per (example, hidden unit): whether its turn-over dropout mask keeps the unit
    (layer 0, the hidden layer of the toy MLP)."""
    s = settings(spec)
    keep = keep_mask(s["seed"], 0, np.asarray(s["ids"], dtype=np.int64), s["hidden"])
    ex, unit = np.indices(keep.shape).reshape(2, -1)
    return pd.DataFrame({"example": np.asarray(s["ids"])[ex], "layer": 0, "unit": unit,
                         "kept": keep.reshape(-1), "seed": s["seed"]})[MASK_COLUMNS]


def _ys(n: int) -> np.ndarray:
    """Vertical positions of a layer's n nodes, centred on 0."""
    return (np.arange(n) - (n - 1) / 2)[::-1]


def draw_network(ax, active: np.ndarray, inputs: int, outputs: int, colour: str) -> None:
    """The MLP inputs -> hidden -> outputs; edges through active hidden units in ``colour``,
    the others faint and dashed; inactive hidden units hollow."""
    xi, xh, xo = 0.0, 1.0, 2.0
    yi, yh, yo = _ys(inputs) * 0.9, _ys(active.size) * 0.6, _ys(outputs) * 0.9
    for on in (False, True):  # idle edges first, so that the active ones lie on top
        look = {"color": colour, "linewidth": 1.1} if on else \
            {"color": IDLE, "linewidth": 0.6, "linestyle": (0, (2, 2))}
        for h in np.flatnonzero(active == on):
            for y in yi:
                ax.plot([xi, xh], [y, yh[h]], zorder=1 + on, **look)
            for y in yo:
                ax.plot([xh, xo], [yh[h], y], zorder=1 + on, **look)
    ax.scatter(np.full(inputs, xi), yi, s=110, color="0.35", zorder=3)
    ax.scatter(np.full(active.size, xh), yh, s=110, zorder=3, linewidths=1.2,
               color=[colour if a else "white" for a in active],
               edgecolors=[colour if a else "0.6" for a in active])
    ax.scatter(np.full(outputs, xo), yo, s=110, color="0.15", zorder=3)
    ax.set_xticks([xi, xh, xo], ["input", "hidden", "logits\n(no bias)"])
    ax.set_yticks([])
    ax.set_xlim(-0.3, 2.3)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)


def draw_schematic(table: pd.DataFrame, spec: dict) -> Figure:
    """LLJ Fig. 1: per example (rows), its unmuted and its muted sub-network (columns)."""
    s = settings(spec)
    missing = [c for c in MASK_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"figure {spec.get('title')!r}: table lacks columns {missing}")
    examples = list(dict.fromkeys(table["example"].astype(int)))
    width = 7.0
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(width, 2.6 * len(examples) + 1.2), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(examples), 2, squeeze=False)
        for row, ex in zip(axes, examples, strict=True):
            kept = table[table["example"].astype(int) == ex].sort_values("unit")["kept"]
            kept = kept.astype(bool).to_numpy()
            draw_network(row[0], kept, s["inputs"], s["outputs"], COLOURS["unmuted"])
            row[0].set_title(f"example z = {ex}: unmuted sub-network\n"
                             "(trained on z: its step updates only these weights)", fontsize=9)
            draw_network(row[1], ~kept, s["inputs"], s["outputs"], COLOURS["muted"])
            row[1].set_title(f"example z = {ex}: muted sub-network\n"
                             "(the complement: never updated by z)", fontsize=9)
        fig.supxlabel("memorization score of z = CE(muted sub-network on z) − "
                      "CE(unmuted sub-network on z)  (LLJ Eq. 6)", fontsize=9)
        if spec.get("title"):
            fig.suptitle(wrap_title(str(spec["title"]), width))
    return fig


KIND = FigureKind(
    table=mask_table, draw=draw_schematic, reads="none",
    keys=frozenset({"inputs", "hidden", "outputs", "ids", "seed"}),
    note=("Drawn from the real turn-over dropout masks (integer hash of seed, layer, example "
          "id and unit; exactly half of the hidden units kept) of a toy one-hidden-layer MLP, "
          "4 inputs, 8 hidden units and 3 outputs unless the figure says otherwise; the "
          "classifier has no bias. Unmuted: the kept units and their edges, the only weights "
          "a step on the example changes; muted: the complement, never updated by it."))
