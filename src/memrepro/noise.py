"""Label- and input-noise models.

Each noise maps clean labels to noisy ones and says which examples it corrupted. The
definitions differ between the papers, so each has its own name, and its docstring names the
papers (and section) that define it (PS Sec. 3: ``symmetric_other``; AR and MD: the others); all
of them record the realised flip rate (fraction of training labels that differ from the clean
ones).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class NoiseResult:
    labels: np.ndarray          # int64 (n,): the labels the network is trained on
    corrupted: np.ndarray       # bool (n,): example differs from its clean version
    num_classes: int            # classes of the noisy problem (n for unique_class)
    definition: str             # one sentence, written to the sidecar
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def flip_rate(self) -> float:
        return float(self.corrupted.mean()) if self.corrupted.size else 0.0


NoiseFn = Callable[[np.ndarray, int, float, np.random.Generator], NoiseResult]
NOISES: dict[str, NoiseFn] = {}
FULL_RATE: set[str] = set()  # noises for which eta = 1 is meaningful (every example noisy)


def register_noise(fn: NoiseFn | None = None, *, full_rate: bool = False):
    """Register a noise under its function name: ``@register_noise``, or
    ``@register_noise(full_rate=True)`` for a noise whose rate 1 is meaningful (all examples
    replaced); the configuration refuses eta = 1 for the others."""
    def add(f: NoiseFn) -> NoiseFn:
        NOISES[f.__name__] = f
        if full_rate:
            FULL_RATE.add(f.__name__)
        return f
    return add if fn is None else add(fn)


def allows_full_rate(name: str) -> bool:
    """Whether eta = 1 is a valid rate of noise ``name``."""
    return name in FULL_RATE


def rng_for(noise: str, rate: float, seed: int) -> np.random.Generator:
    """A generator that depends on (noise, rate, seed) only, never on the run order."""
    key = zlib.crc32(f"{noise}:{rate!r}".encode())
    return np.random.default_rng(np.random.SeedSequence([int(seed), key]))


def apply_noise(name: str, labels: np.ndarray, num_classes: int, rate: float,
                seed: int) -> NoiseResult:
    if name not in NOISES:
        raise KeyError(f"noise.name: unknown name {name!r}; known: {sorted(NOISES)}")
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"noise.rate: {rate!r} is outside the allowed range [0, 1]")
    labels = np.asarray(labels, dtype=np.int64)
    return NOISES[name](labels, num_classes, float(rate), rng_for(name, rate, seed))


def _exact_subset(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """A mask of exactly round(rate * n) examples chosen without replacement."""
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[: round(rate * n)]] = True
    return mask


@register_noise
def symmetric_other(y: np.ndarray, k: int, rate: float, rng: np.random.Generator) -> NoiseResult:
    """PS Sec. 3: keep the label w.p. 1-eta, else one of the K-1 *other* classes uniformly."""
    flip = rng.random(y.size) < rate
    shift = rng.integers(1, k, size=y.size)  # 1..K-1: never lands on the clean label
    noisy = np.where(flip, (y + shift) % k, y)
    return NoiseResult(noisy, flip, k, "each label replaced w.p. eta by a uniformly chosen "
                       "other class (never the clean one)")


@register_noise
def resample_uniform(y: np.ndarray, k: int, rate: float, rng: np.random.Generator) -> NoiseResult:
    """MD / AR: w.p. eta redraw the label uniformly from all K classes (may stay correct),
    so the expected flip rate is eta (K-1)/K."""
    redraw = rng.random(y.size) < rate
    noisy = np.where(redraw, rng.integers(0, k, size=y.size), y)
    return NoiseResult(noisy, noisy != y, k, "each label redrawn w.p. eta uniformly from all "
                       "K classes (can stay correct)", {"redrawn": redraw})


@register_noise(full_rate=True)
def random_labels(y: np.ndarray, k: int, rate: float, rng: np.random.Generator) -> NoiseResult:
    """AR randY / LLJ: exactly round(eta n) examples get a uniform draw from all K classes."""
    chosen = _exact_subset(y.size, rate, rng)
    noisy = y.copy()
    noisy[chosen] = rng.integers(0, k, size=int(chosen.sum()))
    return NoiseResult(noisy, noisy != y, k, "a fixed count round(eta n) of labels replaced "
                       "by uniform draws from all K classes", {"redrawn": chosen})


@register_noise(full_rate=True)
def random_inputs(y: np.ndarray, k: int, rate: float, rng: np.random.Generator) -> NoiseResult:
    """AR randX: round(eta n) inputs are replaced by Gaussian noise with the data's mean and
    variance; labels stay. The engine draws the noise from ``input_seed``."""
    chosen = _exact_subset(y.size, rate, rng)
    seed = rng.integers(0, 2**62, size=1, dtype=np.int64)
    return NoiseResult(y.copy(), chosen, k, "round(eta n) inputs replaced by Gaussian noise "
                       "with the training data's per-channel mean and variance",
                       {"inputs_replaced": chosen, "input_seed": seed})


@register_noise(full_rate=True)
def unique_class(y: np.ndarray, k: int, rate: float, rng: np.random.Generator) -> NoiseResult:
    """AR Fig. 3 right: every example is its own class (rate is ignored)."""
    n = y.size
    return NoiseResult(np.arange(n, dtype=np.int64), np.ones(n, dtype=bool), n,
                       "each training example is its own class")


def replace_inputs(x: np.ndarray, mask: np.ndarray, seed: int) -> np.ndarray:
    """AR Sec. 2 randX: a float32 copy of uint8 images x (N,C,H,W) on the 0-255 pixel scale
    whose masked rows are i.i.d. Gaussian noise with the per-channel mean and (population)
    standard deviation of x. The noise is real-valued, neither rounded nor clipped to 0..255
    (clipping would bias it: on MNIST a third of it would clip to 0); unmasked rows keep their
    integer values exactly. float32 even when nothing is masked, so every cell of a
    ``random_inputs`` noise holds images of one dtype."""
    from .data import channel_stats  # exact, from integer sums

    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim != 4:
        raise ValueError(f"replace_inputs: x has dtype {x.dtype} and shape {x.shape}; "
                         "allowed: uint8 images (N, C, H, W)")
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != x.shape[:1]:
        raise ValueError(f"replace_inputs: mask has dtype {mask.dtype} and shape {mask.shape}; "
                         f"allowed: bool of shape ({x.shape[0]},)")
    out = x.astype(np.float32)
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        return out
    mean, std = (255.0 * np.asarray(v, dtype=np.float64).reshape(1, -1, 1, 1)
                 for v in channel_stats(x))
    rng = np.random.default_rng(int(seed))
    for i in range(0, rows.size, 4096):  # float64 draws in chunks: bounded host memory
        chunk = rows[i:i + 4096]
        z = rng.standard_normal((chunk.size, *x.shape[1:]))
        out[chunk] = (z * std + mean).astype(np.float32)
    return out
