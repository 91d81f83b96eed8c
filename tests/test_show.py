"""`memrepro show`'s text: memrepro.config.explain.describe lists an experiment's settings at
a scale with the layer each came from, and the cells and jobs it expands to."""

import pytest
from conftest import ROOT

from memrepro.config.explain import UnknownExperiment, describe


def _line(text: str, key: str) -> str:
    found = [ln.strip() for ln in text.splitlines() if ln.strip().startswith(f"{key} = ")]
    assert len(found) == 1, text
    return found[0]


def test_the_paper_scale_reads_the_papers_file():
    text = describe("llj_tod_mnist", "paper", ROOT)
    assert text.splitlines()[0] == "llj_tod_mnist at scale 'paper' (paper llj):"
    assert _line(text, "train.epochs") == "train.epochs = 200    # config/llj.yaml"
    assert _line(text, "train.checkpoint_every") == (
        "train.checkpoint_every = 10    # params.yaml scales.paper.all")
    assert "dataset used" not in text  # no substitution at paper scale
    # real and 20,000 random labels, one seed; no group.by at paper: one job per cell
    assert text.splitlines()[-1] == "2 training cell(s) in 2 training job(s)"


def test_the_smoke_scale_names_the_overlay_and_the_scale_wide_settings():
    text = describe("llj_tod_mnist", "smoke", ROOT)
    assert _line(text, "train.epochs") == "train.epochs = 30    # config/llj.yaml at.smoke"
    assert _line(text, "model.hidden") == "model.hidden = 256    # config/llj.yaml at.smoke"
    assert _line(text, "model.depth") == "model.depth = 1    # config/llj.yaml"
    assert _line(text, "train.checkpoint_every") == (
        "train.checkpoint_every = 5    # params.yaml scales.smoke.all")
    assert _line(text, "group.by") == "group.by = ['seed', 'eta', 'loss']    # params.yaml " \
        "scales.smoke.all"
    assert _line(text, "dataset used") == (
        "dataset used = digits    # params.yaml scales.smoke.substitute")
    assert text.splitlines()[-1] == "2 training cell(s) in 1 training job(s)"


def test_the_default_scale_is_the_one_params_yaml_names():
    assert describe("ps_resnet18_mnist", root=ROOT).splitlines()[0] == (
        "ps_resnet18_mnist at scale 'smoke' (paper ps):")


def test_a_partition_subset_is_not_replaced_by_the_scales_subset():
    # quick's `all: {subset: 10000}` leaves a partition-form subset as it is
    text = describe("llj_mlp_mnist_control", "quick", ROOT)
    assert _line(text, "subset") == (
        "subset = {partition: llj_mnist, drop: difficult}    # config/llj.yaml")


def test_a_command_line_value_is_attributed_to_it():
    text = describe("llj_tod_mnist", "paper", ROOT,
                    cli={"experiments.llj_tod_mnist.train.batch_size": 64})
    assert _line(text, "train.batch_size") == "train.batch_size = 64    # --config"
    assert _line(text, "train.epochs") == "train.epochs = 200    # config/llj.yaml"


def test_an_unknown_experiment_names_the_allowed_ones_and_the_nearest():
    with pytest.raises(UnknownExperiment) as err:
        describe("llj_tod_mnst", "smoke", ROOT)
    msg = err.value.args[0]
    assert msg.startswith("no experiment 'llj_tod_mnst'; allowed: 'ps_resnet32_cifar10', ")
    assert "'md_dim_cifar10'" in msg and msg.endswith("; did you mean 'llj_tod_mnist'?")
