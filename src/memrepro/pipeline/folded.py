"""Job parameters that Snakemake shows, and records, by a one-line summary.

A training job of 100 cells takes their 100 specs as a parameter; Snakemake prints a changed
parameter's old and new ``repr`` in full ("Params have changed since last execution: ...",
tens of thousands of characters) and the HTML report lists parameters with ``str``. A folded
parameter is the same list or dict to the job (it iterates, indexes and pickles as one), but
its ``repr`` and ``str`` are a short label plus a digest of the whole value:

    <100 cells of ar_fig1_randy, sha256 5d0c7e1a9b33>

Snakemake's params trigger stores that ``repr``, so any change in any cell still reruns the job,
and the reason names the parameter. A rule must pass the value from a function
(``params: specs=lambda wc: fold(...)``): Snakemake rebuilds a literal list parameter as a plain
list, but keeps what a function returns as it is.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def digest(value: Any) -> str:
    """12 hex digits of the SHA-256 of ``value`` as sorted JSON (paths and others by str)."""
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class _Folded:
    # underscored: templates read a folded dict's keys as attributes (Jinja's `g.label`)
    _label: str
    _sha256: str

    def __repr__(self) -> str:
        return f"<{self._label}, sha256 {self._sha256}>"

    __str__ = __repr__


class FoldedList(_Folded, list):
    """A list whose repr is ``<label, sha256 ...>``."""


class FoldedDict(_Folded, dict):
    """A dict whose repr is ``<label, sha256 ...>``."""


def fold(value: list | tuple | dict, label: str) -> FoldedList | FoldedDict:
    """``value`` as a folded list or dict, labelled ``label`` (e.g. "100 cells of x")."""
    out = FoldedDict(value) if isinstance(value, dict) else FoldedList(value)
    out._label, out._sha256 = label, digest(value)
    return out


def cells_label(cells: list[dict]) -> str:
    """"<n> cell(s) of <experiment>" for the specs of a training group."""
    exps = sorted({str(c.get("experiment", "?")) for c in cells})
    return f"{len(cells)} cell{'s' * (len(cells) != 1)} of {', '.join(exps)}"
