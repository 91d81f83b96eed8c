"""Bad configuration fails before any job, naming key, value and what is allowed."""

import copy
import re

import numpy as np
import pytest
from conftest import load_params, snakemake, write_params

from memrepro.config import ConfigError, cell_slug, deep_merge, resolve


def _bad(cfg, *needles):
    with pytest.raises(ConfigError) as err:
        resolve(cfg)
    for needle in needles:
        assert needle in str(err.value), str(err.value)


def test_default_plan_has_the_ps_grid():
    for scale in ("smoke", "quick", "paper"):
        cfg = load_params()
        cfg["scale"] = scale
        plan = resolve(cfg)
        # ResNet-32: 3 losses, Inception-Lite and ResNet-18: 4 losses; 4 noise rates (smoke: 3,
        # without 0.2); 1 seed
        ps = [c for c in plan.cells.values() if c["paper"] == "ps"]
        rates = {c["noise"]["rate"] for c in ps}
        assert rates == ({0.0, 0.4, 0.6} if scale == "smoke" else {0.0, 0.2, 0.4, 0.6})
        assert len(ps) == (3 + 4 + 4) * len(rates)
        # AR Fig. 1: real, randX, randY x 100 initialisations on one noise draw each
        ar = [c for c in plan.cells.values() if c["experiment"].startswith("ar_fig1")]
        assert len(ar) == 300 and {c["noise"]["seed"] for c in ar} == {0}
    # LLJ's test-set scores train on train + test, MD on binary digit pairs: derived datasets
    assert set(resolve(load_params()).datasets) == {
        "digits", "digits16", "digits_union", "digits16_union", "digits_01", "digits_23",
        "digits16_45", "digits16_67"}
    paper = resolve({**load_params(), "scale": "paper"})
    # AR Figs. 5-11 at paper scale: 9 widths x 5 rates x (randX, randY) for Fig. 5; 9 widths
    # and 6 sizes x 5 randX rates for Fig. 6; 4 + 4 MNIST and 5 + 6 CIFAR-10 runs for Figs.
    # 7-9; 33 regularizer settings on real and random labels for Fig. 10
    counts = {e: len(paper.cells_of(e)) for e in paper.experiments if e.startswith("ar_")}
    assert counts["ar_capacity_randx"] == counts["ar_capacity_randy"] == 45
    assert (counts["ar_fit_width"], counts["ar_fit_size"]) == (45, 30)
    assert counts["ar_mnist_randx"] + counts["ar_mnist_randy"] == 8
    assert counts["ar_cifar_randx"] + counts["ar_cifar_randy"] == 11
    assert sum(v for e, v in counts.items() if e.startswith("ar_reg_")) == 66
    assert {c["subset"] for c in paper.cells_of("ar_fit_size")} == {
        5000, 10000, 20000, 30000, 40000, 50000}
    assert set(paper.datasets) == {"mnist", "cifar10", "fashionmnist", "svhn", "mnist_union",
                                   "cifar10_union", "mnist_01", "fashionmnist_01",
                                   "cifar10_01", "svhn_01"}
    cell = paper.cells[("ps_resnet32_cifar10", cell_slug("rll", 0.4, 0))]
    assert cell["train"]["epochs"] == 200 and cell["loss"]["params"] == {"alpha": 0.1}
    assert cell["train"]["schedule"]["milestones"] == [100, 150]


def test_every_md_run_has_ten_seeds_at_paper_scale():
    """MD Sec. 4.1: "We conducted each experiment ten times with different seeds", Figs. 1
    and 2 alike (Fig. 2 repeats the experiments for other feature dimensions M)."""
    paper = resolve({**load_params(), "scale": "paper"})
    md = [e for e in paper.experiments if e.startswith("md_")]
    assert {"md_mnist", "md_dim_mnist", "md_dim_cifar10"} <= set(md)
    for exp in md:
        seeds = {c["seed"] for c in paper.cells_of(exp)}
        assert seeds == set(range(10)), (exp, sorted(seeds))


def test_scale_overlay_merges_dicts_and_replaces_lists():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 2}
    assert deep_merge(base, {"a": {"c": [3]}}) == {"a": {"b": 1, "c": [3]}, "d": 2}
    assert base["a"]["c"] == [1, 2]


def test_unknown_scale():
    _bad({**load_params(), "scale": "huge"}, "scale", "'huge'", "'smoke'", "'paper'")


