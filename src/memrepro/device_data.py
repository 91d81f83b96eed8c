"""Training data on the device: uint8 images, labels per cell, normalised per batch there.

No DataLoader: the whole prepared dataset is one uint8 tensor on the device, a batch is an
index gather, and normalisation (x / 255 - mean) / std runs on the gathered batch. Cells of
one group share the image tensor unless their noise replaced inputs (randX). A randX cell's
training images are float32 on the same 0-255 scale (``memrepro.noise.replace_inputs``: its
Gaussian noise is neither rounded nor clipped); normalisation treats both dtypes alike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from memrepro.specs import not_allowed
from memrepro.subsets import subset_indices

__all__ = ["GroupData", "TrainData", "pick_device", "subset_indices", "to_device",
           "to_device_many"]


@dataclass
class TrainData:
    """Tensors of one cell on its device; labels int64, images NCHW: uint8, or float32 on the
    0-255 scale when the noise replaced inputs (randX; test images stay uint8)."""
    x: torch.Tensor
    y_noisy: torch.Tensor
    y_clean: torch.Tensor
    corrupted: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    num_classes: int
    ids: torch.Tensor | None = None    # (n,) int64 stable ids (rows of x_train); None: arange
    x_all: torch.Tensor | None = None  # the full prepared training set; None: inputs replaced
    y_all: torch.Tensor | None = None  # (N,) the noisy labels of the full set


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: 'cuda' was asked for but torch sees no CUDA device; "
                           "use device: auto or cpu")
    return torch.device(name)


def to_device(arrays: dict[str, np.ndarray], noisy: dict[str, np.ndarray], num_classes: int,
              device: torch.device, subset=None, partition=None) -> TrainData:
    """Put one cell's data on ``device``; ``subset`` keeps a fixed share of the training set
    or a part of a partition (``memrepro.subsets.subset_indices``; noise is drawn on the full
    set first, so a subset's labels match the full run's)."""
    return to_device_many(arrays, [noisy], num_classes, device, subset, partition)[0]


def to_device_many(arrays: dict[str, np.ndarray], noisies: list[dict[str, np.ndarray]],
                   num_classes: int, device: torch.device, subset=None,
                   partition=None) -> list[TrainData]:
    """One TrainData per noise file; cells whose inputs are untouched share the same image,
    clean-label, id and test tensors on the device (one copy per job, not one per cell).

    ``subset``: None, an int or ``{partition: <name>, take|drop: <part>}`` with ``partition``
    that partition's arrays or file (``memrepro.subsets``). Each TrainData keeps the stable
    ids of its rows, the full training images (``x_all``; the same tensor as ``x`` without a
    subset, None when its noise replaced the inputs) and the full set's noisy labels."""
    from .data import channel_stats  # exact, from integer sums: no float64 copy of the data

    n_all = arrays["x_train"].shape[0]
    keep = subset_indices(n_all, subset, partition)
    whole = len(keep) == n_all  # subset_indices is sorted: all rows, in order

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(device)

    x0 = arrays["x_train"] if whole else arrays["x_train"][keep]
    shared = {"y_clean": t(arrays["y_train"][keep].astype(np.int64)),
              "x_test": t(arrays["x_test"]), "y_test": t(arrays["y_test"].astype(np.int64)),
              "ids": t(keep.astype(np.int64))}
    cache: dict[int, tuple] = {}  # input seed (-1: untouched) -> (x, x_all, mean, std)
    out = []
    for full in noisies:
        noisy = {k: (v[keep] if k != "input_seed" else v) for k, v in full.items()}
        key = int(noisy["input_seed"][0]) if "inputs_replaced" in noisy else -1
        if key not in cache:
            x = x0
            if key >= 0:
                from .noise import replace_inputs
                x = replace_inputs(x0, noisy["inputs_replaced"], key)
            mean, std = channel_stats(x)
            std = [s + 1e-8 for s in std]
            xt = t(x)
            x_all = None if key >= 0 else xt if whole else t(arrays["x_train"])
            cache[key] = (xt, x_all, *(torch.tensor(v, dtype=torch.float32, device=device)
                                       .view(1, -1, 1, 1) for v in (mean, std)))
        x, x_all, mean, std = cache[key]
        out.append(TrainData(x=x, y_noisy=t(noisy["labels"].astype(np.int64)),
                             corrupted=t(noisy["corrupted"]), mean=mean, std=std,
                             num_classes=num_classes, x_all=x_all,
                             y_all=t(full["labels"].astype(np.int64)), **shared))
    return out


