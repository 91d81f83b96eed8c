"""Data remote: build, `dvc push`, fresh clone, `dvc pull`; Snakemake then plans no job.

The slow test is the whole round trip a user makes between two machines (docs/data-remote.md),
with the default remote of .dvc/config resolved inside the test's temporary directory. It builds
a small DAG, not every figure (tests/test_smoke_dag.py builds those): the round trip is about
DVC and Snakemake agreeing on the results, which two cheap figures show as well as all.
"""

import configparser
import filecmp
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, hang_limit, small_params, snakemake

from memrepro.config import resolve

BIN = Path(sys.executable).parent
# What `dvc repro` needs: the pipeline, its params, every dependency dvc.yaml lists
# (Snakefile, workflow/, src/memrepro/) and the DVC configuration.
PROJECT = ("Snakefile", "params.yaml", "dvc.yaml", ".dvcignore", ".gitignore",
           ".dvc/config", ".dvc/.gitignore", "config", "workflow", "envs", "src/memrepro")
# The figures the round trip builds: AR Fig. 7 (curves and probes of two small MLP experiments,
# a few seconds each at smoke scale; two, so that step 6 has an experiment to leave alone) and
# the loss-symmetry table, which trains nothing.
SMALL_FIGURES = ("ar/fig7", "ps/symmetry")
# Results in reverse DAG order: the worst order `dvc pull` could write them in.
UPSTREAM_LAST = ("results/figures", "results/metrics", "results/plots", "results/summary",
                 "results/summary_cells.json", "results/runs", "results/partitions",
                 "results/noise", "results/data")
LIMIT = 200  # the longest line DVC may print (`dvc metrics show` printed two of 85,000)


def default_remote(repo):
    """(name, url) of the default DVC remote in repo/.dvc/config."""
    cfg = configparser.ConfigParser()
    cfg.read(repo / ".dvc" / "config")
    name = cfg["core"]["remote"]
    # DVC writes the section header quoted: ['remote "local"']
    section = next(s for s in cfg.sections() if s.strip("'") == f'remote "{name}"')
    return name, cfg[section]["url"]


def test_default_remote_is_a_directory_beside_the_repository():
    name, url = default_remote(ROOT)
    assert "://" not in url and not os.path.isabs(url), url
    where = (ROOT / ".dvc" / url).resolve()  # DVC reads a relative url from .dvc/
    assert where.parent == ROOT.resolve().parent, where  # outside the work tree: git never sees it


def _env(tmp_path):
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # dvc.yaml calls `snakemake`
        "DVC_SITE_CACHE_DIR": str(tmp_path / "dvc-site-cache"),
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "memrepro test", "GIT_AUTHOR_EMAIL": "test@memrepro.invalid",
        "GIT_COMMITTER_NAME": "memrepro test", "GIT_COMMITTER_EMAIL": "test@memrepro.invalid",
    }


def _run(cmd, cwd, env, ok=True, typical_s=100):
    res = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=hang_limit(typical_s))
    if ok:
        assert res.returncode == 0, f"{cmd}:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
    return res


def _copy_project(dest):
    for name in PROJECT:
        src, dst = ROOT / name, dest / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dst)


def _files(root):
    return sorted(p.relative_to(root) for p in (root / "results").rglob("*") if p.is_file())


def _age_upstream_last(repo):
    # later than the clone's scripts (else Snakemake's code trigger fires instead), a second
    # apart per step
    t = time.time() + 1
    for i, part in enumerate(UPSTREAM_LAST):
        path = repo / part
        for f in [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]:
            os.utime(f, (t + i, t + i))


def _planned(res):
    """Rule names of the jobs a dry run plans."""
    return re.findall(r"^(?:local)?rule (\w+):", res.stdout + res.stderr, flags=re.M)


