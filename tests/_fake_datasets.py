"""Small files in the genuine raw formats of MNIST, FashionMNIST, CIFAR-10 and SVHN.

Each writer returns the arrays it encoded, so tests can check an exact round trip.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import scipy.io

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes(), usedforsecurity=False).hexdigest()


def _gz(path: Path, payload: bytes) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(payload)


def write_idx(out: Path, n_train: int = 60, n_test: int = 10, seed: int = 0) -> dict:
    """MNIST/FashionMNIST IDX files: magic 2051 (images, u8 N x 28 x 28) and 2049 (labels)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) + seed) % 10  # every class appears
        rng.shuffle(y)
        _gz(out / f"{prefix}-images-idx3-ubyte.gz",
            struct.pack(">IIII", 2051, n, 28, 28) + x.tobytes())
        _gz(out / f"{prefix}-labels-idx1-ubyte.gz",
            struct.pack(">II", 2049, n) + y.astype(np.uint8).tobytes())
        arrays[prefix] = (x, y)
    return arrays


def _pickled(obj) -> bytes:
    return pickle.dumps(obj, protocol=2)


def write_cifar10(out: Path, per_batch: int = 8, n_test: int = 10, seed: int = 1) -> dict:
    """cifar-10-python.tar.gz: pickled dicts with 'data' (N x 3072 u8, CHW rows) and 'labels'."""
    rng = np.random.default_rng(seed)
    members, arrays = {}, {"train": [], "test": []}
    batches = [(f"data_batch_{i}", per_batch, f"training batch {i} of 5") for i in range(1, 6)]
    for fname, n, label in [*batches, ("test_batch", n_test, "testing batch 1 of 1")]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n)]
        members[fname] = _pickled({"batch_label": label, "labels": labels, "data": data,
                                   "filenames": [f"img_{fname}_{i}.png" for i in range(n)]})
        arrays["test" if fname == "test_batch" else "train"].append((data, labels))
    members["batches.meta"] = _pickled({"num_cases_per_batch": per_batch,
                                        "label_names": CIFAR_NAMES, "num_vis": 3072})
    members["readme.html"] = b"<html>fake</html>"
    with tarfile.open(out / "cifar-10-python.tar.gz", "w:gz") as tar:
        for fname, payload in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{fname}")
            info.size, info.mtime = len(payload), 0
            tar.addfile(info, io.BytesIO(payload))
    return {k: (np.concatenate([d for d, _ in v]).reshape(-1, 3, 32, 32),
                np.concatenate([lab for _, lab in v])) for k, v in arrays.items()}


def write_svhn(out: Path, n_train: int = 30, n_test: int = 10, seed: int = 2) -> dict:
    """{train,test}_32x32.mat: X (32, 32, 3, N) u8, y (N, 1) in 1..10 (10 means digit 0)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).astype(np.uint8)  # includes 10
        scipy.io.savemat(out / f"{split}_32x32.mat", {"X": x, "y": y[:, None]})
        arrays[split] = (x, y)
    return arrays


def write_all(out: Path) -> dict:
    """Each dataset in its own flat directory ``out/<name>`` (a mirror's layout)."""
    writers = {"mnist": lambda d: write_idx(d, seed=0),
               "fashionmnist": lambda d: write_idx(d, seed=5),
               "cifar10": write_cifar10, "svhn": write_svhn}
    arrays = {}
    for name, writer in writers.items():
        (out / name).mkdir(parents=True, exist_ok=True)
        arrays[name] = writer(out / name)
    return arrays
