"""MD's measurements (memrepro.papers.md.nc) on hand-made features with known answers: NC1's
two-class closed form, its invariances, the sample-mean variant on unbalanced classes, and
memorization (MD Eq. 3) computed by hand."""

import numpy as np
import pytest

from memrepro.papers.md import nc


def two_class_features(seed=0, n=(40, 60), m=3):
    rng = np.random.default_rng(seed)
    h0 = rng.normal([1.0, 0.0, 0.5][:m], 0.3, size=(n[0], m))
    h1 = rng.normal([0.0, 2.0, 0.5][:m], 0.5, size=(n[1], m))
    return np.vstack([h0, h1]), np.repeat([0, 1], n)


def within_class_covariance(h, labels):
    means = np.stack([h[labels == c].mean(0) for c in (0, 1)])
    d = h - means[labels]
    return d.T @ d / h.shape[0], means


@pytest.mark.parametrize("m", [2, 3])
def test_nc1_two_classes_equals_the_closed_form(m):
    """N = 2, global mean = mean of the class means: Σ_B = ΔΔᵀ/4, so
    NC1 = tr(Σ_W Σ_B⁺)/2 = 2 ΔᵀΣ_WΔ / ‖Δ‖⁴ with Δ = μ_1 − μ_0 (NC1 as in MD Sec. 4.1)."""
    h, y = two_class_features(m=m)
    sigma_w, means = within_class_covariance(h, y)
    delta = means[1] - means[0]
    want = 2 * delta @ sigma_w @ delta / (delta @ delta) ** 2
    assert nc.nc1(h, y, 2) == pytest.approx(want, rel=1e-10)
    assert nc.nc1(h, y, 2) > 0.01  # not a degenerate case


def test_nc1_sample_mean_differs_on_unbalanced_classes_as_predicted():
    """With class shares p0, p1 and the sample mean μ_G = p0 μ0 + p1 μ1, Σ_B =
    (p0² + p1²) ΔΔᵀ / 2, so NC1_sm = ΔᵀΣ_WΔ / ((p0² + p1²) ‖Δ‖⁴): for p = (1/4, 3/4) that
    is 1/(2 * 0.625) = 0.8 of the class-mean NC1."""
    h, y = two_class_features(n=(25, 75))
    sigma_w, means = within_class_covariance(h, y)
    delta = means[1] - means[0]
    quad = delta @ sigma_w @ delta / (delta @ delta) ** 2
    assert nc.nc1(h, y, 2, "sample") == pytest.approx(quad / 0.625, rel=1e-10)
    assert nc.nc1(h, y, 2, "sample") == pytest.approx(0.8 * nc.nc1(h, y, 2), rel=1e-10)
    # balanced classes: both global means coincide
    hb, yb = two_class_features(n=(50, 50))
    assert nc.nc1(hb, yb, 2, "sample") == pytest.approx(nc.nc1(hb, yb, 2), rel=1e-12)


def test_nc1_is_invariant_to_scaling_and_shifting_all_features():
    h, y = two_class_features()
    base = nc.nc1(h, y, 2)
    assert nc.nc1(7.5 * h, y, 2) == pytest.approx(base, rel=1e-10)
    assert nc.nc1(h + np.array([3.0, -1.0, 2.0]), y, 2) == pytest.approx(base, rel=1e-10)


def test_nc1_is_zero_for_collapsed_classes_and_grows_with_spread():
    rng = np.random.default_rng(1)
    means = rng.normal(size=(3, 4))
    y = np.repeat([0, 1, 2], 10)
    assert nc.nc1(means[y], y, 3) == pytest.approx(0.0, abs=1e-12)
    noisy = means[y] + 0.1 * rng.normal(size=(30, 4))
    assert 0 < nc.nc1(noisy, y, 3) < nc.nc1(means[y] + 0.3 * rng.normal(size=(30, 4)), y, 3)


def test_nc1_three_classes_by_hand_in_one_dimension():
    """M = 1: Σ_W = within-class variance w, Σ_B = variance b of the class means, NC1 =
    (w / b) / N. Classes {0, 2}, {4, 6}, {8, 10}: w = 1, means 1, 5, 9: b = 32/3."""
    h = np.array([[0.0], [2.0], [4.0], [6.0], [8.0], [10.0]])
    y = np.array([0, 0, 1, 1, 2, 2])
    assert nc.nc1(h, y, 3) == pytest.approx((1.0 / (32.0 / 3.0)) / 3.0, rel=1e-12)


