"""Datasets: build uint8 NCHW ``.npz`` files from raw downloads (``memrepro.download``),
scikit-learn's digits, users' files or another prepared dataset (``derived``), and check
users' files.

``prepare`` reads only raw data that still match the download's marker. Users' ``.npz``: exactly
the arrays x_train, y_train, x_test, y_test (anything else is refused, by name; nothing is
unpickled); ``x_*`` uint8, or float with every value in [0, 1] (stored as ``round(x * 255)``);
labels 0..K-1 with every class in y_train, unless the dataset declares ``num_classes: K``.

A derived dataset (``source: derived, from: <key>``) reads ``<from>.npz`` beside its own output
(checked against the base's sidecar); ``classes`` keeps those classes, relabelled 0..k-1 in
the listed order; ``train_splits: [train, test]`` makes the base's test examples training
examples too, after the training ones. Its file adds ``source_split`` (uint8, 0 = from the
base's train split, 1 = from its test split) and ``source_index`` (int64, the index in that
split of the base) for every training example.
"""

from __future__ import annotations

import logging
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from memrepro import io
from memrepro.download import (
    DataError,
    check_name,
    refuse,
    torchvision_datasets,
    verify_raw,
)

log = logging.getLogger("memrepro.data")

SOURCES = ("torchvision", "sklearn", "npz", "derived")
DIGITS_TEST = 360  # the last 360 of a default_rng(0) permutation of sklearn's 1797 digits
KEYS = ("x_train", "y_train", "x_test", "y_test")
SOURCE_KEYS = ("source_split", "source_index")  # optional, together: where each example is from
DTYPES = {"x_train": np.uint8, "x_test": np.uint8, "y_train": np.int64, "y_test": np.int64,
          "source_split": np.uint8, "source_index": np.int64}
SPLIT_CODES = {"train": 0, "test": 1}


# --- prepared arrays --------------------------------------------------------------------------
def _load_torchvision(name: str, root: Path, key: str) -> tuple[dict, Any, list[str]]:
    check_name(name, f"{key}.name")
    dest = root / name
    raw = verify_raw(name, dest)  # sha256 of every file vs the marker written after md5 checks
    tvd = torchvision_datasets()
    out: dict[str, np.ndarray] = {}
    try:
        if name in ("mnist", "fashionmnist"):
            cls = tvd.MNIST if name == "mnist" else tvd.FashionMNIST
            classes = list(cls.classes)
            for split in ("train", "test"):
                ds = cls(str(dest), train=split == "train", download=False)
                out[f"x_{split}"] = ds.data.numpy()[:, None]
                out[f"y_{split}"] = ds.targets.numpy()
        elif name == "cifar10":  # md5s already verified via the marker (generated data differ)
            c = tvd.CIFAR10
            cls = type("CIFAR10", (c,), {"train_list": [[f, None] for f, _ in c.train_list],
                                         "test_list": [[f, None] for f, _ in c.test_list],
                                         "meta": {**c.meta, "md5": None}})
            for split in ("train", "test"):
                ds = cls(str(dest), train=split == "train", download=False)
                out[f"x_{split}"] = ds.data.transpose(0, 3, 1, 2)  # NHWC -> NCHW
                out[f"y_{split}"] = np.asarray(ds.targets)
            classes = [str(c) for c in ds.classes]
        else:
            s = tvd.SVHN
            cls = type("SVHN", (s,), {"split_list": {k: [u, f, None] for k, (u, f, _)
                                                     in s.split_list.items()}})
            for split in ("train", "test"):
                ds = cls(str(dest), split=split, download=False)
                out[f"x_{split}"], out[f"y_{split}"] = ds.data, ds.labels  # NCHW; 10 -> 0
            classes = [str(i) for i in range(10)]
    except (RuntimeError, OSError, ValueError, KeyError) as e:
        raise DataError(f"{key}: torchvision cannot read {name} from {dest} ({e!r}); allowed: "
                        "files laid out by download()") from None
    return out, raw, classes


