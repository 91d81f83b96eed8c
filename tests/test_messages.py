"""Messages a user meets before any job: declared constraints of model and loss arguments,
errors that name the file they come from (params.yaml, a --configfile, the --config values, a
dataset file), YAML syntax errors with their line, both forms of `seeds`, and the changes a
scale's overlay makes to an experiment, announced when Snakemake plans."""

import copy
import textwrap

import numpy as np
import pytest
import yaml
from conftest import ROOT, load_params, snakemake

from memrepro.config import ConfigError, load_schema, load_sources, overlay_changes, resolve
from memrepro.config.errors import read_yaml, source_of

SMOKE = ["scales", "smoke", "experiments"]
EXP = ["experiments"]


def _set(cfg, path, value):
    node = cfg
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = copy.deepcopy(value)
    return cfg


def _refused(cfg, **kw) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        resolve(cfg, check_files=False, **kw)
    return err.value


# --- declared constraints of model and loss arguments ------------------------------------------
# (change, the line that must be in the message)
CONSTRAINTS = {
    "negative width": ([*EXP, "ps_resnet18_mnist", "model", "width"], -8,
                       "experiments.ps_resnet18_mnist.model.width: -8 is not allowed; allowed: "
                       "an integer >= 1"),
    "negative width in an overlay": (
        [*SMOKE, "ps_resnet18_mnist", "model", "width"], -8,
        "experiments.ps_resnet18_mnist.at.smoke.model.width: -8 is not allowed; allowed: "
        "an integer >= 1"),
    "fractional width of a resnet": ([*SMOKE, "ps_resnet32_cifar10", "model", "width"], 8.5,
                                     "experiments.ps_resnet32_cifar10.at.smoke.model.width:"
                                     " 8.5 is not allowed; allowed: a value of type integer"),
    "inception width 0": ([*SMOKE, "ps_inception_cifar10", "model", "width"], 0,
                          "ps_inception_cifar10.at.smoke.model.width: 0 is not allowed; "
                          "allowed: a number > 0"),
    "an mlp layer of -1 units": (
        [*SMOKE, "ar_fit_size", "model", "hidden"], [64, -1],
        "experiments.ar_fit_size.at.smoke.model.hidden: [64, -1] is not allowed; allowed: "
        "one width (repeated depth times) or a list of widths (integers >= 1)"),
    "dropout 1.5": ([*SMOKE, "ar_cifar_randx", "model", "dropout"], 1.5,
                    "experiments.ar_cifar_randx.at.smoke.model.dropout: 1.5 is not allowed;"
                    " allowed: a number >= 0 and < 1"),
    "one dense layer": ([*SMOKE, "ar_cifar_randx", "model", "dense"], [128],
                        "experiments.ar_cifar_randx.at.smoke.model.dense: [128] is not "
                        "allowed; allowed: "),
    "padding": ([*SMOKE, "ar_cifar_randx", "model", "padding"], "full",
                "experiments.ar_cifar_randx.at.smoke.model.padding: 'full' is not allowed; "
                "allowed: one of 'valid', 'same'"),
    "rll alpha 0": ([*EXP, "ps_resnet18_mnist", "loss_params", "rll", "alpha"], 0,
                    "experiments.ps_resnet18_mnist.loss_params.rll.alpha: 0 is not allowed; "
                    "allowed: a number > 0"),
    "a swept dropout of 1.5": ([*EXP, "ar_reg_dropout", "sweep", "values"], [0.0, 1.5],
                               "experiments.ar_reg_dropout.sweep p=1.5.model.dropout: 1.5 is "
                               "not allowed; allowed: a number >= 0 and < 1"),
}


@pytest.mark.parametrize("path, value, line", CONSTRAINTS.values(), ids=CONSTRAINTS.keys())
def test_declared_constraints_of_model_and_loss_arguments_are_checked(path, value, line):
    cfg = _set(load_params(), path, value)
    if path[-2:] == ["sweep", "values"]:  # the smoke overlay would replace the values
        cfg["scales"]["smoke"]["experiments"]["ar_reg_dropout"]["sweep"] = {}
        cfg["scales"]["paper"]["experiments"] = {}
        cfg["scale"] = "paper"
    assert line in str(_refused(cfg)), str(_refused(cfg))


