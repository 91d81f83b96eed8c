"""Strict configuration: every mapping of params.yaml is closed, so a typo is refused before
any job runs, naming the key, the value, what is allowed and the nearest valid key."""

import ast
import copy
import inspect
import subprocess
import sys

import pytest
from conftest import ROOT, load_params, snakemake

from memrepro.config import ConfigError, load_schema, resolve
from memrepro.config import plan as config_module


def _set(path, value):
    """A change: write ``value`` at ``path`` (keys and list indexes) of the config."""
    def change(cfg):
        node = cfg
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = value
    return change


def _rename(path, new):
    """A change: rename the key at ``path`` to ``new`` (a typo of an existing key)."""
    def change(cfg):
        node = cfg
        for p in path[:-1]:
            node = node[p]
        node[new] = node.pop(path[-1])
    return change


PANEL = ["figures", "ps/fig4", "panels", 0]
SMOKE = ["scales", "smoke", "experiments"]

# (change, the key the message names, the offending value, the suggestion)
TYPOS = {
    "top-level devcie": (_rename(["device"], "devcie"), "<top level>", "'devcie'", "'device'"),
    "panel metircs": (_rename([*PANEL, "metrics"], "metircs"), "figures.ps/fig4.panels[0]",
                      "'metircs'", "'metrics'"),
    "ar figure ncol": (_set(["figures", "ar/fig5", "ncol"], 2), "figures.ar/fig5", "'ncol'",
                       "'ncols'"),
    "scale overlay model widht": (_set([*SMOKE, "ps_resnet18_mnist", "model", "widht"], 8),
                                  "experiments.ps_resnet18_mnist.at.smoke.model", "'widht'",
                                  "'width'"),
    "train epoch": (_set(["experiments", "ps_resnet18_mnist", "train", "epoch"], 3),
                    "experiments.ps_resnet18_mnist.train", "'epoch'", "'epochs'"),
    "optimiser": (_rename(["experiments", "ps_resnet18_mnist", "train", "optimizer"],
                          "optimiser"),
                  "experiments.ps_resnet18_mnist.train", "'optimiser'", "'optimizer'"),
    "ar/fig2 max_filter": (_rename(["figures", "ar/fig2", "max_filters"], "max_filter"),
                           "figures.ar/fig2", "'max_filter'", "'max_filters'"),
    "sweep panel statistc": (_rename(["figures", "ar/fig5", "panels", 0, "statistic"],
                                     "statistc"),
                             "figures.ar/fig5.panels[0]", "'statistc'", "'statistic'"),
    "series item lable": (_rename(["figures", "ar/fig9", "panels", 0, "series", 0, "label"],
                                  "lable"),
                          "figures.ar/fig9.panels[0].series[0]", "'lable'", "'label'"),
    "probe option evry": (_rename(["experiments", "ar_mnist_randx", "probes", "csr", "every"],
                                  "evry"),
                          "experiments.ar_mnist_randx.probes.csr", "'evry'", "'every'"),
    "adversarial weigth": (_rename(["experiments", "ar_reg_adversarial", "train", "adversarial",
                                    "weight"], "weigth"),
                           "experiments.ar_reg_adversarial.train.adversarial", "'weigth'",
                           "'weight'"),
    "top-level figure": (_set(["figure"], {}), "<top level>", "'figure'", "'figures'"),
    "experiment seed": (_rename(["experiments", "ps_resnet18_mnist", "seeds"], "seed"),
                        "experiments.ps_resnet18_mnist", "'seed'", "'seeds'"),
    "scale name": (_set(["scale"], "smoek"), "scale", "'smoek'", "'smoke'"),
    "experiment name in a scale": (_set(["scales", "quick", "experiments", "ps_resnet18_mnst"],
                                        {}),
                                   "scales.quick.experiments", "'ps_resnet18_mnst'",
                                   "'ps_resnet18_mnist'"),
    "at an unknown scale": (_set(["experiments", "ps_resnet18_mnist", "at"], {"quik": {}}),
                            "experiments.ps_resnet18_mnist.at", "'quik'", "'quick'"),
    "loss argument": (_set(["experiments", "ps_resnet18_mnist", "loss_params"],
                           {"rll": {"alpah": 0.2}}),
                      "experiments.ps_resnet18_mnist.loss_params.rll", "'alpah'", "'alpha'"),
    "probe name": (_set(["experiments", "ps_resnet18_mnist", "probes"],
                        {"per_exmaple": {"epochs": [1]}}),
                   "experiments.ps_resnet18_mnist.probes", "'per_exmaple'", "'per_example'"),
    "swept model argument": (_set(["experiments", "ar_reg_dropout", "sweep", "key"],
                                  "model.dropuot"),
                             "experiments.ar_reg_dropout.sweep.key", "'model.dropuot'",
                             "'model.dropout'"),
    "figure overlay in a scale": (_set(["scales", "smoke", "figures"],
                                       {"ar/fig3": {"setings": {"steps": 3}}}),
                                  "figures.ar/fig3.at.smoke", "'setings'", "'settings'"),
    "a scale that is not chosen": (_set(["scales", "paper", "all", "train", "epcohs"], 5),
                                   "scales.paper.all.train", "'epcohs'", "'epochs'"),
    "substitute target": (_set(["scales", "smoke", "substitute", "mnist"], "digit"),
                          "scales.smoke.substitute.mnist", "'digit'", "'digits'"),
    "model name": (_set(["experiments", "ps_resnet18_mnist", "model", "name"], "resnet19"),
                   "experiments.ps_resnet18_mnist.model.name", "'resnet19'", "'resnet18'"),
    "partition key": (_set(["partitions"], {"p": {"experimnet": "ps_resnet18_mnist",
                                                  "loss": "cce", "eta": 0.0, "seed": 0}}),
                      "partitions.p", "'experimnet'", "'experiment'"),
    "derived dataset key": (_set(["datasets", "u"], {"source": "derived", "form": "mnist"}),
                            "datasets.u", "'form'", "'from'"),
    "derived dataset base": (_set(["datasets", "u"], {"source": "derived", "from": "mnsit"}),
                             "datasets.u.from", "'mnsit'", "'mnist'"),
    "subset partition name": (_set(["experiments", "ps_resnet18_mnist", "subset"],
                                   {"partition": "llj_mnsit", "take": "easy"}),
                              "experiments.ps_resnet18_mnist.subset.partition", "'llj_mnsit'",
                              "'llj_mnist'"),
}


