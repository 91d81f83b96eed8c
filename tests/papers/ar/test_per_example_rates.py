"""Arpit et al. Fig. 1 extraction: per-example misclassification rates over runs, sorted,
with the Binomial references (one for all, one per class) and the within-class dispersion;
its figure; and its claims (AR-4, AR-5) on hand-made runs."""

import numpy as np
import pytest

from memrepro import claims, io
from memrepro.figures import write_figure
from memrepro.papers.ar.claims import CLAIMS
from memrepro.papers.ar.per_example_rates import (
    KIND,
    class_dispersion,
    draw_per_example_rates,
    per_example_rates,
)


def _probes(tmp_path, name, correct, label=None):
    paths = []
    for r, row in enumerate(correct):
        p = tmp_path / name / f"run{r}.npz"
        lab = np.zeros(len(row), np.int16) if label is None else np.asarray(label, np.int16)
        io.write_npz(p, epoch=np.array([1]), correct=np.array(row, dtype=bool), label=lab,
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
    measured, binom, per_class = (t[t["curve"] == c]["rate"].to_numpy()
                                  for c in ("measured", "binomial", "binomial_class"))
    assert len(measured) == len(binom) == len(per_class) == 100
    assert np.all(np.diff(binom) >= 0) and binom.mean() == pytest.approx(measured.mean(), abs=0.02)
    keep = np.random.default_rng(0).permutation(400)[:100]  # the documented fixed examples
    assert np.allclose(measured, np.sort(1 - correct[:, keep].mean(0)))
    again = per_example_rates([(0, "randX", cell, paths)], examples=100, binomial=[0])
    assert again.equals(t)  # deterministic
    out = tmp_path / "fig"
    fig = draw_per_example_rates(t, {"title": "AR Fig. 1"})
    left, right = fig.get_axes()
    # binomial (one for all), binomial_class, measured; right: measured, class Binomial
    assert [ln.get_linestyle() for ln in left.get_lines()] == [":", "--", "-"]
    assert [ln.get_linestyle() for ln in right.get_lines()][:2] == ["-", "--"]
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
    assert set(t[t["panel"] == 1]["curve"]) == {"measured", "binomial", "binomial_class"}
    assert set(t[t["panel"] == 1]["experiment"]) == {"f"}


def test_class_dispersion_known_answers():
    # two classes, 10 runs; class 0 rates 0.2 and 0.6 (mean 0.4), class 1 rates 0.5 and 0.5
    rate, label = [0.2, 0.6, 0.5, 0.5], [0, 0, 1, 1]
    expected_spread = 2 * 0.4 * 0.6 / 10 + 2 * 0.5 * 0.5 / 10
    assert class_dispersion(rate, label, 10) == pytest.approx((0.04 + 0.04) / expected_spread)
    # every example of a class equally wrong: no spread within classes at all
    assert class_dispersion([0.1, 0.1, 0.9, 0.9], [3, 3, 7, 7], 10) == 0.0
    assert np.isnan(class_dispersion([0.0, 1.0], [0, 1], 10))  # no Binomial spread


def _prior_learner(runs, n, seed, hard=False):
    """Runs of a network that learns only the label prior, as after one epoch on random inputs:
    labels 0-4 with a skewed prior; each run predicts class k for an input w.p. q_k, so rates
    differ between classes but every example of a class is equally hard. ``hard``: half the
    examples of each class are never predicted right (some examples harder than others)."""
    rng = np.random.default_rng(seed)
    label = rng.choice(5, size=n, p=[0.4, 0.3, 0.15, 0.1, 0.05])
    q = np.array([0.7, 0.2, 0.05, 0.03, 0.02])[label]
    if hard:
        q = np.where(np.arange(n) % 2 == 0, q, 0.0)
    return rng.random((runs, n)) < q, label


def test_randx_like_runs_spread_across_classes_yet_match_the_binomial_within(tmp_path):
    correct, label = _prior_learner(50, 2000, seed=4)
    rate = 1 - correct.mean(0)
    # the spread across all examples is that of the class rates, far above one Binomial's
    assert rate.std() > 2 * np.sqrt(rate.mean() * (1 - rate.mean()) / 50)
    assert class_dispersion(rate, label, 50) == pytest.approx(1.0, abs=0.15)
    hard_correct, hard_label = _prior_learner(50, 2000, seed=4, hard=True)
    assert class_dispersion(1 - hard_correct.mean(0), hard_label, 50) > 3

    # the claims, measured on the kind's table: AR-4 holds for the prior learner, fails for the
    # one with hard examples; AR-5 (real data: easy and hard examples) the other way round
    def card(randx_correct, randx_label, real_correct, real_label):
        cells = [{"experiment": "real", "dataset": "d",
                  "noise": {"name": "random_labels", "rate": 0.0}},
                 {"experiment": "randx", "dataset": "d",
                  "noise": {"name": "random_inputs", "rate": 1.0}}]
        entries = [(0, "real", cells[0], _probes(tmp_path, f"real{id(real_correct)}",
                                                 real_correct, real_label)),
                   (1, "randX", cells[1], _probes(tmp_path, f"randx{id(randx_correct)}",
                                                  randx_correct, randx_label))]
        table = per_example_rates(entries, examples=1000, binomial=[1])
        ours = [c for c in CLAIMS if c.id in ("AR-4", "AR-5")]
        return {r["id"]: r["verdict"]
                for r in claims.evaluate(ours, {"ar/fig1": table}, "smoke")["claims"]}

    assert card(correct, label, hard_correct, hard_label) == {"AR-4": "holds", "AR-5": "holds"}
    assert card(hard_correct, hard_label, correct, label) == {"AR-4": "fails", "AR-5": "fails"}


def test_the_per_class_reference_draws_from_each_class_rate(tmp_path):
    correct, label = _prior_learner(40, 1500, seed=5)
    cell = {"experiment": "e", "dataset": "d"}
    t = per_example_rates([(0, "randX", cell, _probes(tmp_path, "x", correct, label))],
                          examples=1500, binomial=[0])
    measured, ref = t[t["curve"] == "measured"], t[t["curve"] == "binomial_class"]
    assert (measured.groupby("label").size() == ref.groupby("label").size()).all()
    assert np.allclose(measured.groupby("label")["rate"].mean(),
                       ref.groupby("label")["rate"].mean(), atol=0.03)
    assert set(t["noise"]) == {"none"} and set(t["eta"]) == {0.0}


def test_labels_are_required_and_shared_by_the_runs_of_a_panel(tmp_path):
    cell = {"experiment": "e", "dataset": "d"}
    old = tmp_path / "old.npz"
    io.write_npz(old, epoch=np.array([1]), correct=np.ones(3, bool),
                 pred=np.zeros(3, np.int16), loss=np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="without labels.*delete the runs"):
        per_example_rates([(0, "real", cell, [old])])
    a = _probes(tmp_path, "a", [[1, 0]], label=[0, 1])
    b = _probes(tmp_path, "b", [[1, 0]], label=[1, 1])
    with pytest.raises(ValueError, match="different labels"):
        per_example_rates([(0, "real", cell, a + b)])
