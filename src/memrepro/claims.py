"""The claims scorecard: each paper's headline claims as data, measured on the tidy tables.

A :class:`Claim` names the figure tables it reads (figure ids ``<paper>/<name>``), a
``measure(tables) -> value | None`` over them (``tables``: figure id -> DataFrame), and a
comparison (:data:`KINDS`) with a threshold and a tolerance. :func:`evaluate` gives, per claim,
the measured value, the verdict (``holds`` / ``fails`` / ``not built``: a table it reads is
missing, or the measure finds nothing to measure) and whether the claim is expected to hold at
the build's scale. :func:`write_json` and :func:`write_markdown` write the scorecard.

Torch-free (numpy, pandas). Papers declare their claims in ``papers/<p>/claims.py``;
``memrepro.catalog.claims()`` lists them.
"""

from __future__ import annotations

import csv
import io as io_module
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from memrepro import io
from memrepro.specs import not_allowed

HOLDS, FAILS, NOT_BUILT = "holds", "fails", "not built"
SCALES = ("smoke", "quick", "paper")


def _seq(value) -> list[float]:
    return [float(v) for v in np.asarray(value, dtype=float).ravel()]


def _monotone(value, threshold, tol: float, sign: int) -> bool:
    v = _seq(value)
    return len(v) >= 2 and all(sign * (b - a) >= -tol for a, b in zip(v, v[1:], strict=False))


# kind -> holds(value, threshold, tolerance); ``value`` is a number, or a sequence for the
# monotone kinds (in the order of the claim's x axis) and ``all_true``
KINDS: dict[str, Callable[[Any, Any, float], bool]] = {
    ">=": lambda v, t, tol: float(v) >= t - tol,
    "<=": lambda v, t, tol: float(v) <= t + tol,
    ">": lambda v, t, tol: float(v) > t - tol,
    "<": lambda v, t, tol: float(v) < t + tol,
    "between": lambda v, t, tol: t[0] - tol <= float(v) <= t[1] + tol,
    "monotone_increasing": lambda v, t, tol: _monotone(v, t, tol, 1),
    "monotone_decreasing": lambda v, t, tol: _monotone(v, t, tol, -1),
    "all_true": lambda v, t, tol: len(np.ravel(v)) > 0 and bool(np.all(np.ravel(v))),
}


@dataclass(frozen=True)
class Claim:
    """``words``: the paper's words; ``section``/``figure``: where it says so (``figure``: the
    figure id whose table is measured); ``quantity``: what ``measure`` computes, in words;
    ``tables``: the figure ids ``measure`` reads (default: ``figure``); ``scales``: where it is
    expected to hold; ``note``: why it cannot show at the scales it is not expected at."""

    id: str
    words: str
    section: str
    figure: str
    quantity: str
    measure: Callable[[dict[str, pd.DataFrame]], Any]
    kind: str
    threshold: Any = None
    tolerance: float = 0.0
    scales: tuple[str, ...] = SCALES
    note: str = ""
    tables: tuple[str, ...] = ()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(not_allowed("kind", self.kind, sorted(KINDS),
                                         where=f"claim {self.id}"))
        if unknown := sorted(set(self.scales) - set(SCALES)):
            raise ValueError(not_allowed("scales", unknown, list(SCALES), where=f"claim {self.id}",
                                         many=True))
        if set(SCALES) - set(self.scales) and not self.note:
            raise ValueError(f"claim {self.id}: not expected at some scale but has no note")
        if not self.tables:
            object.__setattr__(self, "tables", (self.figure,))

    def expected(self, scale: str) -> bool:
        return scale in self.scales


def _jsonable(value):
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if np.ndim(value) == 0:
        v = float(value)
        return None if math.isnan(v) else round(v, 6)
    return [_jsonable(v) for v in np.ravel(np.asarray(value, dtype=object))]


