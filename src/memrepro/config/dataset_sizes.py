"""How many examples of each class a dataset has, known at planning (before any download or
prepare job), so that the configuration can refuse a ``subset`` larger than the training set
or a derived dataset keeping a class its base lacks (memrepro.config.plan_checks).

Torch-free and file-free for every source but ``npz``: the torchvision datasets' class counts
are fixed facts of their published files; the embedded digits' are those of
``memrepro.data``'s fixed seed-0 split (``tests/test_planning_refusals.py`` recomputes them);
a derived dataset's follow from its base's ``classes`` and ``train_splits``. A user's
``.npz`` is read (labels only, nothing unpickled) when the caller allows reading files;
otherwise its counts are unknown (None) and the checks that need them are skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

Counts = dict[str, list[int]]  # split ("train", "test") -> examples per class 0..K-1

# (train, test) examples per class of the datasets whose files are known in advance
KNOWN_COUNTS: dict[str, tuple[list[int], list[int]]] = {
    "mnist": ([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
              [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]),
    "fashionmnist": ([6000] * 10, [1000] * 10),
    "cifar10": ([5000] * 10, [1000] * 10),
    # SVHN's "10" is class 0 (memrepro.data)
    "svhn": ([4948, 13861, 10585, 8497, 7458, 6882, 5727, 5595, 5045, 4659],
             [1744, 5099, 4149, 2882, 2523, 2384, 1977, 2019, 1660, 1595]),
    # sklearn's 1,797 digits split by memrepro.data: the last 360 of a seed-0 permutation
    "digits": ([139, 145, 130, 155, 139, 150, 144, 152, 144, 139],
               [39, 37, 47, 28, 42, 32, 37, 27, 30, 41]),
}


def class_counts(name: str, specs: dict, read_files: bool = True) -> Counts | None:
    """``{"train": [...], "test": [...]}``: the examples per class of dataset ``name`` (a key
    of ``specs``, the config's ``datasets``), or None when they cannot be known at planning
    (a user's file not read, a base unknown, classes outside the base: refused elsewhere)."""
    return _counts(name, specs, read_files, set())


def train_size(name: str, specs: dict, read_files: bool = True) -> int | None:
    """The number of training examples of dataset ``name``, or None when unknown."""
    counts = class_counts(name, specs, read_files)
    return None if counts is None else sum(counts["train"])


def _counts(name: str, specs: dict, read_files: bool, seen: set) -> Counts | None:
    spec = specs.get(name)
    if not isinstance(spec, dict) or name in seen:
        return None
    source = spec.get("source")
    if source in ("torchvision", "sklearn"):
        known = KNOWN_COUNTS.get(spec.get("name", name))
        return None if known is None else {"train": list(known[0]), "test": list(known[1])}
    if source == "npz":
        return _npz_counts(spec, read_files)
    if source == "derived":
        return _derived_counts(spec, _counts(spec.get("from"), specs, read_files, seen | {name}))
    return None


def _derived_counts(spec: dict, base: Counts | None) -> Counts | None:
    """A derived dataset's counts from its base's: ``classes`` kept in their listed order,
    the ``train_splits`` joined into the training set."""
    if base is None:
        return None
    classes = spec.get("classes")
    if classes is not None and any(type(c) is not int or not 0 <= c < len(base["train"])
                                   for c in classes):
        return None
    kept = {s: list(v) if classes is None else [v[c] for c in classes] for s, v in base.items()}
    splits = spec.get("train_splits") or ["train"]
    train = [sum(kept[s][k] for s in splits if s in kept) for k in range(len(kept["train"]))]
    return {"train": train, "test": kept["test"]}


def _npz_counts(spec: dict, read_files: bool) -> Counts | None:
    """A user's .npz: its labels counted (read without unpickling); None when not read or not
    readable (memrepro.config.errors.check_user_data names the problem)."""
    path = Path(str(spec.get("path", "")))
    if not read_files or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            y = {s: np.asarray(f[f"y_{s}"]).astype(np.int64).ravel() for s in ("train", "test")}
    except Exception:  # any unreadable file: check_user_data reports it by name
        return None
    if any(len(v) and v.min() < 0 for v in y.values()):
        return None
    k = max([int(spec.get("num_classes") or 0)] + [int(v.max()) + 1 for v in y.values() if len(v)])
    return {s: np.bincount(v, minlength=k).tolist() for s, v in y.items()}
