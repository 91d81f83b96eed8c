"""Arpit et al. 2017, Figs. 3 and 4: loss-sensitivity tables, real vs random data.

Sec. 3.2 of the paper trains "a fully-connected network with 2 layers of 16 units on 1000
downscaled 14x14 MNIST digits using SGD" and reports

* Fig. 3: the Gini coefficient over examples of the loss-sensitivity ``gbar_x`` as training
  progresses, real vs random data, with the normal labels (K = 10, left) and with one class per
  example (K = n, right);
* Fig. 4: the per-class matrix ``gbar(i, j)`` (loss term of class i, examples of class j), real
  (left) vs random (right), normal labels.

The measurement itself (unrolled SGD, ``L_t``, truncation, Gini) lives in
:mod:`memrepro.papers.ar.loss_sensitivity`; this module picks the examples, builds the four
(two) runs and returns tidy tables for :mod:`memrepro.papers.ar.sensitivity_figures`.

**What "random data" is (our choice).** Random *inputs*: Gaussian noise with the per-channel mean
and standard deviation of the chosen (standardised) examples, with the *same* labels. In the right
panel of Fig. 3 every example has its own class, so random *labels* would be a mere relabelling
of a unique-label problem and could not make "random" differ from "real"; only random inputs can.
We use the same kind of random data in both panels and in Fig. 4 so the panels are comparable.

**Examples.** :func:`select_examples`: the first ``examples`` of a seeded permutation of the
training set, downscaled by area averaging to ``side`` x ``side`` when ``side`` is smaller than
the image (MNIST 28 -> 14: exact 2x2 means; 8x8 digits are left alone), scaled to [0, 1] and
standardised per channel with the chosen examples' own mean and std.

**Runs.** Every run starts from the same ``small_mlp`` (in_dim-16-16-K, weights drawn after
``torch.manual_seed(seed)``) and replays the same minibatches (:func:`epoch_batches` with a
generator seeded by ``seed``); real and random runs differ only in the inputs. The random inputs
are drawn with seed ``seed + 1``. ``epoch`` = step / (examples // batch_size).

**Settings** (``spec`` keys; the paper gives no learning rate, batch size or run length):

=============  =======  ======================================================================
key            default  why
=============  =======  ======================================================================
examples       1000     the paper's 1000 digits
side           14       the paper's 14x14 (null: keep the image size; 8x8 digits stay 8x8)
hidden, depth  16, 2    the paper's "2 layers of 16 units"
lr             0.5      plain SGD on standardised inputs. Real data, K = 10, final training
                        accuracy: 99.6 % (digits) / 96.6 % (1000 MNIST test digits, 14x14);
                        lr 0.1 learns more slowly (93 % / 87 % after 10 epochs), lr 1.0
                        diverges on digits. K = n is far from fitted in this run (2-4 %).
batch_size     50       20 steps per epoch at n = 1000
steps          300      15 epochs at n = 1000 (cost grows with steps^2, or steps * W)
restart_every  null     Sec. 3.2 back-propagates through all the unrolled steps (after
                        Maclaurin et al. 2015): null keeps the whole graph, O(steps^2)
                        time. W: truncated unrolling, the graph restarted every W steps,
                        O(steps * W) (:mod:`memrepro.papers.ar.loss_sensitivity`). The
                        smoke scale uses 20 (one epoch) for its time budget; what that
                        changes is measured below.
seed           0        model, minibatch order, example choice and noise (seed + 1)
=============  =======  ======================================================================

**Cost**, measured by hand (not in the tests): one table per process with these defaults but
``restart_every``, 1 torch thread, peak RSS from ``resource.getrusage``; MNIST = the first 1000
of the seeded permutation of the 10,000 MNIST test digits, 14x14; 2 CPU cores shared with
other jobs (load 2-6), so the times are upper bounds; torch 2.14.1; the imported libraries
alone take 584-647 MB:

============================  ==========================  ==================================
data                          :func:`gini_table`          :func:`class_matrix_table`
============================  ==========================  ==================================
digits 8x8 (smoke), W = 20    12 s, 739 MB                16 s, 829 MB
digits 8x8, full unroll       139 s, 1,012 MB             198 s, 1,827 MB (vmapped);
                                                          544 s, 824 MB (class loop)
MNIST 14x14, W = 20           19 s, 745 MB                122 s, 929 MB
MNIST 14x14, full unroll      218 s, 988 MB               679 s, 3,873 MB (vmapped);
                                                          711 s, 1,284 MB (class loop)
============================  ==========================  ==================================

The full unroll at the paper's settings needs at most ~0.7 GB above the libraries (the
class loop), so no checkpointing: :func:`class_matrix_table` loops over the classes there
(``batched=False``; the vmapped backward's memory grows with the steps), and keeps the
vmapped backward on a truncated graph (smoke: the same numbers as before). Earlier
measurements on idle cores: W = 20, digits 6.6-8.6 s / 7.7-10.7 s, MNIST ~8 s / ~20-40 s; 1
thread is within 10 % of 2. Timings blow up under CPU contention (one gini table took 340 s
while other jobs held the cores): give the rule 1 thread rather than oversubscribe.

**What the smoke truncation changes** (digits 8x8, these defaults, W = 20 vs null; the AR NOTE,
docs/papers/ar.md, states the same). Fig. 3, max over the 300 steps of |Gini(W = 20) -
Gini(full)| and the final values (W = 20 / full): normal labels, real 0.239 (0.546 / 0.361),
random 0.041 (0.195 / 0.154); one class per example, real 0.041 (0.186 / 0.201), random 0.018
(0.168 / 0.176). Real stays above random at all 300 steps with the normal labels in both; with
one class per example the two cross until step 150 (W = 20) / 110 (full), real above from there
on. Fig. 4: the truncated cells are 2-23 % (real) and 16-53 % (random) of the full unroll's;
mean diagonal / mean off-diagonal 1.78 / 1.09 (real) and 5.43 / 2.78 (random), so real is "more
spread out" in both; the diagonal is the largest cell of its column j in 7 / 1 of 10 columns
(real) and 10 / 10 (random). On 14x14 MNIST at lr 0.5 the full-unroll derivative is dominated by
a few steps: the mean over examples of g^t (real, K = 10) peaks at 5.3e3 (step 263; 11
truncated), gbar averages 215 (0.105 truncated).

Both tables carry ``train_acc``, the final training accuracy of each run (same on all its rows).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call

from memrepro.papers.ar.loss_sensitivity import (
    class_sensitivity,
    epoch_batches,
    loss_sensitivity,
    running_gini,
    small_mlp,
    unrolled_sgd,
)
from memrepro.papers.ar.sensitivity_figures import DATA_LABELS
from memrepro.specs import not_allowed

DEFAULTS: dict[str, Any] = {"examples": 1000, "side": 14, "hidden": 16, "depth": 2, "lr": 0.5,
                            "batch_size": 50, "steps": 300, "restart_every": None, "seed": 0}
GINI_TABLE_COLUMNS = ["panel", "panel_title", "data", "labels", "step", "epoch", "gini",
                      "train_acc"]
MATRIX_TABLE_COLUMNS = ["panel", "panel_title", "data", "i", "j", "value", "train_acc"]
DATA_KINDS = ("real", "random")


# --- examples ---------------------------------------------------------------------------------

def select_examples(x_uint8: np.ndarray, y: np.ndarray, n: int, side: int | None,
                    seed: int) -> tuple[Tensor, Tensor]:
    """First ``n`` of a seeded permutation, area-downscaled to ``side`` (if smaller), in [0, 1],
    standardised per channel: (float32 (n, C, s, s), long (n,))."""
    x_uint8, y = np.asarray(x_uint8), np.asarray(y)
    if x_uint8.ndim != 4 or len(x_uint8) != len(y):
        raise ValueError(f"expected NCHW images with one label each, got x {x_uint8.shape}, "
                         f"y {y.shape}")
    if not 1 <= n <= len(y):
        raise ValueError(not_allowed("examples", n, f"1..{len(y)} (the training set size)"))
    keep = np.random.default_rng(seed).permutation(len(y))[:n]
    X = torch.from_numpy(x_uint8[keep].astype(np.float32)) / 255.0
    if side is not None and side < X.shape[-1]:
        X = F.interpolate(X, size=(side, side), mode="area")  # Sec. 3.2: 28x28 -> 14x14
    mean = X.mean(dim=(0, 2, 3), keepdim=True)
    std = X.std(dim=(0, 2, 3), keepdim=True)
    X = (X - mean) / torch.where(std > 0, std, torch.ones_like(std))
    return X.contiguous(), torch.from_numpy(y[keep].astype(np.int64))


def random_inputs_like(X: Tensor, seed: int) -> Tensor:
    """Gaussian inputs with X's per-channel mean and std ("random data", module docstring)."""
    gen = torch.Generator().manual_seed(seed)
    mean = X.mean(dim=(0, 2, 3), keepdim=True)
    std = X.std(dim=(0, 2, 3), keepdim=True)
    noise = torch.randn(X.shape, generator=gen, dtype=X.dtype)
    return noise * std + mean