def evaluate_one(claim: Claim, tables: dict[str, pd.DataFrame], scale: str) -> dict:
    """The scorecard row of one claim; ``tables`` holds the tables that were built."""
    row = {"id": claim.id, "paper": claim.id.split("-")[0].lower(), "words": claim.words,
           "section": claim.section, "figure": claim.figure, "quantity": claim.quantity,
           "kind": claim.kind, "threshold": _jsonable(claim.threshold),
           "tolerance": claim.tolerance, "scales": list(claim.scales),
           "expected": claim.expected(scale), "note": claim.note, "value": None}
    missing = [t for t in claim.tables if t not in tables]
    if missing:
        return {**row, "verdict": NOT_BUILT, "why": f"table(s) {missing} not built"}
    value = claim.measure({t: tables[t] for t in claim.tables})
    if value is None or (np.ndim(value) == 0 and not isinstance(value, bool)
                         and math.isnan(float(value))):
        return {**row, "verdict": NOT_BUILT, "why": "nothing to measure in the table"}
    ok = KINDS[claim.kind](value, claim.threshold, claim.tolerance)
    return {**row, "value": _jsonable(value), "verdict": HOLDS if ok else FAILS, "why": ""}


def evaluate(claims: Sequence[Claim], tables: dict[str, pd.DataFrame], scale: str) -> dict:
    """The scorecard: counts and one row per claim."""
    rows = [evaluate_one(c, tables, scale) for c in claims]
    return {"scale": scale, "counts": counts(rows), "claims": rows}


def counts(rows: list[dict]) -> dict[str, int]:
    return {"claims": len(rows),
            "expected": sum(r["expected"] for r in rows),
            "held": sum(r["verdict"] == HOLDS for r in rows),
            "failed": sum(r["verdict"] == FAILS for r in rows),
            "expected_but_failed": sum(r["verdict"] == FAILS and r["expected"] for r in rows),
            "not_built": sum(r["verdict"] == NOT_BUILT for r in rows)}


def load_tables(paths: dict[str, str | Path]) -> dict[str, pd.DataFrame]:
    """figure id -> its tidy table, for those whose file exists."""
    return {fid: pd.read_csv(p) for fid, p in paths.items() if Path(p).is_file()}


def write_json(path: str | Path, card: dict) -> None:
    """``results/claims.json``. `dvc metrics show` prints every number outside a list as a
    column of one table shared with every experiment's metrics, so only three counts sit at
    the top, with short names (``held``, ``failed``, ``exp_failed``: expected but failed) that
    keep its lines under 200 characters; the scale and all counts are in ``scorecard``, a
    one-item list DVC skips. :func:`read_json` gives the card back."""
    c = card["counts"]
    io.write_json(path, {"held": c["held"], "failed": c["failed"],
                         "exp_failed": c["expected_but_failed"],
                         "scorecard": [{"scale": card["scale"], "counts": c}],
                         "claims": card["claims"]})


def read_json(path: str | Path) -> dict:
    """The card :func:`write_json` wrote: ``{"scale", "counts", "claims"}``."""
    data = io.read_json(path)
    return {**data["scorecard"][0], "claims": data["claims"]}


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:.3g}"


def _test(r: dict) -> str:
    threshold = "" if r["threshold"] is None else f" {_fmt(r['threshold'])}"
    return f"{r['kind']}{threshold}" + (
        f" ± {r['tolerance']:g}" if r["tolerance"] else "")


def _verdict(r: dict) -> str:
    """The verdict, in capitals when a claim expected at this scale fails."""
    return r["verdict"].upper() if r["verdict"] == FAILS and r["expected"] else r["verdict"]


def table_rows(card: dict) -> list[list[str]]:
    """The scorecard as a table: a header row, then one row per claim (Markdown and CSV)."""
    rows = [["claim", "figure", "paper's words", "measured", "test", "verdict", "expected"]]
    for r in card["claims"]:
        rows.append([r["id"], r["figure"], f"{r['words']} ({r['section']})", _fmt(r["value"]),
                     _test(r), _verdict(r), "yes" if r["expected"] else "no"])
    return rows


def summary_line(card: dict) -> str:
    c = card["counts"]
    return (f"{c['claims']} claims, {c['expected']} expected at this scale: {c['held']} hold, "
            f"{c['failed']} fail ({c['expected_but_failed']} of them expected), "
            f"{c['not_built']} not built.")


