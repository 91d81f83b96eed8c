"""Turn-over dropout (TOD) masks for a batch of examples, in torch (Kobayashi et al. 2020,
"Efficient estimation of influence of a training instance"; LLJ Sec. 2.2 and App. B).

Each training example ``i`` (stable id: its index in the prepared training array) owns a fixed
half of the units (or, for convolutions, channels) of every masked layer: it is trained through
that "unmuted" sub-network only, and the complement ("muted", ``flip=True``) never sees it. Kept
units are scaled by 2 (inverted dropout at rate 1/2); ``masks=None`` in a model is the full
network without masks or scaling.

The masks are those of ``memrepro.papers.llj.mask_hash`` (the numpy twin), computed here with
int64 tensors: additions and multiplications wrap modulo 2**64 in the low 64 bits exactly as
uint64 does, logical right shifts are arithmetic shifts with the sign-extended bits masked off,
and the ranking flips the sign bit so that signed order equals unsigned order. Integer
arithmetic only, so a mask is the same on CPU and CUDA and does not depend on the group a cell
trains in (each model's masks come from its own seed).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from memrepro.papers.llj.mask_hash import GAMMA, MULT_1, MULT_2, SHIFTS
from memrepro.specs import refused


def _signed(c: int) -> int:
    """A uint64 constant as the int64 with the same bits."""
    return c - (1 << 64) if c >= 1 << 63 else c


_GAMMA, _MULT_1, _MULT_2 = _signed(GAMMA), _signed(MULT_1), _signed(MULT_2)
_SIGN_BIT = -(1 << 63)


def _shr(z: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 bits by ``s`` (0 < s < 64)."""
    return (z >> s) & ((1 << (64 - s)) - 1)


def mix(z: torch.Tensor) -> torch.Tensor:
    """``mask_hash.mix`` on int64 tensors (same bits)."""
    z = z + _GAMMA
    z = (z ^ _shr(z, SHIFTS[0])) * _MULT_1
    z = (z ^ _shr(z, SHIFTS[1])) * _MULT_2
    return z ^ _shr(z, SHIFTS[2])


def unit_hash(seeds: torch.Tensor, layer: int, ids: torch.Tensor, width: int) -> torch.Tensor:
    """H(seed_m, layer, ids[m, b], unit) as int64 bits: (M, B, width)."""
    prefix = mix(mix(seeds) ^ layer)  # (M,)
    per_example = mix(prefix[:, None] ^ ids)  # (M, B)
    units = torch.arange(width, dtype=torch.int64, device=ids.device)
    return mix(per_example[..., None] ^ units)


def keep_units(seeds: torch.Tensor, layer: int, ids: torch.Tensor, width: int) -> torch.Tensor:
    """Bool (M, B, width): the ``width // 2`` lowest-hash units of each example (ties by unit
    index), as ``mask_hash.keep_mask``."""
    key = unit_hash(seeds, layer, ids, width) ^ _SIGN_BIT  # unsigned order as signed order
    order = torch.sort(key, dim=-1, stable=True).indices[..., : width // 2]
    keep = torch.zeros(key.shape, dtype=torch.bool, device=ids.device)
    return keep.scatter_(-1, order, True)


def _as_seeds(seeds: Sequence[int] | torch.Tensor, device: torch.device) -> torch.Tensor:
    if isinstance(seeds, torch.Tensor):
        if seeds.dtype.is_floating_point or seeds.dtype == torch.bool:
            raise ValueError(f"tod_masks: seeds must be integers, got dtype {seeds.dtype}")
        return seeds.to(device=device, dtype=torch.int64).reshape(-1)
    return torch.tensor([_signed(int(s) & ((1 << 64) - 1)) for s in seeds], dtype=torch.int64,
                        device=device)


def tod_masks(seeds: Sequence[int] | torch.Tensor, ids: torch.Tensor, widths: Sequence[int],
              flip: bool = False, dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    """One mask per TOD layer, each (M, B, widths[l]) with values in {0, 2}, on ids' device.

    ``seeds``: (M,) each cell's seed; ``ids``: (M, B) stable example ids; ``widths``: the
    model's ``tod_widths``. ``flip=False``: the unmuted sub-network (kept units x2);
    ``flip=True``: its complement, the muted sub-network (LLJ Eq. 6)."""
    if ids.dim() != 2 or ids.dtype.is_floating_point or ids.dtype == torch.bool:
        raise ValueError(f"tod_masks: ids must be an integer tensor (M, B), got dtype "
                         f"{ids.dtype} shape {tuple(ids.shape)}")
    s = _as_seeds(seeds, ids.device)
    if s.numel() != ids.shape[0]:
        raise ValueError(f"tod_masks: {s.numel()} seeds for ids of shape {tuple(ids.shape)}; "
                         "allowed: one seed per model (row of ids)")
    bad = [w for w in widths if int(w) < 2]
    if bad:
        raise ValueError(refused(f"tod_masks: widths {bad}", "ints >= 2", many=True))
    ids = ids.to(torch.int64)
    out = []
    for layer, width in enumerate(widths):
        keep = keep_units(s, layer, ids, int(width))
        out.append(((keep != flip).to(dtype)) * 2)
    return out
