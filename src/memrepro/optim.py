"""SGD (with momentum) and Adam, with PyTorch's update rules, in a few lines.

Why not torch.optim: constructing any torch.optim optimizer imports torch._dynamo, about
2 s per process on a CPU, which dominated the short training jobs of the smoke scale.
These follow torch.optim.SGD (dampening 0, no Nesterov) and torch.optim.Adam (L2 weight
decay added to the gradient, bias-corrected moments) and the tests check them against
torch.optim step by step.
"""

from __future__ import annotations

import math
from typing import Any

import torch


class _Optimizer:
    """The subset of the torch.optim interface the engine uses."""

    def __init__(self, params, **defaults):
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        self.param_groups = [{"params": self.params, **defaults}]
        self.state: list[dict[str, torch.Tensor]] = [{} for _ in self.params]
        self.steps = 0

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    def state_dict(self) -> dict:
        return {"steps": self.steps,
                "state": [{k: v.clone() for k, v in s.items()} for s in self.state],
                "hyper": {k: v for k, v in self.param_groups[0].items() if k != "params"}}

    def load_state_dict(self, sd: dict) -> None:
        if len(sd["state"]) != len(self.params):
            raise ValueError("optimizer state does not match the model's parameters")
        self.steps = int(sd["steps"])
        self.state = [{k: v.to(p.device, copy=True) for k, v in s.items()}
                      for s, p in zip(sd["state"], self.params, strict=True)]
        self.param_groups[0].update(sd["hyper"])


class SGD(_Optimizer):
    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay)

    @torch.no_grad()
    def step(self) -> None:
        g = self.param_groups[0]
        lr, mom, wd = g["lr"], g["momentum"], g["weight_decay"]
        for p, st in zip(self.params, self.state, strict=True):
            if p.grad is None:
                continue
            d = p.grad.add(p, alpha=wd) if wd else p.grad
            if mom:
                buf = st.get("momentum")
                if buf is None:
                    buf = st["momentum"] = d.clone()
                else:
                    buf.mul_(mom).add_(d)
                d = buf
            p.add_(d, alpha=-lr)
        self.steps += 1


class Adam(_Optimizer):
    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    @torch.no_grad()
    def step(self) -> None:
        g = self.param_groups[0]
        lr, (b1, b2), eps, wd = g["lr"], g["betas"], g["eps"], g["weight_decay"]
        self.steps += 1
        c1, c2 = 1 - b1 ** self.steps, 1 - b2 ** self.steps
        for p, st in zip(self.params, self.state, strict=True):
            if p.grad is None:
                continue
            d = p.grad.add(p, alpha=wd) if wd else p.grad
            if not st:
                st["m"], st["v"] = torch.zeros_like(p), torch.zeros_like(p)
            st["m"].lerp_(d, 1 - b1)
            st["v"].mul_(b2).addcmul_(d, d, value=1 - b2)
            denom = (st["v"].sqrt() / math.sqrt(c2)).add_(eps)
            p.addcdiv_(st["m"], denom, value=-lr / c1)


def lr_at(epoch: int, base_lr: float, schedule: dict[str, Any]) -> float:
    """Learning rate used during 0-based ``epoch``."""
    name = schedule.get("name", "constant")
    if name == "constant":
        return base_lr
    if name == "multistep":  # x gamma at each milestone epoch (PS ResNet-32: 100, 150)
        return base_lr * schedule["gamma"] ** sum(epoch >= m for m in schedule["milestones"])
    if name == "exponential":  # x gamma after every epoch (PS Inception-Lite: 0.95)
        return base_lr * schedule["gamma"] ** epoch
    if name == "step":  # x gamma every step_size epochs (AR CNN: halved every 15)
        return base_lr * schedule["gamma"] ** (epoch // schedule["step_size"])
    raise ValueError(f"train.schedule.name: unknown {name!r}; "
                     "allowed: constant, multistep, exponential, step")


def make_optimizer(params, spec: dict[str, Any]):
    name, lr, wd = spec["name"], spec["lr"], spec.get("weight_decay", 0.0)
    if name == "sgd":
        return SGD(params, lr=lr, momentum=spec.get("momentum", 0.0), weight_decay=wd)
    if name == "adam":
        return Adam(params, lr=lr, weight_decay=wd)
    raise ValueError(f"train.optimizer.name: unknown {name!r}; allowed: sgd, adam")