def _load_sklearn(spec: dict, key: str) -> tuple[dict, Any, list[str]]:
    if spec.get("name") != "digits":
        raise refuse(f"{key}.name", repr(spec.get("name")), "'digits'")
    size, channels = spec.get("resize"), spec.get("channels", 1)
    if size is not None and (type(size) is not int or size < 1):
        raise refuse(f"{key}.resize", repr(size), "null or an integer >= 1")
    if type(channels) is not int or channels not in (1, 3):
        raise refuse(f"{key}.channels", repr(channels), "1 or 3")
    import sklearn.datasets

    digits = sklearn.datasets.load_digits()
    x = np.rint(digits.images * 255.0 / 16.0).astype(np.uint8)[:, None]  # 0..16 -> 0..255
    if size is not None and size != x.shape[-1]:
        import torch
        import torch.nn.functional as F

        t = F.interpolate(torch.from_numpy(x.astype(np.float32)), size=(size, size),
                          mode="bilinear", align_corners=False)
        x = t.round().clamp(0, 255).to(torch.uint8).numpy()
    x = np.repeat(x, channels, axis=1)
    y = digits.target.astype(np.int64)
    perm = np.random.default_rng(0).permutation(len(y))
    train, test = perm[:-DIGITS_TEST], perm[-DIGITS_TEST:]
    csv = Path(sklearn.datasets.__file__).parent / "data" / "digits.csv.gz"
    raw = {csv.name: io.sha256(csv)} if csv.is_file() else None
    arrays = {"x_train": x[train], "y_train": y[train], "x_test": x[test], "y_test": y[test]}
    return arrays, raw, [str(c) for c in digits.target_names]


def _load_user_npz(spec: dict, key: str) -> tuple[dict, Any, list[str]]:
    if not spec.get("path"):
        raise DataError(f"{key}.path: missing; allowed: a path to an .npz with {', '.join(KEYS)}")
    info = validate_npz(spec["path"], key=f"{key}.path", num_classes=spec.get("num_classes"))
    data = io.load_npz(spec["path"])
    out = {}
    for split in ("train", "test"):
        x = data[f"x_{split}"]
        if x.dtype != np.uint8:
            x = np.rint(x.astype(np.float64) * 255.0).astype(np.uint8)
        out[f"x_{split}"] = x[:, None] if x.ndim == 3 else x
        out[f"y_{split}"] = data[f"y_{split}"]
    out.update({k: data[k] for k in SOURCE_KEYS if k in data})
    k = info["num_classes"]
    names = spec.get("class_names") or [str(i) for i in range(k)]
    if len(names) != k:
        raise refuse(f"{key}.class_names", f"{len(names)} names", f"one per class ({k} classes)")
    return out, io.sha256(spec["path"]), [str(n) for n in names]


def _load_derived(spec: dict, data_dir: Path, key: str) -> tuple[dict, Any, list[str], dict]:
    """A dataset made from the prepared base ``from`` (read beside the output): classes
    filtered and relabelled, splits joined into the training set; and what was derived."""
    base = spec.get("from")
    npz, sidecar = data_dir / f"{base}.npz", data_dir / f"{base}.json"
    if not base or not npz.is_file() or not sidecar.is_file():
        raise refuse(f"{key}.from", repr(base), f"a prepared dataset ({npz} and {sidecar})")
    meta, sha = io.read_json(sidecar), io.sha256(npz)
    if meta.get("sha256") != sha:
        raise refuse(f"{key}.from", f"{npz} (sha256 {sha[:12]})", f"the file its sidecar "
                     f"describes (sha256 {str(meta.get('sha256'))[:12]}): prepare {base} again")
    d, names = load_prepared(npz), list(meta["class_names"])
    classes, splits = spec.get("classes"), list(spec.get("train_splits") or ["train"])
    if classes is not None and (len(set(classes)) != len(classes) or len(classes) < 2 or any(
            type(c) is not int or not 0 <= c < len(names) for c in classes)):
        raise refuse(f"{key}.classes", repr(classes), f"at least 2 distinct classes of {base}:"
                     f" 0..{len(names) - 1}")
    if not splits or len(set(splits)) != len(splits) or set(splits) - set(SPLIT_CODES):
        raise refuse(f"{key}.train_splits", repr(splits), "distinct splits of [train, test]")
    lookup = np.full(len(names), -1, np.int64)
    lookup[classes or []] = np.arange(len(classes or []))
    rows = {s: np.arange(len(d[f"y_{s}"])) if classes is None
            else np.flatnonzero(np.isin(d[f"y_{s}"], classes)) for s in SPLIT_CODES}

    def labels(split: str) -> np.ndarray:
        y = d[f"y_{split}"][rows[split]]
        return y if classes is None else lookup[y]

    out = {"x_train": np.concatenate([d[f"x_{s}"][rows[s]] for s in splits]),
           "y_train": np.concatenate([labels(s) for s in splits]),
           "x_test": d["x_test"][rows["test"]], "y_test": labels("test"),
           "source_split": np.concatenate([np.full(len(rows[s]), SPLIT_CODES[s], np.uint8)
                                           for s in splits]),
           "source_index": np.concatenate([rows[s] for s in splits])}
    derived = {"from": base, "base_sha256": sha, "classes": classes, "train_splits": splits}
    kept = names if classes is None else [names[c] for c in classes]
    return out, {npz.name: sha}, kept, derived


