"""The configuration's files (memrepro.config.layout): params.yaml global, one file per paper
with each experiment's and figure's scale overlays next to it (`at:`), merged and lifted into
the overlay form the plan is resolved from; dotted --config overrides; per-paper targets."""

import re
import shutil

import pytest
import yaml
from conftest import ROOT, load_params, snakemake

from memrepro.config import ConfigError, load_config, merge_sources, resolve
from memrepro.config.layout import lift_at, load_sources, nest_dotted, unlisted_paper_files

GLOBAL = {"scale", "device", "train_threads", "compile", "seed_offset", "data", "datasets",
          "papers", "scales"}


def test_params_yaml_is_global_and_each_paper_file_holds_its_own_paper():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert set(params) <= GLOBAL and params["papers"] == ["ps", "ar", "llj", "md"]
    assert all(set(s) <= {"substitute", "all"} for s in params["scales"].values())
    for paper in params["papers"]:
        own = yaml.safe_load((ROOT / "config" / f"{paper}.yaml").read_text())
        assert {e["paper"] for e in own["experiments"].values()} == {paper}
        assert all(fid.startswith(f"{paper}/") for fid in own["figures"])
        assert not {"scale", "scales", "datasets"} & set(own)


def test_at_is_lifted_into_the_scales_overlay():
    raw = load_config(ROOT, lifted=False)
    assert raw["experiments"]["llj_tod_mnist"]["at"]["smoke"]["train"]["epochs"] == 30
    cfg = load_params()
    assert "at" not in cfg["experiments"]["llj_tod_mnist"]
    assert cfg["scales"]["smoke"]["experiments"]["llj_tod_mnist"]["train"]["epochs"] == 30
    assert cfg["scales"]["quick"]["figures"]["md/fig2"]["ncols"] == 3  # a figure's at.quick
    assert "experiments" not in cfg["scales"]["paper"]  # nothing written at.paper
    # an overlay written in both forms is merged, at: over the scale's
    both = lift_at({"scales": {"smoke": {"experiments": {"x": {"seeds": 2, "subset": 9}}}},
                    "experiments": {"x": {"paper": "p", "at": {"smoke": {"seeds": 3}}}}})
    assert both["scales"]["smoke"]["experiments"]["x"] == {"seeds": 3, "subset": 9}
    assert both["experiments"]["x"] == {"paper": "p"}


def test_an_at_naming_an_unknown_scale_is_refused_under_its_file(tmp_path):
    for name in ("params.yaml", "config"):
        (shutil.copytree if name == "config" else shutil.copy)(ROOT / name, tmp_path / name)
    llj = tmp_path / "config" / "llj.yaml"
    llj.write_text(llj.read_text().replace("at: {smoke: *llj_plain_smoke}",
                                           "at: {smoke: *llj_plain_smoke, quik: {seeds: 2}}"))
    sources = load_sources(tmp_path / "params.yaml")
    with pytest.raises(ConfigError) as err:
        resolve(merge_sources(sources), check_files=False, sources=sources)
    assert str(err.value) == (
        "config/llj.yaml is invalid:\n  experiments.llj_mlp_mnist_control.at: 'quik' is not "
        "allowed; allowed: the scales of params.yaml: 'smoke', 'quick', 'paper'; did you mean "
        "'quick'?")


def test_a_paper_file_names_only_its_own_keys_and_no_others(tmp_path):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(ROOT / "config", tmp_path / "config")
    md = tmp_path / "config" / "md.yaml"
    md.write_text(md.read_text() + "\nscale: quick\n")
    with pytest.raises(ConfigError, match=r"config/md.yaml is invalid:\n  <top level>: 'scale' "
                                          r"is not allowed; allowed: only the keys"):
        load_sources(tmp_path / "params.yaml")
    md.write_text(md.read_text().replace("\nscale: quick\n", "\n"))
    ps = tmp_path / "config" / "ps.yaml"
    ps.write_text(ps.read_text().replace("  ps_resnet18_mnist:\n", "  llj_tod_mnist:\n"))
    with pytest.raises(ConfigError) as err:
        load_sources(tmp_path / "params.yaml")
    assert "experiments.llj_tod_mnist: set in config/ps.yaml and in config/llj.yaml" in str(
        err.value)
    params = tmp_path / "params.yaml"
    params.write_text(params.read_text().replace("papers: [ps, ar, llj, md]",
                                                 "papers: [ps, ar, lj, md]"))
    with pytest.raises(ConfigError, match=r"papers: 'lj' is not allowed; .*did you mean 'llj'"):
        load_sources(params)
    assert unlisted_paper_files(tmp_path, {"papers": ["ps", "ar", "md"]}) == ["config/llj.yaml"]


