"""Realised noise rates within binomial tolerance, and each definition's invariants."""

import numpy as np
import pytest
import torch

from memrepro.data import channel_stats
from memrepro.device_data import GroupData, to_device_many
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


def _sparse_images(n=400, side=8, seed=0):
    """uint8 (n, 2, side, side): channel 0 is 0 w.p. 0.7 else 200 (mean 60, sd 91.7: a
    Gaussian with these clips to 0 a quarter of the time), channel 1 uniform on 0..255."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 2, side, side), np.uint8)
    x[:, 0] = np.where(rng.random((n, side, side)) < 0.7, 0, 200)
    x[:, 1] = rng.integers(0, 256, (n, side, side))
    return x


def _matches_data_moments(noise: np.ndarray, x: np.ndarray) -> bool:
    """Each channel's sample mean and sd of ``noise`` within 5 standard errors of the
    population mean and sd of ``x`` (k i.i.d. normal draws: s.e. sd/sqrt(k) of the mean,
    about sd/sqrt(2(k-1)) of the sd)."""
    k = noise.shape[0] * noise.shape[2] * noise.shape[3]
    for c in range(x.shape[1]):
        mu, sd = x[:, c].astype(np.float64).mean(), x[:, c].astype(np.float64).std()
        z = noise[:, c].astype(np.float64)
        if abs(z.mean() - mu) > 5 * sd / np.sqrt(k) or \
                abs(z.std() - sd) > 5 * sd / np.sqrt(2 * (k - 1)):
            return False
    return True


def test_replaced_rows_carry_unclipped_gaussian_noise_with_the_data_moments():
    # AR Sec. 2: noise "matching the real dataset's mean and variance"
    x = _sparse_images()
    mask = np.zeros(len(x), bool)
    mask[1::2] = True
    out = replace_inputs(x, mask, seed=11)
    assert out.dtype == np.float32 and out.shape == x.shape
    assert _matches_data_moments(out[mask], x)
    assert (out[mask] < 0).any() and (out[mask] != np.rint(out[mask])).any()
    # the former rounding and clipping to 0..255 biases channel 0 far beyond sampling error
    assert not _matches_data_moments(np.clip(np.rint(out[mask]), 0, 255), x)


def test_replace_inputs_keeps_clean_rows_and_repeats_for_a_seed():
    x = _sparse_images(n=50)
    mask = np.arange(50) % 3 == 0
    a, b = replace_inputs(x, mask, seed=5), replace_inputs(x, mask, seed=5)
    assert np.array_equal(a[~mask], x[~mask].astype(np.float32))
    assert np.array_equal(a, b)
    assert not np.array_equal(a[mask], replace_inputs(x, mask, seed=6)[mask])
    none = replace_inputs(x, np.zeros(50, bool), seed=5)
    assert none.dtype == np.float32 and np.array_equal(none, x.astype(np.float32))


def test_replace_inputs_refuses_float_images_and_a_wrong_mask():
    x = _sparse_images(n=4)
    with pytest.raises(ValueError, match="allowed: uint8"):
        replace_inputs(x.astype(np.float32), np.ones(4, bool), 0)
    with pytest.raises(ValueError, match="allowed: bool of shape"):
        replace_inputs(x, np.ones(3, bool), 0)


def test_float_channel_stats_agree_with_the_exact_integer_ones():
    x = _sparse_images(n=30)
    (m8, s8), (mf, sf) = channel_stats(x), channel_stats(x.astype(np.float32))
    assert np.allclose(m8, mf, rtol=0, atol=1e-12) and np.allclose(s8, sf, rtol=0, atol=1e-12)


def test_randx_cells_train_on_the_float_noise_standardised_by_their_own_set():
    x = _sparse_images(n=60)
    y = np.arange(60) % 2
    mask = np.arange(60) < 30
    noisy = {"labels": y, "corrupted": mask, "inputs_replaced": mask, "input_seed": np.array([9])}
    d = to_device_many({"x_train": x, "y_train": y, "x_test": x, "y_test": y}, [noisy], 2,
                       torch.device("cpu"))[0]
    assert d.x.dtype == torch.float32 and d.x_test.dtype == torch.uint8
    assert np.array_equal(d.x.numpy(), replace_inputs(x, mask, 9))
    g = GroupData.of([d])
    xb, _ = g.train_batch(torch.arange(60)[None])
    # standardised by the statistics of the set as trained: per channel mean 0, sd 1
    assert torch.allclose(xb.mean(dim=(0, 2, 3)), torch.zeros(2), atol=1e-5)
    assert torch.allclose(xb.std(dim=(0, 2, 3), unbiased=False), torch.ones(2), atol=1e-5)
    assert (xb[:30] < (0 - g.mean[0]) / g.std[0]).any()  # below the image of pixel value 0


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