def test_unknown_loss():
    cfg = load_params()
    cfg["experiments"]["ps_resnet18_mnist"]["losses"] = ["cce", "hinge"]
    _bad(cfg, "experiments.ps_resnet18_mnist.losses[1]", "'hinge'", "'rll'", "'nmse'")


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5])
def test_eta_outside_unit_interval(rate):
    cfg = load_params()
    cfg["experiments"]["ps_resnet18_mnist"]["noise"] = {"name": "symmetric_other",
                                                        "rates": [0.2, rate]}
    cfg["scales"]["smoke"]["experiments"]["ps_resnet18_mnist"].pop("noise")  # smoke's rates
    _bad(cfg, "experiments.ps_resnet18_mnist.noise.rates[1]", repr(rate))


def test_unknown_model_and_typo_key():
    cfg = load_params()
    cfg["experiments"]["ps_resnet18_mnist"]["model"]["name"] = "resnet19"
    cfg["experiments"]["ps_resnet18_mnist"]["train"]["epoch"] = 3
    _bad(cfg, "model.name", "'resnet19'", "'resnet18'", "train", "'epoch'",
         "did you mean 'epochs'?")


def _with_npz_dataset(path):
    cfg = load_params()
    cfg["datasets"]["mine"] = {"source": "npz", "path": str(path)}
    cfg["experiments"]["ps_resnet18_mnist"]["dataset"] = "mine"
    return cfg


def test_missing_npz(tmp_path):
    _bad(_with_npz_dataset(tmp_path / "nope.npz"), "datasets.mine.path", "nope.npz")


def _write_npz(path, y_test_last):
    x = np.zeros((20, 1, 4, 4), dtype=np.uint8)
    y = np.arange(20) % 5
    y_test = y.copy()
    y_test[-1] = y_test_last
    np.savez(path, x_train=x, y_train=y, x_test=x, y_test=y_test)


def test_npz_labels_out_of_range(tmp_path):
    _write_npz(tmp_path / "bad.npz", 7)
    _bad(_with_npz_dataset(tmp_path / "bad.npz"), "datasets.mine.path", "7")


def test_a_good_npz_is_accepted(tmp_path):
    _write_npz(tmp_path / "good.npz", 4)
    plan = resolve(_with_npz_dataset(tmp_path / "good.npz"))
    assert plan.datasets["mine"]["source"] == "npz"


def test_figure_panel_must_name_a_trained_loss():
    cfg = load_params()
    cfg["figures"]["ps/fig1"]["panels"][0]["loss"] = "nmse"  # ResNet-32 has no nmse run
    _bad(cfg, "figures.ps/fig1.panels[0].loss", "'nmse'")


@pytest.mark.parametrize("change,needles", [
    ({"scale": "huge"}, ["scale", "'huge'"]),
    ({"experiments": {"ps_resnet18_mnist": {"losses": ["cce", "hinge"]}}}, ["'hinge'"]),
    # (the smoke overlay sets PS's rates too: the bad ones go into both)
    ({"experiments": {"ps_resnet18_mnist": {"noise": {"rates": [0.2, 1.0]}}},
      "scales": {"smoke": {"experiments": {
          "ps_resnet18_mnist": {"noise": {"rates": [0.2, 1.0]}}}}}},
     ["rates[1]"]),
    ({"datasets": {"mnist": {"source": "npz", "path": "missing.npz"}}}, ["missing.npz"]),
])
def test_snakemake_exits_before_any_job(workdir, change, needles):
    cfg = deep_merge(load_params(), change)
    write_params(workdir / "params.yaml", cfg)
    args = ["--cores", "1", "figures"]
    if change.get("datasets"):
        args += ["--config", "scale=paper"]
    res = snakemake(workdir, *args)
    assert res.returncode != 0
    for needle in needles:
        assert needle in res.stderr, res.stderr
    assert not (workdir / "results").exists()


def test_dry_run_plans_paper_grid_without_network(workdir):
    res = snakemake(workdir, "-n", "figures", "--config", "scale=paper")
    assert res.returncode == 0, res.stderr
    out = res.stdout + res.stderr
    # PS: 44 cells, one job each; AR Fig. 1: 3 groups of 100 networks; AR Figs. 5-11: 250
    # cells with one seed, one job each; LLJ: 18 cells with one seed, one job each; MD: 1,280
    # (Fig. 1) + 600 (Fig. 2, 10 seeds) cells in groups of at most 40
    assert "2492 training cells planned in 365 training job(s)" in out
    table = out[out.index("Job stats"):out.index("total")]
    train_jobs = [int(line.split()[1]) for line in table.splitlines()
                  if line.startswith("train_")]  # one rule per group, one job each
    assert len(train_jobs) == 365 and sum(train_jobs) == 365
    assert not (workdir / "results").exists() and not (workdir / "resources").exists()


