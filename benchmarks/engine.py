"""Throughput of the memrepro engine (A) against a typical research training loop (B).

Both train the same architectures (``memrepro.models``) on the same synthetic data (random
uint8 images of MNIST/CIFAR shape, 10 classes, fixed seed) with SGD (lr 0.01, momentum 0.9),
cross-entropy and batch 128, in one process, so A/B is a like-for-like ratio. Why: the engine
claims that the papers' grids (e.g. Arpit et al.'s 100 MLPs of Fig. 1) are cheap when the
data stays on the device and models are batched; this checks the claim.

A  ``memrepro.engine.GroupTrainer``: uint8 data on the device, normalised per batch there;
   a group of models may be stacked into one step (its ``mode``).
B  what most papers' code does: a ``Dataset`` over uint8 HWC arrays applying ``ToTensor()``
   + ``Normalize(mean, std)`` per item, a shuffling ``DataLoader`` (``num_workers=0`` on CPU;
   4 and ``pin_memory=True`` on CUDA), ``.to(device)`` per batch, ``torch.optim.SGD``,
   ``F.cross_entropy``, one model after another; on CUDA fp32 with PyTorch's default flags
   (TF32 off for matmul, on for cuDNN). Kept generous: no PIL round trip (torchvision's
   datasets add one), no per-step ``loss.item()``.

Reported: model-samples/s (models x examples) of the fastest timed epoch (least disturbed
by other load; the mean is in the JSON), A/B, the last epoch's mean loss (a sanity check),
and with a known peak (CUDA or ``--peak-tflops``) MFU = training FLOPs/sample x samples/s /
peak bf16 dense FLOP/s, FLOPs from ``FlopCounterMode`` (matmuls, convolutions) over one
forward+backward at batch 128. Building models, trainers and loaders is not timed; both
sides warm up first. Other processes' CPU use during the run is measured and printed.

``--md`` runs the MD workload instead (batch-16 BN MLP, memory-bandwidth bound; group sizes,
bandwidth and GPU-hours for the paper's grid): see ``benchmarks/md_step.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode
from torchvision import transforms

from memrepro.device_data import to_device
from memrepro.engine import GroupTrainer, group_mode
from memrepro.engine import build_model as engine_build_model
from memrepro.io import write_json

BATCH, LR, MOMENTUM, CLASSES = 128, 0.01, 0.9, 10
# bf16 dense peak TFLOP/s, first match in torch.cuda.get_device_name()
PEAK_TFLOPS = [("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.0), ("H200", 989.0),
               ("A100", 312.0)]


@dataclass
class Workload:
    title: str
    model: dict[str, Any]
    shape: tuple[int, int, int]  # C, H, W
    models: int
    n_train: int


def workloads(cuda: bool) -> dict[int, Workload]:
    """The three workloads: paper-sized on CUDA, shrunk to a few minutes on a small CPU."""
    mlp = {"name": "mlp", "hidden": [512]}
    if cuda:
        return {1: Workload("MLP 784-512-10, MNIST", mlp, (1, 28, 28), 1, 60_000),
                2: Workload("AR Fig.1: 100 MLP 784-4096-4096-10",
                            {"name": "mlp", "hidden": [4096, 4096]}, (1, 28, 28), 100, 60_000),
                3: Workload("ResNet-32, CIFAR", {"name": "resnet32"}, (3, 32, 32), 1, 50_000)}
    return {1: Workload("MLP 784-512-10, MNIST", mlp, (1, 28, 28), 1, 60_000),
            2: Workload("AR Fig.3: 16 MLP 196-16-16-10", {"name": "mlp", "hidden": [16, 16]},
                        (1, 14, 14), 16, 20_000),
            3: Workload("ResNet-32, CIFAR", {"name": "resnet32"}, (3, 32, 32), 1, 5_120)}


def make_data(w: Workload, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x_train": rng.integers(0, 256, (w.n_train, *w.shape), dtype=np.uint8),
            "y_train": rng.integers(0, CLASSES, w.n_train, dtype=np.int64),
            "x_test": rng.integers(0, 256, (256, *w.shape), dtype=np.uint8),
            "y_test": rng.integers(0, CLASSES, 256, dtype=np.int64)}


def build_model(w: Workload, seed: int = 0) -> nn.Module:
    """The workload's model initialised from ``seed``, exactly as the engine builds it."""
    return engine_build_model({"model": w.model, "seed": seed}, torch.empty(0, *w.shape),
                              CLASSES)