@dataclass
class GroupData:
    """The data of M cells: images shared (n, C, H, W) or per model (M, n, C, H, W);
    noisy labels and corruption masks per model (M, n); clean and test labels shared.
    ``ids`` (n,): the stable id (row of the prepared x_train) of each row; ``x_all``: the full
    prepared training set (N, C, H, W), the same tensor as ``x`` without a subset, None when
    inputs are per model; ``y_all`` (M, N): the noisy labels of the full set."""
    x: torch.Tensor
    per_model_x: bool
    y_noisy: torch.Tensor
    corrupted: torch.Tensor
    y_clean: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: torch.Tensor  # (1, C, 1, 1) shared, or (M, 1, C, 1, 1) per model
    std: torch.Tensor
    num_classes: int
    ids: torch.Tensor | None = None
    x_all: torch.Tensor | None = None
    y_all: torch.Tensor | None = None
    channels_last: bool = False

    def __post_init__(self):
        if self.ids is None:
            self.ids = torch.arange(self.n, device=self.x.device)

    @classmethod
    def of(cls, datas: list[TrainData]) -> GroupData:
        d0 = datas[0]
        for i, d in enumerate(datas):
            if d.x.shape != d0.x.shape or not torch.equal(d.y_clean, d0.y_clean):
                raise ValueError(f"group: cell {i} was trained on other data than cell 0; "
                                 "a group's cells must share one dataset")
        ids = [d.ids if d.ids is not None else torch.arange(d.x.shape[0], device=d.x.device)
               for d in datas]
        if any(not torch.equal(i, ids[0]) for i in ids[1:]):
            raise ValueError("group: cells were trained on different examples (ids); a "
                             "group's cells must share one subset")
        shared = all(d.x is d0.x or torch.equal(d.x, d0.x) for d in datas[1:])

        def stack(name: str) -> torch.Tensor:
            return torch.stack([getattr(d, name) for d in datas])

        x_all = d0.x_all if shared and all(d.x_all is not None for d in datas) else None
        y_all = stack("y_all") if all(d.y_all is not None for d in datas) else None
        return cls(x=d0.x if shared else stack("x"), per_model_x=not shared,
                   y_noisy=stack("y_noisy"), corrupted=stack("corrupted").bool(),
                   y_clean=d0.y_clean, x_test=d0.x_test, y_test=d0.y_test,
                   mean=d0.mean if shared else stack("mean"),
                   std=d0.std if shared else stack("std"), num_classes=d0.num_classes,
                   ids=ids[0], x_all=x_all, y_all=y_all)

    @property
    def n(self) -> int:
        return self.x.shape[1 if self.per_model_x else 0]

    def head(self, k: int) -> GroupData:
        """The first ``k`` examples of each split (training, test and full sets), as views:
        what a rehearsal's evaluation reads (memrepro.engine, ``train.eval_examples``)."""
        def rows(t: torch.Tensor | None, per_model: bool) -> torch.Tensor | None:
            return None if t is None else (t[:, :k] if per_model else t[:k])

        return replace(self, x=rows(self.x, self.per_model_x),
                       y_noisy=rows(self.y_noisy, True), corrupted=rows(self.corrupted, True),
                       y_clean=rows(self.y_clean, False), x_test=rows(self.x_test, False),
                       y_test=rows(self.y_test, False), ids=rows(self.ids, False),
                       x_all=rows(self.x_all, False), y_all=rows(self.y_all, True))

    def normalize(self, xb: torch.Tensor) -> torch.Tensor:
        """uint8 (or randX's float32, 0-255 scale) -> float, divided by 255 and standardised
        per channel, on the device."""
        out = (xb.float() / 255.0 - self.mean) / self.std
        return out.contiguous(memory_format=torch.channels_last) if self.channels_last else out

    def train_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """Normalised images for row indices idx (M, B): (M, B, ...), or for one model
        (M = 1, shared images) plain (B, ...), as a lone model would see them."""
        if self.per_model_x:
            rows = torch.arange(idx.shape[0], device=idx.device)[:, None]
            return self.normalize(self.x[rows, idx]), True
        if idx.shape[0] == 1:
            return self.normalize(self.x[idx[0]]), False
        return self.normalize(self.x[idx]), True

    def eval_batches(self, split: str, batch: int):
        """(normalised inputs, per_model) chunks of the training set as trained (``train``),
        the test set (``test``) or the full prepared training set (``all``: ``x_all``, every
        example by id, those a subset left out included)."""
        if split not in ("train", "test", "all"):
            raise ValueError(not_allowed("split", split, "'train', 'test' or 'all'",
                                         where="eval_batches"))
        if split == "all" and self.x_all is None:
            raise ValueError(not_allowed(
                "split", "all", "'train', 'test'", where="eval_batches",
                why=" when the cells' inputs were replaced (per-model images, e.g. randX)"))
        x = {"train": self.x, "test": self.x_test, "all": self.x_all}[split]
        per_model = self.per_model_x and split == "train"
        n = x.shape[1] if per_model else x.shape[0]
        for i in range(0, n, batch):
            xb = x[:, i:i + batch] if per_model else x[i:i + batch]
            out = self.normalize(xb)
            # per-model statistics turn shared test images into per-model inputs
            yield out, per_model or self.mean.dim() == 5