# --- settings ---------------------------------------------------------------------------------

def _settings(spec: dict | None, n_train: int) -> dict[str, Any]:
    """Defaults overlaid with ``spec``; every value checked, errors name key, value, range."""
    s = {**DEFAULTS, **(spec or {})}
    unknown = sorted(set(s) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"settings: unknown key(s) {unknown}; allowed: {sorted(DEFAULTS)}")
    positive = {"examples": f"1..{n_train} (the training set size)", "hidden": ">= 1",
                "depth": ">= 1", "batch_size": "1..examples", "steps": ">= 1"}
    for key, allowed in positive.items():
        if type(s[key]) is not int or s[key] < 1:
            raise ValueError(not_allowed(key, s[key], f"an integer {allowed}"))
    if s["examples"] > n_train:
        raise ValueError(not_allowed("examples", s["examples"],
                                     f"1..{n_train} (the training set size)"))
    if s["batch_size"] > s["examples"]:
        raise ValueError(not_allowed("batch_size", s["batch_size"],
                                     f"1..{s['examples']} (examples)"))
    for key in ("side", "restart_every"):
        if s[key] is not None and (type(s[key]) is not int or s[key] < 1):
            raise ValueError(not_allowed(key, s[key], "null or an integer >= 1"))
    if not isinstance(s["lr"], int | float) or not s["lr"] > 0:
        raise ValueError(not_allowed("lr", s["lr"], "a number > 0"))
    if type(s["seed"]) is not int:
        raise ValueError(not_allowed("seed", s["seed"], "an integer"))
    return s