def end_of_build_line(card: dict) -> str:
    """The scorecard's count in one line, naming every claim expected at the scale that
    failed (with its measured value): what ``snakemake figures`` prints last."""
    failed = [f"{r['id']} ({r['quantity']} = {_fmt(r['value'])}, needs {_test(r)})"
              for r in card["claims"] if r["verdict"] == FAILS and r["expected"]]
    return (f"claims scorecard (scale {card['scale']}): {summary_line(card)}"
            + (" EXPECTED BUT FAILED: " + "; ".join(failed) if failed else ""))


def print_end_of_build(path: str | Path, scale: str) -> None:
    """Print :func:`end_of_build_line` of the scorecard at ``path`` to stderr, if there is one
    for ``scale``."""
    if Path(path).is_file() and (card := read_json(path))["scale"] == scale:
        sys.stderr.write(f"memrepro: {end_of_build_line(card)}\n")


def markdown(card: dict) -> str:
    """The scorecard as Markdown: counts, then one table row per claim, then the notes."""
    header, *rows = table_rows(card)
    lines = [f"# Claims scorecard (scale: {card['scale']})", "", summary_line(card), "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    lines += ["", "## What is measured, and why a claim is not expected here", ""]
    for r in card["claims"]:
        extra = f" Not expected at {card['scale']}: {r['note']}" if not r["expected"] else (
            f" {r['note']}" if r["note"] else "")
        why = f" ({r['why']})" if r.get("why") else ""
        lines.append(f"- **{r['id']}**: {r['quantity']}.{why}{extra}")
    return "\n".join(lines) + "\n"


def write_markdown(path: str | Path, card: dict) -> None:
    io.write_text(path, markdown(card))


def write_csv(path: str | Path, card: dict) -> None:
    """``results/claims.csv``: the table of :func:`markdown`, which the HTML report shows at
    the top of its landing page (workflow/report/workflow.rst)."""
    buf = io_module.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(table_rows(card))
    io.write_text(path, buf.getvalue())


# --- helpers for the papers' measure functions ------------------------------------------------

def final_rows(df: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """The rows at each group's last epoch."""
    return df[df["epoch"] == df.groupby(list(by))["epoch"].transform("max")]


def final_metric(df: pd.DataFrame, metric: str, by: Sequence[str] = ("panel", "eta")) -> pd.Series:
    """A ``curves`` table's final-epoch value of ``metric``, seed-mean, indexed by ``by``."""
    d = df[df["metric"] == metric]
    d = final_rows(d, [*by, "seed"])
    return d.groupby(list(by))["value"].mean()


def spearman(x, y) -> float:
    """Spearman's rank correlation of ``x`` and ``y`` (scipy; tied values share their mean
    rank); pairs with a NaN are left out. NaN for fewer than 2 pairs or a constant side."""
    import warnings

    from scipy import stats

    x, y = np.asarray(x, float), np.asarray(y, float)
    both = ~(np.isnan(x) | np.isnan(y))
    if both.sum() < 2:
        return float("nan")
    with warnings.catch_warnings():  # a constant side: NaN, as the claim's "not built"
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return float(stats.spearmanr(x[both], y[both]).statistic)


def auroc(score, positive) -> float:
    """Area under the ROC curve of ``score`` for ``positive`` (scikit-learn; ties count
    half): the chance that a positive example scores above a negative one. NaN when either
    class is empty or a score is NaN."""
    from sklearn.metrics import roc_auc_score

    score, pos = np.asarray(score, float), np.asarray(positive, bool)
    if pos.all() or not pos.any() or np.isnan(score).any():
        return float("nan")
    return float(roc_auc_score(pos, score))


def slope_interval(x, y, level: float = 0.95) -> tuple[float, float]:
    """The two-sided ``level`` confidence interval of the least-squares slope of ``y`` on
    ``x`` (Student's t with n - 2 degrees of freedom on the residuals). A trend claim that
    needs the interval to exclude 0 holds by the data's own spread, not by one point's last
    digits; (nan, nan) for fewer than 3 points."""
    from scipy import stats

    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3:
        return float("nan"), float("nan")
    dx = x - x.mean()
    slope = float(dx @ (y - y.mean()) / (dx @ dx))
    resid = y - y.mean() - slope * dx
    se = math.sqrt(float(resid @ resid) / (len(x) - 2) / float(dx @ dx))
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 2)) * se
    return slope - half, slope + half