@pytest.mark.parametrize("change, key, value, suggestion", TYPOS.values(), ids=TYPOS.keys())
def test_a_typo_is_refused_with_the_nearest_key(change, key, value, suggestion):
    cfg = load_params()
    cfg.setdefault("partitions", {}).setdefault("llj_mnist", {
        "experiment": "ps_resnet18_mnist", "loss": "cce", "eta": 0.0, "seed": 0,
        "probe": "per_example", "field": "loss", "epoch": 1})
    cfg["experiments"]["ps_resnet18_mnist"]["probes"] = {"per_example": {"epochs": [1]}}
    change(cfg)
    with pytest.raises(ConfigError) as err:
        resolve(cfg)
    msg = str(err.value)
    line = next((ln for ln in msg.splitlines() if f"{value} is not allowed" in ln), None)
    assert line is not None, msg
    assert line.strip().startswith(f"{key}: {value} is not allowed"), msg
    assert "; allowed: " in line and line.endswith(f"did you mean {suggestion}?"), msg


def test_the_message_of_a_panel_key_lists_the_kinds_keys():
    cfg = load_params()
    _rename([*PANEL, "metrics"], "metircs")(cfg)
    with pytest.raises(ConfigError) as err:
        resolve(cfg)
    assert str(err.value).splitlines()[1] == (
        "  figures.ps/fig4.panels[0]: 'metircs' is not allowed; allowed: the keys of a 'curves' "
        "panel: 'etas', 'experiment', 'legend', 'loss', 'metrics', 'title', 'ylabel'; did you "
        "mean 'metrics'?")


@pytest.mark.parametrize("path, value, key", [
    # `binomial` is a per_example_rates panel key, not a curves one
    ([*PANEL, "binomial"], True, "figures.ps/fig4.panels[0]"),
    # `ncols` is a key of most kinds, not of per_example_rates
    (["figures", "ar/fig1", "ncols"], 2, "figures.ar/fig1"),
    # `eta` is a series key of `series`, not of `regularizers`
    (["figures", "ar/fig10", "panels", 0, "series", 0, "eta"], 1.0,
     "figures.ar/fig10.panels[0].series[0]"),
    # the symmetry table has no panels
    (["figures", "ps/symmetry", "panels"], [], "figures.ps/symmetry"),
])
def test_the_figure_kind_decides_which_keys_are_allowed(path, value, key):
    """The schema describes every kind's keys; a key of another kind is still refused."""
    cfg = load_params()
    _set(path, value)(cfg)
    with pytest.raises(ConfigError) as err:
        resolve(cfg)
    assert f"  {key}: {path[-1]!r} is not allowed; allowed: the keys of a " in str(err.value)


