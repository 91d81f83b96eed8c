"""Arpit et al. 2017, Figs. 3 and 4: the ``gini`` and ``class_sensitivity`` figure kinds.

Their tables are computed from the prepared dataset (``reads="dataset"``) by
:mod:`memrepro.papers.ar.sensitivity_runs` (torch), imported only when a table is made; the
drawings are in :mod:`memrepro.papers.ar.sensitivity_figures` (torch-free).
"""

from __future__ import annotations

import pandas as pd

from memrepro.figures import FigureKind
from memrepro.papers.ar.sensitivity_figures import draw_class_sensitivity, draw_gini


def _gini_table(arrays: dict, spec: dict) -> pd.DataFrame:
    from memrepro.papers.ar.sensitivity_runs import gini_table  # torch: tables only

    return gini_table(arrays["x_train"], arrays["y_train"], spec.get("settings") or {})


def _class_matrix_table(arrays: dict, spec: dict) -> pd.DataFrame:
    from memrepro.papers.ar.sensitivity_runs import class_matrix_table

    return class_matrix_table(arrays["x_train"], arrays["y_train"], spec.get("settings") or {})


_KEYS = frozenset({"dataset", "settings"})
_DEFAULTS = ("Settings not given take the defaults of memrepro.papers.ar.sensitivity_runs, "
             "which gives the reason for each. ")
GINI = FigureKind(
    table=_gini_table, draw=draw_gini, reads="dataset", keys=_KEYS, threads=True,
    note=(_DEFAULTS + "Loss-sensitivity g_x^t = ||dL_t/dx||_1 back-propagated through the "
          "unrolled SGD steps, L_t the full-set mean cross-entropy after step t; Gini "
          "coefficient over examples of its running mean over steps. Random data: Gaussian "
          "inputs with the data's per-channel mean and variance (the only way 'random' "
          "differs from real in the one-class-per-example panel)."))
CLASS_SENSITIVITY = FigureKind(
    table=_class_matrix_table, draw=draw_class_sensitivity, reads="dataset", keys=_KEYS,
    threads=True,
    note=(_DEFAULTS + "Cell (i, j): mean over training examples x of class j of the time-averaged "
          "||dL_t(y=i)/dx||_1, L_t(y=i) the class-i terms of the cross-entropy; log colour "
          "scale shared by both panels. Random data: Gaussian inputs with the data's "
          "per-channel mean and variance."))