def channel_stats(x: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and (population) std of ``x / 255``: exact from integer sums for
    uint8 images; for float images on the 0-255 scale (randX's unclipped noise,
    ``memrepro.noise.replace_inputs``) from float64 sums, mean first, then squared deviations."""
    if np.issubdtype(x.dtype, np.floating):
        return _float_channel_stats(x)
    s, ss = np.zeros(x.shape[1], np.int64), np.zeros(x.shape[1], np.int64)
    for i in range(0, len(x), 1024):
        b = x[i:i + 1024].astype(np.int64)
        s += b.sum(axis=(0, 2, 3))
        ss += (b * b).sum(axis=(0, 2, 3))
    n = x.shape[0] * x.shape[2] * x.shape[3]
    mean = [int(a) / (n * 255) for a in s]
    std = [math.sqrt((n * int(q) - int(a) ** 2) / (n * n * 255**2))
           for a, q in zip(s, ss, strict=True)]
    return mean, std


def _float_channel_stats(x: np.ndarray) -> tuple[list[float], list[float]]:
    """``channel_stats`` of float images, two passes over 1024-row chunks in float64."""
    n = x.shape[0] * x.shape[2] * x.shape[3]
    s = np.zeros(x.shape[1], np.float64)
    for i in range(0, len(x), 1024):
        s += x[i:i + 1024].astype(np.float64).sum(axis=(0, 2, 3))
    mean = s / n
    ss = np.zeros(x.shape[1], np.float64)
    for i in range(0, len(x), 1024):
        d = x[i:i + 1024].astype(np.float64) - mean.reshape(1, -1, 1, 1)
        ss += (d * d).sum(axis=(0, 2, 3))
    return ([float(m / 255) for m in mean],
            [math.sqrt(float(q) / n) / 255 for q in ss])


def prepare(spec: dict, root: str | Path, out_npz: str | Path, out_json: str | Path) -> dict:
    """Write ``out_npz`` (x uint8 NCHW, y int64) and its JSON sidecar; return the sidecar.

    The sidecar's ``name`` is the dataset key, i.e. the stem of ``out_npz`` (``results/data/
    <ds>.npz``); the loader's own name (e.g. ``digits`` for ``digits16``) is ``loader``.
    """
    spec = dict(spec)
    ds = Path(out_npz).name.removesuffix(".npz")
    key = f"datasets.{ds}"
    source, derived = spec.get("source"), None
    if source == "torchvision":
        arrays, raw, classes = _load_torchvision(spec.get("name", ds), Path(root), key)
    elif source == "sklearn":
        arrays, raw, classes = _load_sklearn(spec, key)
    elif source == "npz":
        arrays, raw, classes = _load_user_npz(spec, key)
    elif source == "derived":
        arrays, raw, classes, derived = _load_derived(spec, Path(out_npz).parent, key)
    else:
        raise refuse(f"{key}.source", repr(source), f"one of {', '.join(SOURCES)}")
    arrays = {k: np.ascontiguousarray(v, dtype=DTYPES[k]) for k, v in arrays.items()}
    _check_prepared(arrays, key)
    for split in ("train", "test"):
        y = arrays[f"y_{split}"]
        if y.min() < 0 or y.max() >= len(classes):
            raise refuse(f"{key}: y_{split}", f"labels {y.min()}..{y.max()}",
                      f"0..{len(classes) - 1} ({len(classes)} classes)")
    io.write_npz(out_npz, **arrays)
    mean, std = channel_stats(arrays["x_train"])
    meta = {
        "name": ds, "source": source, "loader": spec.get("name") if source != "npz" else None,
        "sha256": io.sha256(out_npz), "raw_sha256": raw, "num_classes": len(classes),
        "class_names": classes, "shape": list(arrays["x_train"].shape[1:]),
        "n_train": len(arrays["y_train"]), "n_test": len(arrays["y_test"]),
        "mean": mean, "std": std, "stand_in_for": spec.get("stand_in_for"),
        **({"derived": derived} if derived else {}),
    }
    io.write_json(out_json, meta)
    log.info("%s: %d train / %d test, shape %s, %d classes -> %s", ds, meta["n_train"],
             meta["n_test"], meta["shape"], meta["num_classes"], out_npz)
    return meta


def _check_prepared(d: dict[str, np.ndarray], where: str) -> None:
    """The four arrays, and source_split / source_index (both or neither), dtypes and shapes."""
    if sorted(d) not in (sorted(KEYS), sorted(KEYS + SOURCE_KEYS)):
        raise refuse(where, f"arrays {sorted(d)}", f"exactly {', '.join(KEYS)} (and "
                     f"optionally both {' and '.join(SOURCE_KEYS)})")
    n = len(d["x_train"])
    for k in SOURCE_KEYS if SOURCE_KEYS[0] in d else ():
        if d[k].dtype != DTYPES[k] or d[k].shape != (n,):
            raise refuse(f"{where}: {k}", f"{d[k].dtype} {d[k].shape}",
                         f"{np.dtype(DTYPES[k])} ({n},)")
    if SOURCE_KEYS[0] in d and (d["source_split"] > 1).any():
        raise refuse(f"{where}: source_split", f"values {np.unique(d['source_split'])}",
                     "0 (from train) or 1 (from test)")
    for split in ("train", "test"):
        x, y = d[f"x_{split}"], d[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1] not in (1, 3):
            raise refuse(f"{where}: x_{split}", f"{x.dtype} {x.shape}",
                         "uint8 (N, C, H, W), C 1 or 3")
        if y.dtype != np.int64 or y.shape != (len(x),):
            raise refuse(f"{where}: y_{split}", f"{y.dtype} {y.shape}", f"int64 ({len(x)},)")
    if d["x_train"].shape[1:] != d["x_test"].shape[1:]:
        raise refuse(f"{where}: x_test", f"image shape {d['x_test'].shape[1:]}",
                     f"x_train's {d['x_train'].shape[1:]}")


def load_prepared(npz_path: str | Path) -> dict[str, np.ndarray]:
    """Load a file written by ``prepare`` (no pickle) and check dtypes and shapes."""
    data = io.load_npz(npz_path)
    _check_prepared(data, str(npz_path))
    return data


# --- users' files -----------------------------------------------------------------------------
def _npz_headers(path: Path) -> tuple[dict[str, tuple[tuple[int, ...], np.dtype]], list[str]]:
    """(shape, dtype) of each of KEYS in an .npz, from the .npy headers only, and the names of
    its other members (``extra`` for ``extra.npy``), which are never opened."""
    fmt = np.lib.format
    readers = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
    out, unknown = {}, []
    with zipfile.ZipFile(path) as zf:
        for member in zf.namelist():
            if member.removesuffix(".npy") not in KEYS + SOURCE_KEYS \
                    or not member.endswith(".npy") \
                    or member.removesuffix(".npy") in out:
                unknown.append(member.removesuffix(".npy"))
                continue
            with zf.open(member) as fh:
                version = fmt.read_magic(fh)
                if version not in readers:  # 3.0: utf-8 field names, never valid images/labels
                    raise ValueError(f"{member}: .npy format version {version}")
                shape, _, dtype = readers[version](fh)
            out[member.removesuffix(".npy")] = (tuple(shape), np.dtype(dtype))
    return out, unknown


def _first_bad(mask: np.ndarray) -> tuple[int, ...] | int:
    idx = tuple(int(i) for i in np.unravel_index(int(np.flatnonzero(mask)[0]), mask.shape))
    return idx[0] if len(idx) == 1 else idx


def validate_npz(path: str | Path, key: str = "datasets.<name>.path",
                 num_classes: int | None = None) -> dict:
    """Check a user's .npz without unpickling; return num_classes, shape [C,H,W], n_train, n_test.

    Exactly the arrays x_train, y_train, x_test, y_test and optionally both source_split (0/1)
    and source_index (>= 0), one per training example (others are refused by name, unopened);
    shapes and dtypes come from the .npy headers; only labels, sources and float images are read.
    Labels: 0..K-1 with every class in y_train, K = max(y_train) + 1; or, with ``num_classes``
    (the dataset's declared K), 0..K-1 where a class may have no example.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{key}: file not found: {path}")
    try:
        heads, unknown = _npz_headers(p)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise refuse(key, f"{path}: not a readable .npz ({e!r})",
                     f"an .npz with {', '.join(KEYS)}") from None
    missing = [k for k in KEYS + (SOURCE_KEYS if set(SOURCE_KEYS) & set(heads) else ())
               if k not in heads]
    if missing or unknown:
        found = "; ".join(([f"missing array(s) {', '.join(missing)}"] if missing else [])
                          + ([f"unknown array(s) {', '.join(map(repr, unknown))}"]
                             if unknown else []))
        raise refuse(key, f"{found} (found: {sorted([*heads, *unknown])})",
                     f"an .npz with exactly the arrays {', '.join(KEYS)}, nothing else")
    img = _check_headers(heads, key)
    with np.load(p, allow_pickle=False) as f:
        k = _check_labels(f["y_train"], f["y_test"], key, num_classes)
        for name in SOURCE_KEYS if SOURCE_KEYS[0] in heads else ():
            v, top = f[name], 1 if name == "source_split" else np.iinfo(np.int64).max
            if heads[name][1].kind not in "iu" or v.shape != heads["y_train"][0] or (
                    len(v) and (v.min() < 0 or v.max() > top)):
                raise refuse(f"{key}: {name}", f"{v.dtype} {v.shape}", "integers, one per "
                             "training example (source_split 0 or 1, source_index >= 0)")
        for split in ("train", "test"):
            if heads[f"x_{split}"][1].kind == "f":
                _check_float_images(f[f"x_{split}"], f"{key}: x_{split}")
    return {"num_classes": k, "shape": list(img), "n_train": heads["y_train"][0][0],
            "n_test": heads["y_test"][0][0]}


def _check_headers(heads: dict, key: str) -> tuple[int, ...]:
    """Dtypes and shapes of the four arrays; the image shape (C, H, W)."""
    img = {}
    for split in ("train", "test"):
        (xs, xt), (ys, yt) = heads[f"x_{split}"], heads[f"y_{split}"]
        if xt != np.uint8 and xt.kind != "f":
            raise refuse(f"{key}: x_{split}", f"dtype {xt}", "uint8 (0..255) or float in [0, 1]")
        if len(xs) not in (3, 4) or (len(xs) == 4 and xs[1] not in (1, 3)) or 0 in xs:
            raise refuse(f"{key}: x_{split}", f"shape {xs}",
                         "(N, H, W) or (N, C, H, W) with C in {1, 3} and N, H, W >= 1")
        if yt.kind not in "iu":
            raise refuse(f"{key}: y_{split}", f"dtype {yt}", "an integer dtype")
        if ys != (xs[0],):
            raise refuse(f"{key}: y_{split}", f"shape {ys}", f"({xs[0]},), one label per image")
        img[split] = (1, *xs[1:]) if len(xs) == 3 else xs[1:]
    if img["train"] != img["test"]:
        raise refuse(f"{key}: x_test", f"image shape {img['test']}", f"x_train's {img['train']}")
    return img["train"]


def _check_labels(y_train: np.ndarray, y_test: np.ndarray, key: str,
                  num_classes: int | None) -> int:
    """The class count K: the declared one, or max(y_train) + 1 with every class present."""
    declare = key.removesuffix(".path") + ".num_classes" if key.endswith(".path") \
        else "datasets.<name>.num_classes"
    for split, y in (("train", y_train), ("test", y_test)):
        if len(y) and y.min() < 0:
            i = _first_bad(y < 0)
            raise refuse(f"{key}: y_{split}", f"label {y[i]} at index {i}", "integers >= 0")
    if num_classes is not None:
        k, why = int(num_classes), f"{declare} = {num_classes}"
    else:
        k, why = int(y_train.max()) + 1, f"K = {int(y_train.max()) + 1} = max(y_train) + 1"
        if k < 2:
            raise refuse(f"{key}: y_train", "a single class", "labels 0..K-1 with K >= 2")
        present = np.unique(y_train)
        if len(present) < k:
            gaps = np.flatnonzero(present != np.arange(len(present)))
            first = int(gaps[0]) if len(gaps) else len(present)
            absent = k - len(present)
            raise refuse(f"{key}: y_train", f"labels up to {k - 1} with {absent:,} of the "
                         f"classes 0..{k - 1} absent (the first: {first})",
                         f"labels 0..K-1 with every class in y_train, or declare {declare}")
    for split, y in (("train", y_train), ("test", y_test)):
        bad = y >= k
        if bad.any():
            i = _first_bad(bad)
            raise refuse(f"{key}: y_{split}", f"label {y[i]} at index {i}", f"0..{k - 1} ({why})")
    return k


def _check_float_images(x: np.ndarray, key: str) -> None:
    """Float images: every value in [0, 1] (NaN refused)."""
    bad = ~((x >= 0) & (x <= 1))  # also catches NaN
    if bad.any():
        i = _first_bad(bad)
        hint = (" (these look like 0..255 values: divide them by 255, or store uint8)"
                if np.isfinite(x).all() and x.min() >= 0 and x.max() <= 255 else "")
        raise refuse(key, f"value {x[i]} at index {i}",
                     f"floats in [0, 1] (stored as round(255 x)) or uint8 0..255{hint}")
