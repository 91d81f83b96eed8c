"""MD workload: the engine's training step for the Memorization-Dilation paper's MLP.

    python benchmarks/engine.py --md [--device cpu|cuda] [--md-groups 1,4,16,40]
        [--md-steps N] [--md-width 2048] [--epochs 3] [--compile] [--peak-gbs GB/s]
        [--json out.json]

MD (Nguyen et al., ICLR 2023, Sec. 4.1) trains 1,880 runs of a BN MLP at paper scale
(3072 inputs, 8 hidden layers of 2048, a feature layer of width 2 = classes, each Linear ->
BatchNorm -> ReLU, then the classifier; 35,704,844 parameters) at batch 16 with SGD lr 0.1,
momentum 0.9, weight decay 1e-3. At batch 16 a step is bound by memory bandwidth (every
parameter is read and written several times for 16 examples), not by compute, and stacking
G seeds into one step (``GroupTrainer`` ``mode="stacked"``, the MLP's ``forward_stacked``)
saves launches but not bytes. For each group size G this measures, on synthetic binary data
(random uint8 images of CIFAR shape, 2 classes, n_train = steps x 16 so an epoch is exactly
``--md-steps`` steps, a 2,000-image test set):

- training: ``train_epoch`` of one G-model ``GroupTrainer`` (seeds 0..G-1), one untimed
  warm-up epoch of the same trainer (allocations, and with ``--compile`` the compiled graphs),
  then ``--epochs`` timed epochs (``torch.cuda.synchronize()`` around each); the fastest
  counts (the JSON has all). model-steps/s = G x steps / seconds; ms/step is one group step.
- evaluation: ``trainer.evaluate()`` (train split + test set, eval mode), one untimed call,
  then the fastest of ``--epochs`` timed calls, as model-images/s; scaled to the paper's MNIST
  epoch (633 steps of 16; its evaluation covers 10,132 train + 2,115 test images) it is given
  as the evaluation's cost as a fraction of one training epoch.
- bytes per model-step, estimated as 32 x parameters (fp32, 4 bytes each: weights read in
  the forward and in the backward pass, gradients written, SGD reads parameter, gradient and
  momentum buffer and writes parameter and momentum buffer). That is the least a fused step
  moves; activations (16 examples) are ignored. The engine's eager step moves more: torch's
  foreach SGD makes four passes (weight decay into a new gradient, momentum scale, momentum
  add, update: ~44 bytes/parameter, ~56 with forward and backward), and bf16 autocast on CUDA
  adds its casts. So achieved bandwidth = model-steps/s x 32 x parameters understates the
  real traffic: its share of the peak is a lower bound on how busy HBM is.
- on CUDA (or with ``--peak-gbs``), that bandwidth against the device's peak HBM bandwidth.
- GPU-hours for MD's paper grid at the best measured rate: total model-steps / rate / 3600,
  Fig. 1 = 1.71e8 model-steps (1,280 runs), Fig. 2 = 6.8e7 (600 runs); training only
  (the evaluation fraction above says what an evaluation every epoch adds). The estimate
  applies to the width measured: ``--md-width`` narrows the MLP for a CPU run.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from memrepro.device_data import to_device
from memrepro.engine import GroupTrainer
from memrepro.io import write_json
from memrepro.models import count_parameters, get_model

BATCH, LR, MOMENTUM, WEIGHT_DECAY, CLASSES = 16, 0.1, 0.9, 1e-3, 2
SHAPE = (3, 32, 32)  # CIFAR shape: 3072 inputs (the paper's MLP; MNIST/Fashion are resized)
DEPTH, FEATURE_DIM, PAPER_WIDTH = 8, 2, 2048
N_TEST = 2_000
BYTES_PER_PARAM = 32  # fp32: 4 B x (fwd read, bwd read, grad write, SGD 3 reads + 2 writes)
PAPER_EPOCH_STEPS = 633  # MD MNIST 0/1: 10,132 training images / 16
PAPER_EVAL_IMAGES = 10_132 + 2_115  # its evaluation: the training images and the test set
# model-steps of the paper plan: Fig. 1 1,280 runs; Fig. 2 600 runs (10 seeds, MD Sec. 4.1: twice
# the 3.4e7 of the earlier 5-seed plan)
PAPER_GRID = {"fig1": 1.71e8, "fig2": 6.8e7}
# peak HBM bandwidth in GB/s; first entry whose words all occur in torch.cuda.get_device_name()
PEAK_GBS = [("H200", 4800.0), ("H100 NVL", 3900.0), ("H100 PCIe", 2000.0), ("H100", 3350.0),
            ("A100 80GB", 2000.0), ("A100", 1550.0)]


def peak_gbs(dev: torch.device, override: float | None) -> float | None:
    if override or dev.type != "cuda":
        return override
    name = torch.cuda.get_device_name(dev)
    return next((p for key, p in PEAK_GBS if all(w in name for w in key.split())), None)


def md_model(width: int = PAPER_WIDTH) -> dict[str, Any]:
    """The engine's model spec of MD's MLP (``width`` = the hidden layers' width)."""
    return {"name": "mlp", "hidden": width, "depth": DEPTH, "batchnorm": True,
            "feature_dim": FEATURE_DIM}


def parameters(width: int) -> int:
    return count_parameters(get_model(
        "mlp", **{k: v for k, v in md_model(width).items() if k != "name"},
        in_channels=SHAPE[0], image_size=SHAPE[-1], num_classes=CLASSES))


def make_data(steps: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = steps * BATCH
    return {"x_train": rng.integers(0, 256, (n, *SHAPE), dtype=np.uint8),
            "y_train": rng.integers(0, CLASSES, n, dtype=np.int64),
            "x_test": rng.integers(0, 256, (N_TEST, *SHAPE), dtype=np.uint8),
            "y_test": rng.integers(0, CLASSES, N_TEST, dtype=np.int64)}


def md_specs(g: int, width: int, epochs: int) -> list[dict[str, Any]]:
    return [{"model": md_model(width), "loss": {"name": "cce"}, "seed": k, "slug": f"s{k}",
             "train": {"epochs": epochs, "batch_size": BATCH,
                       "optimizer": {"name": "sgd", "lr": LR, "momentum": MOMENTUM,
                                     "weight_decay": WEIGHT_DECAY},
                       "schedule": {"name": "constant"}}} for k in range(g)]


def _timed(dev: torch.device, fn: Callable[[int], Any], reps: int) -> tuple[list[float], Any]:
    """Seconds of each of ``reps`` calls fn(0), fn(1), ... (synchronised), and the last result."""
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    seconds, out = [], None
    for j in range(reps):
        sync()
        start = time.perf_counter()
        out = fn(j)
        sync()
        seconds.append(time.perf_counter() - start)
    return seconds, out


def grid_hours(rate: float) -> dict[str, float]:
    """GPU-hours of MD's paper grid at ``rate`` model-steps/s (training only)."""
    return {k: total / rate / 3600 for k, total in PAPER_GRID.items()}


def measure_group(g: int, arrays: dict[str, np.ndarray], width: int, dev: torch.device,
                  epochs: int, compile_: bool, bytes_per_step: int,
                  peak: float | None) -> dict[str, Any]:
    """Train and evaluate one G-model group; every number of its table row."""
    steps = len(arrays["y_train"]) // BATCH
    noisy = {"labels": arrays["y_train"], "corrupted": np.zeros(len(arrays["y_train"]), bool)}
    data = to_device(arrays, noisy, CLASSES, dev)
    specs = md_specs(g, width, epochs + 1)
    trainer = GroupTrainer(specs, [data] * g, "stacked", compile=compile_)
    trainer.train_epoch(0)  # warm-up: allocations, optimizer state, compiled graphs
    seconds, last = _timed(dev, lambda j: trainer.train_epoch(1 + j), epochs)
    trainer.evaluate()  # warm-up of the eval-mode batches
    eval_seconds, _ = _timed(dev, lambda j: trainer.evaluate(), epochs)
    loss, mode = last.float().mean().item(), trainer.mode

    rate = g * steps / min(seconds)  # model-steps/s
    eval_images = len(arrays["y_train"]) + len(arrays["y_test"])
    eval_rate = g * eval_images / min(eval_seconds)  # model-images/s
    # paper-scale epoch of one model: its training steps and its evaluation, in seconds
    train_s, eval_s = PAPER_EPOCH_STEPS / rate, PAPER_EVAL_IMAGES / eval_rate
    gbs = rate * bytes_per_step / 1e9
    return {"models": g, "mode": mode, "steps": steps, "epoch_seconds": seconds,
            "model_steps_per_s": rate, "model_steps_per_s_mean": g * steps * len(seconds)
            / sum(seconds), "ms_per_step": 1e3 * min(seconds) / steps,
            "ms_per_model_step": 1e3 / rate, "loss": loss,
            "eval_seconds": eval_seconds, "eval_images": eval_images,
            "eval_model_images_per_s": eval_rate,
            "paper_epoch_train_s": train_s, "paper_epoch_eval_s": eval_s,
            "eval_fraction_of_epoch": eval_s / train_s,
            "achieved_gbs": gbs, "peak_fraction": gbs / peak if peak else None,
            "gpu_hours": grid_hours(rate)}


def run_md(groups: list[int], steps: int, width: int, dev: torch.device, epochs: int = 3,
           compile_: bool = False, peak: float | None = None,
           log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Every group size in turn on the same data; ``best`` is the fastest group's estimate."""
    arrays = make_data(steps)
    params = parameters(width)
    bytes_per_step = BYTES_PER_PARAM * params
    results = []
    for g in groups:
        t0 = time.perf_counter()
        results.append(measure_group(g, arrays, width, dev, epochs, compile_, bytes_per_step,
                                     peak))
        gc.collect()  # the group's trainer and data, before the next one is built
        if dev.type == "cuda":
            torch.cuda.empty_cache()
        log(f"  G={g}: {time.perf_counter() - t0:.1f} s")
    best = max(results, key=lambda r: r["model_steps_per_s"])
    return {"device": dev.type, "width": width, "depth": DEPTH, "feature_dim": FEATURE_DIM,
            "shape": list(SHAPE), "classes": CLASSES, "batch_size": BATCH, "steps": steps,
            "epochs": epochs, "n_train": steps * BATCH, "n_test": N_TEST, "parameters": params,
            "bytes_per_model_step": bytes_per_step, "peak_gbs": peak,
            "compile": bool(compile_ and dev.type == "cuda"),
            "paper_grid_model_steps": PAPER_GRID, "results": results,
            "best": {"models": best["models"], "model_steps_per_s": best["model_steps_per_s"],
                     "gpu_hours": grid_hours(best["model_steps_per_s"])}}


def report(md: dict[str, Any]) -> None:
    peak, unit = md["peak_gbs"], "GPU-h" if md["device"] == "cuda" else f"{md['device']}-h"
    extra = f"{'%peak':>7}" if peak else ""
    head = (f"{'G':>4}{'mode':>9}{'ms/step':>9}{'model-steps/s':>15}{'GB/s':>9}{extra}"
            f"{'eval img/s':>12}{'eval/epoch':>11}{'Fig.1 ' + unit:>13}{'Fig.2 ' + unit:>13}"
            f"{'loss':>8}")
    print("\n" + head + "\n" + "-" * len(head))
    for r in md["results"]:
        line = (f"{r['models']:>4}{r['mode']:>9}{r['ms_per_step']:>9.2f}"
                f"{r['model_steps_per_s']:>15,.1f}{r['achieved_gbs']:>9.1f}")
        line += f"{r['peak_fraction']:>7.1%}" if peak else ""
        line += (f"{r['eval_model_images_per_s']:>12,.0f}{r['eval_fraction_of_epoch']:>11.1%}"
                 f"{r['gpu_hours']['fig1']:>13,.1f}{r['gpu_hours']['fig2']:>13,.1f}"
                 f"{r['loss']:>8.3f}")
        print(line)
    b = md["best"]
    w = md["width"]
    print(f"ms/step: one step of the G stacked models; model-steps/s: G x steps / s, fastest of "
          f"{md['epochs']} epochs of {md['steps']} steps; GB/s: model-steps/s x "
          f"{md['bytes_per_model_step'] / 1e9:.3f} GB (32 B x {md['parameters']:,} params, "
          "fp32; eager foreach SGD, and autocast on CUDA, move more: a lower bound)"
          + (f", peak {peak:g} GB/s" if peak else ""))
    print(f"eval/epoch: evaluate() at the measured model-images/s over {PAPER_EVAL_IMAGES:,} "
          f"images, as a share of a paper MNIST epoch ({PAPER_EPOCH_STEPS} steps)")
    print(f"estimate at the best rate (G={b['models']}, {b['model_steps_per_s']:,.1f} "
          f"model-steps/s), training only: Fig. 1 ({PAPER_GRID['fig1']:.3g} model-steps) "
          f"{b['gpu_hours']['fig1']:,.1f} {unit}, Fig. 2 ({PAPER_GRID['fig2']:.3g}) "
          f"{b['gpu_hours']['fig2']:,.1f} {unit}; it applies to the width measured, {w}"
          + ("" if w == PAPER_WIDTH else f" (the paper's is {PAPER_WIDTH}: not paper scale)"))


def main(args: Any, dev: torch.device, name: str,
         cpu_seconds: Callable[[], tuple[float, float]]) -> int:
    """``engine.py --md``: measure, print the table, write ``--json``."""
    groups = [int(g) for g in args.md_groups.split(",") if g.strip()]
    peak = peak_gbs(dev, args.peak_gbs)
    compiled = bool(args.compile and dev.type == "cuda")
    print(f"device {name} | torch {torch.__version__} | threads {torch.get_num_threads()} | "
          f"{args.epochs} timed epochs | compile {compiled} | peak "
          f"{f'{peak:g} GB/s' if peak else 'n/a'}", flush=True)
    print(f"MD MLP {int(np.prod(SHAPE))}-{args.md_width}x{DEPTH}-{FEATURE_DIM}-{CLASSES} with "
          f"BN, width {args.md_width}, {parameters(args.md_width):,} params | batch {BATCH}, "
          f"SGD lr {LR} momentum {MOMENTUM} wd {WEIGHT_DECAY:g} | {args.md_steps} steps/epoch "
          f"({args.md_steps * BATCH} images) + {N_TEST} test | G {groups}", flush=True)
    t0, (busy0, own0) = time.perf_counter(), cpu_seconds()
    md = run_md(groups, args.md_steps, args.md_width, dev, args.epochs, args.compile, peak,
                log=lambda s: print(s, flush=True))
    wall = time.perf_counter() - t0
    busy1, own1 = cpu_seconds()
    other = max(0.0, (busy1 - busy0) - (own1 - own0)) / wall
    report(md)
    print(f"wall {wall:.0f} s; other processes kept {other:.2f} of {os.cpu_count()} CPU cores "
          "busy meanwhile" + (" (timings disturbed)" if other > 0.2 else ""))
    if args.json:
        write_json(args.json, {
            "workload": "md", "device": str(dev), "device_name": name,
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "command": " ".join([sys.executable, *sys.argv]),
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "wall_s": wall, "other_cpu_cores_busy": other, **md})
    return 0
