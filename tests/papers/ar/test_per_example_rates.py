"""Arpit et al. Fig. 1 extraction: per-example misclassification rates over runs, sorted,
with the Binomial reference; and its figure."""

import numpy as np
import pytest

from memrepro import io
from memrepro.figures import write_figure
from memrepro.papers.ar.per_example import KIND, draw_per_example_rates, per_example_rates


def _probes(tmp_path, name, correct):
    paths = []
    for r, row in enumerate(correct):
        p = tmp_path / name / f"run{r}.npz"
        io.write_npz(p, epoch=np.array([1]), correct=np.array(row, dtype=bool),
                     pred=np.zeros(len(row), np.int16), loss=np.zeros(len(row), np.float32))
        paths.append(p)
    return paths


def test_rates_are_shares_of_wrong_runs_sorted(tmp_path):
    # 4 runs x 3 examples: example 0 right in every run, 1 wrong in 1 of 4, 2 wrong in all
    real = _probes(tmp_path, "real", [[1, 1, 0], [1, 0, 0], [1, 1, 0], [1, 1, 0]])
    cell = {"experiment": "e", "dataset": "d"}
    t = per_example_rates([(0, "real", cell, real)], examples=1000)
    assert list(t["rate"]) == [0.0, 0.25, 1.0] and set(t["runs"]) == {4}
    assert list(t["curve"]) == ["measured"] * 3


def test_binomial_reference_has_the_mean_rate_and_fixed_examples(tmp_path):
    rng = np.random.default_rng(3)
    correct = rng.random((50, 400)) < 0.3  # every example equally hard: p(wrong) = 0.7
    paths = _probes(tmp_path, "x", correct)
    cell = {"experiment": "e", "dataset": "d"}
    t = per_example_rates([(0, "randX", cell, paths)], examples=100, binomial=[0])
    measured, binom = (t[t["curve"] == c]["rate"].to_numpy() for c in ("measured", "binomial"))
    assert len(measured) == len(binom) == 100
    assert np.all(np.diff(binom) >= 0) and binom.mean() == pytest.approx(measured.mean(), abs=0.02)
    keep = np.random.default_rng(0).permutation(400)[:100]  # the documented fixed examples
    assert np.allclose(measured, np.sort(1 - correct[:, keep].mean(0)))
    again = per_example_rates([(0, "randX", cell, paths)], examples=100, binomial=[0])
    assert again.equals(t)  # deterministic
    out = tmp_path / "fig"
    fig = draw_per_example_rates(t, {"title": "AR Fig. 1"})
    (ax,) = fig.get_axes()
    assert [ln.get_linestyle() for ln in ax.get_lines()] == ["--", "-"]  # binomial, measured
    write_figure(fig, out / "f.pdf", out / "f.png", "caption")
    assert (out / "f.png").stat().st_size > 0 and (out / "f.caption.txt").read_text() == "caption\n"


def test_kind_table_pools_the_probe_files_of_each_panel(tmp_path):
    """The ``per_example_rates`` kind reads entries (panel, title, series, cell, files): all
    runs of a panel are pooled, and only panels with ``binomial`` get the reference."""
    a = _probes(tmp_path, "a", [[1, 1, 0], [1, 0, 0]])
    b = _probes(tmp_path, "b", [[1, 0, 0], [0, 0, 0]])
    cell = {"experiment": "e", "dataset": "d"}
    entries = [(0, "real", 0, cell, [a[0]]), (0, "real", 0, cell, [a[1]]),
               (1, "randY", 0, {**cell, "experiment": "f"}, b)]
    spec = {"examples": 1000, "panels": [{}, {"binomial": True}]}
    t = KIND.table(entries, spec)
    assert KIND.reads == "probes"
    real = t[t["panel"] == 0]
    assert list(real["rate"]) == [0.0, 0.5, 1.0] and set(real["runs"]) == {2}
    assert set(real["curve"]) == {"measured"}
    assert set(t[t["panel"] == 1]["curve"]) == {"measured", "binomial"}
    assert set(t[t["panel"] == 1]["experiment"]) == {"f"}
