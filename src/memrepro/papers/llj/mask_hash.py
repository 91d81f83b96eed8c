"""Turn-over dropout masks without torch: the integer hash and the kept units (numpy twin).

Turn-over dropout (Kobayashi et al. 2020; LLJ Sec. 2.2 and App. B) gives every training example
its own fixed half of each masked layer. Here unit ``j`` of layer ``l`` gets the 64-bit score
``H(seed, l, id, j)``; the ``width // 2`` units with the lowest scores (ties, which cannot occur
since the final mixing step is a bijection, by unit index) are kept. The hash is integer-only,
so ``memrepro.papers.llj.tod`` reproduces it bit for bit on any device.

The hash chains a splitmix64-style finaliser (add a constant, then three rounds of
xor-shift / multiply, all modulo 2**64) over the four inputs:
``H = mix(mix(mix(mix(seed) ^ layer) ^ id) ^ unit)``.
"""

from __future__ import annotations

import numpy as np

from memrepro.specs import not_allowed

MASK64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15  # added before mixing, so that mix(0) != 0
MULT_1 = 0xBF58476D1CE4E5B9
MULT_2 = 0x94D049BB133111EB
SHIFTS = (30, 27, 31)


def _u64(values) -> np.ndarray:
    """Integers (any sign) as uint64 modulo 2**64."""
    if isinstance(values, int | np.integer) and not isinstance(values, bool):
        return np.asarray(int(values) & MASK64, dtype=np.uint64)
    arr = np.asarray(values)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"mask hash: inputs must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64).view(np.uint64) if arr.dtype.kind == "i" else arr.astype(np.uint64)


def mix(z: np.ndarray) -> np.ndarray:
    """One splitmix64-style finalising step on uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = z + np.uint64(GAMMA)
        z = (z ^ (z >> np.uint64(SHIFTS[0]))) * np.uint64(MULT_1)
        z = (z ^ (z >> np.uint64(SHIFTS[1]))) * np.uint64(MULT_2)
        return z ^ (z >> np.uint64(SHIFTS[2]))


def example_hash(seed: int, layer: int, ids) -> np.ndarray:
    """The per-(seed, layer, example) prefix of the hash, uint64 of the shape of ``ids``."""
    prefix = mix(mix(_u64(seed)) ^ _u64(layer))
    return mix(prefix ^ _u64(ids))


def unit_hash(seed: int, layer: int, ids, width: int) -> np.ndarray:
    """H(seed, layer, id, unit) for every id and unit: uint64 (len(ids), width)."""
    ids = np.asarray(ids).reshape(-1)
    units = np.arange(width, dtype=np.uint64)
    return mix(example_hash(seed, layer, ids)[:, None] ^ units[None, :])


def keep_mask(seed: int, layer: int, ids, width: int) -> np.ndarray:
    """Bool (len(ids), width): True for the ``width // 2`` units of each example whose hash
    ranks lowest (stable sort: ties by unit index). The unmuted sub-network of LLJ Sec. 2.2."""
    if int(width) < 2:
        raise ValueError(not_allowed("width", width, "an int >= 2", where="keep_mask"))
    h = unit_hash(seed, layer, ids, int(width))
    order = np.argsort(h, axis=1, kind="stable")[:, : int(width) // 2]
    keep = np.zeros(h.shape, dtype=bool)
    np.put_along_axis(keep, order, True, axis=1)
    return keep