def test_the_summary_needs_every_training_job(workdir):
    """The summary declares one history per training job (workflow/rules/figures.smk) and
    reads them all: asked for alone, it still plans every training job."""
    plan = resolve(load_params())
    res = snakemake(workdir, "-n", "results/summary_cells.json")
    assert res.returncode == 0, res.stderr
    out = res.stdout + res.stderr
    table = out[out.index("Job stats"):out.index("total")]
    train_jobs = sum(int(line.split()[1]) for line in table.splitlines()
                     if line.startswith("train_"))
    assert train_jobs == len(plan.groups) > 30


def test_plan_is_a_copy_of_the_config():
    cfg = load_params()
    before = copy.deepcopy(cfg)
    resolve(cfg)
    assert cfg == before


def test_titles_and_file_names_say_when_data_or_models_are_stand_ins():
    from memrepro.captions import figure_caption, figure_stem, figure_title

    smoke = resolve(load_params())
    spec = smoke.figures["ps/fig1"]
    assert figure_stem("ps/fig1", spec, smoke) == "ps/fig1_standin"
    title = figure_title(spec, smoke)
    assert "STAND-IN data: digits16 for cifar10" in title and "reduced models" in title
    assert "resnet_cifar" in figure_caption("ps/fig1", spec, smoke)
    paper = resolve({**load_params(), "scale": "paper"})
    assert figure_stem("ps/fig1", spec, paper) == "ps/fig1"
    assert figure_title(spec, paper).endswith("[paper scale]")


def test_groups_default_to_seeds_and_follow_group_by_and_size():
    cfg = load_params()
    cfg["scale"] = "paper"
    exp = cfg["experiments"]["ps_resnet18_mnist"]
    exp["seeds"] = [0, 1, 2]
    plan = resolve(cfg)
    g = plan.groups["ps_resnet18_mnist/loss-rll_eta-0.4"]
    assert [c["seed"] for c in g["cells"]] == [0, 1, 2] and g["mode"] == "auto"
    assert {c["loss"]["name"] for c in g["cells"]} == {"rll"}
    assert sum(len(g["cells"]) for g in plan.groups.values()) == len(plan.cells)
    exp["group"] = {"by": ["seed", "eta", "loss"], "size": 20, "mode": "sequential"}
    plan = resolve(cfg)
    parts = {k: g for k, g in plan.groups.items() if k.startswith("ps_resnet18_mnist/")}
    assert sorted(parts) == ["ps_resnet18_mnist/all_part-0", "ps_resnet18_mnist/all_part-1",
                             "ps_resnet18_mnist/all_part-2"]
    assert [len(g["cells"]) for g in parts.values()] == [20, 20, 8]
    assert all(g["mode"] == "sequential" for g in parts.values())
    exp["group"] = {"by": ["eta"]}
    assert "ps_resnet18_mnist/loss-cce_seed-2" in resolve(cfg).groups


def test_bad_group_and_probe_settings():
    cfg = load_params()
    cfg["experiments"]["ps_resnet18_mnist"]["group"] = {"by": ["seed", "lr"]}
    _bad(cfg, "experiments.ps_resnet18_mnist.group.by[1]", "'lr'", "'seed'", "'eta'")
    cfg = load_params()
    cfg["experiments"]["ps_resnet18_mnist"]["group"] = {"mode": "vmap"}
    _bad(cfg, "experiments.ps_resnet18_mnist.group.mode", "'vmap'", "'stacked'")
    cfg = load_params()
    cfg["experiments"]["ps_resnet18_mnist"]["probes"] = {"gradients": {"epochs": [1]}}
    _bad(cfg, "experiments.ps_resnet18_mnist.probes", "'gradients'", "'per_example'")


def test_noise_seed_fixes_the_noisy_data_across_init_seeds():
    from memrepro.paths import cell_noise_path

    cfg = load_params()
    exp = cfg["experiments"]["ps_resnet18_mnist"]
    exp["seeds"] = [0, 1, 2]
    plan = resolve(cfg)
    paths = {cell_noise_path(c) for c in plan.cells_of("ps_resnet18_mnist", "cce")
             if c["noise"]["rate"] == 0.4}
    assert len(paths) == 3  # by default every seed draws its own noise
    exp["noise"] = {**exp["noise"], "seed": 7}
    plan = resolve(cfg)
    cells = [c for c in plan.cells_of("ps_resnet18_mnist", "cce") if c["noise"]["rate"] == 0.4]
    assert {cell_noise_path(c) for c in cells} == {
        "results/noise/digits/symmetric_other_eta-0.4/seed7.npz"}
    assert [c["seed"] for c in cells] == [0, 1, 2]  # init and shuffling still vary


