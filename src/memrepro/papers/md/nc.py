"""MD's two measurements of penultimate-layer features (Sec. 4.1), in float64 numpy.

- ``nc1``: within-class variability relative to the between-class spread,
  NC1 = tr(Σ_W Σ_B⁺) / N (after Zhu et al. 2021); on the test set MD call it *dilation*.
- ``memorization``: how far the features of the corrupted training examples lie from the
  test-set mean of their true class (MD Eq. 3).

``cell_metrics`` turns one ``features`` probe file into the numbers of MD Figs. 1 and 2.
Torch-free: figure jobs import it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from memrepro.specs import not_allowed, refused

GLOBAL_MEANS = ("class", "sample")
FEATURE_ARRAYS = ("train", "test", "label", "true_label", "test_label", "fc_weight", "fc_bias")


def _as_features(h, name: str) -> np.ndarray:
    h = np.asarray(h, dtype=np.float64)
    if h.ndim != 2:
        raise ValueError(f"{name}: features must be a 2-D array (examples, M); got shape "
                         f"{h.shape}")
    return h


def _as_labels(labels, n: int, name: str) -> np.ndarray:
    labels = np.asarray(labels).reshape(-1)
    if labels.size != n:
        raise ValueError(f"{name}: {labels.size} labels for {n} feature rows")
    return labels.astype(np.int64)


def class_means(h: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, M) mean feature of each class; a row of NaN for a class without examples."""
    out = np.full((n_classes, h.shape[1]), np.nan)
    for c in range(n_classes):
        rows = h[labels == c]
        if rows.shape[0]:
            out[c] = rows.mean(0)
    return out


def nc1(h, labels, n_classes: int, global_mean: str = "class") -> float:
    """NC1 = tr(Σ_W Σ_B⁺) / N (MD Sec. 4.1, after Zhu et al. 2021).

    Σ_W = (1/n) Σ_i (h_i − μ_{c_i})(h_i − μ_{c_i})ᵀ over all n examples;
    Σ_B = (1/N) Σ_c (μ_c − μ_G)(μ_c − μ_G)ᵀ over the N = ``n_classes`` classes;
    μ_G = the mean of the class means (``"class"``, the paper's definition) or the mean of
    all features (``"sample"``, what the released code computes; the two differ when the
    classes are unbalanced). Σ_B⁺: Moore-Penrose pseudo-inverse with numpy's default cutoff.
    NaN when a class has no example (its mean is undefined)."""
    if global_mean not in GLOBAL_MEANS:
        raise ValueError(not_allowed("global_mean", global_mean, list(GLOBAL_MEANS), where="nc1"))
    if isinstance(n_classes, bool) or int(n_classes) < 2:
        raise ValueError(not_allowed("n_classes", n_classes, "an integer >= 2", where="nc1"))
    h = _as_features(h, "nc1")
    labels = _as_labels(labels, h.shape[0], "nc1")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(refused(f"nc1: labels in [{labels.min()}, {labels.max()}]",
                                 f"0..{n_classes - 1}", many=True))
    means = class_means(h, labels, n_classes)
    if np.isnan(means).any():
        return float("nan")
    centred = h - means[labels]
    sigma_w = centred.T @ centred / h.shape[0]
    mu_g = means.mean(0) if global_mean == "class" else h.mean(0)
    between = means - mu_g
    sigma_b = between.T @ between / n_classes
    return float(np.trace(sigma_w @ np.linalg.pinv(sigma_b)) / n_classes)


class Memorization(NamedTuple):
    """MD Eq. 3 over the corrupted training examples C: ``total`` = Σ_{i∈C} ‖h_i − μ*_{t_i}‖²,
    ``mean`` = total / |C| (NaN when C is empty), ``count`` = |C|, ``total_unsquared`` =
    Σ_{i∈C} ‖h_i − μ*_{t_i}‖."""

    total: float
    mean: float
    count: int
    total_unsquared: float


