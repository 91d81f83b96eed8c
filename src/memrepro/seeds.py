"""The build's seed offset: one integer that moves every random draw of a build.

``seed_offset: k`` in params.yaml (or ``--config seed_offset=k``) keeps every name, path and
figure reference on the seeds written in params.yaml (``seed-0`` stays ``seed-0``), and moves
what those seeds draw: the noisy labels, each model's initialisation, the shuffling, dropout
and LASS's noise. Offset 0 is the build as it always was. The draws of offset k start at
``seed + k * SEED_OFFSET_STRIDE``, so the seeds of two offsets never meet for any grid of
fewer than a million seeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SEED_OFFSET_STRIDE = 1_000_000


def drawn_seed(seed: int, offset: int = 0) -> int:
    """The seed a generator is drawn from, for a seed of params.yaml under ``offset``."""
    return int(seed) + SEED_OFFSET_STRIDE * int(offset)


def cell_seed(spec: Mapping[str, Any]) -> int:
    """A cell's drawn seed: its ``seed`` under its ``seed_offset`` (absent: 0)."""
    return drawn_seed(spec["seed"], spec.get("seed_offset", 0))