def _prepared(x_uint8: np.ndarray, y: np.ndarray,
              spec: dict | None) -> tuple[dict[str, Any], dict[str, Tensor], Tensor]:
    """(settings, {"real": X, "random": noise}, labels) shared by both tables."""
    s = _settings(spec, len(y))
    X, labels = select_examples(x_uint8, y, s["examples"], s["side"], s["seed"])
    return s, {"real": X, "random": random_inputs_like(X, s["seed"] + 1)}, labels


def _model(s: dict[str, Any], in_dim: int, num_classes: int) -> torch.nn.Module:
    torch.manual_seed(s["seed"])  # the same initialisation for real and random data
    return small_mlp(num_classes, in_dim=in_dim, hidden=s["hidden"], depth=s["depth"])


def _batches(s: dict[str, Any]) -> list[Tensor]:
    gen = torch.Generator().manual_seed(s["seed"])
    return epoch_batches(s["examples"], s["batch_size"], s["steps"], generator=gen)


def final_accuracy(model: torch.nn.Module, X: Tensor, y: Tensor, batches: list[Tensor],
                   lr: float) -> float:
    """Training accuracy after the same SGD run (replayed without the unrolled graph)."""
    (params,) = deque(unrolled_sgd(model, X.detach(), y, batches, lr, restart_every=1),
                      maxlen=1)  # keep only theta_T
    with torch.no_grad():
        logits = functional_call(model, {**params, **dict(model.named_buffers())}, (X,))
    return float((logits.argmax(1) == y).float().mean())


def _num_classes(y: np.ndarray) -> int:
    return int(np.max(y)) + 1


# --- Fig. 3 -----------------------------------------------------------------------------------

def gini_table(x_uint8: np.ndarray, y: np.ndarray, spec: dict | None = None) -> pd.DataFrame:
    """Fig. 3: Gini of the running mean of g_x^t after every step, for real/random inputs with
    the normal labels (panel 0) and one class per example (panel 1)."""
    s, inputs, labels = _prepared(x_uint8, y, spec)
    n = s["examples"]
    batches = _batches(s)
    per_epoch = n // s["batch_size"]
    label_sets = [("classes", labels, _num_classes(y), "normal labels"),
                  ("unique", torch.arange(n), n, "one class per example")]
    frames = []
    for panel, (kind, targets, k, title) in enumerate(label_sets):
        for data in DATA_KINDS:
            X = inputs[data]
            model = _model(s, X[0].numel(), k)
            g = loss_sensitivity(model, X, targets, batches, s["lr"], per_step=True,
                                 restart_every=s["restart_every"])
            steps = np.arange(1, len(batches) + 1)
            frames.append(pd.DataFrame({
                "panel": panel, "panel_title": f"{title} (K = {k})", "data": data,
                "labels": kind, "step": steps, "epoch": steps / per_epoch,
                "gini": running_gini(g),
                "train_acc": final_accuracy(model, X, targets, batches, s["lr"])}))
    return pd.concat(frames, ignore_index=True)[GINI_TABLE_COLUMNS]


# --- Fig. 4 -----------------------------------------------------------------------------------

def _vmapped_classes(s: dict[str, Any]) -> bool:
    """One vmapped backward for all classes on a truncated graph; a loop over the classes
    through the full unroll, where the vmapped backward's peak memory grows with the steps
    (measured on 14x14 MNIST, K = 10, 300 steps: +3.3 GB vmapped; module docstring)."""
    return s["restart_every"] is not None


def class_matrix_table(x_uint8: np.ndarray, y: np.ndarray,
                       spec: dict | None = None) -> pd.DataFrame:
    """Fig. 4: gbar(i, j) (loss term of class i, examples of class j) for real (panel 0) and
    random (panel 1) inputs with the normal labels, K x K rows each."""
    s, inputs, labels = _prepared(x_uint8, y, spec)
    k = _num_classes(y)
    batches = _batches(s)
    ii, jj = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    frames = []
    for panel, data in enumerate(DATA_KINDS):
        X = inputs[data]
        model = _model(s, X[0].numel(), k)
        m = class_sensitivity(model, X, labels, batches, s["lr"], k,
                              batched=_vmapped_classes(s), restart_every=s["restart_every"])
        frames.append(pd.DataFrame({
            "panel": panel, "panel_title": DATA_LABELS[data], "data": data,
            "i": ii.ravel(), "j": jj.ravel(), "value": m.detach().double().numpy().ravel(),
            "train_acc": final_accuracy(model, X, labels, batches, s["lr"])}))
    return pd.concat(frames, ignore_index=True)[MATRIX_TABLE_COLUMNS]
