"""Realised noise rates within binomial tolerance, and each definition's invariants."""

import numpy as np
import pytest

from memrepro.noise import apply_noise, replace_inputs

N, K = 20_000, 10
Y = np.arange(N) % K


def _tol(p):  # 5 binomial standard deviations
    return 5 * np.sqrt(p * (1 - p) / N)


@pytest.mark.parametrize("rate", [0.0, 0.2, 0.4, 0.6])
def test_symmetric_other_flips_at_eta_and_never_keeps_a_flipped_label(rate):
    r = apply_noise("symmetric_other", Y, K, rate, seed=3)
    assert abs(r.flip_rate - rate) <= _tol(rate) + 1e-12
    assert np.array_equal(r.corrupted, r.labels != Y)  # a flip always changes the label
    assert r.labels.min() >= 0 and r.labels.max() < K
    if rate:  # the new class is uniform over the K-1 others
        shift = (r.labels[r.corrupted] - Y[r.corrupted]) % K
        counts = np.bincount(shift, minlength=K)
        assert counts[0] == 0
        expected = r.corrupted.sum() / (K - 1)
        assert np.all(np.abs(counts[1:] - expected) < 5 * np.sqrt(expected))


@pytest.mark.parametrize("rate", [0.2, 0.6])
def test_resample_uniform_can_keep_the_label(rate):
    r = apply_noise("resample_uniform", Y, K, rate, seed=4)
    p = rate * (K - 1) / K
    assert abs(r.flip_rate - p) <= _tol(p)
    assert abs(r.extra["redrawn"].mean() - rate) <= _tol(rate)
    # some redrawn labels landed on the clean class
    assert (r.extra["redrawn"] & ~r.corrupted).sum() > 0


def test_binary_resample_flips_half_of_eta():  # MD: N = 2 classes -> eta / 2
    y = np.arange(N) % 2
    r = apply_noise("resample_uniform", y, 2, 0.4, seed=5)
    assert abs(r.flip_rate - 0.2) <= _tol(0.2)


def test_random_labels_redraws_an_exact_count():
    r = apply_noise("random_labels", Y, K, 0.3, seed=6)
    assert r.extra["redrawn"].sum() == round(0.3 * N)
    assert not r.corrupted[~r.extra["redrawn"]].any()
    assert abs(r.flip_rate - 0.3 * 0.9) <= _tol(0.27)


def test_random_inputs_and_unique_class():
    r = apply_noise("random_inputs", Y, K, 0.5, seed=7)
    assert np.array_equal(r.labels, Y) and r.corrupted.sum() == N // 2
    x = np.full((100, 1, 4, 4), 100, dtype=np.uint8)
    x[::2] = 200
    mask = np.zeros(100, dtype=bool)
    mask[:50] = True
    out = replace_inputs(x, mask, seed=1)
    assert np.array_equal(out[~mask], x[~mask]) and not np.array_equal(out[mask], x[mask])
    assert abs(out[mask].mean() - 150) < 5 and abs(out[mask].std() - 50) < 5
    u = apply_noise("unique_class", Y[:50], K, 1.0, seed=0)
    assert u.num_classes == 50 and np.array_equal(u.labels, np.arange(50))


def test_same_seed_same_labels_different_seed_different():
    a = apply_noise("symmetric_other", Y, K, 0.4, seed=1).labels
    b = apply_noise("symmetric_other", Y, K, 0.4, seed=1).labels
    c = apply_noise("symmetric_other", Y, K, 0.4, seed=2).labels
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_bad_input():
    with pytest.raises(KeyError, match="known"):
        apply_noise("gaussian", Y, K, 0.1, 0)
    with pytest.raises(ValueError, match="noise.rate"):
        apply_noise("symmetric_other", Y, K, 1.5, 0)