# --- derived datasets, partitions and probe schedules -----------------------------------------


def _tiny():
    """A small config: a scoring run on digits and on the digits union, a run on a part."""
    mlp = {"paper": "llj", "dataset": "mnist", "model": {"name": "mlp", "hidden": [16]},
           "losses": ["cce"], "noise": {"name": "symmetric_other", "rates": [0.0]},
           "seeds": [0], "train": {"epochs": 2, "batch_size": 64,
                                   "optimizer": {"name": "sgd", "lr": 0.1}}}
    return {
        "scale": "smoke", "data": {"root": "resources/datasets"},
        "datasets": {"mnist": {"source": "torchvision"},
                     "mnist_union": {"source": "derived", "from": "mnist",
                                     "train_splits": ["train", "test"]},
                     "digits": {"source": "sklearn", "name": "digits", "stand_in_for": "mnist"},
                     "digits_union": {"source": "derived", "from": "digits",
                                      "train_splits": ["train", "test"],
                                      "stand_in_for": "mnist_union"}},
        "experiments": {
            "score": {**copy.deepcopy(mlp), "probes": {"per_example": {"every": 1}}},
            "score_union": {**copy.deepcopy(mlp), "dataset": "mnist_union",
                            "probes": {"per_example": {"epochs": [2]}}},
            "easy_only": {**copy.deepcopy(mlp), "subset": {"partition": "p", "take": "easy"}},
        },
        "partitions": {
            "p": {"experiment": "score", "loss": "cce", "eta": 0.0, "seed": 0,
                  "probe": "per_example", "field": "loss"},
            "p_test": {"experiment": "score_union", "loss": "cce", "eta": 0.0, "seed": 0,
                       "probe": "per_example", "field": "loss", "split": "test",
                       "easy": 0.1, "difficult": 0.3},
        },
        "scales": {"smoke": {"substitute": {"mnist": "digits", "mnist_union": "digits_union"},
                             "all": {"subset": 1000},
                             "experiments": {"score_union": {"subset": None}}},
                   "paper": {}},
        "figures": {},
    }


def test_partitions_resolve_to_their_scoring_cell_and_files():
    plan = resolve(_tiny())
    p = plan.partitions["p"]
    assert p["cell"] is plan.cells[("score", cell_slug("cce", 0.0, 0))]
    assert p["epoch"] == 2 and p["split"] == "train" and p["easy"] == p["difficult"] == 0.2
    assert p["path"] == "results/partitions/p.npz"
    assert p["probe_file"] == ("results/runs/score/loss-cce_eta-0.0_seed-0/probes/"
                               "per_example_epoch-2.npz")
    assert plan.partitions["p_test"]["dataset"] == "digits_union"
    # the scale-wide subset does not replace the partition form; a scale's own null does
    assert plan.cells_of("easy_only")[0]["subset"] == {"partition": "p", "take": "easy"}
    assert plan.cells_of("score")[0]["subset"] == 1000
    assert plan.cells_of("score_union")[0]["subset"] is None
    assert set(plan.datasets) == {"digits", "digits_union"}


def test_file_probes_with_every_list_every_epoch_they_write():
    from memrepro.paths import group_outputs, probe_epochs

    plan = resolve(_tiny())
    outs = group_outputs(plan.cells_of("score"), ["per_example"])["probes"]
    assert [o.rsplit("/", 1)[1] for o in outs] == [
        "per_example_epoch-0.npz", "per_example_epoch-1.npz", "per_example_epoch-2.npz"]
    assert probe_epochs({"every": 3, "epochs": [1, 10]}, 7) == [0, 1, 3, 6, 10]
    assert probe_epochs({"epochs": [5, 2]}, 7) == [2, 5]


def _tiny_bad(change, *needles):
    cfg = _tiny()
    change(cfg)
    _bad(cfg, *needles)


def test_a_subset_names_a_known_partition_of_the_training_split():
    def unknown(cfg):
        cfg["experiments"]["easy_only"]["subset"]["partition"] = "q"
    _tiny_bad(unknown, "experiments.easy_only.subset.partition: 'q' is not allowed; allowed: "
              "a key of partitions: one of 'p', 'p_test'")

    def test_split(cfg):
        cfg["experiments"]["easy_only"]["subset"]["partition"] = "p_test"
    _tiny_bad(test_split, "experiments.easy_only.subset.partition: 'p_test'",
              "a partition of split 'train'")

    def both(cfg):
        cfg["experiments"]["easy_only"]["subset"]["drop"] = "easy"
    _tiny_bad(both, "experiments.easy_only.subset")


