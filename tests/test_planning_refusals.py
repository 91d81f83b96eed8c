"""Errors that used to surface only inside a job (after training, in the prepare job, at a
training job's start, in a figure job) are refused at planning: ``resolve`` names the key,
the value and what is allowed, at every scale, before any job runs (issue 19, "No failure
after the work is done").

Every change below writes fresh mappings: params.yaml shares mappings through YAML anchors,
so changing one in place would change every experiment that merges it."""

import numpy as np
import pytest
from conftest import load_params, snakemake, write_params

from memrepro.config import ConfigError, resolve
from memrepro.config.dataset_sizes import KNOWN_COUNTS, train_size

EXP = "experiments"
SMOKE = ("scales", "smoke", "experiments")


def _put(cfg: dict, path: tuple, value) -> dict:
    """``cfg`` with ``value`` written at ``path`` (missing mappings made, none changed in
    place: each mapping on the way is copied)."""
    node = cfg
    for key in path[:-1]:
        node[key] = dict(node.get(key) or {})
        node = node[key]
    node[path[-1]] = value
    return cfg


def _refused(cfg: dict, scale: str, *needles: str) -> str:
    with pytest.raises(ConfigError) as err:
        resolve({**cfg, "scale": scale})
    text = str(err.value)
    for needle in needles:
        assert needle in text, text
    return text


# --- 1. probe epochs past the last epoch ------------------------------------------------------


def test_probe_epoch_past_the_last_epoch_is_refused_at_paper_scale():
    cfg = _put(load_params(), (EXP, "llj_tod_mnist", "probes", "tod"),
               {"epochs": [1, 2, 5, 200, 400]})
    _refused(cfg, "paper", "experiments.llj_tod_mnist.probes.tod.epochs[4]: 400 is not allowed",
             "train.epochs = 200")


def test_probe_epoch_past_the_last_epoch_is_refused_at_smoke_scale():
    cfg = _put(load_params(), (*SMOKE, "llj_tod_mnist", "probes", "tod"),
               {"epochs": [1, 5, 30, 40]})
    _refused(cfg, "smoke", "experiments.llj_tod_mnist.probes.tod.epochs[3]: 40 is not allowed",
             "train.epochs = 30")


def test_probe_epoch_past_a_swept_last_epoch_is_refused():
    cfg = load_params()
    _put(cfg, (EXP, "ps_resnet18_mnist", "probes"), {"per_example": {"epochs": [8]}})
    _put(cfg, (EXP, "ps_resnet18_mnist", "sweep"),
         {"name": "ep", "key": "train.epochs", "values": [5, 10]})
    _refused(cfg, "smoke", "experiments.ps_resnet18_mnist.probes.per_example.epochs[0]: 8",
             "train.epochs = 5", "ep=5")


# --- 2. a subset larger than the training set -------------------------------------------------


def test_subset_larger_than_mnist_is_refused_and_its_size_accepted():
    paper = ("scales", "paper", "experiments", "ps_resnet18_mnist", "subset")
    cfg = _put(load_params(), paper, 60001)
    _refused(cfg, "paper", "experiments.ps_resnet18_mnist.subset: 60001 is not allowed",
             "60000", "'mnist'")
    resolve({**_put(cfg, paper, 60000), "scale": "paper"})


def test_subset_larger_than_a_derived_stand_in_is_refused():
    # digits_01: the 139 + 145 training images of classes 0 and 1 of the 1,437
    cfg = _put(load_params(), (*SMOKE, "md_mnist", "subset"), 285)
    _refused(cfg, "smoke", "experiments.md_mnist.subset: 285 is not allowed", "284",
             "'digits_01'")
    resolve({**_put(cfg, (*SMOKE, "md_mnist", "subset"), 284), "scale": "smoke"})


def test_a_swept_subset_larger_than_the_training_set_is_refused():
    cfg = _put(load_params(), (*SMOKE, "ar_fit_size", "sweep"), {"values": [250, 500, 5000]})
    _refused(cfg, "smoke", "experiments.ar_fit_size.sweep", "5000", "1437")


