"""A group of same-architecture models seen as one: what the engine steps.

Cells that differ only by seed (or noise rate, or loss) train in one process. Two ways:

- ``Single``: one ``nn.Module``; a group of size one, or one cell at a time ("sequential").
- ``Stacked``: every parameter and buffer of M models stacked along a new leading axis
  (``torch.func.stack_module_state``), so one optimizer step updates all M models with one
  kernel per tensor. The forward pass is the model's own ``forward_stacked`` when it has one
  (hand-batched ``baddbmm`` for MLPs) and otherwise ``vmap(functional_call)``.
  BatchNorm running statistics are stacked buffers, so each model keeps its own; dropout
  draws different masks per model (``randomness="different"``).

Both accept turn-over dropout masks (LLJ; ``masks``: one (M, B, d) tensor per TOD layer) and
pass each model its own (B, d) slices; without masks everything is the plain forward.

Both return logits of shape (M, B, K), and ``features(x, per_model)`` the classifier's inputs
(M, B, d) (the model's ``features``; the caller sets eval mode). Per-model state dicts and
optimizer states come out in exactly the single-model format, so a cell's checkpoint resumes
in either mode.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from memrepro.specs import not_allowed

MODES = ("auto", "stacked", "sequential")
# On a CPU, stacking pays only for narrow MLPs: benchmarks/group_modes.py on 2 cores (16 models,
# one epoch, batch 128) measured stacked/sequential 3.0x for 196-16-16-10, 2.4x for
# 196-64-64-10, 1.2x for 64-256-256-10, 0.8-0.9x for 64-512-10 and 0.8x for every 784-input
# MLP (784-16-10 included): the widest layer decides, not the parameter count.
CPU_STACK_MAX_WIDTH = 256


def has_conv(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())


def widest_layer(model: nn.Module) -> int:
    """Largest input or output width of the model's linear layers."""
    return max((max(m.in_features, m.out_features) for m in model.modules()
                if isinstance(m, nn.Linear)), default=0)


def choose_mode(requested: str, model: nn.Module, size: int, device: torch.device) -> str:
    """``single`` for one model; otherwise ``stacked`` or ``sequential``.

    ``auto``: convnets run sequentially (vmap turns per-model conv weights into one grouped
    convolution: 0.79x on this CPU for ResNet-8, and known to be slow in cuDNN); MLPs are
    stacked on CUDA (launch overhead dominates small models) and on a CPU when no layer is
    wider than ``CPU_STACK_MAX_WIDTH``.
    """
    if requested not in MODES:
        raise ValueError(not_allowed("group.mode", requested, ", ".join(MODES)))
    if size == 1:
        return "single"
    if requested != "auto":
        return requested
    if has_conv(model):
        return "sequential"
    if device.type == "cuda":
        return "stacked"
    return "stacked" if widest_layer(model) <= CPU_STACK_MAX_WIDTH else "sequential"


