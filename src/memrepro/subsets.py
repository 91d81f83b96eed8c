"""Which training examples a run trains on: a fixed share of the set, or a part of a partition.

Torch-free (numpy only), so the config, the rules and the partition script can use it.

An experiment's ``subset`` is ``None`` (the whole prepared training set), an int ``k`` (the
first k of one fixed seed-0 permutation, sorted: the same examples for every cell), or a
part of a partition written by the ``partition`` rule (LLJ, Liu, Lin & Jaggi 2022, Sec. 4:
retrain on the easy or the difficult examples only, or without them):
``{partition: <name>, take: easy|difficult}`` or ``{partition: <name>, drop: easy|difficult}``
(drop = every scored example except that part).

A partition file (``memrepro.paths.partition_path``) holds ``scored`` (sorted int64 ids of the
scored examples), ``score`` (float64, aligned with ``scored``), ``easy`` and ``difficult``
(sorted int64 ids: the lowest and the highest scores). Ids index the scored split: training
ids (rows of the prepared ``x_train``), or test-set indices for a partition of the test split.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from memrepro.specs import not_allowed, refused

PARTS = ("easy", "difficult")
MODES = ("take", "drop")
PARTITION_KEYS = ("scored", "score", "easy", "difficult")


def is_partition_subset(subset) -> bool:
    """Whether ``subset`` is the partition form ``{partition: <name>, take|drop: <part>}``."""
    return isinstance(subset, Mapping) and "partition" in subset


def subset_indices(n: int, subset, partition: Mapping[str, np.ndarray] | str | Path | None
                   = None) -> np.ndarray:
    """Sorted rows of the prepared training set (0..n-1) that a run trains on.

    ``subset``: None (all n), an int k (the first k of a fixed seed-0 permutation, sorted;
    k >= n keeps all), or the partition form, which needs ``partition`` (the partition's
    arrays, or its file)."""
    if subset is None or (not is_partition_subset(subset) and not subset):
        return np.arange(n)
    if not is_partition_subset(subset):
        if isinstance(subset, bool) or not isinstance(subset, (int, np.integer)) or subset < 0:
            raise ValueError(not_allowed("subset", subset, "null, an integer >= 1 or {partition: "
                                         "<name>, take|drop: easy|difficult}"))
        if subset >= n:
            return np.arange(n)
        return np.sort(np.random.default_rng(0).permutation(n)[:subset])
    if partition is None:
        raise ValueError(f"subset: {dict(subset)!r} names partition "
                         f"{subset['partition']!r} but no partition file was given")
    ids = partition_ids(load_partition(partition), subset)
    if len(ids) and (ids[0] < 0 or ids[-1] >= n):
        raise ValueError(refused(f"partition {subset['partition']!r}: ids {ids[0]}..{ids[-1]}",
                                 f"0..{n - 1} (rows of the training set)", many=True))
    return ids


def partition_ids(arrays: Mapping[str, np.ndarray], subset: Mapping) -> np.ndarray:
    """The sorted ids ``subset`` (``take``/``drop`` a part) selects from a partition's arrays."""
    mode = [m for m in MODES if m in subset]
    if len(mode) != 1 or subset[mode[0]] not in PARTS:
        raise ValueError(not_allowed("subset", dict(subset),
                                     "{partition: <name>, take: easy|difficult} or "
                                     "{partition: <name>, drop: easy|difficult}"))
    part = np.asarray(arrays[subset[mode[0]]], dtype=np.int64)
    if mode[0] == "take":
        return np.sort(part)
    scored = np.asarray(arrays["scored"], dtype=np.int64)
    return np.sort(np.setdiff1d(scored, part, assume_unique=True))


def load_partition(partition: Mapping[str, np.ndarray] | str | Path) -> dict[str, np.ndarray]:
    """A partition's arrays (read without unpickling), checked."""
    if isinstance(partition, Mapping):
        arrays = dict(partition)
    else:
        from memrepro import io

        arrays = io.load_npz(partition)
    missing = [k for k in PARTITION_KEYS if k not in arrays]
    if missing:
        raise ValueError(f"partition {partition if not isinstance(partition, Mapping) else ''}"
                         f": arrays {missing} missing; allowed: a file with "
                         f"{', '.join(PARTITION_KEYS)}")
    return arrays