def test_subset_larger_than_a_users_npz_is_refused(tmp_path):
    x = np.zeros((20, 1, 4, 4), dtype=np.uint8)
    y = np.arange(20) % 5
    np.savez(tmp_path / "mine.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    cfg = load_params()
    cfg["datasets"] = {**cfg["datasets"], "mine": {"source": "npz",
                                                   "path": str(tmp_path / "mine.npz")}}
    _put(cfg, (EXP, "ps_resnet18_mnist", "dataset"), "mine")
    _put(cfg, (EXP, "ps_resnet18_mnist", "subset"), 21)
    _refused(cfg, "smoke", "experiments.ps_resnet18_mnist.subset: 21 is not allowed", "20")


def test_the_digits_counts_are_those_of_the_prepared_split():
    import sklearn.datasets

    from memrepro.data import DIGITS_TEST

    y = sklearn.datasets.load_digits().target
    perm = np.random.default_rng(0).permutation(len(y))
    train, test = perm[:-DIGITS_TEST], perm[-DIGITS_TEST:]
    assert KNOWN_COUNTS["digits"] == (np.bincount(y[train]).tolist(),
                                      np.bincount(y[test]).tolist())


def test_the_real_datasets_sizes_match_their_published_totals_and_mds_subsets():
    totals = {"mnist": (60000, 10000), "fashionmnist": (60000, 10000),
              "cifar10": (50000, 10000), "svhn": (73257, 26032)}
    assert {k: (sum(v[0]), sum(v[1])) for k, v in KNOWN_COUNTS.items() if k in totals} == totals
    # MD trains on the released code's split: n - floor(0.2 n) of each binary training set
    cfg = load_params()
    for exp in ("md_mnist", "md_fashionmnist", "md_cifar10", "md_svhn"):
        n = train_size(cfg[EXP][exp]["dataset"], cfg["datasets"])
        assert cfg[EXP][exp]["subset"] == n - int(0.2 * n), exp


# --- 3. a derived dataset keeping a class its base does not have ------------------------------


@pytest.mark.parametrize("scale, dataset", [("smoke", "digits_01"), ("paper", "mnist_01")])
def test_derived_class_outside_the_base_is_refused(scale, dataset):
    cfg = load_params()
    cfg["datasets"] = {**cfg["datasets"],
                       dataset: {**cfg["datasets"][dataset], "classes": [0, 12]}}
    _refused(cfg, scale, f"datasets.{dataset}.classes[1]: 12 is not allowed", "0..9")


# --- 4. a training option the model does not support ------------------------------------------


def test_turnover_on_a_model_without_turnover_dropout_is_refused():
    cfg = load_params()
    train = cfg[EXP]["ps_resnet18_mnist"]["train"]
    _put(cfg, (EXP, "ps_resnet18_mnist", "train"), {**train, "turnover": {}})
    text = _refused(cfg, "paper", "experiments.ps_resnet18_mnist.train.turnover",
                    "'resnet18'", "tod: true")
    for model in ("'cct'", "'mlp'", "'vgg11'"):  # the models that take tod
        assert model in text, text


def test_tod_probe_on_a_model_built_without_tod_is_refused():
    cfg = _put(load_params(), (EXP, "llj_mlp_mnist", "probes"), {"tod": {"epochs": [1]}})
    _refused(cfg, "smoke", "experiments.llj_mlp_mnist.probes.tod", "tod: true")


# --- 5. figure panels naming what no run has --------------------------------------------------


def _panel(cfg, fid, i, **keys):
    panels = list(cfg["figures"][fid]["panels"])
    panels[i] = {**panels[i], **keys}
    cfg["figures"] = {**cfg["figures"], fid: {**cfg["figures"][fid], "panels": panels}}
    return cfg


@pytest.mark.parametrize("fid, i, keys, needles", [
    ("llj/fig9", 0, {"etas": [0.3]}, ["figures.llj/fig9.panels[0].etas: [0.3]", "0.0"]),
    ("llj/fig2", 0, {"eta": 0.5}, ["figures.llj/fig2.panels[0].eta: 0.5"]),
    ("md/fig3", 0, {"seed": 7}, ["figures.md/fig3.panels[0].seed: 7", "0, 1"]),
    ("md/fig2", 1, {"feature_dim": 64}, ["figures.md/fig2.panels[1].feature_dim: 64", "8"]),
])
def test_a_panel_naming_what_no_run_has_is_refused(fid, i, keys, needles):
    _refused(_panel(load_params(), fid, i, **keys), "smoke", *needles)


def test_a_series_naming_a_sweep_value_no_run_has_is_refused():
    cfg = load_params()
    series = [dict(s) for s in cfg["figures"]["ar/fig11"]["panels"][0]["series"]]
    series[1]["sweep"] = 0.7
    _refused(_panel(cfg, "ar/fig11", 0, series=series), "smoke",
             "figures.ar/fig11.panels[0].series[1].sweep: 0.7", "0.5")


def test_a_subset_naming_an_unknown_part_or_partition_is_refused():
    cfg = load_params()
    subsets = [dict(s) for s in cfg["figures"]["llj/fig5"]["panels"][0]["subsets"]]
    subsets[1]["part"] = "medium"
    _refused(_panel(cfg, "llj/fig5", 0, subsets=subsets), "smoke",
             "figures.llj/fig5.panels[0].subsets[1].part: 'medium'", "'easy'", "'difficult'")
    subsets[1] = {**subsets[1], "part": "easy", "partition": "llj_mnsit"}
    _refused(_panel(cfg, "llj/fig5", 0, subsets=subsets), "smoke",
             "figures.llj/fig5.panels[0].subsets[1].partition: 'llj_mnsit'", "'llj_mnist'")


# --- 6. every scale's resolved experiments, not only the chosen scale's -----------------------


def test_a_bad_rate_hidden_by_the_chosen_scale_is_refused_at_the_scale_that_has_it():
    # the smoke overlay sets PS's rates, so smoke alone never sees 1.0
    cfg = _put(load_params(), (EXP, "ps_resnet18_mnist", "noise"),
               {"name": "symmetric_other", "rates": [0.2, 1.0]})
    _refused(cfg, "smoke", "experiments.ps_resnet18_mnist.noise.rates[1]", "1.0",
             "scale 'paper'")


def test_a_bad_setting_in_another_scales_overlay_is_refused():
    cfg = _put(load_params(), ("scales", "quick", "experiments", "llj_tod_mnist", "probes"),
               {"tod": {"epochs": [1, 400]}})
    _refused(cfg, "smoke", "experiments.llj_tod_mnist.probes.tod.epochs[1]: 400",
             "scale 'quick'")


# --- 7. duplicate noise rates -----------------------------------------------------------------


def test_duplicate_noise_rates_are_refused():
    cfg = _put(load_params(), (*SMOKE, "ps_resnet18_mnist", "noise"), {"rates": [0.0, 0.4, 0.4]})
    _refused(cfg, "smoke", "experiments.ps_resnet18_mnist.noise.rates[2]: 0.4 is not allowed",
             "distinct")


@pytest.mark.parametrize("key, value", [("losses", ["cce", "mse", "rll", "nmse", "cce"]),
                                        ("seeds", [0, 0])])
def test_duplicate_losses_and_seeds_are_refused(key, value):
    cfg = _put(load_params(), (EXP, "ps_resnet18_mnist", key), value)
    _refused(cfg, "smoke", f"experiments.ps_resnet18_mnist.{key}: {value!r} is not allowed",
             "each once" if key == "losses" else "distinct seeds")


# --- 8. an empty list of losses ---------------------------------------------------------------


def test_no_loss_says_at_least_one_loss_is_needed():
    cfg = _put(load_params(), (EXP, "ps_resnet18_mnist", "losses"), [])
    _refused(cfg, "smoke", "experiments.ps_resnet18_mnist.losses: [] is not allowed",
             "at least 1", "'cce'", "'mse'")


# --- the real configuration, and Snakemake ----------------------------------------------------


@pytest.mark.parametrize("scale", ["smoke", "quick", "paper"])
def test_the_real_params_resolve_at_every_scale(scale):
    assert resolve({**load_params(), "scale": scale}).cells


def test_snakemake_refuses_before_any_job_and_writes_nothing(workdir):
    cfg = _put(load_params(), (*SMOKE, "llj_tod_mnist", "probes", "tod"),
               {"epochs": [1, 5, 30, 40]})
    write_params(workdir / "params.yaml", cfg)
    res = snakemake(workdir, "-n", "figures")
    assert res.returncode != 0
    assert "experiments.llj_tod_mnist.probes.tod.epochs[3]: 40" in res.stderr, res.stderr
    assert "Nothing was run" in res.stderr
    assert not (workdir / "results").exists()
