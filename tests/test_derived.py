"""Derived datasets (memrepro.data, source: derived): classes filtered and relabelled, train
and test joined into one training set with the source of every example, the base's checksum
recorded; and their configuration (from, cycles, keys, stand-ins)."""

import numpy as np
import pytest
from conftest import load_params

from memrepro import io
from memrepro.config import ConfigError, resolve
from memrepro.data import DataError, load_prepared, prepare, validate_npz


@pytest.fixture
def base(tmp_path):
    """A prepared 4-class base ``b`` in tmp_path (each image's pixel = its position + 10 x
    split), written by prepare from a user's file."""
    x_train = (np.arange(8, dtype=np.uint8)).reshape(8, 1, 1, 1)
    x_test = (np.arange(5, dtype=np.uint8) + 100).reshape(5, 1, 1, 1)
    y_train, y_test = np.array([0, 1, 2, 3, 2, 1, 0, 3]), np.array([3, 2, 1, 0, 2])
    src = tmp_path / "src.npz"
    np.savez(src, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    prepare({"source": "npz", "path": str(src), "class_names": ["a", "b", "c", "d"]},
            tmp_path, tmp_path / "b.npz", tmp_path / "b.json")
    return tmp_path


def _derive(root, name, **spec):
    meta = prepare({"source": "derived", "from": "b", **spec}, root, root / f"{name}.npz",
                   root / f"{name}.json")
    return meta, load_prepared(root / f"{name}.npz")


def test_classes_are_filtered_and_relabelled_in_the_listed_order(base):
    meta, d = _derive(base, "b_21", classes=[2, 1])
    # train rows with labels 2 or 1: positions 1, 2, 4, 5 (labels 1, 2, 2, 1) -> 2 is 0, 1 is 1
    assert d["x_train"].ravel().tolist() == [1, 2, 4, 5]
    assert d["y_train"].tolist() == [1, 0, 0, 1]
    assert d["x_test"].ravel().tolist() == [101, 102, 104] and d["y_test"].tolist() == [0, 1, 0]
    assert d["source_split"].tolist() == [0, 0, 0, 0]
    assert d["source_index"].tolist() == [1, 2, 4, 5]
    assert meta["num_classes"] == 2 and meta["class_names"] == ["c", "b"]
    base_sha = io.read_json(base / "b.json")["sha256"]
    assert meta["derived"] == {"from": "b", "base_sha256": base_sha, "classes": [2, 1],
                               "train_splits": ["train"]}
    assert meta["raw_sha256"] == {"b.npz": base_sha} and meta["source"] == "derived"


def test_a_union_puts_the_test_examples_after_the_training_examples(base):
    meta, d = _derive(base, "b_union", train_splits=["train", "test"])
    assert d["x_train"].ravel().tolist() == [*range(8), *range(100, 105)]
    assert d["y_train"].tolist() == [0, 1, 2, 3, 2, 1, 0, 3, 3, 2, 1, 0, 2]
    assert d["x_test"].ravel().tolist() == list(range(100, 105))  # the test set stays
    # ids 0..12: 8 from train (index = id), then test indices 0..4
    assert d["source_split"].tolist() == [0] * 8 + [1] * 5
    assert d["source_index"].tolist() == [*range(8), *range(5)]
    assert d["source_split"].dtype == np.uint8 and d["source_index"].dtype == np.int64
    assert meta["n_train"] == 13 and meta["num_classes"] == 4


def test_class_filter_and_union_together(base):
    _, d = _derive(base, "b_3u", classes=[3, 0], train_splits=["train", "test"])
    # train: positions 0 (0), 3 (3), 6 (0), 7 (3); test: 0 (3), 3 (0)
    assert d["x_train"].ravel().tolist() == [0, 3, 6, 7, 100, 103]
    assert d["y_train"].tolist() == [1, 0, 1, 0, 0, 1]
    assert d["source_split"].tolist() == [0, 0, 0, 0, 1, 1]
    assert d["source_index"].tolist() == [0, 3, 6, 7, 0, 3]


@pytest.mark.parametrize("spec,needle", [
    ({"classes": [1, 7]}, "datasets.bad.classes: [1, 7] is not allowed"),
    ({"classes": [1, 1]}, "at least 2 distinct classes"),
    ({"train_splits": ["train", "val"]}, "datasets.bad.train_splits"),
    ({"from": "nope"}, "datasets.bad.from: 'nope' is not allowed; allowed: a prepared dataset"),
])
def test_bad_derivations_are_refused(base, spec, needle):
    with pytest.raises(DataError) as err:
        prepare({"source": "derived", "from": "b", **spec}, base, base / "bad.npz",
                 base / "bad.json")
    assert needle in str(err.value), str(err.value)


def test_a_base_that_changed_since_its_sidecar_is_refused(base):
    d = io.load_npz(base / "b.npz")
    d["y_train"] = d["y_train"][::-1].copy()
    io.write_npz(base / "b.npz", **d)
    with pytest.raises(DataError, match="prepare b again"):
        _derive(base, "b_u", train_splits=["train", "test"])


def test_source_arrays_come_in_pairs_with_the_right_shapes(base, tmp_path):
    d = io.load_npz(base / "b.npz")
    n = len(d["y_train"])
    io.write_npz(tmp_path / "one.npz", **d, source_split=np.zeros(n, np.uint8))
    with pytest.raises(DataError, match="optionally both source_split and source_index"):
        load_prepared(tmp_path / "one.npz")
    io.write_npz(tmp_path / "short.npz", **d, source_split=np.zeros(n, np.uint8),
                 source_index=np.zeros(n - 1, np.int64))
    with pytest.raises(DataError, match=f"source_index: int64 \\({n - 1},\\)"):
        load_prepared(tmp_path / "short.npz")
    io.write_npz(tmp_path / "two.npz", **d, source_split=np.full(n, 2, np.uint8),
                 source_index=np.zeros(n, np.int64))
    with pytest.raises(DataError, match="0 \\(from train\\) or 1"):
        load_prepared(tmp_path / "two.npz")
    # a user's file may carry them (validated without unpickling) and keeps them
    user = tmp_path / "user.npz"
    np.savez(user, **{k: d[k] for k in ("x_train", "y_train", "x_test", "y_test")},
             source_split=np.ones(n, np.uint8), source_index=np.arange(n))
    assert validate_npz(user)["n_train"] == n
    prepare({"source": "npz", "path": str(user)}, tmp_path, tmp_path / "u.npz",
            tmp_path / "u.json")
    assert load_prepared(tmp_path / "u.npz")["source_split"].tolist() == [1] * n
    np.savez(user, **{k: d[k] for k in ("x_train", "y_train", "x_test", "y_test")},
             source_split=np.ones(n, np.uint8))
    with pytest.raises(DataError, match="missing array\\(s\\) source_index"):
        validate_npz(user)


# --- configuration ----------------------------------------------------------------------------


def _cfg(**datasets):
    cfg = load_params()
    cfg["datasets"].update(datasets)
    return cfg


def _bad(cfg, *needles):
    with pytest.raises(ConfigError) as err:
        resolve(cfg)
    for needle in needles:
        assert needle in str(err.value), str(err.value)


def test_from_must_name_another_dataset():
    _bad(_cfg(u={"source": "derived", "from": "mnsit"}),
         "datasets.u.from: 'mnsit' is not allowed; allowed: a key of datasets other than "
         "itself", "did you mean 'mnist'?")
    _bad(_cfg(u={"source": "derived", "from": "u"}), "datasets.u.from: 'u'")
    _bad(_cfg(u={"source": "derived"}), "datasets.u: 'from' missing; required with source "
         "'derived'")


def test_a_cycle_of_derived_datasets_is_refused():
    _bad(_cfg(u={"source": "derived", "from": "v"}, v={"source": "derived", "from": "w"},
              w={"source": "derived", "from": "u"}),
         "datasets.u.from: 'v' is not allowed; allowed: a dataset not made from 'u' "
         "(a cycle: u -> v -> w -> u)")


def test_derived_keys_belong_to_derived_datasets_only():
    _bad(_cfg(u={"source": "derived", "from": "mnist", "resize": 16}),
         "datasets.u.resize: 16 is not allowed with source 'derived'")
    _bad(_cfg(u={"source": "sklearn", "name": "digits", "classes": [0, 1]}),
         "datasets.u.classes: [0, 1] is not allowed with source 'sklearn'; allowed: only with "
         "source 'derived'")
    _bad(_cfg(u={"source": "derived", "from": "mnist", "train_splits": ["test", "test"]}),
         "datasets.u.train_splits")


def test_a_stand_in_union_is_substituted_and_its_base_prepared_first():
    cfg = _cfg(mnist_union={"source": "derived", "from": "mnist",
                            "train_splits": ["train", "test"]},
               digits_union={"source": "derived", "from": "digits",
                             "train_splits": ["train", "test"], "stand_in_for": "mnist_union"})
    cfg["experiments"] = {"e": {**cfg["experiments"]["ps_resnet18_mnist"],
                                "dataset": "mnist_union"}}
    cfg["scales"] = {"smoke": {"substitute": {"mnist_union": "digits_union"}}, "paper": {}}
    cfg["figures"], cfg["partitions"] = {}, {}
    smoke = resolve(cfg)
    assert {c["dataset"] for c in smoke.cells_of("e")} == {"digits_union"}
    assert {c["stand_in_for"] for c in smoke.cells_of("e")} == {"mnist_union"}
    # the base is in the plan, to be prepared first
    assert set(smoke.datasets) == {"digits_union", "digits"}
    paper = resolve({**cfg, "scale": "paper"})
    assert set(paper.datasets) == {"mnist_union", "mnist"}
