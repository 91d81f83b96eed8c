"""The ``md_scatter`` figure spec (MD Figs. 1 and 2): its keys, their defaults and checks, the
table's columns. Shared by the table (``md_scatter``) and the drawing (``scatter_draw``).
Torch-free."""

from __future__ import annotations

from memrepro.papers.md.common import (
    check_keys,
    number,
    positive_int,
    refuse,
    where_figure,
    where_panel,
)

QUANTITIES = ("mem", "mem_mean", "mem_unsquared", "n_corrupted", "nc1_train", "nc1_test",
              "nc1_train_sm", "nc1_test_sm", "test_acc")
QUANTITY_LABELS = {"mem": "memorization (Eq. 3)",
                   "mem_mean": "memorization per corrupted example",
                   "mem_unsquared": "memorization, unsquared distances",
                   "n_corrupted": "corrupted training examples",
                   "nc1_train": "NC1 train (labels trained on)",
                   "nc1_test": "NC1 test (dilation)",
                   "nc1_train_sm": "NC1 train, sample global mean",
                   "nc1_test_sm": "NC1 test, sample global mean",
                   "test_acc": "test accuracy"}
SIZES = ("n_train", "n_test")
ID_COLUMNS = ["panel", "panel_title", "series", "series_label", "experiment", "dataset", "loss",
              "eta", "seed", "epoch", "feature_dim"]
COLUMNS = [*ID_COLUMNS, *QUANTITIES, *SIZES]
DEFAULT_ROWS = ("nc1_test", "test_acc")
DEFAULT_X = "mem"
DEFAULT_FIT = ("cce", "ls")  # MD Sec. 4.1: the M-D line is claimed for "the CE derivatives"
SCALES = ("linear", "log")
KEYS = frozenset({"panels", "ncols", "rows", "x", "fit", "epoch", "xscale", "yscale"})
PANEL_KEYS = frozenset({"experiment", "loss", "series", "title", "feature_dim", "etas"})
SERIES_KEYS = frozenset({"experiment", "loss", "label"})


def rows_of(spec: dict) -> list[str]:
    """The figure's y quantities, one row of panels each (default: NC1_test, test accuracy)."""
    rows = spec.get("rows", list(DEFAULT_ROWS))
    if not isinstance(rows, list) or not rows or any(r not in QUANTITIES for r in rows):
        raise refuse(where_figure(spec), "rows", rows,
                     f"a non-empty list of quantities from {list(QUANTITIES)}")
    return rows


def x_of(spec: dict) -> str:
    x = spec.get("x", DEFAULT_X)
    if x not in QUANTITIES:
        raise refuse(where_figure(spec), "x", x, f"one of {list(QUANTITIES)}")
    return x


def fit_losses(spec: dict) -> list[str]:
    """The losses that get a least-squares line: none (false, the default), CE and LS
    (true), or a list of loss names."""
    fit = spec.get("fit", False)
    if fit is False or fit is None:
        return []
    if fit is True:
        return list(DEFAULT_FIT)
    if isinstance(fit, list) and fit and all(isinstance(f, str) for f in fit):
        return list(fit)
    raise refuse(where_figure(spec), "fit", fit, "true, false or a non-empty list of loss "
                                                 "names")


def scale_of(spec: dict, key: str) -> str:
    value = spec.get(key, "linear")
    if value not in SCALES:
        raise refuse(where_figure(spec), key, value, f"one of {list(SCALES)}")
    return value


def check_spec(spec: dict) -> None:
    """The figure-level keys, checked before anything is read or drawn."""
    check_keys({k: v for k, v in spec.items() if k not in ("kind", "title")}, KEYS,
               where_figure(spec))
    if not spec.get("panels") or not isinstance(spec["panels"], list):
        raise ValueError(f"{where_figure(spec)}: spec has no panels")
    rows_of(spec), x_of(spec), fit_losses(spec), scale_of(spec, "xscale")
    scale_of(spec, "yscale")
    positive_int(spec.get("ncols"), where_figure(spec), "ncols", 1)
    epoch = spec.get("epoch")
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int)
                              or epoch < 0):
        raise refuse(where_figure(spec), "epoch", epoch,
                     "an epoch >= 0 (default: the last recorded)")


def panel_filters(spec: dict, i: int) -> tuple[int | None, list[float] | None]:
    """(feature_dim, etas) of panel i, its keys and its series' keys checked."""
    p, where = spec["panels"][i], where_panel(spec, i)
    check_keys(p, PANEL_KEYS, where)
    if "series" not in p and not ("experiment" in p and "loss" in p):
        raise ValueError(f"{where}: needs `series` (one entry per loss) or `experiment` and "
                         "`loss`")
    for j, s in enumerate(p.get("series") or []):
        check_keys(s, SERIES_KEYS, f"{where}: series {j}")
    m = positive_int(p.get("feature_dim"), where, "feature_dim", None)
    etas = p.get("etas")
    if etas is not None:
        if not isinstance(etas, list) or not etas:
            raise refuse(where, "etas", etas, "a non-empty list of noise rates")
        etas = [number(e, where, "etas") for e in etas]
    return m, etas