def _check_metrics_and_plots(repo, env, experiments):
    """`dvc metrics show` fits a terminal: one short row per experiment, and one for the
    claims scorecard (held, failed, expected but failed). `dvc plots show`
    loads every plot (Snakemake's .snakemake_timestamp in results/plots made it warn on every
    call), and git does not see the page it writes."""
    shown = _run(["dvc", "metrics", "show"], repo, env).stdout
    lines = shown.strip().splitlines()
    assert max(map(len, lines)) < LIMIT, shown
    assert len(lines) == 1 + experiments + 1, shown
    assert re.match(r"Path +cells +epochs +exp_failed +failed +held +j1\.max +j1\.mean +j1\.min "
                    r"+j2\.max", lines[0]), lines[0]
    assert all(re.match(r"results/summary/\w+/\w+\.json ", row) for row in lines[1:-1]), shown
    assert re.match(r"results/claims\.json +- +- +\d+ +\d+ +\d+ ", lines[-1]), shown
    assert (repo / "results/summary_cells.json").is_file()
    assert not list((repo / "results/plots").glob(".*"))
    plots = _run(["dvc", "plots", "show"], repo, env)
    assert "failed to load" not in plots.stdout + plots.stderr, plots.stdout + plots.stderr
    assert (repo / "dvc_plots/index.html").is_file()
    status = _run(["git", "status", "--porcelain", "--untracked-files=all"], repo, env).stdout
    assert "dvc_plots" not in status, status


def test_dvc_plots_render_offline(tmp_path):
    """DVC's plots page loads vega from a CDN and renders blank offline; the page that
    `memrepro plots` makes has the libraries inlined (from Snakemake's
    checksummed copies). Rendered in headless Chromium with every request sent to a proxy that
    does not exist, when a Chromium is installed (else that part is skipped)."""
    env = _env(tmp_path)
    repo = tmp_path / "repo"
    (repo / "results/plots").mkdir(parents=True)
    for cell in ("e__a", "e__b"):
        (repo / f"results/plots/{cell}.csv").write_text(
            "epoch,j1,j2,test_acc\n0,0.1,0.1,0.1\n1,0.6,0.4,0.3\n2,0.9,0.5,0.4\n")
    (repo / "dvc.yaml").write_text(yaml.safe_dump(
        {"plots": [{"results/plots": {"x": "epoch", "y": ["j1", "j2", "test_acc"]}}]}))
    _run(["git", "init", "-q"], repo, env)
    _run(["dvc", "init", "-q"], repo, env)
    _run(["dvc", "plots", "show"], repo, env)
    assert "cdn.jsdelivr.net" in (repo / "dvc_plots/index.html").read_text()  # the problem
    _run([BIN / "memrepro", "plots"], repo, env)
    page = (repo / "dvc_plots/index.html").read_text()
    assert not re.search(r"<script[^>]+src=", page) and "vega-embed" in page
    assert page.count("vegaEmbed('#") == 2  # one chart per cell
    browser = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")
                    if shutil.which(b)), None)
    if browser is None:
        pytest.skip("no Chromium: the offline page's rendering was not checked "
                    "(Debian: apt-get install chromium)")
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--proxy-server=127.0.0.1:9",
         f"--user-data-dir={tmp_path}/chr", "--virtual-time-budget=8000", "--dump-dom",
         (repo / "dvc_plots/index.html").as_uri()], capture_output=True, text=True,
        timeout=hang_limit(40))
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert len(re.findall(r'<canvas[^>]* class="marks"', dom.stdout)) == 2, dom.stdout[-2000:]


