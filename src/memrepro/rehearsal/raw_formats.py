"""Files in the genuine raw formats of MNIST, FashionMNIST, CIFAR-10 and SVHN: small ones for
the tests, full-size ones (the published example and class counts, random pixels) for the
rehearsal, which serves them to the real download and prepare code through ``data.mirror``.

Each writer returns the arrays it encoded, so tests can check an exact round trip. The formats
(as torchvision reads them): IDX (big-endian magic 2051 images / 2049 labels, gzip), CIFAR-10's
python batches (a tar.gz of pickled dicts: written here, read by torchvision's own loader,
md5-checked against what the mirror publishes), SVHN's MATLAB files (X 32x32x3xN, y in 1..10).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
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
    # level 1: the full-size files are random pixels, which no level compresses
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                                compresslevel=1) as f:
        f.write(payload)


def labels_with_counts(counts: list[int], rng: np.random.Generator) -> np.ndarray:
    """Labels 0..K-1, ``counts[k]`` of class k, in a random order."""
    y = np.repeat(np.arange(len(counts)), counts)
    rng.shuffle(y)
    return y


def write_idx(out: Path, n_train: int = 60, n_test: int = 10, seed: int = 0,
              counts: tuple[list[int], list[int]] | None = None) -> dict:
    """MNIST/FashionMNIST IDX files: magic 2051 (images, u8 N x 28 x 28) and 2049 (labels).
    ``counts``: (train, test) examples per class, instead of the sizes."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for i, (prefix, n) in enumerate((("train", n_train), ("t10k", n_test))):
        if counts is not None:
            y = labels_with_counts(counts[i], rng)
            n = len(y)
        else:
            y = (np.arange(n) + seed) % 10  # every class appears
            rng.shuffle(y)
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        _gz(out / f"{prefix}-images-idx3-ubyte.gz",
            struct.pack(">IIII", 2051, n, 28, 28) + x.tobytes())
        _gz(out / f"{prefix}-labels-idx1-ubyte.gz",
            struct.pack(">II", 2049, n) + y.astype(np.uint8).tobytes())
        arrays[prefix] = (x, y)
    return arrays


def _pickled(obj) -> bytes:
    return pickle.dumps(obj, protocol=2)


def write_cifar10(out: Path, per_batch: int = 8, n_test: int = 10, seed: int = 1,
                  balanced: bool = False) -> dict:
    """cifar-10-python.tar.gz: pickled dicts with 'data' (N x 3072 u8, CHW rows) and 'labels'.
    ``balanced``: every class equally often in each batch (the published files' counts when
    per_batch = n_test = 10,000)."""
    rng = np.random.default_rng(seed)
    members, arrays = {}, {"train": [], "test": []}
    batches = [(f"data_batch_{i}", per_batch, f"training batch {i} of 5") for i in range(1, 6)]
    for fname, n, label in [*batches, ("test_batch", n_test, "testing batch 1 of 1")]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(v) for v in (labels_with_counts([n // 10] * 10, rng) if balanced
                                   else rng.integers(0, 10, n))]
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


def write_svhn(out: Path, n_train: int = 30, n_test: int = 10, seed: int = 2,
               counts: tuple[list[int], list[int]] | None = None) -> dict:
    """{train,test}_32x32.mat: X (32, 32, 3, N) u8, y (N, 1) in 1..10 (10 means digit 0).
    ``counts``: (train, test) examples of digits 0..9, instead of the sizes."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for i, (split, n) in enumerate((("train", n_train), ("test", n_test))):
        if counts is not None:
            digit = labels_with_counts(counts[i], rng)
            y = np.where(digit == 0, 10, digit).astype(np.uint8)
            n = len(y)
        else:
            y = (np.arange(n) % 10 + 1).astype(np.uint8)  # includes 10
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        scipy.io.savemat(out / f"{split}_32x32.mat", {"X": x, "y": y[:, None]})
        arrays[split] = (x, y)
    return arrays


def write_full_size(out: Path, name: str) -> None:
    """Dataset ``name`` at its published sizes and class counts into ``out`` (flat), and
    ``md5.json`` ({file name: md5}) beside the files: what the mirror publishes."""
    from memrepro.config.dataset_sizes import KNOWN_COUNTS

    out.mkdir(parents=True, exist_ok=True)
    counts = KNOWN_COUNTS[name]
    writers = {"mnist": lambda: write_idx(out, seed=0, counts=counts),
               "fashionmnist": lambda: write_idx(out, seed=5, counts=counts),
               "cifar10": lambda: write_cifar10(out, sum(counts[0]) // 5, sum(counts[1]),
                                                balanced=True),
               "svhn": lambda: write_svhn(out, counts=counts)}
    writers[name]()
    sums = {p.name: md5(p) for p in sorted(out.iterdir()) if p.name != "md5.json"}
    (out / "md5.json").write_text(json.dumps(sums, indent=2) + "\n")


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


def mirror_resources(mirror: str | Path, name: str) -> list[tuple[str, str, str]]:
    """``(url, filename, md5)`` of dataset ``name`` as the rehearsal's mirror publishes it
    (``<mirror>/<name>/md5.json``); memrepro.download rewrites each url onto the mirror."""
    sums = json.loads((Path(mirror) / name / "md5.json").read_text())
    return [(f"{name}/{fn}", fn, m) for fn, m in sorted(sums.items())]


def download_mirror(data: dict, name: str, rehearsal: bool) -> str | None:
    """Where the download rule fetches dataset ``name`` from: ``data.mirror`` (None: the
    internet), in a rehearsal the mirror's folder for the dataset."""
    mirror = data.get("mirror")
    return f"{mirror}/{name}" if rehearsal else mirror


def download_resources(data: dict, name: str, rehearsal: bool) -> list | None:
    """The files and md5s the download rule checks: torchvision's (None), in a rehearsal the
    mirror's own (:func:`mirror_resources`)."""
    return mirror_resources(data["mirror"], name) if rehearsal else None
