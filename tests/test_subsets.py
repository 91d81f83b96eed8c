"""Subsets and partitions (memrepro.subsets): integer subsets as before, partitions by score
with their sizes, order and tie-break, take/drop, and the test-split mapping of a union."""

import numpy as np
import pytest
import torch

from memrepro import io
from memrepro.device_data import GroupData, to_device_many
from memrepro.subsets import (
    make_partition,
    partition_from_files,
    split_scores,
    subset_indices,
)


def test_integer_subsets_are_the_same_examples_as_before():
    # literals from the former device_data.subset_indices:
    # np.sort(np.random.default_rng(0).permutation(n)[:k])
    assert subset_indices(10, 4).tolist() == [2, 4, 6, 7]
    assert subset_indices(7, 3).tolist() == [2, 3, 4]
    assert subset_indices(5, None).tolist() == subset_indices(5, 5).tolist() == [0, 1, 2, 3, 4]
    assert subset_indices(5, 99).tolist() == [0, 1, 2, 3, 4]


def test_partition_sizes_round_down_and_parts_are_disjoint():
    ids = np.arange(100, 111)  # n = 11
    scores = np.linspace(0, 1, 11)[::-1]  # id 100 scores highest
    p = make_partition(ids, scores, 0.3, 0.45)
    # floor(0.3 * 11) = 3, floor(0.45 * 11) = 4
    assert p["easy"].tolist() == [108, 109, 110]
    assert p["difficult"].tolist() == [100, 101, 102, 103]
    assert not set(p["easy"]) & set(p["difficult"])
    assert p["scored"].tolist() == list(range(100, 111))
    np.testing.assert_array_equal(p["score"], scores)  # aligned with the sorted ids
    for k in p:
        assert p[k].dtype == (np.float64 if k == "score" else np.int64)


def test_ties_are_broken_by_id_and_output_is_sorted():
    # ids out of order; equal scores: easy takes the smaller ids, difficult the larger
    p = make_partition([5, 3, 9, 1, 7], [0.5, 0.1, 0.5, 0.9, 0.1], 0.2, 0.4)
    assert p["scored"].tolist() == [1, 3, 5, 7, 9]
    assert p["score"].tolist() == [0.9, 0.1, 0.5, 0.1, 0.5]
    assert p["easy"].tolist() == [3]            # 0.1 at ids 3 and 7: the smaller id
    assert p["difficult"].tolist() == [1, 9]    # 0.9, then 0.5 at ids 5 and 9: the larger
    same = make_partition([0, 1, 2, 3], [1.0, 1.0, 1.0, 1.0], 0.5, 0.5)
    assert same["easy"].tolist() == [0, 1] and same["difficult"].tolist() == [2, 3]


@pytest.mark.parametrize("args,needle", [
    (([0, 1], [0.1], 0.2, 0.2), "one score per id"),
    (([0, 0], [0.1, 0.2], 0.2, 0.2), "distinct ids"),
    (([0, 1], [0.1, np.nan], 0.2, 0.2), "finite"),
    (([0, 1], [0.1, 0.2], 0.6, 0.5), "sum <= 1"),
    (([0, 1], [0.1, 0.2], -0.1, 0.5), "0 <= share <= 1"),
])
def test_bad_partition_input_is_refused(args, needle):
    with pytest.raises(ValueError, match=needle):
        make_partition(*args)


PART = {"scored": np.array([0, 2, 3, 5, 8]), "score": np.zeros(5),
        "easy": np.array([2, 8]), "difficult": np.array([5])}


def test_take_and_drop_select_from_the_partition():
    take = {"partition": "p", "take": "easy"}
    assert subset_indices(10, take, PART).tolist() == [2, 8]
    assert subset_indices(10, {"partition": "p", "take": "difficult"}, PART).tolist() == [5]
    # drop: every scored example but that part (never an unscored one)
    assert subset_indices(10, {"partition": "p", "drop": "difficult"}, PART).tolist() == [
        0, 2, 3, 8]
    assert subset_indices(10, {"partition": "p", "drop": "easy"}, PART).tolist() == [0, 3, 5]
    with pytest.raises(ValueError, match="no partition file"):
        subset_indices(10, take)
    with pytest.raises(ValueError, match=r"allowed: 0\.\.6"):
        subset_indices(7, take, PART)  # id 8 is not a row of a 7-example set
    with pytest.raises(ValueError, match="take: easy"):
        subset_indices(10, {"partition": "p", "take": "medium"}, PART)