class Single:
    """One model behind the group interface (M = 1)."""

    def __init__(self, model: nn.Module):
        self.model, self.size = model, 1
        self._fn: Any = model  # the compiled wrapper, when asked for; state stays on model

    def parameters(self) -> list[torch.Tensor]:
        return list(self.model.parameters())

    def train(self, mode: bool = True) -> None:
        self.model.train(mode)

    def __call__(self, x: torch.Tensor, per_model: bool,
                 masks: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Logits (1, B, K); ``masks``: turn-over dropout masks, (1, B, d) per TOD layer."""
        x = x[0] if per_model else x
        if masks is None:
            return self._fn(x).unsqueeze(0)
        return self._fn(x, masks=[m[0] for m in masks]).unsqueeze(0)

    def features(self, x: torch.Tensor, per_model: bool) -> torch.Tensor:
        """The model's ``features`` (the classifier's input), (1, B, d)."""
        return self.model.features(x[0] if per_model else x).unsqueeze(0)

    def state_dict(self, i: int) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_state_dict(self, i: int, sd: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(sd)

    def compile(self) -> None:
        self._fn = torch.compile(self.model)

    def module(self, i: int) -> nn.Module:
        """The model itself (probes such as the CSR need a plain module)."""
        return self.model


class Stacked:
    """M models with stacked parameters and buffers (leading axis = model)."""

    def __init__(self, models: list[nn.Module]):
        from torch.func import stack_module_state

        self.size = len(models)
        self.params, self.buffers = stack_module_state(models)
        # a structure-only copy: functional_call swaps the stacked tensors in
        self.base = copy.deepcopy(models[0]).to("meta")
        self._fn = self._forward
        # the model's hand-batched forward_stacked if it has one (False: always vmap)
        self.own_forward = hasattr(self.base, "forward_stacked")

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def train(self, mode: bool = True) -> None:
        self.base.train(mode)

    def _forward(self, x: torch.Tensor, per_model: bool,
                 masks: list[torch.Tensor] | None = None) -> torch.Tensor:
        if self.own_forward:  # buffers too: batch norm updates its stacked running statistics
            tensors = {**self.params, **self.buffers}
            if masks is None:
                return self.base.forward_stacked(tensors, x, per_model)
            return self.base.forward_stacked(tensors, x, per_model, masks=masks)
        from torch.func import functional_call, vmap

        x_dim = 0 if per_model else None
        if masks is None:
            def one(p, b, xi):
                return functional_call(self.base, (p, b), (xi,))

            return vmap(one, in_dims=(0, 0, x_dim), randomness="different")(
                self.params, self.buffers, x)

        def one_masked(p, b, xi, mi):
            return functional_call(self.base, (p, b), (xi,), {"masks": mi})

        return vmap(one_masked, in_dims=(0, 0, x_dim, 0), randomness="different")(
            self.params, self.buffers, x, list(masks))

    def __call__(self, x: torch.Tensor, per_model: bool,
                 masks: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Logits (M, B, K); ``masks``: turn-over dropout masks, (M, B, d) per TOD layer
        (``memrepro.papers.llj.tod.tod_masks``), model m using masks[l][m]."""
        if masks is None:
            return self._fn(x, per_model)
        return self._fn(x, per_model, masks)

    def features(self, x: torch.Tensor, per_model: bool) -> torch.Tensor:
        """Every model's ``features`` (the classifier's input), (M, B, d): the model's own
        ``features_stacked`` when it has one, else vmap over its ``features``."""
        if hasattr(self.base, "features_stacked"):
            return self.base.features_stacked({**self.params, **self.buffers}, x, per_model)
        from torch.func import functional_call, vmap

        wrapper = _Features(self.base)

        def one(p, b, xi):
            return functional_call(wrapper, ({f"base.{k}": v for k, v in p.items()},
                                             {f"base.{k}": v for k, v in b.items()}), (xi,))

        return vmap(one, in_dims=(0, 0, 0 if per_model else None), randomness="different")(
            self.params, self.buffers, x)

    def state_dict(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i].detach().clone() for k, v in {**self.params, **self.buffers}.items()}

    @torch.no_grad()
    def load_state_dict(self, i: int, sd: dict[str, torch.Tensor]) -> None:
        own = {**self.params, **self.buffers}
        if set(sd) != set(own):
            raise ValueError("checkpoint keys differ from the model's: "
                             f"{sorted(set(sd) ^ set(own))}")
        for k, v in sd.items():
            own[k][i].copy_(v)

    def compile(self) -> None:
        self._fn = torch.compile(self._forward)

    def module(self, i: int) -> nn.Module:
        """Model i as a plain module that reads the stacked tensors (no copy): for probes
        that need one model's forward, such as LASS for the critical sample ratio."""
        return _OneOfStack(self, i)


class _Features(nn.Module):
    """A module whose forward is ``base.features`` (functional_call calls forward)."""

    def __init__(self, base: nn.Module):
        super().__init__()
        self.base = base

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base.features(x)


class _OneOfStack(nn.Module):
    def __init__(self, stacked: Stacked, i: int):
        super().__init__()
        self.base = stacked.base  # a child, so train()/eval() reach it
        self.tensors = ({k: v[i].detach() for k, v in stacked.params.items()},
                        {k: v[i] for k, v in stacked.buffers.items()})

    def forward(self, x: torch.Tensor, masks: list[torch.Tensor] | None = None) -> torch.Tensor:
        from torch.func import functional_call

        if masks is None:
            return functional_call(self.base, self.tensors, (x,))
        return functional_call(self.base, self.tensors, (x,), {"masks": masks})


def split_optimizer_state(sd: dict[str, Any], i: int, stacked: bool) -> dict[str, Any]:
    """Model i's slice of a (possibly stacked) optimizer state, in single-model format."""
    if not stacked:
        return sd
    return {**sd, "state": [{k: v[i].clone() for k, v in s.items()} for s in sd["state"]]}


def merge_optimizer_states(sds: list[dict[str, Any]], stacked: bool) -> dict[str, Any]:
    """Inverse of ``split_optimizer_state`` over all models of a group."""
    if not stacked:
        return sds[0]
    steps = {int(s["steps"]) for s in sds}
    if len(steps) != 1:
        raise ValueError(f"optimizer states of one group are at different steps: {sorted(steps)}")
    merged = []
    for j in range(len(sds[0]["state"])):
        keys = sds[0]["state"][j].keys()
        merged.append({k: torch.stack([s["state"][j][k] for s in sds]) for k in keys})
    return {**sds[0], "state": merged}