def make_partition(ids, scores, easy_share: float, difficult_share: float
                   ) -> dict[str, np.ndarray]:
    """Split scored examples into the easy (lowest scores) and difficult (highest) parts.

    Sizes: ``floor(easy_share * n)`` and ``floor(difficult_share * n)`` for n scored examples
    (rounded down, so a share never takes more than it says); the shares must sum to <= 1, so
    the parts are disjoint. Order: by score, ties broken by the smaller id (easy takes the
    smaller ids among equal scores, difficult the larger ones). Returns ``scored`` (sorted
    ids), ``score`` (aligned), ``easy`` and ``difficult`` (sorted ids)."""
    ids = np.asarray(ids, dtype=np.int64).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if ids.shape != scores.shape:
        raise ValueError(f"make_partition: {len(ids)} ids but {len(scores)} scores; allowed: "
                         "one score per id")
    if len(np.unique(ids)) != len(ids):
        raise ValueError(refused("make_partition: repeated ids", "distinct ids", many=True))
    if not np.isfinite(scores).all():
        raise ValueError(refused("make_partition: non-finite scores", "finite", many=True))
    for name, share in (("easy", easy_share), ("difficult", difficult_share)):
        if not 0 <= share <= 1:
            raise ValueError(not_allowed(f"{name} share", share, "0 <= share <= 1",
                                         where="make_partition"))
    if easy_share + difficult_share > 1:
        raise ValueError(refused(f"make_partition: shares {easy_share} + {difficult_share}",
                                 "a sum <= 1 (disjoint parts)", many=True))
    n = len(ids)
    n_easy, n_difficult = int(np.floor(easy_share * n)), int(np.floor(difficult_share * n))
    order = np.lexsort((ids, scores))  # by score, then by id
    by_id = np.argsort(ids)
    return {"scored": ids[by_id], "score": scores[by_id],
            "easy": np.sort(ids[order[:n_easy]]),
            "difficult": np.sort(ids[order[n - n_difficult:]])}