def test_a_partition_file_is_read_and_trained_on_by_id(tmp_path):
    io.write_npz(tmp_path / "p.npz", **PART)
    x = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1).repeat(2, axis=2)
    y = np.arange(10) % 3
    arrays = {"x_train": x, "y_train": y, "x_test": x[:2], "y_test": y[:2]}
    noisy = {"labels": (y + 1) % 3, "corrupted": np.ones(10, bool)}
    d = to_device_many(arrays, [noisy, noisy], 3, torch.device("cpu"),
                       subset={"partition": "p", "drop": "difficult"},
                       partition=tmp_path / "p.npz")
    assert d[0].ids.tolist() == [0, 2, 3, 8]
    assert d[0].x[:, 0, 0, 0].tolist() == [0, 2, 3, 8]  # the rows are the ids' images
    assert d[0].y_noisy.tolist() == [1, 0, 1, 0]
    assert d[0].x_all.shape[0] == 10 and d[0].y_all.tolist() == ((y + 1) % 3).tolist()
    g = GroupData.of(d)
    assert g.ids.tolist() == [0, 2, 3, 8] and g.y_all.shape == (2, 10)
    # "all": the whole prepared set, the examples the subset left out included
    chunks = [xb for xb, _ in g.eval_batches("all", 4)]
    assert [c.shape[0] for c in chunks] == [4, 4, 2]


def test_without_a_subset_x_all_is_x_and_ids_are_rows():
    x = np.zeros((6, 1, 2, 2), np.uint8)
    y = np.arange(6) % 2
    d = to_device_many({"x_train": x, "y_train": y, "x_test": x, "y_test": y},
                       [{"labels": y, "corrupted": np.zeros(6, bool)}], 2,
                       torch.device("cpu"))[0]
    assert d.x_all is d.x and d.ids.tolist() == list(range(6))


def test_inputs_replaced_have_no_full_set():
    x = np.full((6, 1, 2, 2), 7, np.uint8)
    y = np.arange(6) % 2
    noisy = {"labels": y, "corrupted": np.ones(6, bool), "inputs_replaced": np.ones(6, bool),
             "input_seed": np.array([3])}
    d = to_device_many({"x_train": x, "y_train": y, "x_test": x, "y_test": y}, [noisy], 2,
                       torch.device("cpu"))[0]
    assert d.x_all is None
    with pytest.raises(ValueError, match="'all' is not allowed"):
        next(GroupData.of([d]).eval_batches("all", 4))


def test_scores_of_a_union_map_to_test_set_indices():
    # a union of 4 training and 3 test examples; scored ids in data order
    source_split = np.array([0, 0, 0, 0, 1, 1, 1], np.uint8)
    source_index = np.array([0, 1, 2, 3, 0, 1, 2])
    ids, scores = np.array([6, 0, 4, 5, 2]), np.array([0.6, 0.0, 0.4, 0.5, 0.2])
    test_ids, test_scores = split_scores(ids, scores, "test", source_split, source_index)
    assert test_ids.tolist() == [2, 0, 1] and test_scores.tolist() == [0.6, 0.4, 0.5]
    train_ids, train_scores = split_scores(ids, scores, "train", source_split, source_index)
    assert train_ids.tolist() == [0, 2] and train_scores.tolist() == [0.0, 0.2]
    assert split_scores(ids, scores, "train")[0].tolist() == ids.tolist()
    with pytest.raises(ValueError, match="split: 'test' is not allowed"):
        split_scores(ids, scores, "test")


def test_partition_from_a_probe_file_and_a_union(tmp_path):
    probe, data = tmp_path / "tod_epoch-3.npz", tmp_path / "u.npz"
    io.write_npz(probe, ids=np.arange(7), score=np.array([5., 4., 3., 2., 9., 1., 0.],
                                                          np.float32), epoch=np.array([3]))
    x = np.zeros((7, 1, 1, 1), np.uint8)
    io.write_npz(data, x_train=x, y_train=np.zeros(7, np.int64), x_test=x[:3],
                 y_test=np.zeros(3, np.int64), source_split=np.array([0] * 4 + [1] * 3,
                                                                     np.uint8),
                 source_index=np.array([0, 1, 2, 3, 0, 1, 2]))
    spec = {"name": "t", "split": "test", "easy": 1 / 3, "difficult": 1 / 3, "field": "score"}
    p = partition_from_files(probe, data, spec)
    assert p["scored"].tolist() == [0, 1, 2] and p["score"].tolist() == [9.0, 1.0, 0.0]
    assert p["easy"].tolist() == [2] and p["difficult"].tolist() == [0]
    train = partition_from_files(probe, data, {**spec, "split": "train", "easy": 0.5,
                                               "difficult": 0.25})
    assert train["easy"].tolist() == [2, 3] and train["difficult"].tolist() == [0]
    with pytest.raises(ValueError, match="partitions.t.field: 'loss'"):
        partition_from_files(probe, data, {**spec, "field": "loss"})
