"""Bad configuration fails before any job, naming key, value and what is allowed."""

import copy

import numpy as np
import pytest
import yaml
from conftest import load_params, snakemake

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
        # ResNet-32: 3 losses, Inception-Lite and ResNet-18: 4 losses; 4 noise rates; 1 seed
        assert len([c for c in plan.cells.values() if c["paper"] == "ps"]) == (3 + 4 + 4) * 4
        # AR Fig. 1: real, randX, randY x 100 initialisations on one noise draw each
        ar = [c for c in plan.cells.values() if c["experiment"].startswith("ar_fig1")]
        assert len(ar) == 300 and {c["noise"]["seed"] for c in ar} == {0}
    assert set(resolve(load_params()).datasets) == {"digits", "digits16"}
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
    assert set(paper.datasets) == {"mnist", "cifar10"}
    cell = paper.cells[("ps_resnet32_cifar10", cell_slug("rll", 0.4, 0))]
    assert cell["train"]["epochs"] == 200 and cell["loss"]["params"] == {"alpha": 0.1}
    assert cell["train"]["schedule"]["milestones"] == [100, 150]


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
    ({"experiments": {"ps_resnet18_mnist": {"noise": {"rates": [0.2, 1.0]}}}}, ["rates[1]"]),
    ({"datasets": {"mnist": {"source": "npz", "path": "missing.npz"}}}, ["missing.npz"]),
])
def test_snakemake_exits_before_any_job(workdir, change, needles):
    cfg = deep_merge(load_params(), change)
    (workdir / "params.yaml").write_text(yaml.safe_dump(cfg))
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
    # cells with one seed, one job each
    assert "594 training cells planned in 297 training job(s)" in out
    table = out[out.index("Job stats"):out.index("total")]
    train_jobs = [int(line.split()[1]) for line in table.splitlines()
                  if line.startswith("train_")]  # one rule per group, one job each
    assert len(train_jobs) == 297 and sum(train_jobs) == 297
    assert not (workdir / "results").exists() and not (workdir / "resources").exists()


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