def split_scores(ids, scores, split: str, source_split=None, source_index=None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The scores of one split of the scored examples, by that split's own index.

    ``split`` train: the examples as trained (ids unchanged) for a plain dataset; for a derived
    union (``source_split``, ``source_index`` of its prepared npz, memrepro.data), the
    examples with ``source_split == 0``. ``split`` test: a union's examples with
    ``source_split == 1``, mapped to the base's test-set indices ``source_index``."""
    ids = np.asarray(ids, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    if split not in ("train", "test"):
        raise ValueError(not_allowed("split", split, "'train' or 'test'"))
    if source_split is None:
        if split == "test":
            raise ValueError(not_allowed(
                "split", "test", "'train' (or score a derived union with train_splits: [train, "
                "test])", why=" for a dataset without source_split"))
        return ids, scores
    source_split = np.asarray(source_split)
    keep = source_split[ids] == (1 if split == "test" else 0)
    if split == "test":
        return np.asarray(source_index, dtype=np.int64)[ids[keep]], scores[keep]
    return ids[keep], scores[keep]


# --- partitions in the configuration (memrepro.config.resolve) --------------------------------
PARTITION_DEFAULTS = {"split": "train", "easy": 0.2, "difficult": 0.2, "epoch": "final",
                      "probe": "tod", "field": "score"}


def resolve_partitions(config: dict, experiments: dict, cells: dict, file_probes) -> dict:
    """``partitions:`` of the config, each with its scoring ``cell`` found, its epoch resolved
    (``final``: the experiment's train.epochs), its ``probe_file`` and ``path``; and every
    partition-form subset checked. Raises one ConfigError listing every problem."""
    from memrepro.config.errors import fail
    from memrepro.paths import partition_path, probe_path, run_dir

    out, lines = {}, []
    for name, raw in (config.get("partitions") or {}).items():
        spec = {**PARTITION_DEFAULTS, **raw, "name": name}
        cell, errors = _scoring_cell(f"partitions.{name}", spec, experiments, cells,
                                     config["datasets"], file_probes)
        lines += errors
        if cell is not None:
            out[name] = {**spec, "cell": cell,
                         "dataset": cell["dataset"], "path": partition_path(name),
                         "probe_file": str(probe_path(run_dir(cell), spec["probe"],
                                                      spec["epoch"]))}
    lines += _subset_errors(config, experiments, out)
    fail(lines)
    return out


def _scoring_cell(at: str, spec: dict, experiments: dict, cells: dict, datasets: dict,
                  file_probes) -> tuple[dict | None, list[str]]:
    """The one cell a partition scores with, or None and the lines saying why; sets
    ``spec["epoch"]`` to a number."""
    from memrepro.config.errors import error_line, one_of
    from memrepro.paths import fmt_rate

    name = spec["experiment"]
    if name not in experiments:
        return None, [error_line(f"{at}.experiment", name, "a key of experiments: " + one_of(
            experiments), choices=experiments)]
    exp, lines = experiments[name], []
    seeds = list(range(exp["seeds"])) if isinstance(exp["seeds"], int) else list(exp["seeds"])
    rates = [fmt_rate(r) for r in exp["noise"]["rates"]]
    for key, value, allowed in (("loss", spec["loss"], exp["losses"]), ("seed", spec["seed"],
                                seeds), ("eta", fmt_rate(spec["eta"]), rates)):
        if value not in allowed:
            lines.append(error_line(f"{at}.{key}", spec[key], f"{one_of(allowed)} (the {key}s of "
                                    f"{name})", choices=allowed))
    lines += _probe_errors(at, spec, exp, file_probes)
    if spec["easy"] + spec["difficult"] > 1:
        lines.append(error_line(f"{at}.difficult", spec["difficult"], f"at most "
                                f"{1 - spec['easy']:g} (easy + difficult <= 1: disjoint parts)"))
    found = [c for (e, _), c in cells.items() if e == name and c["loss"]["name"] == spec["loss"]
             and fmt_rate(c["noise"]["rate"]) == fmt_rate(spec["eta"])
             and c["seed"] == spec["seed"]]
    if not lines and len(found) != 1:
        lines.append(error_line(f"{at}.experiment", name, "an experiment without a sweep (one cell "
                                "per loss, eta and seed)"))
    ds = datasets.get(found[0]["dataset"], {}) if found else {}
    if spec["split"] == "test" and "test" not in (ds.get("train_splits") or []):
        lines.append(error_line(f"{at}.split", "test", "'train', or 'test' when the scoring run "
                                "trains on a derived dataset with train_splits [train, test]",
                                f" (dataset {found[0]['dataset'] if found else '?'!r})"))
    return (found[0] if not lines else None), lines


def _probe_errors(at: str, spec: dict, exp: dict, file_probes) -> list[str]:
    """The scoring experiment records ``spec["probe"]`` (a file probe) at ``spec["epoch"]``
    (``final`` becomes its train.epochs here) and its last epoch is known in advance."""
    from memrepro.config.errors import error_line, name_list, one_of
    from memrepro.paths import probe_epochs

    name, probes, train = spec["experiment"], exp.get("probes") or {}, exp["train"]
    lines = []
    if spec["probe"] not in probes or spec["probe"] not in file_probes:
        asked = sorted(set(probes) & set(file_probes))
        lines.append(error_line(f"{at}.probe", spec["probe"], "a probe that writes files and that "
                                f"{name} asks for: {one_of(asked) if asked else 'none'}",
                                choices=asked))
    if train.get("stop_when_fit"):
        lines.append(error_line(f"{at}.experiment", name, "an experiment without "
                                "train.stop_when_fit (its last epoch is not known in advance)"))
    if spec["epoch"] == "final":
        spec["epoch"] = int(train["epochs"])
    due = probe_epochs(probes.get(spec["probe"]) or {}, int(train["epochs"]))
    if spec["probe"] in probes and spec["epoch"] not in due:
        lines.append(error_line(f"{at}.epoch", spec["epoch"], f"an epoch at which {name} records "
                                f"{spec['probe']!r}: "
                                f"{name_list(due[:8])}{' ...' if len(due) > 8 else ''}"
                                f" (final = {train['epochs']})"))
    return lines


def _subset_errors(config: dict, experiments: dict, partitions: dict) -> list[str]:
    """Each partition-form subset: its partition exists, is of the training split, scores the
    dataset the experiment trains on (or the union made from it), and no experiment trains on
    a partition that its own runs score, directly or through others."""
    from memrepro.config.errors import error_line, one_of

    known, lines = config.get("partitions") or {}, []
    for name, exp in experiments.items():
        subset, at = exp.get("subset"), f"experiments.{name}.subset.partition"
        if not is_partition_subset(subset):
            continue
        part = subset["partition"]
        if part not in known:
            lines.append(error_line(at, part, "a key of partitions: " + one_of(known),
                                    choices=known))
            continue
        if part not in partitions:
            continue  # its own errors are listed
        p = partitions[part]
        if p["split"] != "train":
            lines.append(error_line(at, part, "a partition of split 'train' (test-set indices "
                                    "are not training examples)"))
        scored = config["datasets"].get(p["dataset"], {})
        base = (scored.get("from") if scored.get("source") == "derived" and not
                scored.get("classes") and (scored.get("train_splits") or ["train"])[0] == "train"
                else None)
        if exp["resolved_dataset"] not in (p["dataset"], base):
            lines.append(error_line(f"experiments.{name}.dataset", exp["resolved_dataset"],
                                    one_of([d for d in (p["dataset"], base) if d]),
                                    f" (partition {part!r} scores examples of {p['dataset']!r})"))
        if _scored_by(name, part, partitions, experiments):
            lines.append(error_line(at, part, "a partition whose scoring run does not train on a "
                                    f"partition scored by {name} (a cycle)"))
    return lines


def _scored_by(name: str, part: str, partitions: dict, experiments: dict) -> bool:
    """Whether partition ``part`` depends on experiment ``name`` (its scoring experiment is
    ``name`` or trains on a partition that does)."""
    seen = set()
    while part in partitions and part not in seen:
        seen.add(part)
        scorer = partitions[part]["experiment"]
        if scorer == name:
            return True
        subset = experiments[scorer].get("subset")
        part = subset["partition"] if is_partition_subset(subset) else None
    return False


def partition_from_files(probe_file: str | Path, data_file: str | Path, spec: dict
                         ) -> dict[str, np.ndarray]:
    """A partition (:func:`make_partition`) from a scoring run's probe file and its prepared
    dataset (``source_split`` / ``source_index`` for ``split: test``). ``spec``: the resolved
    partition (``field``, ``split``, ``easy``, ``difficult``; ``subset``: the scoring cell's,
    whose rows stand for the ids when the probe file has no ``ids``)."""
    from memrepro import io

    probe = io.load_npz(probe_file)
    field = spec.get("field", "score")
    if field not in probe:
        raise ValueError(not_allowed(f"partitions.{spec.get('name')}.field", field,
                                     f"an array of {probe_file}: {sorted(probe)}"))
    with np.load(data_file, allow_pickle=False) as f:  # the images are never read
        n = int(f["y_train"].shape[0])
        sources = ((f["source_split"], f["source_index"]) if "source_split" in f.files
                   else (None, None))
    ids = probe["ids"] if "ids" in probe else subset_indices(n, spec.get("subset"))
    ids, scores = split_scores(ids, probe[field], spec.get("split", "train"), *sources)
    return make_partition(ids, scores, spec.get("easy", 0.2), spec.get("difficult", 0.2))
