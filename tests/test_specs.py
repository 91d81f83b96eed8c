"""memrepro.specs: the one wording of a refused value, and the figure spec checks, on
hand-made specs with the exact messages."""

import numpy as np
import pytest

from memrepro import specs

SPEC = {"kind": "k", "title": "Fig. 1", "panels": [{"title": "left"}, "not a mapping"]}


def test_not_allowed_names_the_key_the_value_and_what_is_allowed():
    assert specs.not_allowed("model.width", 0, "an int >= 1") == (
        "model.width: 0 is not allowed; allowed: an int >= 1")
    assert specs.not_allowed("split", "val", "'train' or 'test'") == (
        "split: 'val' is not allowed; allowed: 'train' or 'test'")
    assert specs.not_allowed("width", 3, "ints >= 2", where="keep_mask") == (
        "keep_mask: width 3 is not allowed; allowed: ints >= 2")
    assert specs.not_allowed("train.eval_every", 2, "1", why=" with stop_when_fit") == (
        "train.eval_every: 2 is not allowed with stop_when_fit; allowed: 1")
    assert specs.not_allowed("scales", ["x"], ["smoke"], where="claim C", many=True) == (
        "claim C: scales ['x'] are not allowed; allowed: ['smoke']")


def test_refused_takes_a_subject_that_shows_the_value_as_text():
    assert specs.refused("x_train: dtype int8", "uint8") == (
        "x_train: dtype int8 is not allowed; allowed: uint8")
    assert specs.refused("make_partition: repeated ids [3]", "distinct ids", many=True) == (
        "make_partition: repeated ids [3] are not allowed; allowed: distinct ids")


def test_numpy_scalars_show_as_plain_numbers():
    assert specs.not_allowed("k", np.int64(3), "a") == "k: 3 is not allowed; allowed: a"
    assert specs.not_allowed("k", np.float32(0.5), "a") == "k: 0.5 is not allowed; allowed: a"
    assert specs.not_allowed("k", np.array([1, 2]), "a").startswith("k: array([1, 2]) is")


def test_where_names_the_figure_and_the_panel():
    assert specs.where_figure({}) == "figure '<untitled figure>'"
    assert specs.where_panel(SPEC, 0) == "figure 'Fig. 1': panel 0 (left)"
    assert specs.where_panel(SPEC, 1) == "figure 'Fig. 1': panel 1 (untitled)"
    assert specs.where_panel(SPEC, 5) == "figure 'Fig. 1': panel 5 (untitled)"


def test_check_keys_refuses_unknown_and_missing_keys_and_non_mappings():
    assert specs.check_keys({"a": 1}, {"a", "b"}, "w") == {"a": 1}
    with pytest.raises(ValueError, match=r"^w: key\(s\) \['c'\] are not allowed; allowed: "
                                         r"\['a', 'b'\]$"):
        specs.check_keys({"a": 1, "c": 2}, {"b", "a"}, "w")
    with pytest.raises(ValueError, match=r"^w: key\(s\) \['b'\] missing; required: \['b'\]$"):
        specs.check_keys({"a": 1}, {"a", "b"}, "w", required=("b",))
    with pytest.raises(ValueError, match=r"^w: entry 3 is not allowed; allowed: a mapping"):
        specs.check_keys(3, {"a"}, "w")


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_positive_int_refuses_what_is_not_an_integer_of_at_least_one(value):
    with pytest.raises(ValueError, match=rf"^w: bins {value!r} is not allowed; allowed: an "
                                         r"integer >= 1$"):
        specs.positive_int(value, "w", "bins", 10)


def test_positive_int_and_number_accept_numpy_and_keep_the_default():
    assert specs.positive_int(None, "w", "bins", 10) == 10
    assert specs.positive_int(np.int64(4), "w", "bins", 10) == 4
    assert specs.number(np.float32(0.25), "w", "eta") == 0.25
    assert specs.number(None, "w", "eta") is None
    with pytest.raises(ValueError, match="^w: eta '0.1' is not allowed; allowed: a number$"):
        specs.number("0.1", "w", "eta")