def memorization(h_train, true_train, observed_train, h_test, y_test) -> Memorization:
    """MD Eq. 3: mem = Σ over training examples whose observed label differs from their true
    label t_i of ‖h_i − μ*_{t_i}‖², with μ*_c the mean feature of the test examples of class
    c: the distance of a corrupted example from where its true class lies on unseen data
    (MD Sec. 4.2 reads the memorization of class 1 as ‖h_2 − u_1‖, u_1 the centroid of the
    corrupted examples of true class 2)."""
    h_train, h_test = _as_features(h_train, "memorization"), _as_features(h_test, "memorization")
    if h_train.shape[1] != h_test.shape[1]:
        raise ValueError(f"memorization: training features have M = {h_train.shape[1]}, test "
                         f"features M = {h_test.shape[1]}")
    true = _as_labels(true_train, h_train.shape[0], "memorization: true_train")
    observed = _as_labels(observed_train, h_train.shape[0], "memorization: observed_train")
    y_test = _as_labels(y_test, h_test.shape[0], "memorization: y_test")
    corrupted = observed != true
    needed = np.unique(true[corrupted])
    missing = sorted(set(needed.tolist()) - set(np.unique(y_test).tolist()))
    if missing:
        raise ValueError(f"memorization: true classes {missing} of corrupted examples have no "
                         "test example (their test mean is undefined)")
    n_classes = int(max(true.max(initial=-1), y_test.max(initial=-1))) + 1
    test_means = class_means(h_test, y_test, n_classes)
    dist2 = ((h_train[corrupted] - test_means[true[corrupted]]) ** 2).sum(1)
    count = int(corrupted.sum())
    total = float(dist2.sum())
    return Memorization(total, total / count if count else float("nan"), count,
                        float(np.sqrt(dist2).sum()))


def classifier_accuracy(h_test, y_test, fc_weight, fc_bias) -> float:
    """Share of test examples whose largest logit h W^T + b is their label."""
    h_test = _as_features(h_test, "classifier_accuracy")
    logits = h_test @ np.asarray(fc_weight, np.float64).T + np.asarray(fc_bias, np.float64)
    y = _as_labels(y_test, h_test.shape[0], "classifier_accuracy")
    return float((logits.argmax(1) == y).mean()) if y.size else float("nan")


def cell_metrics(arrays) -> dict[str, float]:
    """MD's numbers of one run from its ``features`` probe arrays: memorization (Eq. 3:
    ``mem``, ``mem_mean``, ``mem_unsquared``, ``n_corrupted``), NC1 of the training features
    with the labels trained on (``nc1_train``) and of the test features with their labels
    (``nc1_test``, "dilation"), each also with the sample global mean (``*_sm``), the test
    accuracy of the saved classifier, and the set sizes. N = the classifier's rows."""
    missing = [k for k in FEATURE_ARRAYS if k not in arrays]
    if missing:
        raise ValueError(f"cell_metrics: the features arrays lack {missing}; allowed: a "
                         f"features probe file with {list(FEATURE_ARRAYS)}")
    train, test = arrays["train"], arrays["test"]
    k = int(np.asarray(arrays["fc_weight"]).shape[0])
    mem = memorization(train, arrays["true_label"], arrays["label"], test, arrays["test_label"])
    out = {"mem": mem.total, "mem_mean": mem.mean, "mem_unsquared": mem.total_unsquared,
           "n_corrupted": mem.count, "n_train": int(np.shape(train)[0]),
           "n_test": int(np.shape(test)[0]), "feature_dim": int(np.shape(train)[1])}
    for suffix, how in (("", "class"), ("_sm", "sample")):
        out[f"nc1_train{suffix}"] = nc1(train, arrays["label"], k, how)
        out[f"nc1_test{suffix}"] = nc1(test, arrays["test_label"], k, how)
    out["test_acc"] = classifier_accuracy(test, arrays["test_label"], arrays["fc_weight"],
                                    arrays["fc_bias"])
    return out