def test_a_constraint_is_checked_at_the_scale_that_applies_it():
    """An argument an overlay replaces at one scale is still checked at the others."""
    cfg = _set(load_params(), [*EXP, "ps_resnet18_mnist", "model", "width"], -8)
    assert "ps_resnet18_mnist" not in cfg["scales"]["quick"]["experiments"] or "model" not in \
        cfg["scales"]["quick"]["experiments"]["ps_resnet18_mnist"]
    for scale in ("smoke", "quick", "paper"):  # smoke sets width 8, but quick uses -8
        assert "model.width: -8" in str(_refused({**cfg, "scale": scale}))


def test_the_schema_declares_constraints_only_of_registered_arguments(tmp_path):
    schema = yaml.safe_load((ROOT / "workflow/schemas/params.schema.yaml").read_text())
    load_schema()  # the shipped one is coherent
    for change in ({"resnet18": {"properties": {"widht": {"type": "integer"}}}},
                   {"resnet19": {"properties": {}}}):
        bad = copy.deepcopy(schema)
        bad["$defs"]["model_arguments"]["properties"].update(change)
        (tmp_path / "s.yaml").write_text(yaml.safe_dump(bad))
        with pytest.raises(ValueError, match=next(iter(change))):
            load_schema(tmp_path / "s.yaml")


def test_seeds_0_explains_both_forms():
    cfg = _set(load_params(), [*EXP, "ps_resnet18_mnist", "seeds"], 0)
    msg = str(_refused(cfg))
    assert ("experiments.ps_resnet18_mnist.seeds: 0 is not allowed; allowed: a list of distinct "
            "seeds (integers >= 0, such as [0, 1, 2]), or a count N >= 1 meaning the seeds 0..N-1"
            ) in msg, msg
    assert "a list of distinct seeds" in str(_refused(_set(
        cfg, [*EXP, "ps_resnet18_mnist", "seeds"], [0, -1])))


@pytest.mark.parametrize("path, line", [
    ([*EXP, "ps_resnet18_mnist", "train", "epochs"],
     "experiments.ps_resnet18_mnist.train: 'epochs' missing; required: "),
    ([*EXP, "ar_fig1_real", "noise", "name"], "experiments.ar_fig1_real.noise: 'name' missing"),
    (["figures", "ps/fig2", "title"], "figures.ps/fig2: 'title' missing"),
    (["data", "root"], "  data: 'root' missing"),
    # these dumped the mapping, or passed
    ([*EXP, "ar_fit_size", "sweep", "key"], "experiments.ar_fit_size.sweep: 'key' or 'keys' "
     "missing; allowed: exactly one of 'key' (one dotted key) or 'keys' (a list"),
    (["figures", "ps/fig1", "panels"], "figures.ps/fig1: 'panels' missing; required by a "
     "'curves' figure"),
    (["figures", "ar/fig3", "dataset"], "figures.ar/fig3: 'dataset' missing; required by a "
     "'gini' figure"),
])
def test_a_missing_key_names_the_key_and_its_mapping(path, line):
    cfg = load_params()
    node = cfg
    for p in path[:-1]:
        node = node[p]
    del node[path[-1]]
    msg = str(_refused(cfg))
    assert line in msg and len(msg.splitlines()) == 2, msg


def test_an_npz_dataset_without_path_names_the_missing_key():
    cfg = _set(load_params(), ["datasets", "mine"], {"source": "npz"})
    assert "datasets.mine: 'path' missing; required with source 'npz'" in str(_refused(cfg))
    cfg = _set(load_params(), ["datasets", "digits", "num_classes"], 10)
    assert ("datasets.digits.num_classes: 10 is not allowed with source 'sklearn'; allowed: "
            "only with source 'npz'") in str(_refused(cfg))


# --- which file an error comes from ----------------------------------------------------------
def _sources(params, mine=None, cli=None):
    out = [("params.yaml", params)]
    if mine is not None:
        out.append(("mine.yaml (--configfile)", mine))
    if cli:
        out.append(("--config (command line)", cli))
    return out


def _merged(*parts):
    from snakemake.utils import update_config

    cfg = {}
    for part in parts:
        update_config(cfg, copy.deepcopy(part))
    return cfg


