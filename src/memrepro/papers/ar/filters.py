"""Arpit et al. 2017, Fig. 2: first-layer filters of the CNN trained on real and on random
labels. The table reads one trained model per panel (``reads="model"``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from memrepro.figures import PANEL_WIDTH_IN, STYLE, FigureKind, layout
from memrepro.specs import where_figure

FILTER_DRAW_COLUMNS = ["panel", "filter", "channel", "row", "col", "value"]


FILTER_TABLE_COLUMNS = ["panel", "panel_title", "experiment", "dataset", "eta", "filter",
                        "channel", "row", "col", "value"]


def filter_table(entries: Iterable[tuple[int, str, dict, str | Path]]) -> pd.DataFrame:
    """Arpit et al. 2017, Fig. 2: the first convolution's weights (out, in, kh, kw) of one
    trained model per panel, long format. The first 4-d weight in the state dict's order is
    the first convolution for every model in the registry."""
    import torch  # lazy: only this table reads a model

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
    return pd.concat(frames, ignore_index=True)[FILTER_TABLE_COLUMNS]


def filter_images(rows: pd.DataFrame, max_filters: int = 64) -> np.ndarray:
    """(n, kh, kw, channels) weights of the first ``max_filters`` filters, each min-max
    scaled to [0, 1] on its own (a constant filter becomes 0.5)."""
    if rows.duplicated(["filter", "channel", "row", "col"]).any():
        raise ValueError("filter table has repeated (filter, channel, row, col) entries: "
                         "expected one run per panel")
    idx = [rows[c].astype(int).to_numpy() for c in ("filter", "channel", "row", "col")]
    shape = tuple(int(a.max()) + 1 for a in idx)
    if math.prod(shape) != len(rows):
        raise ValueError(f"filter table is incomplete: {len(rows)} values for a weight of "
                         f"shape {shape}")
    if shape[1] not in (1, 3):
        raise ValueError(f"filters need 1 (grey) or 3 (RGB) input channels, got {shape[1]}")
    w = np.empty(shape)
    w[tuple(idx)] = rows["value"].to_numpy(dtype=float)
    w = w[:max_filters].transpose(0, 2, 3, 1)
    lo = w.min(axis=(1, 2, 3), keepdims=True)
    span = w.max(axis=(1, 2, 3), keepdims=True) - lo
    return np.where(span > 0, (w - lo) / np.where(span > 0, span, 1.0), 0.5)


def filter_mosaic(images: np.ndarray, pad: int = 1) -> np.ndarray:
    """Square-ish grid of filter images separated by white lines; 2-D when grey."""
    n, kh, kw, c = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.ones((rows * (kh + pad) + pad, cols * (kw + pad) + pad, c))
    for k in range(n):
        r, q = divmod(k, cols)
        out[pad + r * (kh + pad):pad + r * (kh + pad) + kh,
            pad + q * (kw + pad):pad + q * (kw + pad) + kw] = images[k]
    return out[..., 0] if c == 1 else out


def build_filters_figure(table: pd.DataFrame, spec: dict) -> Figure:
    """Arpit et al. Fig. 2: one mosaic of first-layer filters per panel (real vs randY)."""
    max_filters = int(spec.get("max_filters", 64))
    if max_filters < 1:
        raise ValueError(f"{where_figure(spec)}: max_filters must be >= 1")
    n = len(spec.get("panels") or [])
    with matplotlib.rc_context(STYLE):
        fig, panels = layout(table, spec, FILTER_DRAW_COLUMNS, n, PANEL_WIDTH_IN)
        for _, where, rows, ax in panels:
            try:
                images = filter_images(rows, max_filters)
            except ValueError as err:
                raise ValueError(f"{where}: {err}") from None
            ax.imshow(filter_mosaic(images), cmap="gray" if images.shape[-1] == 1 else None,
                      vmin=0, vmax=1, interpolation="nearest")
            ax.set(xticks=[], yticks=[])
            ax.grid(False)
            total = int(rows["filter"].max()) + 1
            ax.set_xlabel(f"{len(images)} of {total} filters, each min-max scaled", fontsize=8)
    return fig


def _table(entries, spec: dict) -> pd.DataFrame:
    """Per panel: the model of its first run (seed order) at the panel's noise rate."""
    chosen = []
    for i, p in enumerate(spec["panels"]):
        runs = [(title, cell, path) for panel, title, _, cell, path in entries if panel == i
                and ("eta" not in p or abs(cell["noise"]["rate"] - p["eta"]) < 1e-9)]
        if not runs:
            raise ValueError(f"{where_figure(spec)}: panel {i}: no run of "
                             f"{p['experiment']} at eta {p.get('eta')}")
        chosen.append((i, *runs[0]))
    return filter_table(chosen)


KIND = FigureKind(
    table=_table, draw=build_filters_figure, reads="model",
    keys=frozenset({"panels", "ncols", "max_filters"}),
    panel_keys=frozenset({"experiment", "loss", "eta", "title"}),
    note=("Weights of the first convolution of the trained network (seed 0), each filter "
          "min-max scaled on its own; RGB where the input has three channels."))
