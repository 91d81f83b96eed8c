"""What a rehearsal's training job measures of its training steps and evaluations.

Each ``section`` (one training step of the whole group, or one evaluation) is timed. The first
``counted`` sections of each kind are also counted, op by op, under PyTorch's dispatcher:

- FLOPs (the formulas of ``torch.utils.flop_counter``: matrix products and convolutions,
  forward and backward, objectives and probes included, since everything the step runs is
  counted; its FlopCounterMode itself is not used: its module hooks break ``autograd.grad``
  with respect to inputs, which probes such as AR's CSR take);
- bytes: every non-view op's input and output tensors, as if each were read or written once from
  device memory (no cache reuse: an upper bound for small models whose weights fit in a GPU's L2);
- kernels: the non-view ops, each taken as one kernel launch on a GPU;
- saved activations (training steps): the bytes of the distinct tensors autograd keeps for
  the backward pass (``torch.autograd.graph.saved_tensors_hooks``), parameters excluded.

A counted training step is not timed (counting slows a small step); seconds come from the
others, so a job needs at least ``counted + 1`` steps for a time per step. Every evaluation is
both counted and timed (its ops are large: counting costs little), since the evaluations of a
rehearsal differ (a capped one where no probe is due, a whole one where one is). Peak memory
is the process's peak resident set (``ru_maxrss``), read when asked.
"""

from __future__ import annotations

import contextlib
import resource
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import flop_registry

KINDS = ("train", "eval")


def peak_rss_bytes() -> int:
    """The peak resident set of this process so far (Linux reports KiB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def tensor_bytes(values) -> int:
    """The bytes of the distinct storages among ``values`` (others ignored)."""
    seen = {}
    for v in values:
        if isinstance(v, torch.Tensor):
            st = v.untyped_storage()
            seen[st.data_ptr()] = st.nbytes()
    return sum(seen.values())


class OpCounter(TorchDispatchMode):
    """Counts FLOPs, ops (kernels) and the bytes of their tensors, views excluded."""

    def __init__(self):
        super().__init__()
        self.flops = 0
        self.kernels = 0
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.flops += int(formula(*args, **(kwargs or {}), out_val=out))
        if not getattr(func, "is_view", False):
            tensors = [t for t in tree_flatten((args, kwargs or {}, out))[0]
                       if isinstance(t, torch.Tensor)]
            self.kernels += 1
            self.bytes += sum(t.numel() * t.element_size() for t in tensors)
        return out


class SavedBytes:
    """The distinct storages autograd saves for backward, parameters excluded."""

    def __init__(self, exclude: set[int]):
        self.exclude = exclude
        self.seen: dict[int, int] = {}

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in self.exclude:
            self.seen[ptr] = storage.nbytes()
        return t

    @staticmethod
    def unpack(t: torch.Tensor) -> torch.Tensor:
        return t

    @property
    def total(self) -> int:
        return sum(self.seen.values())


class CostMeter:
    """Per kind (``train``, ``eval``): sections, examples, seconds of the timed ones, and the
    counts of the counted ones (see the module docstring)."""

    def __init__(self, counted: int = 1):
        self.counted = counted
        self.param_ptrs: set[int] = set()
        self.groups: list[dict] = []  # one per trainer (a sequential job has one per cell)
        self.stats = {k: {"sections": 0, "examples": 0, "timed": 0, "timed_examples": 0,
                          "seconds": 0.0, "counted": 0, "counted_examples": 0, "flops": 0,
                          "bytes": 0, "kernels": 0, "saved_bytes": 0} for k in KINDS}

    def watch_group(self, trainer) -> None:
        """What a trainer (memrepro.engine.GroupTrainer) holds: its parameters (not counted as
        saved activations), their count, the optimizer's state per parameter and the bytes of
        its data on the device."""
        params = list(trainer.group.parameters())
        self.param_ptrs |= {p.untyped_storage().data_ptr() for p in params}
        opt = trainer.tr["optimizer"]
        states = 2 if opt["name"] == "adam" else int(bool(opt.get("momentum")))
        self.groups.append({
            "models": trainer.size, "mode": trainer.mode, "n_train": trainer.data.n,
            "n_test": int(len(trainer.data.y_test)), "num_classes": trainer.data.num_classes,
            "parameters": sum(p.numel() for p in params),
            "parameter_bytes": sum(p.numel() * p.element_size() for p in params),
            "optimizer_states": states, "data_bytes": tensor_bytes(vars(trainer.data).values()),
        })

    @contextlib.contextmanager
    def section(self, kind: str, examples: int = 0):
        s = self.stats[kind]
        s["sections"] += 1
        s["examples"] += int(examples)
        count = kind == "eval" or s["counted"] < self.counted
        if count and kind == "train":
            with self._counting(s, kind, examples):
                yield
            return
        t0 = time.perf_counter()
        with self._counting(s, kind, examples) if count else contextlib.nullcontext():
            yield
        s["seconds"] += time.perf_counter() - t0
        s["timed"] += 1
        s["timed_examples"] += int(examples)

    @contextlib.contextmanager
    def _counting(self, s: dict, kind: str, examples: int):
        traffic = OpCounter()
        saved = SavedBytes(self.param_ptrs)
        hooks = (torch.autograd.graph.saved_tensors_hooks(saved.pack, saved.unpack)
                 if kind == "train" else contextlib.nullcontext())
        with traffic, hooks:
            yield
        s["counted"] += 1
        s["counted_examples"] += int(examples)
        s["flops"] += traffic.flops
        s["bytes"] += traffic.bytes
        s["kernels"] += traffic.kernels
        s["saved_bytes"] = max(s["saved_bytes"], saved.total)

    def summary(self) -> dict:
        """Per kind: seconds per section and per example (timed ones), and per counted
        section: FLOPs, bytes and kernels; the largest saved activations of a step; and the
        largest trainer's ``group`` (``watch_group``) and the number of trainers."""
        out = {"trainers": len(self.groups),
               "group": max(self.groups, key=lambda g: g["parameters"], default={})}
        for kind, s in self.stats.items():
            timed, counted = max(s["timed"], 1), max(s["counted"], 1)
            out[kind] = {
                "sections": s["sections"], "timed": s["timed"], "counted": s["counted"],
                "seconds_per_section": s["seconds"] / timed if s["timed"] else None,
                "examples_per_section": s["examples"] / max(s["sections"], 1),
                "seconds_per_example": (s["seconds"] / s["timed_examples"]
                                        if s["timed_examples"] else None),
                "flops_per_section": s["flops"] / counted,
                "bytes_per_section": s["bytes"] / counted,
                "kernels_per_section": s["kernels"] / counted,
                "flops_per_example": (s["flops"] / s["counted_examples"]
                                      if s["counted_examples"] else None),
                "bytes_per_example": (s["bytes"] / s["counted_examples"]
                                      if s["counted_examples"] else None),
                "kernels_per_example": (s["kernels"] / s["counted_examples"]
                                        if s["counted_examples"] else None),
                "saved_bytes": s["saved_bytes"],
            }
        return out