def train_flops_per_sample(w: Workload) -> float:
    """Matmul/conv FLOPs of one forward+backward at batch 128 (counted on the CPU) / 128."""
    model = build_model(w)
    x, y = torch.randn(BATCH, *w.shape), torch.randint(0, CLASSES, (BATCH,))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() / BATCH


def time_epochs(dev: torch.device, units: Iterable[Callable[[int], Any]],
                epochs: int) -> tuple[list[float], list[Any]]:
    """Run each unit (a trainer, or a model) for ``epochs`` epochs in turn; return seconds per
    epoch summed over units, and each unit's last epoch's result."""
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    seconds, last = [0.0] * epochs, []
    for run_epoch in units:
        for j in range(epochs):
            sync()
            start = time.perf_counter()
            out = run_epoch(j)
            sync()
            seconds[j] += time.perf_counter() - start
        last.append(out)
    return seconds, last


def rates(w: Workload, mode: str, seconds: list[float], models: int,
          loss: float) -> dict[str, Any]:
    n = models * w.n_train
    return {"mode": mode, "epoch_seconds": seconds, "models_timed": models, "loss": loss,
            "samples_per_s": n / min(seconds), "samples_per_s_mean": n * len(seconds) /
            sum(seconds)}


def run_engine(w: Workload, arrays: dict[str, np.ndarray], dev: torch.device, epochs: int,
               compile_: bool) -> dict[str, Any]:
    specs = [{"model": w.model, "loss": {"name": "cce"}, "seed": k, "slug": f"s{k}",
              "train": {"epochs": epochs + 1, "batch_size": BATCH,
                        "optimizer": {"name": "sgd", "lr": LR, "momentum": MOMENTUM},
                        "schedule": {"name": "constant"}}} for k in range(w.models)]

    def trainers(a: dict[str, np.ndarray]) -> tuple[str, list[GroupTrainer]]:
        noisy = {"labels": a["y_train"], "corrupted": np.zeros(len(a["y_train"]), dtype=bool)}
        data = to_device(a, noisy, CLASSES, dev)
        mode = group_mode(specs, data, "auto")
        if mode != "sequential":
            return mode, [GroupTrainer(specs, [data] * len(specs), "auto", compile=compile_)]
        # the engine's own choice for this group (as train_group does): one model at a time
        return f"single x{len(specs)}", [GroupTrainer([s], [data], compile=compile_)
                                         for s in specs]

    first = 0
    if compile_:  # compiled graphs belong to the trainer: warm up with a whole epoch of it
        mode, group = trainers(arrays)
        for t in group:
            t.train_epoch(0)
        first = 1
    else:  # warm up on a slice: two full batches and the ragged tail (every batch shape)
        n = 2 * BATCH + w.n_train % BATCH
        warm = trainers({**arrays, "x_train": arrays["x_train"][:n],
                         "y_train": arrays["y_train"][:n]})[1]
        for t in warm:
            t.train_epoch(0)
        del warm, t
        gc.collect()
        mode, group = trainers(arrays)
    seconds, last = time_epochs(dev, [lambda j, t=t: t.train_epoch(first + j) for t in group],
                                epochs)
    loss = torch.cat([torch.as_tensor(x).reshape(-1).float().cpu() for x in last]).mean()
    return rates(w, mode, seconds, w.models, float(loss))