@pytest.mark.slow
def test_push_clone_pull_then_snakemake_plans_nothing(tmp_path):
    env = _env(tmp_path)
    build, clone = tmp_path / "build", tmp_path / "clone"
    _copy_project(build)
    _, url = default_remote(build)
    remote = (build / ".dvc" / url).resolve()
    assert remote.parent == tmp_path, remote  # the default resolves beside build/ and clone/
    experiments = len(small_params(build / "params.yaml", SMALL_FIGURES)["experiments"])
    assert experiments >= 2  # for step 6

    # 1. build at smoke scale the way a user would, commit the lock, push the bytes
    _run(["git", "init", "-q"], build, env)
    _run(["git", "add", "-A"], build, env)
    _run(["git", "commit", "-qm", "project"], build, env)
    t0 = time.time()
    built = _run(["dvc", "repro"], build, {**env, "MEMREPRO_CORES": "1"}, typical_s=300)
    built_s = time.time() - t0
    # the stages take their cores from MEMREPRO_CORES, which is not part of what DVC records
    assert "Provided cores: 1 " in built.stdout + built.stderr, built.stderr[-2000:]
    lock = yaml.safe_load((build / "dvc.lock").read_text())
    assert "--cores ${MEMREPRO_CORES:-all} runs" in lock["stages"]["runs"]["cmd"]
    # a second repro runs nothing: dvc.yaml's code deps are whole folders, and the bytecode
    # Python leaves in them (the jobs import memrepro from build/src) is in .dvcignore
    for folder in ("src/memrepro", "workflow/scripts"):
        stray = build / folder / "__pycache__" / "stray.cpython-311.pyc"
        stray.parent.mkdir(exist_ok=True)
        stray.write_bytes(b"not code")
    again = _run(["dvc", "repro"], build, env)
    assert "Data and pipelines are up to date" in again.stdout, again.stdout[-2000:]
    assert "Running stage" not in again.stdout, again.stdout[-2000:]
    _check_metrics_and_plots(build, env, experiments)
    # results/summary/ and results/claims.json hold `cache: false` metrics: git carries them
    # (.gitignore lets it see them), not the remote
    _run(["git", "add", "dvc.lock", "results/summary", "results/claims.json"], build, env)
    staged = _run(["git", "diff", "--cached", "--name-only"], build, env).stdout.split()
    assert sorted(f for f in staged if f.startswith("results/")) == sorted(
        [str(p.relative_to(build)) for p in (build / "results/summary").rglob("*.json")]
        + ["results/claims.json"]), staged
    _run(["git", "commit", "-qm", "smoke results"], build, env)
    _run(["dvc", "push"], build, env)
    assert any(p.is_file() for p in remote.rglob("*"))

    # 2. a fresh clone elsewhere gets every result file back, byte for byte
    _run(["git", "clone", "-q", build, clone], tmp_path, env)
    assert not (clone / "results" / "runs").exists()
    _run(["dvc", "pull"], clone, env)
    assert _files(clone) == _files(build)
    same, diff, errors = filecmp.cmpfiles(build, clone, _files(build), shallow=False)
    assert not diff and not errors, (diff, errors)
    for built in ("ar/fig7_standin.png", "ps/symmetry.csv"):
        assert (clone / "results/figures" / built).stat().st_size > 0, built

    # 3. DVC gives pulled files the time of the pull, in no particular order. In the worst
    # order (upstream files last) Snakemake would retrain: the problem is real.
    _age_upstream_last(clone)
    before = _planned(snakemake(clone, "-n", "figures"))
    assert any(r.startswith("train_") for r in before), before

    # 4. the restore step refuses results that DVC does not vouch for (a changed setting)
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["compile"] = not params["compile"]
    (clone / "params.yaml").write_text(yaml.safe_dump(params))
    after_pull = [BIN / "memrepro", "after-pull"]
    refused = _run(after_pull, clone, env, ok=False)
    assert refused.returncode == 1 and "do not match dvc.lock" in refused.stderr, refused.stderr
    assert not any((clone / ".snakemake" / "metadata").glob("*"))
    _run(["git", "checkout", "--", "params.yaml"], clone, env)

    # 5. the documented step: DVC says the results match dvc.lock; mark them built
    _run(after_pull, clone, env)
    dry = snakemake(clone, "-n", "figures")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert not [r for r in _planned(dry) if r.startswith("train_")], _planned(dry)
    assert "Nothing to be done" in dry.stdout + dry.stderr, _planned(dry)

    # 6. Snakemake's own change detection works in the clone: a longer schedule for one
    # experiment plans exactly that experiment's training jobs again
    plan = resolve(yaml.safe_load((clone / "params.yaml").read_text()))
    first = next(iter(plan.groups.values()))["cells"][0]
    exp, epochs = first["experiment"], first["train"]["epochs"]
    longer = tmp_path / "longer.yaml"
    longer.write_text(yaml.safe_dump(
        {"scales": {plan.scale: {"experiments": {exp: {"train": {"epochs": epochs + 1}}}}}}))
    changed = snakemake(clone, "-n", "figures", "--configfile", longer)
    assert changed.returncode == 0, changed.stderr[-3000:]
    trains = sorted(r for r in _planned(changed) if r.startswith("train_"))
    expected = sorted("train_" + re.sub(r"\W", "_", gid) for gid, g in plan.groups.items()
                      if g["cells"][0]["experiment"] == exp)  # rule_name() in common.smk
    assert trains == expected, (trains, expected)
    assert len(trains) < len(plan.groups), "jobs of other experiments, left out"
    print(f"dvc repro of {len(SMALL_FIGURES)} figures at smoke scale: {built_s:.0f} s")