def test_an_error_names_the_file_that_set_the_key():
    params = load_params()
    mine = {"experiments": {"ps_resnet18_mnist": {"model": {"name": "resnet18", "widht": 8}},
                            "mine": {**params["experiments"]["ar_mnist_randx"], "seeds": 0}}}
    cli = {"device": "gpu"}
    err = _refused(_merged(params, mine, cli), sources=_sources(params, mine, cli))
    assert err.sources == ["mine.yaml (--configfile)", "--config (command line)"]
    lines = str(err).splitlines()
    assert lines[0] == "mine.yaml (--configfile) is invalid:"
    assert lines[1].startswith("  experiments.mine.seeds: 0 is not allowed")
    assert lines[2].startswith("  experiments.ps_resnet18_mnist.model: 'widht' is not allowed")
    assert lines[3:] == ["--config (command line) is invalid:",
                         "  device: 'gpu' is not allowed; allowed: one of 'auto', 'cpu', "
                         "'cuda'; did you mean 'cpu'?"]
    # the same error in params.yaml itself names params.yaml
    bad = _set(load_params(), [*EXP, "ps_resnet18_mnist", "model", "widht"], 8)
    err = _refused(bad, sources=_sources(bad, {"scale": "smoke"}))
    assert str(err).startswith("params.yaml is invalid:\n  experiments.ps_resnet18_mnist.model:")


def test_an_error_in_a_scale_or_a_value_replaced_by_a_configfile():
    params = load_params()
    mine = {"scale": "quick", "experiments": {"ps_resnet18_mnist": {"noise": {"rates": [1.0]}}}}
    err = _refused(_merged(params, mine), sources=_sources(params, mine))
    assert str(err).startswith("mine.yaml (--configfile) is invalid:\n  experiments."
                               "ps_resnet18_mnist.noise.rates[0]: 1.0 is not allowed"), str(err)
    assert source_of("figures.ps/fig1.panels[3].title", _sources(params, mine)) == "params.yaml"
    assert source_of("scales.smoke.all.train", _sources(params, {"scales": {"smoke": {
        "all": {"train": {"epochs": 3}}}}})) == "mine.yaml (--configfile)"


def test_an_error_in_a_dataset_file_names_the_file(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, x_train=np.zeros((4, 8, 8), np.uint8), y_train=np.array([0, 1, 0, 1]),
             x_test=np.zeros((2, 8, 8), np.uint8), y_test=np.array([0, 1]),
             extra=np.array([1]))
    cfg = _set(load_params(), ["datasets", "mine"], {"source": "npz", "path": str(path)})
    with pytest.raises(ConfigError) as err:
        resolve(cfg, sources=_sources(cfg))
    assert err.value.sources == [f"{path} (datasets.mine)"]
    assert str(err.value).splitlines()[1].startswith(
        "  datasets.mine.path: unknown array(s) 'extra'"), str(err.value)
    cfg["datasets"]["mine"]["path"] = str(tmp_path / "nope.npz")  # a wrong path: the config's
    with pytest.raises(ConfigError, match=r"^params.yaml is invalid:\n  datasets.mine.path: "):
        resolve(cfg, sources=_sources(cfg))


def test_a_yaml_syntax_error_names_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("scale: smoke\ndatasets:\n  mine: {source: npz, path: x.npz\nexperiments: {}\n")
    with pytest.raises(ConfigError) as err:
        load_sources(bad)
    msg = str(err.value)
    assert msg.startswith(f"{bad} is invalid:\n  line 4, column 1"), msg
    assert "line 3" in msg  # where the unclosed mapping starts
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="<top level>: .* allowed: a mapping"):
        read_yaml(tmp_path / "list.yaml")


def test_a_key_written_twice_is_refused_with_both_lines(tmp_path):
    # YAML keeps the last of two equal keys: a second `figures:` would silently drop every
    # figure above it. A key overriding one merged in with `<<` is not a duplicate.
    twice = tmp_path / "twice.yaml"
    twice.write_text("t: &base {epochs: 1}\nexperiments:\n  a: {<<: *base, epochs: 2}\n"
                     "figures:\n  x: 1\nfigures:\n  y: 2\n")
    with pytest.raises(ConfigError) as err:
        read_yaml(twice)
    assert str(err.value) == (f"{twice} is invalid:\n  line 6: key 'figures' is written twice "
                              "in one mapping (first at line 4); allowed: each key once")
    # the project's own files pass
    assert read_yaml(ROOT / "params.yaml")["scales"]
    assert all(read_yaml(f)["figures"] for f in (ROOT / "config").glob("*.yaml"))


# --- what a scale's overlay changed ------------------------------------------------------------
def _with_mine(epochs=3):
    cfg = load_params()
    cfg["experiments"]["mine"] = {**copy.deepcopy(cfg["experiments"]["ar_mnist_randx"]),
                                  "probes": {}}
    cfg["experiments"]["mine"]["train"]["epochs"] = epochs
    return cfg