def test_a_partition_needs_its_experiment_to_record_the_probe():
    def no_probe(cfg):
        del cfg["experiments"]["score"]["probes"]
    _tiny_bad(no_probe, "partitions.p.probe: 'per_example' is not allowed; allowed: a probe "
              "that writes files and that score asks for: none")

    def wrong_epoch(cfg):
        cfg["experiments"]["score_union"]["probes"]["per_example"] = {"epochs": [1]}
    _tiny_bad(wrong_epoch, "partitions.p_test.epoch: 2 is not allowed; allowed: an epoch at "
              "which score_union records 'per_example': 1 (final = 2)")

    def no_experiment(cfg):
        cfg["partitions"]["p"]["experiment"] = "scroe"
    _tiny_bad(no_experiment, "partitions.p.experiment: 'scroe'", "did you mean 'score'?")

    def no_cell(cfg):
        cfg["partitions"]["p"].update(eta=0.4, seed=3)
    _tiny_bad(no_cell, "partitions.p.eta: 0.4 is not allowed; allowed: one of '0.0'",
              "partitions.p.seed: 3")

    def test_of_plain(cfg):
        cfg["partitions"]["p"]["split"] = "test"
    _tiny_bad(test_of_plain, "partitions.p.split: 'test' is not allowed (dataset 'digits')")

    def shares(cfg):
        cfg["partitions"]["p"].update(easy=0.7, difficult=0.5)
    _tiny_bad(shares, "partitions.p.difficult: 0.5 is not allowed; allowed: at most 0.3")


def test_a_partition_may_not_depend_on_its_consumer():
    def cycle(cfg):
        cfg["partitions"]["p"]["experiment"] = "easy_only"
        cfg["experiments"]["easy_only"]["probes"] = {"per_example": {"epochs": [2]}}
    _tiny_bad(cycle, "experiments.easy_only.subset.partition: 'p'", "(a cycle)")


def test_a_consumer_trains_on_the_scored_dataset_or_the_union_base():
    def other(cfg):
        cfg["experiments"]["easy_only"]["dataset"] = "mnist_union"
    _tiny_bad(other, "experiments.easy_only.dataset: 'digits_union' is not allowed (partition "
              "'p' scores examples of 'digits'); allowed: one of 'digits'")

    cfg = _tiny()  # a train partition of the union run indexes the base's training set
    cfg["partitions"]["p"]["experiment"] = "score_union"
    assert resolve(cfg).partitions["p"]["dataset"] == "digits_union"


def test_every_on_a_file_probe_is_refused_with_stop_when_fit():
    def fit(cfg):
        cfg["experiments"]["score"]["train"]["stop_when_fit"] = True
    _tiny_bad(fit, "experiments.score.probes.per_example.every: 1 is not allowed; allowed: no "
              "`every` for a probe that writes files when train.stop_when_fit is on")
    cfg = _tiny()
    cfg["experiments"]["score_union"]["train"]["stop_when_fit"] = True
    _bad(cfg, "partitions.p_test.experiment: 'score_union'", "train.stop_when_fit")
    del cfg["partitions"]["p_test"]
    resolve(cfg)  # listed epochs stay allowed


def test_snakemake_plans_the_partition_between_the_two_training_jobs(workdir):
    write_params(workdir / "params.yaml", _tiny())
    res = snakemake(workdir, "--dag", "dot", "runs", "partitions")
    assert res.returncode == 0, res.stderr[-3000:]
    nodes = dict(re.findall(r'^\s*(\d+)\[label = "([^"\\]+)', res.stdout, re.M))
    edges = {(nodes[a], nodes[b]) for a, b in re.findall(r"^\s*(\d+) -> (\d+)", res.stdout,
                                                          re.M)}
    assert ("train_score_loss_cce_eta_0_0", "partition") in edges, edges
    assert ("partition", "train_easy_only_loss_cce_eta_0_0") in edges, edges
    assert ("train_score_union_loss_cce_eta_0_0", "partition") in edges, edges
    assert ("prepare", "train_score_union_loss_cce_eta_0_0") in edges
    assert ("prepare", "prepare") in edges  # digits before digits_union
    dry = snakemake(workdir, "-n", "partitions")
    assert dry.returncode == 0, dry.stderr[-3000:]
    out = dry.stdout + dry.stderr
    assert "results/partitions/p.npz" in out and "results/partitions/p_test.npz" in out
    assert "results/data/digits_union.npz" in out and not (workdir / "results").exists()