def test_nc1_refuses_bad_input_and_is_nan_for_an_empty_class():
    h, y = two_class_features()
    with pytest.raises(ValueError, match="global_mean 'median' is not allowed"):
        nc.nc1(h, y, 2, "median")
    with pytest.raises(ValueError, match=r"labels in \[1, 2\] are not allowed"):
        nc.nc1(h, y + 1, 2)
    with pytest.raises(ValueError, match="n_classes 1 is not allowed"):
        nc.nc1(h, y, 1)
    with pytest.raises(ValueError, match="3 labels for 100 feature rows"):
        nc.nc1(h, y[:3], 2)
    assert np.isnan(nc.nc1(h, y, 3))  # class 2 has no example


def test_memorization_by_hand_in_two_dimensions():
    """Test means: class 0 at (1, 0) (from (0, 0), (2, 0)), class 1 at (0, 3) (from (0, 2),
    (0, 4)). Training example 2 (true 0, observed 1) sits at (1, 4): ‖(0, 4)‖² = 16; example 3
    (true 1, observed 0) at (3, 3): ‖(3, 0)‖² = 9; examples 0, 1 are clean and don't count."""
    h_train = np.array([[5.0, 5.0], [9.0, 9.0], [1.0, 4.0], [3.0, 3.0]])
    true = np.array([0, 1, 0, 1])
    observed = np.array([0, 1, 1, 0])
    h_test = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [0.0, 4.0]])
    y_test = np.array([0, 0, 1, 1])
    m = nc.memorization(h_train, true, observed, h_test, y_test)
    assert m.total == pytest.approx(25.0)
    assert m.count == 2 and m.mean == pytest.approx(12.5)
    assert m.total_unsquared == pytest.approx(4.0 + 3.0)
    # measured from the OBSERVED class's mean instead, the same examples give
    # ‖(1, 4) − (0, 3)‖² + ‖(3, 3) − (1, 0)‖² = 2 + 13
    swapped = nc.memorization(h_train, observed, true, h_test, y_test)
    assert swapped.total == pytest.approx(15.0)


def test_memorization_without_corrupted_examples_is_zero_with_nan_mean():
    h = np.ones((4, 2))
    m = nc.memorization(h, [0, 1, 0, 1], [0, 1, 0, 1], h, [0, 1, 0, 1])
    assert m.total == 0.0 and m.count == 0 and np.isnan(m.mean)


def test_memorization_refuses_a_true_class_without_test_examples():
    h = np.ones((2, 2))
    with pytest.raises(ValueError, match=r"true classes \[1\] of corrupted examples have no "
                                         "test example"):
        nc.memorization(h, [1, 0], [0, 0], h, [0, 0])


def test_cell_metrics_from_a_features_record():
    h_train = np.array([[5.0, 5.0], [9.0, 9.0], [1.0, 4.0], [3.0, 3.0]], np.float32)
    h_test = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [0.0, 4.0]], np.float32)
    # classifier: logit_0 = x, logit_1 = y - 1 -> predicts 0, 0, 1, 1 on the test set except
    # (0, 0): logits (0, -1) -> 0; (2, 0) -> 0; (0, 2) -> 1; (0, 4) -> 1: all right
    arrays = {"train": h_train, "test": h_test, "label": np.array([0, 1, 1, 0]),
              "true_label": np.array([0, 1, 0, 1]), "test_label": np.array([0, 0, 1, 1]),
              "fc_weight": np.array([[1.0, 0.0], [0.0, 1.0]], np.float32),
              "fc_bias": np.array([0.0, -1.0], np.float32), "ids": np.arange(4)}
    out = nc.cell_metrics(arrays)
    assert out["mem"] == pytest.approx(25.0) and out["n_corrupted"] == 2
    assert out["mem_mean"] == pytest.approx(12.5)
    assert out["test_acc"] == 1.0
    assert (out["n_train"], out["n_test"], out["feature_dim"]) == (4, 4, 2)
    assert out["nc1_test"] == pytest.approx(nc.nc1(h_test, [0, 0, 1, 1], 2))
    assert out["nc1_train"] == pytest.approx(nc.nc1(h_train, [0, 1, 1, 0], 2))
    assert out["nc1_train"] != pytest.approx(nc.nc1(h_train, [0, 1, 0, 1], 2))
    arrays["fc_bias"] = np.array([0.0, 1.5], np.float32)  # (2, 0): logits (2, 1.5) -> 0;
    assert nc.cell_metrics(arrays)["test_acc"] == 0.75    # (0, 0): (0, 1.5) -> 1, wrong
    del arrays["fc_bias"]
    with pytest.raises(ValueError, match=r"lack \['fc_bias'\]"):
        nc.cell_metrics(arrays)
