"""The claims scorecard (memrepro.claims): each comparison kind holding and failing on
hand-made tables, not built when a table is missing, the writers, and every declared claim."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest

from memrepro import catalog, claims
from memrepro.claims import Claim

TABLE = pd.DataFrame({"eta": [0.0, 0.2, 0.4], "value": [0.1, 0.5, 0.9], "ok": [True] * 3})

CASES = [  # kind, measure, threshold, tolerance, holds
    (">=", lambda t: t["x/fig1"]["value"].max(), 0.9, 0.0, True),
    (">=", lambda t: t["x/fig1"]["value"].max(), 0.95, 0.0, False),
    (">=", lambda t: t["x/fig1"]["value"].max(), 0.95, 0.05, True),
    ("<=", lambda t: t["x/fig1"]["value"].min(), 0.1, 0.0, True),
    ("<=", lambda t: t["x/fig1"]["value"].min(), 0.05, 0.0, False),
    (">", lambda t: t["x/fig1"]["value"].min(), 0.0, 0.0, True),
    (">", lambda t: t["x/fig1"]["value"].min(), 0.1, 0.0, False),
    ("<", lambda t: t["x/fig1"]["value"].max(), 1.0, 0.0, True),
    ("<", lambda t: t["x/fig1"]["value"].max(), 0.9, 0.0, False),
    ("between", lambda t: t["x/fig1"]["value"].mean(), (0.4, 0.6), 0.0, True),
    ("between", lambda t: t["x/fig1"]["value"].mean(), (0.6, 0.8), 0.0, False),
    ("monotone_increasing", lambda t: t["x/fig1"]["value"], None, 0.0, True),
    ("monotone_increasing", lambda t: t["x/fig1"]["value"][::-1], None, 0.0, False),
    ("monotone_increasing", lambda t: [0.1, 0.09, 0.2], None, 0.02, True),
    ("monotone_decreasing", lambda t: t["x/fig1"]["value"][::-1], None, 0.0, True),
    ("monotone_decreasing", lambda t: t["x/fig1"]["value"], None, 0.0, False),
    ("all_true", lambda t: t["x/fig1"]["ok"], None, 0.0, True),
    ("all_true", lambda t: t["x/fig1"]["value"] > 0.3, None, 0.0, False),
]


def claim(kind="<=", measure=lambda t: 0.0, threshold=0.0, tolerance=0.0, **kw) -> Claim:
    return Claim(kw.pop("id", "X-1"), "words", "Sec. 1", "x/fig1", "a quantity", measure, kind,
                 threshold, tolerance, **kw)


@pytest.mark.parametrize("kind,measure,threshold,tolerance,holds", CASES)
def test_each_kind_holds_and_fails(kind, measure, threshold, tolerance, holds):
    row = claims.evaluate_one(claim(kind, measure, threshold, tolerance),
                              {"x/fig1": TABLE}, "smoke")
    assert row["verdict"] == (claims.HOLDS if holds else claims.FAILS), row
    assert row["value"] is not None and row["expected"]


def test_not_built_when_a_table_is_missing_or_empty(tmp_path):
    tables = claims.load_tables({"x/fig1": tmp_path / "absent.csv"})
    assert tables == {}
    row = claims.evaluate_one(claim(), tables, "smoke")
    assert row["verdict"] == claims.NOT_BUILT and row["value"] is None
    row = claims.evaluate_one(claim(measure=lambda t: None), {"x/fig1": TABLE}, "smoke")
    assert row["verdict"] == claims.NOT_BUILT


def test_expected_by_scale_and_a_note_is_required():
    c = claim(scales=("paper",), note="too few epochs at smoke")
    assert not c.expected("smoke") and c.expected("paper")
    with pytest.raises(ValueError, match="no note"):
        claim(scales=("paper",))
    with pytest.raises(ValueError, match="kind"):
        claim(kind="≈")
    with pytest.raises(ValueError, match="scales"):
        claim(scales=("huge",), note="n")


def test_writers(tmp_path):
    cs = [claim(id="X-1"), claim(">=", id="X-2", threshold=1.0, scales=("paper",),
                                 note="needs the paper's epochs"),
          claim(id="X-3", tables=("x/fig9",))]
    card = claims.evaluate(cs, {"x/fig1": TABLE}, "smoke")
    assert card["counts"] == {"claims": 3, "expected": 2, "held": 1, "failed": 1,
                              "expected_but_failed": 0, "not_built": 1}
    claims.write_json(tmp_path / "claims.json", card)
    claims.write_markdown(tmp_path / "claims.md", card)
    back = claims.read_json(tmp_path / "claims.json")
    assert back["counts"] == card["counts"] and [r["id"] for r in back["claims"]] == \
        ["X-1", "X-2", "X-3"] and back["scale"] == "smoke"
    # what `dvc metrics show` prints: three numbers (the rest sits in lists, which it skips)
    raw = json.loads((tmp_path / "claims.json").read_text())
    assert {k: v for k, v in raw.items() if not isinstance(v, list)} == \
        {"held": 1, "failed": 1, "exp_failed": 0}
    md = (tmp_path / "claims.md").read_text()
    assert "| X-2 |" in md and "needs the paper's epochs" in md and "not built" in md
    # the report's table: the same rows as the Markdown's
    claims.write_csv(tmp_path / "claims.csv", card)
    with open(tmp_path / "claims.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][0] == "claim" and [r[0] for r in rows[1:]] == ["X-1", "X-2", "X-3"]
    assert [r[5] for r in rows[1:]] == [claims.HOLDS, claims.FAILS, claims.NOT_BUILT]
    assert [r[6] for r in rows[1:]] == ["yes", "no", "yes"]


def test_a_failing_claim_expected_here_is_in_capitals():
    card = claims.evaluate([claim(">=", id="X-1", threshold=1.0)], {"x/fig1": TABLE}, "smoke")
    assert card["counts"]["expected_but_failed"] == 1
    assert claims.table_rows(card)[1][5] == "FAILS"


def test_every_declared_claim_is_complete():
    found = catalog.claims()
    assert {c.id.split("-")[0] for c in found} == {"PS", "AR", "LLJ", "MD"}
    for c in found:
        assert c.id and c.words and c.section and c.quantity and c.scales, c.id
        assert c.figure.split("/")[0] == c.id.split("-")[0].lower(), c.id
        assert all(t.split("/")[0] == c.figure.split("/")[0] for t in c.tables), c.id
        assert c.expected("paper") or c.note, c.id


def test_duplicate_ids_are_refused():
    with pytest.raises(ValueError, match="defined twice"):
        catalog.unique_claims([claim(id="X-1"), claim(id="X-1")])


def test_slope_interval_on_known_answers():
    lo, hi = claims.slope_interval([0, 1, 2, 3], [1, 3, 5, 7])  # an exact line: no spread
    assert lo == pytest.approx(2.0) and hi == pytest.approx(2.0)
    # worked by hand: slope 0.6, residual SS 2.4 on 3 df, Sxx 10, t(0.975, 3) = 3.18245
    lo, hi = claims.slope_interval([1, 2, 3, 4, 5], [2, 4, 5, 4, 5])
    assert (lo, hi) == (pytest.approx(0.6 - 0.90013, abs=1e-4), pytest.approx(0.6 + 0.90013,
                                                                              abs=1e-4))
    assert all(np.isnan(claims.slope_interval([0, 1], [0, 1])))


def test_a_trend_claim_survives_one_swapped_pair_but_not_a_flat_curve():
    """AR-1 at smoke on another CPU: eta 0.4 and 0.6 swapped. Monotonicity fails; the slope's
    interval still excludes 0. A curve with no trend does not."""
    from memrepro.papers.ar.claims import CLAIMS

    ar1 = next(c for c in CLAIMS if c.id == "AR-1")
    etas = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]

    def table(csr):
        return {"ar/fig8": pd.DataFrame({"noise": "random_labels", "eta": etas, "seed": 0,
                                         "epoch": 14, "metric": "csr", "value": csr,
                                         "panel": 0})}

    swapped = claims.evaluate_one(ar1, table([0, 0.035, 0.07, 0.04, 0.135, 0.145]), "smoke")
    flat = claims.evaluate_one(ar1, table([0.05, 0.03, 0.06, 0.04, 0.05, 0.04]), "smoke")
    assert swapped["verdict"] == claims.HOLDS and flat["verdict"] == claims.FAILS


def test_md2_measures_how_much_less_ls_memorizes_in_every_cell_at_once():
    """mem(LS) = 0.7 mem(CE) everywhere but one cell where LS is 1% above: holds (a count of
    cells with LS < CE would have lost that cell); LS equal to CE give or take 5%: fails."""
    from memrepro.papers.md.claims import CLAIMS

    md2 = next(c for c in CLAIMS if c.id == "MD-2")

    def table(ratios):
        rows = [{"panel": p, "eta": e, "seed": s, "loss": loss,
                 "mem": 10.0 * (1 + e) * (r if loss == "ls" else 1.0), "nc1_test": 1.0}
                for (p, e), r in zip([(p, e) for p in range(2) for e in (0.1, 0.2)], ratios,
                                     strict=True)
                for s in (0, 1) for loss in ("cce", "ls")]
        return {"md/fig1": pd.DataFrame(rows)}

    less = claims.evaluate_one(md2, table([0.7, 0.7, 0.7, 1.01]), "smoke")
    same = claims.evaluate_one(md2, table([0.95, 1.05, 1.0, 0.97]), "smoke")
    assert less["value"] == pytest.approx((0.7 ** 3 * 1.01) ** 0.25)
    assert less["verdict"] == claims.HOLDS and same["verdict"] == claims.FAILS


def test_auroc_known_answers():
    """LLJ Fig. 2(b)'s measure (claim LLJ-1)."""
    # perfect separation, perfect inversion, all tied, and a hand-counted case: the positives
    # 0.9 and 0.4 beat 2 and 1 of the negatives {0.5, 0.1} -> 3 of 4 pairs
    assert claims.auroc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])) == 1.0
    assert claims.auroc(np.array([0.8, 0.9, 0.1, 0.2]), np.array([0, 0, 1, 1])) == 0.0
    assert claims.auroc(np.ones(4), np.array([0, 1, 0, 1])) == 0.5
    assert claims.auroc(np.array([0.5, 0.9, 0.1, 0.4]), np.array([0, 1, 0, 1])) == 0.75
    assert np.isnan(claims.auroc(np.ones(3), np.zeros(3)))
    assert np.isnan(claims.auroc(np.array([0.1, np.nan, 0.3]), np.array([0, 1, 1])))
    # ties: positives 2, 3, 3 against negatives 1, 2, 3 win 1.5 + 2.5 + 2.5 of 9 pairs
    assert claims.auroc([1, 2, 2, 3, 3, 3], [0, 1, 0, 1, 1, 0]) == pytest.approx(13 / 18)