def test_a_missing_key_is_named_after_the_typo():
    cfg = load_params()
    _rename(["experiments", "ps_resnet18_mnist", "seeds"], "seed")(cfg)
    with pytest.raises(ConfigError) as err:
        resolve(cfg)
    lines = str(err.value).splitlines()[1:]
    assert "'seed' is not allowed" in lines[0] and "did you mean 'seeds'?" in lines[0]
    assert lines[1].startswith("  experiments.ps_resnet18_mnist: 'seeds' missing; required: ")


def test_templates_are_never_read():
    plan = resolve(load_params())
    cfg = load_params()
    assert "ar_mlp" in cfg["templates"] and "ar_mlp" not in cfg  # anchors live in templates
    cfg["templates"] = {"anything": {"goes": [1, 2]}}
    again = resolve(cfg)
    assert (again.cells, again.experiments, again.figures) == (
        plan.cells, plan.experiments, plan.figures)
    del cfg["templates"]
    assert resolve(cfg).cells == plan.cells


def test_options_schemas_come_from_the_papers():
    from memrepro import catalog

    schema = load_schema()
    exp = schema["$defs"]["experiment"]["properties"]
    ar = catalog.papers()["ar"].option_schemas
    assert exp["train"]["properties"]["adversarial"]["properties"] == (
        ar["adversarial"]["properties"])
    probes = exp["probes"]
    assert probes["additionalProperties"] is False
    assert set(probes["properties"]) == set(catalog.probe_names())
    assert set(probes["properties"]["per_example"]["properties"]) == {"epochs", "every"}
    assert set(probes["properties"]["csr"]["properties"]) == {
        "epochs", "every", *ar["csr"]["properties"]}
    # every kind's keys are described in the (documenting) figure schema
    fig = schema["$defs"]["figure"]["properties"]
    for kind in catalog.figure_kinds().values():
        assert kind.keys <= set(fig)
        assert kind.panel_keys <= set(fig["panels"]["items"]["properties"])
        assert kind.series_keys <= set(fig["panels"]["items"]["properties"]["series"]["items"][
            "properties"])


def test_a_paper_declares_options_only_for_its_own_probes_and_objectives():
    from memrepro.paper import Paper

    with pytest.raises(ValueError, match="option_schemas"):
        Paper(citation="x", probes={"p": ""}, option_schemas={"q": {}})


def test_full_rate_noises_come_from_the_registry(monkeypatch):
    from memrepro import noise

    assert noise.FULL_RATE == {"random_labels", "random_inputs", "unique_class"}
    cfg = load_params()
    exp = cfg["experiments"]["ps_resnet18_mnist"]
    exp["noise"] = {"name": "symmetric_other", "rates": [0.2, 1.0]}
    cfg["scales"]["smoke"]["experiments"]["ps_resnet18_mnist"].pop("noise")  # smoke's rates
    with pytest.raises(ConfigError) as err:
        resolve(cfg)
    assert ("experiments.ps_resnet18_mnist.noise.rates[1]: 1.0 is not allowed for noise "
            "'symmetric_other'") in str(err.value)
    monkeypatch.setattr(noise, "FULL_RATE", {*noise.FULL_RATE, "symmetric_other"})
    assert len(resolve(cfg).cells_of("ps_resnet18_mnist")) == 4 * 2


def test_many_errors_are_listed_at_once():
    cfg = load_params()
    cfg["devcie"] = "cpu"
    cfg["figure"] = {}
    _rename([*PANEL, "metrics"], "metircs")(cfg)
    with pytest.raises(ConfigError) as err:
        resolve(cfg)
    msg = str(err.value)
    assert "'devcie'" in msg and "'figure' is not allowed" in msg and "'metircs'" in msg


def test_no_function_of_config_is_long():
    tree = ast.parse(inspect.getsource(config_module))
    long = {n.name: n.end_lineno - n.lineno + 1 for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef) and n.end_lineno - n.lineno + 1 > 60}
    assert not long, long


