"""Training engine: one cell (model x loss x noise x seed) from prepared arrays.

The whole dataset lives on the device as uint8 and is normalised per batch there.
Shuffling uses a generator seeded from (seed, epoch), so an epoch's order does not
depend on what ran before it; with the checkpoint holding model and optimizer state,
a resumed run repeats an uninterrupted one exactly (bitwise on CPU).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from . import io
from .losses import get_loss
from .models import get_model

HISTORY_COLUMNS = ["epoch", "lr", "loss", "j1", "j2", "corrupted_fit", "corrupted_clean",
                   "clean_acc", "test_acc", "test_loss"]


@dataclass
class TrainData:
    """Tensors of one cell on its device; labels int64, images uint8 NCHW."""
    x: torch.Tensor
    y_noisy: torch.Tensor
    y_clean: torch.Tensor
    corrupted: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    num_classes: int


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: 'cuda' was asked for but torch sees no CUDA device; "
                           "use device: auto or cpu")
    return torch.device(name)


def subset_indices(n: int, subset: int | None) -> np.ndarray:
    """The first ``subset`` of one fixed permutation (seed 0), sorted: the same examples for
    every cell, so runs that differ in loss, noise or seed see the same data."""
    if not subset or subset >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).permutation(n)[:subset])


def to_device(arrays: dict[str, np.ndarray], noisy: dict[str, np.ndarray], num_classes: int,
              device: torch.device, subset: int | None = None) -> TrainData:
    """Put one cell's data on ``device``; ``subset`` keeps a fixed share of the training set
    (noise is drawn on the full set first, so a subset's labels match the full run's)."""
    keep = subset_indices(arrays["x_train"].shape[0], subset)
    arrays = {**arrays, "x_train": arrays["x_train"][keep], "y_train": arrays["y_train"][keep]}
    noisy = {k: (v[keep] if k != "input_seed" else v) for k, v in noisy.items()}
    x = arrays["x_train"]
    if "inputs_replaced" in noisy:
        from .noise import replace_inputs
        x = replace_inputs(x, noisy["inputs_replaced"], int(noisy["input_seed"][0]))
    from .data import channel_stats  # exact, from integer sums: no float64 copy of the data

    mean, std = channel_stats(x)
    std = [s + 1e-8 for s in std]

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(device)

    return TrainData(
        x=t(x), y_noisy=t(noisy["labels"].astype(np.int64)),
        y_clean=t(arrays["y_train"].astype(np.int64)), corrupted=t(noisy["corrupted"]),
        x_test=t(arrays["x_test"]), y_test=t(arrays["y_test"].astype(np.int64)),
        mean=torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1),
        std=torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1),
        num_classes=num_classes,
    )


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
    from .optim import SGD, Adam  # torch.optim's rules without its ~2 s import of dynamo

    name, lr, wd = spec["name"], spec["lr"], spec.get("weight_decay", 0.0)
    if name == "sgd":
        return SGD(params, lr=lr, momentum=spec.get("momentum", 0.0), weight_decay=wd)
    if name == "adam":
        return Adam(params, lr=lr, weight_decay=wd)
    raise ValueError(f"train.optimizer.name: unknown {name!r}; allowed: sgd, adam")


class Normalize:
    """uint8 NCHW -> float, scaled to [0,1] and standardised per channel, on the device."""

    def __init__(self, data: TrainData, channels_last: bool):
        self.mean, self.std, self.cl = data.mean, data.std, channels_last

    def __call__(self, xb: torch.Tensor) -> torch.Tensor:
        out = (xb.float() / 255.0 - self.mean) / self.std
        return out.contiguous(memory_format=torch.channels_last) if self.cl else out


@torch.no_grad()
def predict(model, x: torch.Tensor, norm: Normalize, batch: int, amp) -> torch.Tensor:
    """Logits (float32) of all rows of x, in eval mode, batched."""
    model.eval()
    outs = []
    for i in range(0, x.shape[0], batch):
        with amp():
            outs.append(model(norm(x[i:i + batch])).float())
    return torch.cat(outs)


def label_metrics(pred: torch.Tensor, y_noisy: torch.Tensor, y_clean: torch.Tensor,
                  corrupted: torch.Tensor) -> dict[str, float]:
    """Accuracies of predicted classes on the training set (PS Sec. 2):
    j1 against the labels trained on, j2 against the clean labels; on the corrupted
    subset, the share that fits the noisy label and the share still right; on the
    uncorrupted subset, plain accuracy."""
    c = corrupted.bool()
    return {"j1": _mean(pred == y_noisy), "j2": _mean(pred == y_clean),
            "corrupted_fit": _mean((pred == y_noisy)[c]),
            "corrupted_clean": _mean((pred == y_clean)[c]),
            "clean_acc": _mean((pred == y_clean)[~c])}


def evaluate(model, data: TrainData, norm: Normalize, loss_fn, batch: int, amp) -> dict:
    """Training-set label metrics and test accuracy/loss, in eval mode."""
    pred = predict(model, data.x, norm, batch, amp).argmax(1)
    test_logits = predict(model, data.x_test, norm, batch, amp)
    return {**label_metrics(pred, data.y_noisy, data.y_clean, data.corrupted),
            "test_acc": _mean(test_logits.argmax(1) == data.y_test),
            "test_loss": float(loss_fn(test_logits, data.y_test).mean())}


def _mean(b: torch.Tensor) -> float:
    return float(b.float().mean()) if b.numel() else float("nan")


def fingerprint(spec: dict[str, Any]) -> str:
    """Hash of everything that defines a cell's training, to refuse a stale checkpoint."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def train_cell(spec: dict[str, Any], data: TrainData, out_dir: str | Path, *,
               stop_after: int | None = None, progress: bool | None = None) -> list[dict]:
    """Train one cell; write history.csv, model.pt and run.json under ``out_dir``.

    ``spec`` holds model, loss, train and seed (the resolved cell of params.yaml).
    ``stop_after`` ends the call after that many epochs of this call, with a checkpoint
    written, as a kill would (used by the resume test). Returns the history rows.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dev = data.x.device
    tr = spec["train"]
    seed = int(spec["seed"])
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    with torch.random.fork_rng(devices=[dev] if cuda else []):
        torch.manual_seed(seed)
        model = get_model(spec["model"]["name"], in_channels=data.x.shape[1],
                          num_classes=data.num_classes, **_model_kwargs(spec, data))
    channels_last = cuda and data.x.dim() == 4 and any(
        isinstance(m, torch.nn.Conv2d) for m in model.modules())
    model = model.to(dev, memory_format=torch.channels_last if channels_last else
                     torch.contiguous_format)
    opt = make_optimizer(model.parameters(), tr["optimizer"])
    loss_fn = get_loss(spec["loss"]["name"], **spec["loss"].get("params", {}))
    norm = Normalize(data, channels_last)
    amp = ((lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda
           else contextlib.nullcontext)
    epochs, bs = int(tr["epochs"]), int(tr["batch_size"])
    every = int(tr.get("checkpoint_every", 10))
    eval_bs = max(bs, 1024)
    fp = fingerprint(spec)
    ckpt_path = out_dir / "checkpoint.pt"

    history: list[dict] = []
    start = 0
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=dev, weights_only=True)
        if ck.get("fingerprint") == fp:
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            history, start = list(ck["history"]), int(ck["epoch"])
    if not history:
        history.append({"epoch": 0, "lr": lr_at(0, tr["optimizer"]["lr"], tr.get("schedule", {})),
                        "loss": float("nan"), **evaluate(model, data, norm, loss_fn, eval_bs, amp)})

    n = data.x.shape[0]
    t0, seen = time.perf_counter(), 0
    bar = tqdm(range(start, epochs), initial=start, total=epochs, desc=spec.get("slug", "train"),
               disable=None if progress is None else not progress, leave=False)
    for done, epoch in enumerate(bar, 1):
        lr = lr_at(epoch, tr["optimizer"]["lr"], tr.get("schedule", {}))
        for group in opt.param_groups:
            group["lr"] = lr
        model.train()
        g = torch.Generator(device=dev).manual_seed(seed * 1_000_003 + epoch)
        perm = torch.randperm(n, generator=g, device=dev)
        total = torch.zeros((), device=dev)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            with amp():
                loss = loss_fn(model(norm(data.x[idx])), data.y_noisy[idx]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * idx.numel()
        seen += n
        row = {"epoch": epoch + 1, "lr": lr, "loss": float(total) / n,
               **evaluate(model, data, norm, loss_fn, eval_bs, amp)}
        if not math.isfinite(row["loss"]):
            raise FloatingPointError(f"{spec.get('slug')}: training loss is {row['loss']} at "
                                     f"epoch {epoch + 1}; lower train.optimizer.lr")
        history.append(row)
        bar.set_postfix(j1=f"{row['j1']:.3f}", j2=f"{row['j2']:.3f}", test=f"{row['test_acc']:.3f}")
        last = epoch + 1 == epochs
        if (epoch + 1) % every == 0 or last or (stop_after is not None and done >= stop_after):
            _save_checkpoint(ckpt_path, model, opt, history, epoch + 1, fp)
        if stop_after is not None and done >= stop_after and not last:
            return history
    wall = time.perf_counter() - t0
    _finish(out_dir, spec, model, history, wall, seen, dev)
    ckpt_path.unlink(missing_ok=True)
    return history


def _model_kwargs(spec: dict[str, Any], data: TrainData) -> dict[str, Any]:
    kw = {k: v for k, v in spec["model"].items() if k != "name"}
    if spec["model"]["name"] == "mlp":
        kw["image_size"] = data.x.shape[-1]
    return kw


def _save_checkpoint(path: Path, model, opt, history, epoch: int, fp: str) -> None:
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "history": history,
             "epoch": epoch, "fingerprint": fp}
    with io.atomic_path(path) as tmp:
        torch.save(state, tmp)


def _finish(out_dir: Path, spec, model, history, wall: float, seen: int, dev) -> None:
    import pandas as pd

    io.write_text(out_dir / "history.csv",
                  pd.DataFrame(history, columns=HISTORY_COLUMNS).to_csv(index=False))
    with io.atomic_path(out_dir / "model.pt") as tmp:
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, tmp)
    io.write_json(out_dir / "run.json", {
        "spec": spec, "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(), "versions": versions(),
        "wall_time_s": round(wall, 3), "train_samples_per_s": round(seen / max(wall, 1e-9), 1),
        "final": {k: history[-1][k] for k in ("j1", "j2", "test_acc")},
    })


def versions() -> dict[str, str]:
    import platform

    from . import __version__
    return {"memrepro": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}