def test_the_overlay_announces_what_it_changed_in_a_users_experiment():
    lines = overlay_changes(resolve(_with_mine(), check_files=False))
    assert "smoke overlay: train.epochs 3 -> 10 in 1 experiment (mine)" in lines
    assert "smoke overlay: dataset mnist -> digits in 16 experiments (ar_capacity_randx, " \
        "ar_capacity_randy, ar_fig1_randx, +13 more)" in lines
    assert ("smoke overlay: train.epochs 1000 -> 20 in 2 experiments (ar_capacity_randx, "
            "ar_capacity_randy)") in lines
    assert "smoke overlay: model.name resnet32 -> resnet_cifar in 1 experiment " \
        "(ps_resnet32_cifar10)" in lines
    assert any(line.startswith("smoke overlay: sweep.values [32, 64, ..., 8192] (9 values) -> "
                               "[8, 32, 128] in 2 experiments") for line in lines)
    assert all(len(f"memrepro: {line}") <= 200 for line in lines)
    assert len(lines) == len(set(lines))
    quick = overlay_changes(resolve({**_with_mine(), "scale": "quick"}, check_files=False))
    assert "quick overlay: subset unset -> 10000 in 22 experiments (ar_capacity_randx, " \
        "ar_capacity_randy, ar_cifar_randx, +19 more)" in quick
    paper = overlay_changes(resolve({**_with_mine(), "scale": "paper"}, check_files=False))
    assert paper == ["paper overlay: train.checkpoint_every unset -> 10 in 39 experiments "
                     "(ar_capacity_randx, ar_capacity_randy, ar_cifar_randx, +36 more)"]
    unchanged = _with_mine(epochs=10)
    unchanged["scales"]["paper"] = {}
    assert overlay_changes(resolve({**unchanged, "scale": "paper"}, check_files=False)) == []


# --- end to end: what `snakemake -n` prints -------------------------------------------------
def test_snakemake_names_the_line_of_a_yaml_syntax_error_in_params_yaml(workdir):
    params = workdir / "params.yaml"
    text = params.read_text()
    assert text.count("train_threads: 1 ") == 1
    params.write_text(text.replace("train_threads: 1 ", "train_threads: [1 "))
    line = 1 + text[:text.index("train_threads")].count("\n")
    res = snakemake(workdir, "-n", "figures")
    assert res.returncode != 0
    assert "memrepro: params.yaml is invalid:\n  line " in res.stderr, res.stderr
    assert f"(while parsing a flow sequence, line {line})" in res.stderr, res.stderr
    assert "Nothing was run. Fix params.yaml." in res.stderr and "Traceback" not in res.stderr


def test_snakemake_names_the_configfile_of_an_error_and_announces_overlays(workdir):
    """`widht: 8`, `width: -8` and `rll: {alpa: 0.1}` in a --configfile are refused before any
    job, under that file's name; a valid one plans, announcing what the overlay changed."""
    (workdir / "mine.yaml").write_text(textwrap.dedent("""\
        experiments:
          ps_resnet18_mnist:
            model: {name: resnet18, widht: 8}
            loss_params: {rll: {alpa: 0.1}}
          ps_resnet32_cifar10:
            model: {name: resnet32, width: -8}
        """))
    res = snakemake(workdir, "-n", "figures", "--configfile", "mine.yaml")
    assert res.returncode != 0 and "Traceback" not in res.stderr
    err = res.stderr[res.stderr.index("memrepro: "):]
    assert err.startswith("memrepro: mine.yaml (--configfile) is invalid:\n"), err
    for needle in ("experiments.ps_resnet18_mnist.model: 'widht' is not allowed",
                   "experiments.ps_resnet18_mnist.loss_params.rll: 'alpa' is not allowed",
                   "experiments.ps_resnet32_cifar10.model.width: -8 is not allowed"):
        assert needle in err, err
    assert "params.yaml is invalid" not in err and not (workdir / "results").exists()
    mine = _with_mine()["experiments"]["mine"]
    (workdir / "mine.yaml").write_text(yaml.safe_dump({"experiments": {"mine": mine}}))
    res = snakemake(workdir, "-n", "figures", "--configfile", "mine.yaml")
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    announced = [ln for ln in res.stderr.splitlines() if "train.epochs 3 -> 10" in ln]
    assert announced == ["memrepro: smoke overlay: train.epochs 3 -> 10 in 1 experiment (mine)"]
