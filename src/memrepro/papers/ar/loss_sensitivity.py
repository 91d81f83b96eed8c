"""Loss-sensitivity through unrolled SGD and its Gini coefficient (Arpit et al. 2017, Sec. 3.2).

The paper measures how much each training example ``x`` still moves the training loss ``t`` SGD
steps later::

    g_x^t = || dL_t / dx ||_1,        gbar_x = 1/T sum_{t=1..T} g_x^t

where the derivative goes back through the unrolled SGD updates (Maclaurin et al. 2015): training
on ``x`` changes the parameters, which changes every later update and every later loss. Fig. 3
plots the Gini coefficient of ``gbar_x`` over examples as training progresses, Fig. 4 the per-class
matrix ``gbar(i, j) = E_{x: y=j} 1/T sum_t |dL_t(y=i) / dx|``. Setting of both figures: a ReLU MLP
196-16-16-K (:func:`small_mlp`) on 1000 MNIST digits downscaled to 14x14, plain SGD, K = 10 or
K = 1000 (one class per example).

Choices where the paper is silent (all documented here, all overridable where it is cheap):

* **What L_t is.** "the loss after t updates" / "the effect of each sample on the average loss":
  we take L_t = mean cross-entropy over the *whole training set* evaluated at the parameters
  theta_t after the t-th update (not the minibatch loss, which would only see the examples of one
  batch and be noisy). t runs over 1..T, i.e. theta_0 (the initialisation) is not scored: it does
  not depend on X.
* **Direct and indirect effect.** ``dL_t/dx`` is the *total* derivative: x enters L_t directly
  (its own loss term at theta_t) and indirectly through every update of a minibatch that held x.
  ``include_direct=False`` keeps only the indirect part (x is detached in the evaluation of L_t,
  so an example not yet trained on has g = 0).
* **Minibatches.** The sequence of minibatches is an explicit argument, so the same trajectory can
  be replayed (tests, finite differences). :func:`epoch_batches` gives the usual shuffled epochs.
  The minibatch loss used for the update is the mean cross-entropy over the batch.
* **Averaging.** ``gbar`` is the plain mean of ``g^t`` over the T scored steps. For Fig. 3 ("as
  training progresses") :func:`running_gini` gives the Gini of the running mean after each step.
* **Norm.** l1 over all input coordinates of the example (the paper reports l1 only).
* **Class terms (Fig. 4).** ``L_t(y=i)`` = the part of the full-set mean cross-entropy that comes
  from examples of class i, i.e. ``1/n sum_{k: y_k=i} CE_k`` (so the class terms add up to L_t);
  ``E_{(x,y)}`` over examples of class j is a plain mean. With balanced classes a per-class mean
  instead of ``1/n`` would only rescale rows.
* **Gini of all zeros** is 0 (perfect equality); negative or non-finite values raise.

Cost: every step keeps the graph of its update (the minibatch gradient is taken with
``create_graph=True``), so memory grows linearly with T, and each g^t needs its own backward pass
through t steps (the l1 norm does not commute with the sum over t), so time is O(T^2) steps.
Measured on 2 shared CPU cores, 196-16-16-K MLP, 1000 examples, batch 100, float32: gbar over
T = 100 steps takes ~2.5 s (K = 10) / ~5.5 s (K = 1000); T = 200 ~8 s and ~0.75 GB peak RSS
(K = 10; 0.8 s with ``restart_every=20``). The class matrix needs K backward passes
per step, O(K T^2): cheap for K = 10, but for K = 1000 about 3 s per step-length of graph
(~11 s for T = 3); there use ``restart_every``. ``restart_every=W`` detaches the parameters every
W steps (the trajectory itself is unchanged), so g^t only sees examples trained on since the last
restart (truncated back-propagation), and memory/time become O(W) / O(T W) (O(K T W)).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

Batches = Sequence[Sequence[int] | Tensor]


def gini(values: Sequence[float] | np.ndarray | Tensor) -> float:
    """Gini coefficient of non-negative values: mean absolute difference / (2 * mean).

    0 for all-equal values, (n-1)/n for one non-zero value among n (-> 1 as n grows). Exact, in
    O(n log n) via the sorted form ``sum_i (2i - n - 1) x_(i) / (n sum x)`` (i = 1..n ascending).
    All zeros give 0 (nothing is unequal); negative, non-finite or no values raise ValueError.
    """
    if isinstance(values, Tensor):
        values = values.detach().cpu().numpy()
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("gini of no values")
    if not np.all(np.isfinite(x)):
        raise ValueError("gini needs finite values")
    if np.any(x < 0):
        raise ValueError(f"gini needs non-negative values, got min {x.min()}")
    total = x.sum()
    if total == 0:
        return 0.0
    n = x.size
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float(np.dot(2 * ranks - n - 1, np.sort(x)) / (n * total))


def running_gini(per_step: Tensor | np.ndarray) -> np.ndarray:
    """Gini over examples of the running mean of g^t after each step: (T, n) -> (T,) (Fig. 3)."""
    g = np.asarray(per_step.detach().cpu() if isinstance(per_step, Tensor) else per_step,
                   dtype=np.float64)
    running = np.cumsum(g, axis=0) / np.arange(1, g.shape[0] + 1)[:, None]
    return np.array([gini(row) for row in running])


def small_mlp(num_classes: int, in_dim: int = 196, hidden: int = 16, depth: int = 2) -> nn.Module:
    """The Fig. 3/4 network: ``depth`` ReLU layers of ``hidden`` units (196-16-16-K)."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_dim
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def epoch_batches(n: int, batch_size: int, steps: int,
                  generator: torch.Generator | None = None) -> list[Tensor]:
    """``steps`` minibatch index tensors from successive reshuffled epochs (last partial dropped
    only if the epoch does not divide evenly: every batch has exactly ``batch_size`` indices)."""
    if not 0 < batch_size <= n:
        raise ValueError(f"batch_size must be in 1..{n}, got {batch_size}")
    out: list[Tensor] = []
    while len(out) < steps:
        perm = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):
            out.append(perm[start:start + batch_size])
            if len(out) == steps:
                break
    return out


