"""The tracked subsets of Liu, Lin & Jaggi 2022 (LLJ), Fig. 3 and 4: a fixed share of the
real-label ("easy") and of the random-label ("difficult") training examples, followed through
training. One deterministic rule, shared by the training-time gradient statistics and the
figure extraction (numpy only: figure jobs do not import torch)."""

from __future__ import annotations

import numbers

import numpy as np

from memrepro.specs import not_allowed


def tracked_subsets(corrupted: np.ndarray, frac: float = 1 / 6,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(easy, difficult) sorted positions into ``corrupted`` (bool, one per training example).

    easy: drawn from the uncorrupted examples, difficult: from the corrupted ones (label
    changed); each of size min(round(n * frac), available), n = len(corrupted). LLJ's 10,000
    of 60,000 MNIST examples is frac = 1/6. Both are drawn, easy first, from one
    ``np.random.default_rng(seed)``."""
    mask = np.asarray(corrupted)
    if mask.ndim != 1 or mask.dtype != np.bool_:
        raise ValueError(f"tracked_subsets: corrupted must be a 1-D bool array; got dtype "
                         f"{mask.dtype}, shape {mask.shape}")
    if isinstance(frac, bool) or not isinstance(frac, numbers.Real) or not 0 < frac <= 1:
        raise ValueError(not_allowed("frac", frac, "a share in (0, 1]", where="tracked_subsets"))
    size = int(round(mask.size * float(frac)))
    rng = np.random.default_rng(seed)
    out = []
    for pool in (np.flatnonzero(~mask), np.flatnonzero(mask)):
        take = min(size, pool.size)
        out.append(np.sort(rng.permutation(pool)[:take]).astype(np.int64))
    return out[0], out[1]