def test_the_core_imports_no_paper():
    code = ("import sys, memrepro.config, memrepro.noise, memrepro.paper; "
            "bad = [m for m in sys.modules if m.startswith('memrepro.papers') "
            "or m == 'memrepro.catalog']; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize("file, old, new, needles", [
    ("params.yaml", "device: auto ", "devcie: auto ", ["<top level>: 'devcie' is not allowed",
                                                      "did you mean 'device'?"]),
    ("config/ps.yaml", "loss: cce, metrics: [j1, j2], title: \"(a) Inception-Lite, CCE\"",
     "loss: cce, metircs: [j1, j2], title: \"(a) Inception-Lite, CCE\"",
     ["figures.ps/fig4.panels[0]: 'metircs' is not allowed", "did you mean 'metrics'?"]),
    ("config/ar.yaml", "    kind: filters\n", "    kind: filters\n    ncol: 2\n",
     ["figures.ar/fig2: 'ncol' is not allowed", "did you mean 'ncols'?"]),
    # a scale's overlay written next to its experiment (the smoke MLP's, shared by two)
    ("config/llj.yaml", "train: {epochs: 30, batch_size: 32, optimizer: {lr: 0.1}}\n    probes",
     "train: {epoch: 30, batch_size: 32, optimizer: {lr: 0.1}}\n    probes",
     ["  experiments.llj_tod_mnist.at.smoke.train: 'epoch' is not allowed",
      "  experiments.llj_tod_mnist_union.at.smoke.train: 'epoch' is not allowed",
      "did you mean 'epochs'?"]),
], ids=["devcie", "metircs", "ncol", "at.smoke epoch"])
def test_snakemake_dry_run_refuses_a_typo_and_writes_nothing(workdir, file, old, new, needles):
    """A typo in params.yaml or a paper's file is refused under that file's name."""
    params = workdir / file
    text = params.read_text()
    assert text.count(old) == 1
    params.write_text(text.replace(old, new))
    before = sorted(p.relative_to(workdir) for p in workdir.rglob("*")
                    if ".snakemake" not in p.parts)
    res = snakemake(workdir, "-n", "figures")
    assert res.returncode != 0
    assert f"memrepro: {file} is invalid:\n" in res.stderr, res.stderr
    assert f"Nothing was run. Fix {file}." in res.stderr, res.stderr
    for needle in needles:
        assert needle in res.stderr, res.stderr
    after = sorted(p.relative_to(workdir) for p in workdir.rglob("*")
                   if ".snakemake" not in p.parts)
    assert after == before


def test_a_subset_is_null_an_integer_or_a_part_of_a_partition():
    for bad in (0, {"partition": "p"}, {"partition": "p", "take": "easy", "drop": "easy"},
                {"partition": "p", "keep": "easy"}, "all"):
        cfg = load_params()
        cfg["experiments"]["ps_resnet18_mnist"]["subset"] = bad
        with pytest.raises(ConfigError) as err:
            resolve(cfg)
        assert (f"experiments.ps_resnet18_mnist.subset: {bad!r} is not allowed; allowed: null, "
                "an integer k >= 1 or {partition: <name>, take|drop: easy|difficult}") in str(
            err.value), str(err.value)
    cfg = load_params()
    cfg["scales"]["smoke"]["experiments"]["ps_resnet18_mnist"]["subset"] = None
    cfg["experiments"]["ps_resnet18_mnist"]["subset"] = 500
    assert resolve(cfg).cells_of("ps_resnet18_mnist")[0]["subset"] is None


def test_the_shipped_params_are_strictly_valid_at_every_scale():
    for scale in ("smoke", "quick", "paper"):
        cfg = copy.deepcopy(load_params())
        cfg["scale"] = scale
        resolve(cfg, check_files=False)


def test_the_metrics_a_figure_may_draw_come_from_the_catalog():
    """A panel's metrics are the engine's history columns plus the history probes' (AR's
    csr): a probe's column is drawable, a misspelt one is refused with the nearest name."""
    from memrepro import catalog

    assert {"csr", "tod_muted_acc", "j1"} <= set(catalog.history_metrics())
    assert "per_example" not in catalog.history_metrics()  # a file probe has no column
    cfg = load_params()
    cfg["figures"]["ar/fig7"]["panels"][1]["metrics"] = ["csrr"]
    with pytest.raises(ConfigError, match=r"metrics\[0\]: 'csrr' is not allowed.*did you "
                                          r"mean 'csr'\?"):
        resolve(cfg)


def test_eval_every_needs_every_epoch_with_stop_when_fit():
    cfg = load_params()
    cfg["experiments"]["ar_fit_width"]["train"]["eval_every"] = 3  # stop_when_fit: true
    with pytest.raises(ConfigError, match=r"ar_fit_width\.train\.eval_every: 3 is not allowed; "
                                          r"allowed: 1 with train\.stop_when_fit"):
        resolve(cfg)
    cfg["experiments"]["ar_mnist_randx"]["train"]["eval_every"] = 3  # no stop_when_fit: fine
    cfg["experiments"]["ar_fit_width"]["train"]["eval_every"] = 1
    assert resolve(cfg).experiments["ar_mnist_randx"]["train"]["eval_every"] == 3