def _as_index(batch: Sequence[int] | Tensor) -> Tensor:
    return torch.as_tensor(batch, dtype=torch.long)


def unrolled_sgd(model: nn.Module, X: Tensor, y: Tensor, batches: Batches, lr: float, *,
                 restart_every: int | None = None) -> Iterator[dict[str, Tensor]]:
    """Replay plain SGD from ``model``'s current parameters, yielding theta_t for t = 1..T.

    Functional (``torch.func.functional_call``): the module is not modified. The update
    ``theta <- theta - lr * grad L_batch(theta; X[B_t])`` is built with ``create_graph=True``, so if
    ``X`` requires grad every yielded theta_t is a differentiable function of X through all earlier
    updates (Arpit et al. 2017, Sec. 3.2, after Maclaurin et al. 2015). ``restart_every=W``
    detaches theta before steps W+1, 2W+1, ... (same values, truncated graph).
    """
    if restart_every is not None and restart_every < 1:
        raise ValueError("restart_every must be >= 1")
    buffers = dict(model.named_buffers())
    params = {k: v.detach().clone().requires_grad_(True) for k, v in model.named_parameters()}
    names = list(params)
    for t, batch in enumerate(batches, start=1):
        if restart_every is not None and t > 1 and (t - 1) % restart_every == 0:
            params = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        idx = _as_index(batch)
        logits = functional_call(model, {**params, **buffers}, (X[idx],))
        loss = F.cross_entropy(logits, y[idx])
        grads = torch.autograd.grad(loss, [params[k] for k in names], create_graph=True)
        params = {k: params[k] - lr * g for k, g in zip(names, grads, strict=True)}
        yield params


def _prepare(X: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    if not X.is_floating_point():
        raise TypeError("X must be a floating-point tensor")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"{X.shape[0]} inputs but {y.shape[0]} labels")
    return X.detach().clone().requires_grad_(True), y.to(device=X.device, dtype=torch.long)


def input_gradients(model: nn.Module, X: Tensor, y: Tensor, batches: Batches, lr: float, *,
                    include_direct: bool = True,
                    restart_every: int | None = None) -> Iterator[Tensor]:
    """Yield dL_t/dX (same shape as X, one row per training example) for t = 1..T.

    L_t = mean cross-entropy over all of (X, y) at theta_t (module docstring). All examples at
    once: one backward pass per step, no loop over examples.
    """
    Xg, y = _prepare(X, y)
    X_eval = Xg if include_direct else Xg.detach()
    for params in unrolled_sgd(model, Xg, y, batches, lr, restart_every=restart_every):
        loss = F.cross_entropy(functional_call(model, {**params, **dict(model.named_buffers())},
                                               (X_eval,)), y)
        (grad,) = torch.autograd.grad(loss, Xg, retain_graph=True, allow_unused=True)
        yield torch.zeros_like(Xg) if grad is None else grad.detach()