class UInt8Images(Dataset):
    """uint8 HWC images with int labels, transformed one item at a time (torchvision style)."""

    def __init__(self, x_hwc: np.ndarray, y: np.ndarray, transform: transforms.Compose):
        self.x, self.y, self.transform = x_hwc, y, transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.x[i]), int(self.y[i])


def run_reference(w: Workload, arrays: dict[str, np.ndarray], dev: torch.device, epochs: int,
                  models: int) -> dict[str, Any]:
    cuda = dev.type == "cuda"
    if cuda:  # back to PyTorch's defaults: the engine switches TF32 on for matmul
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = True
    x = np.ascontiguousarray(arrays["x_train"].transpose(0, 2, 3, 1))  # NCHW -> NHWC
    mean = (x.mean(axis=(0, 1, 2), dtype=np.float64) / 255).tolist()
    std = (x.std(axis=(0, 1, 2), dtype=np.float64) / 255).tolist()
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
    loader = DataLoader(UInt8Images(x, arrays["y_train"], tf), batch_size=BATCH, shuffle=True,
                        num_workers=4 if cuda else 0, pin_memory=cuda)

    def fit(model: nn.Module, opt: torch.optim.Optimizer, _epoch: int = 0,
            steps: int | None = None) -> float:
        model.train()
        total = torch.zeros((), device=dev)
        for step, (xb, yb) in enumerate(loader):
            if steps is not None and step >= steps:
                break
            xb, yb = xb.to(dev), yb.to(dev)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.detach() * len(yb)
        return float(total) / len(loader.dataset)  # one sync per epoch

    def fresh(seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
        model = build_model(w, seed).to(dev)
        return model, torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    fit(*fresh(0), steps=3)  # warm-up on a throwaway model
    # models are built lazily, one at a time and outside the timed region (as A's trainers)
    seconds, losses = time_epochs(dev, (partial(fit, *fresh(k)) for k in range(models)), epochs)
    return rates(w, "sequential", seconds, models, float(np.mean(losses)))


def peak_tflops(dev: torch.device, override: float | None) -> float | None:
    if override or dev.type != "cuda":
        return override
    name = torch.cuda.get_device_name(dev)
    return next((p for key, p in PEAK_TFLOPS if key in name), None)


def cpu_seconds() -> tuple[float, float]:
    """Busy CPU seconds of the machine (Linux) and of this process with its children."""
    t = os.times()
    own = t.user + t.system + t.children_user + t.children_system
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]  # user .. steal
    except OSError:
        return float("nan"), own
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK"), own  # less idle and iowait


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"],
                   default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", help="write every number to this JSON file")
    p.add_argument("--workloads", default="1,2,3", help="comma list of 1, 2, 3")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs (the fastest counts)")
    p.add_argument("--n-train", type=int, help="training examples (every chosen workload)")
    p.add_argument("--ref-models", type=int, help="B trains only this many of a workload's "
                   "models (a rate, so still comparable; default: all on CPU, 10 on CUDA)")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--peak-tflops", type=float, help="peak for MFU (default: from the GPU name)")
    p.add_argument("--compile", action="store_true", help="torch.compile in the engine (A)")
    md = p.add_argument_group("MD workload (benchmarks/md_step.py): batch-16 BN MLP, "
                              "memory-bandwidth bound")
    md.add_argument("--md", action="store_true", help="run the MD workload instead of 1-3")
    md.add_argument("--md-groups", default="1,4,16,40", help="comma list of group sizes G (each "
                    "2048-wide model holds ~0.45 GB of weights, gradients and momentum)")
    md.add_argument("--md-steps", type=int, default=100, help="steps of 16 per epoch")
    md.add_argument("--md-width", type=int, default=2048, help="hidden width (paper: 2048)")
    md.add_argument("--peak-gbs", type=float,
                    help="peak memory bandwidth, GB/s (default: from the GPU name)")
    args = p.parse_args(argv)

    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    if cuda and not torch.cuda.is_available():
        p.error("--device cuda: torch sees no CUDA device")
    torch.set_num_threads(args.threads)
    if args.md:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks: no package
        import md_step

        name = torch.cuda.get_device_name(dev) if cuda else "cpu"
        return md_step.main(args, dev, name, cpu_seconds)
    peak = peak_tflops(dev, args.peak_tflops)
    name = torch.cuda.get_device_name(dev) if cuda else "cpu"
    table = workloads(cuda)
    print(f"device {name} | torch {torch.__version__} | threads {torch.get_num_threads()} | "
          f"{args.epochs} timed epochs | compile {args.compile} | peak "
          f"{f'{peak:g} TFLOP/s' if peak else 'n/a'}", flush=True)

    results, t0, (busy0, own0) = [], time.perf_counter(), cpu_seconds()
    for key in [int(k) for k in args.workloads.split(",") if k.strip()]:
        w = table[key]
        w.n_train = args.n_train or w.n_train
        arrays = make_data(w)
        flops = train_flops_per_sample(w)
        a = run_engine(w, arrays, dev, args.epochs, args.compile)
        gc.collect()
        ref_models = min(args.ref_models or (10 if cuda else w.models), w.models)
        b = run_reference(w, arrays, dev, args.epochs, ref_models)
        for r in (a, b):
            r["mfu"] = flops * r["samples_per_s"] / (peak * 1e12) if peak else None
        results.append({"workload": key, "title": w.title, "model": w.model,
                        "shape": list(w.shape), "models": w.models, "n_train": w.n_train,
                        "train_flops_per_sample": flops, "engine": a, "reference": b,
                        "ratio": a["samples_per_s"] / b["samples_per_s"]})
        print(f"  workload {key}: timed A {sum(a['epoch_seconds']):.1f} s, "
              f"B {sum(b['epoch_seconds']):.1f} s", flush=True)
        del arrays
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
    wall = time.perf_counter() - t0
    busy1, own1 = cpu_seconds()
    other = max(0.0, (busy1 - busy0) - (own1 - own0)) / wall  # cores busy with other work

    mfu = f"{'A MFU':>8}{'B MFU':>8}" if peak else ""
    head = (f"{'#':<2}{'workload':<36}{'n':>7}{'A mode':>12}{'A samp/s':>12}{'B samp/s':>11}"
            f"{'A/B':>8}{'A loss':>8}{'B loss':>8}{mfu}")
    print("\n" + head + "\n" + "-" * len(head))
    for r in results:
        a, b = r["engine"], r["reference"]
        line = (f"{r['workload']:<2}{r['title']:<36}{r['n_train']:>7}{a['mode']:>12}"
                f"{a['samples_per_s']:>12,.0f}{b['samples_per_s']:>11,.0f}{r['ratio']:>7.1f}x"
                f"{a['loss']:>8.3f}{b['loss']:>8.3f}")
        line += f"{a['mfu']:>8.1%}{b['mfu']:>8.1%}" if peak else ""
        print(line + ("" if b["models_timed"] == r["models"]
                      else f"  (B timed on {b['models_timed']} of {r['models']} models)"))
    print(f"samples/s: model-samples (models x examples), fastest of {args.epochs} epochs; "
          f"B: per-item ToTensor+Normalize, DataLoader num_workers={4 if cuda else 0}, "
          f"{'fp32, ' if cuda else ''}one model at a time")
    print(f"wall {wall:.0f} s; other processes kept {other:.2f} of {os.cpu_count()} CPU cores "
          "busy meanwhile" + (" (timings disturbed)" if other > 0.2 else ""))

    if args.json:
        write_json(args.json, {  # atomic: a temporary name, then renamed
            "device": str(dev), "device_name": name, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "command": " ".join([sys.executable, *sys.argv]),
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "epochs": args.epochs, "compile": args.compile, "batch_size": BATCH,
            "peak_tflops": peak, "wall_s": wall, "other_cpu_cores_busy": other,
            "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