def test_spearman_known_answers():
    """MD's trend claims' measure: ranks, ties sharing their mean rank."""
    assert claims.spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)  # 1 - 6*4/120
    assert claims.spearman([0.1, 0.2, 0.3], [9, 5, 1]) == pytest.approx(-1.0)
    # y's ranks 1, 2.5, 2.5, 4: r = 4.5 / sqrt(5 * 4.5)
    assert claims.spearman([1, 2, 3, 4], [1, 2, 2, 3]) == pytest.approx(3 / np.sqrt(10))
    assert claims.spearman([1, 2, np.nan, 4], [1, 3, 2, 4]) == pytest.approx(1.0)  # pair left out
    assert np.isnan(claims.spearman([1, 2, 3], [7, 7, 7]))  # a constant side
    assert np.isnan(claims.spearman([1], [2]))


def test_md3_measures_the_lines_the_figure_draws():
    """MD-3 (Sec. 4.1: NC1_test grows "approximately linear[ly]" with mem for CE and LS "when
    mem is not large") takes the R^2 of Fig. 1's own fit lines: per loss, through the seed
    means with mem at most the panel's median. Points on a line below the median and far off
    it above: holds (a fit through every point would not); scattered below the median: fails."""
    from memrepro.papers.md.claims import CLAIMS

    md3 = next(c for c in CLAIMS if c.id == "MD-3")
    etas = [0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4]

    def table(nc1_of):
        rows = [{"panel": p, "series": k, "series_label": loss, "loss": loss, "eta": e,
                 "seed": s, "mem": m, "nc1_test": nc1_of(m, e)}
                for p in range(2) for k, (loss, scale) in enumerate((("cce", 10.0),
                                                                      ("ls", 7.0)))
                for e in etas for s in (0, 1) for m in [scale * (1 + 10 * e)]]
        return {"md/fig1": pd.DataFrame(rows)}

    def bent(m, e):  # a line up to mem 30, then far above it
        return 0.1 * m + (0.0 if m <= 30 else 0.02 * (m - 30) ** 2)

    def scattered(m, e):
        return 0.1 * m + (1.5 if etas.index(e) % 2 else -1.5)

    line = claims.evaluate_one(md3, table(bent), "paper")
    noisy = claims.evaluate_one(md3, table(scattered), "paper")
    assert line["value"] == pytest.approx(1.0) and line["verdict"] == claims.HOLDS
    assert noisy["value"] < 0.8 and noisy["verdict"] == claims.FAILS
    # the measure it replaces, one fit through all CE and LS points, misses the line
    d = table(bent)["md/fig1"]
    assert np.corrcoef(d["mem"], d["nc1_test"])[0, 1] ** 2 < 0.8