def loss_sensitivity(model: nn.Module, X: Tensor, y: Tensor, batches: Batches, lr: float, *,
                     per_step: bool = False, include_direct: bool = True,
                     restart_every: int | None = None) -> Tensor:
    """Loss-sensitivity of every training example (Arpit et al. 2017, Sec. 3.2).

    Returns g^t_x = ||dL_t/dx||_1 as a (T, n) tensor if ``per_step``, else its mean over the T
    steps, gbar_x, shape (n,). ``batches`` are the T minibatches (index sequences) of the SGD run
    started from ``model``'s parameters with learning rate ``lr``.
    """
    rows = [g.flatten(1).abs().sum(1) for g in input_gradients(
        model, X, y, batches, lr, include_direct=include_direct, restart_every=restart_every)]
    if not rows:
        raise ValueError("no SGD steps given")
    g = torch.stack(rows)
    return g if per_step else g.mean(0)


def class_sensitivity(model: nn.Module, X: Tensor, y: Tensor, batches: Batches, lr: float,
                      num_classes: int, *, include_direct: bool = True,
                      restart_every: int | None = None, class_chunk: int = 16,
                      batched: bool = False) -> Tensor:
    """Per-class loss-sensitivity matrix gbar(i, j), shape (K, K) (Arpit et al. 2017, Fig. 4).

    ``gbar[i, j] = mean over examples x of class j of 1/T sum_t ||dL_t(y=i)/dx||_1`` with
    ``L_t(y=i) = 1/n sum_{k: y_k = i} CE_k(theta_t)``. Columns of classes without examples are NaN.
    The K class backward passes of a step loop over classes; ``batched=True`` runs them
    ``class_chunk`` at a time with a vmapped backward (``is_grads_batched``), same numbers, faster
    for small n but ~2x slower than the loop at n = 1000 on CPU (memory-bound).
    """
    Xg, y = _prepare(X, y)
    if int(y.min()) < 0 or int(y.max()) >= num_classes:
        raise ValueError(f"labels must be in 0..{num_classes - 1}")
    n = Xg.shape[0]
    X_eval = Xg if include_direct else Xg.detach()
    onehot = F.one_hot(y, num_classes).to(Xg.dtype)  # (n, K): example k belongs to class y_k
    counts = onehot.sum(0)
    total = torch.zeros(num_classes, num_classes, dtype=Xg.dtype, device=Xg.device)
    steps = 0
    for params in unrolled_sgd(model, Xg, y, batches, lr, restart_every=restart_every):
        steps += 1
        logits = functional_call(model, {**params, **dict(model.named_buffers())}, (X_eval,))
        per_example = F.cross_entropy(logits, y, reduction="none")
        class_loss = onehot.T @ per_example / n  # (K,) terms of the full-set mean loss
        for start in range(0, num_classes, class_chunk):
            rows = torch.arange(start, min(start + class_chunk, num_classes), device=Xg.device)
            if batched:
                sel = F.one_hot(rows, num_classes).to(Xg.dtype)  # (c, K)
                (g,) = torch.autograd.grad(class_loss, Xg, sel, retain_graph=True,
                                           is_grads_batched=True, allow_unused=True)
                g = Xg.new_zeros(len(rows), *Xg.shape) if g is None else g
            else:
                parts = []
                for i in rows.tolist():
                    (gi,) = torch.autograd.grad(class_loss[i], Xg, retain_graph=True,
                                                allow_unused=True)
                    parts.append(torch.zeros_like(Xg) if gi is None else gi)
                g = torch.stack(parts)
            norms = g.detach().flatten(2).abs().sum(2)  # (c, n): ||dL_t(y=i)/dx_k||_1
            total[rows] += norms @ onehot  # summed over examples of each class j
    if steps == 0:
        raise ValueError("no SGD steps given")
    return total / steps / counts  # mean over examples of class j, over t
