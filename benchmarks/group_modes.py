"""Stacked vs sequential training of a group of models: the measurement behind the engine's
``group.mode: auto`` rule (memrepro.stacked.choose_mode).

For each model it trains M copies (different seeds) for one epoch of synthetic data with
the engine, three ways, in one run: sequential (one model after another, the engine's
``single`` path), stacked with ``vmap(functional_call)``, and stacked with the model's own
``forward_stacked`` (batched matmuls; MLPs only). It prints model-samples/s and the ratio of
each stacked variant to sequential.

    python benchmarks/group_modes.py [--device cpu|cuda] [--models 16] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

import numpy as np
import torch

from memrepro import io
from memrepro.device_data import pick_device, to_device_many
from memrepro.engine import GroupTrainer, build_model
from memrepro.stacked import Stacked

# (label, model spec, image side, examples): MLP sizes around the CPU threshold and a convnet
CASES = [
    ("mlp 196-16-16-10", {"name": "mlp", "hidden": [16, 16]}, 14, 8192),
    ("mlp 196-64-64-10", {"name": "mlp", "hidden": [64, 64]}, 14, 8192),
    ("mlp 64-256-256-10", {"name": "mlp", "hidden": [256, 256]}, 8, 4096),
    ("mlp 64-512-10", {"name": "mlp", "hidden": [512]}, 8, 4096),
    ("mlp 784-16-10", {"name": "mlp", "hidden": [16]}, 28, 4096),
    ("mlp 784-64-10", {"name": "mlp", "hidden": [64]}, 28, 4096),
    ("mlp 784-512-10", {"name": "mlp", "hidden": [512]}, 28, 2048),
    ("resnet-8 w8 (3x16x16)", {"name": "resnet_cifar", "depth": 8, "width": 8}, 16, 512),
]


def _specs(model: dict, m: int) -> list[dict]:
    return [{"model": model, "loss": {"name": "cce"}, "seed": k, "slug": f"s{k}",
             "train": {"epochs": 1, "batch_size": 128,
                       "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9},
                       "schedule": {"name": "constant"}}} for k in range(m)]


def _data(side: int, channels: int, n: int, m: int, dev: torch.device):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, n)
    arrays = {"x_train": rng.integers(0, 256, (n, channels, side, side), dtype=np.uint8),
              "y_train": y, "x_test": np.zeros((1, channels, side, side), np.uint8),
              "y_test": y[:1]}
    noisy = {"labels": y, "corrupted": np.zeros(n, bool)}
    return to_device_many(arrays, [noisy] * m, 10, dev)


def _timed(fn, dev: torch.device, reps: int = 3) -> float:
    """Best of ``reps`` epochs after a warm-up epoch (allocations, first-call overheads)."""
    fn()
    best = float("inf")
    for _ in range(reps):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(label: str, model: dict, side: int, n: int, m: int, dev: torch.device) -> dict:
    channels = 3 if model["name"] != "mlp" else 1
    specs, datas = _specs(model, m), _data(side, channels, n, m, dev)
    params = sum(p.numel() for p in build_model(specs[0], datas[0].x, 10).parameters())
    singles = [GroupTrainer([s], [d]) for s, d in zip(specs, datas, strict=True)]
    seq = _timed(lambda: [t.train_epoch(0) for t in singles], dev)
    out = {"model": label, "params": params, "models": m, "examples": n, "sequential_s": seq}
    stacked = GroupTrainer(specs, datas, mode="stacked")
    assert isinstance(stacked.group, Stacked)
    variants = ["vmap"] + (["batched_matmul"] if stacked.group.own_forward else [])
    for name in variants:
        stacked.group.own_forward = name == "batched_matmul"
        out[f"{name}_s"] = _timed(lambda: stacked.train_epoch(0), dev)
        out[f"{name}_ratio"] = seq / out[f"{name}_s"]
    for k in ("sequential", *variants):
        out[f"{k}_samples_per_s"] = m * n / out[f"{k}_s"]
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--models", type=int, default=16, help="models per group (M)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--json", help="write the results here too")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dev = pick_device(args.device)
    rows = [measure(label, model, side, n, args.models, dev) for label, model, side, n in CASES]
    print(f"{args.models} models per group on {dev} ({torch.get_num_threads()} threads), "
          "best of 3 epochs, batch 128; ratio = stacked / sequential model-samples/s")
    print(f"{'model':24} {'params':>8} {'sequential/s':>13} {'vmap/s':>10} {'ratio':>6} "
          f"{'bmm/s':>10} {'ratio':>6}")
    for r in rows:
        bmm = (f"{r['batched_matmul_samples_per_s']:10.0f} {r['batched_matmul_ratio']:6.2f}"
               if "batched_matmul_s" in r else f"{'-':>10} {'-':>6}")
        print(f"{r['model']:24} {r['params']:8d} {r['sequential_samples_per_s']:13.0f} "
              f"{r['vmap_samples_per_s']:10.0f} {r['vmap_ratio']:6.2f} {bmm}")
    result = {"device": str(dev), "device_name": torch.cuda.get_device_name(dev)
              if dev.type == "cuda" else "cpu", "threads": torch.get_num_threads(),
              "torch": torch.__version__, "command": " ".join(sys.argv),
              "date": datetime.date.today().isoformat(), "rows": rows}
    if args.json:
        io.write_text(args.json, json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
