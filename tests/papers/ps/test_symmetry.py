"""Patel & Sastry 2021, Sec. 3: the symmetry table (the figure is the table, CSV + Markdown)."""

from types import SimpleNamespace

import pandas as pd
import pytest

from memrepro.figures import table_markdown, write_table_figure
from memrepro.papers.ps.symmetry import KIND, symmetry_caption, symmetry_table


def _ce(logits, y):
    return -logits.log_softmax(1).gather(1, y[:, None]).squeeze(1)


def _one_minus_p(logits, y):  # MAE / 2: sum over K labels is K - 1
    return 1 - logits.softmax(1).gather(1, y[:, None]).squeeze(1)


def _one_minus_p_f32(logits, y):
    return _one_minus_p(logits.float(), y)


def test_symmetry_table_flags_symmetric_and_not():
    t = symmetry_table({"ce": _ce, "mae": _one_minus_p, "mae32": _one_minus_p_f32},
                       num_classes=7, n=500, seed=1).set_index("loss")
    assert list(t.columns) == ["num_classes", "mean", "min", "max", "std", "rel_spread",
                               "symmetric", "dtype", "tol"]
    assert bool(t.loc["mae", "symmetric"])
    assert t.loc["mae", "mean"] == pytest.approx(6.0, abs=1e-12)
    assert t.loc["mae", "rel_spread"] < 1e-12
    assert t.loc["mae", "tol"] == 1e-9
    assert not bool(t.loc["ce", "symmetric"])
    assert t.loc["ce", "rel_spread"] > 0.1
    # float32 output: still symmetric, judged with a float32-sized tolerance
    assert bool(t.loc["mae32", "symmetric"]) and t.loc["mae32", "dtype"] == "float32"
    assert t.loc["mae32", "mean"] == pytest.approx(6.0, rel=1e-6)
    assert (t["num_classes"] == 7).all()


def test_symmetry_table_is_seeded_and_checks_shape():
    a = symmetry_table({"ce": _ce}, n=50, seed=2)
    b = symmetry_table({"ce": _ce}, n=50, seed=2)
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(ValueError, match="shape"):
        symmetry_table({"bad": lambda logits, y: logits.sum()}, n=5)


def test_write_symmetry(tmp_path):
    t = symmetry_table({"ce": _ce, "mae": _one_minus_p}, n=100)
    write_table_figure(t, tmp_path / "s.csv", tmp_path / "s.md", "The caption.")
    back = pd.read_csv(tmp_path / "s.csv")
    assert list(back["loss"]) == ["ce", "mae"]
    assert list(back["symmetric"]) == [False, True]
    md = (tmp_path / "s.md").read_text()
    assert md == table_markdown(t, "The caption.")
    assert md.splitlines()[0].startswith("| loss | num_classes | mean")
    assert "| mae | 10 | 9 |" in md
    assert md.rstrip().endswith("The caption.")


def test_kind_is_a_table_of_the_registry_losses_with_its_own_caption():
    assert KIND.draw is None and KIND.reads == "none"  # the table is the figure
    spec = {"kind": "symmetry", "losses": ["cce", "rll"], "num_classes": 4, "samples": 64}
    t = KIND.table(None, spec).set_index("loss")
    assert list(t.index) == ["cce", "rll"] and (t["num_classes"] == 4).all()
    assert not bool(t.loc["cce", "symmetric"]) and bool(t.loc["rll", "symmetric"])
    caption = KIND.caption(spec, SimpleNamespace(scale="smoke"))
    assert caption == symmetry_caption(spec, SimpleNamespace(scale="smoke"))
    assert "64 random" in caption and "K = 4" in caption and "'smoke'" in caption