def test_a_dotted_key_is_nested_and_a_wrong_one_names_the_nearest():
    files = load_config(ROOT, lifted=False)
    assert nest_dotted({"experiments.llj_tod_mnist.train.epochs": 5, "scale": "paper"},
                       files) == {"experiments": {"llj_tod_mnist": {"train": {"epochs": 5}}},
                                  "scale": "paper"}
    # an overlay at a scale may be added by an override
    assert nest_dotted({"experiments.llj_mlp_mnist_control.at.quick.seeds": 2}, files) == {
        "experiments": {"llj_mlp_mnist_control": {"at": {"quick": {"seeds": 2}}}}}
    with pytest.raises(ConfigError) as err:
        nest_dotted({"experiments.llj_tod_mnst.train.epochs": 5}, files)
    assert str(err.value).startswith(
        "--config (command line) is invalid:\n  experiments: 'llj_tod_mnst' is not allowed; "
        "allowed: an existing key: one of ")
    assert str(err.value).endswith("did you mean 'llj_tod_mnist'?")


def test_snakemake_takes_an_override_of_one_experiment_setting(workdir):
    """Snakemake's --config refuses a dotted key itself ("must start with a valid identifier"),
    before the Snakefile runs; a nested value works (its scalars typed as in a file), and a
    --configfile may use dotted keys, a wrong one refused with the nearest name."""
    res = snakemake(workdir, "-n", "figures", "--config",
                    "experiments={llj_tod_mnist: {train: {batch_size: 64}}}", timeout=30)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr[-3000:]
    assert ("memrepro: smoke overlay: train.batch_size 64 -> 32 in 1 experiment "
            "(llj_tod_mnist)") in res.stderr.splitlines(), res.stderr[-3000:]
    (workdir / "mine.yaml").write_text("experiments.llj_tod_mnist.train.batch_size: 64\n")
    res = snakemake(workdir, "-n", "figures", "--configfile", "mine.yaml", timeout=30)
    assert res.returncode == 0 and "train.batch_size 64 -> 32 in 1 experiment (llj_tod_mnist)" \
        in res.stderr, res.stderr[-3000:]
    (workdir / "mine.yaml").write_text("experiments.llj_tod_mnist.trian.epochs: 5\n")
    bad = snakemake(workdir, "-n", "figures", "--configfile", "mine.yaml", timeout=30)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr, bad.stderr[-3000:]
    assert ("memrepro: mine.yaml (--configfile) is invalid:\n  experiments.llj_tod_mnist: "
            "'trian' is not allowed") in bad.stderr, bad.stderr[-3000:]
    assert "did you mean 'train'?" in bad.stderr and not (workdir / "results").exists()


def test_figures_llj_plans_only_llj_figure_jobs(workdir):
    res = snakemake(workdir, "-n", "figures_llj", "--quiet", "rules", timeout=30)
    assert res.returncode == 0, res.stderr[-3000:]
    counts = dict(re.findall(r"^(\S+)\s+(\d+)$", res.stdout, re.M))
    # LLJ's ten figures (Fig. 1 needs no run) and the LLJ training jobs, nothing of the others
    assert counts.get("figure") == "10" and "table_figure" not in counts, res.stdout
    trained = {r for r in counts if r.startswith("train_")}
    assert trained and all(r.startswith("train_llj_") for r in trained), trained
    assert not {"claims", "summary", "manifest"} & set(counts)
