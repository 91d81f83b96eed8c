"""Shared fixtures: a throw-away copy of the workflow to run Snakemake in."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def workdir(tmp_path):
    """A copy of Snakefile, params.yaml, config/, workflow/, envs/ and profiles/ in a temporary
    directory."""
    for name in ("Snakefile", "params.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for name in ("config", "workflow", "envs", "profiles"):
        shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path


# Limits on subprocesses are hang catchers, never speed tests: a limit is what the step takes
# on the developers' 2-core machine times HANG_FACTOR (6 by default; raise it with
# MEMREPRO_HANG_FACTOR on a very slow machine). A step that runs past it fails with a message
# that says it is a hang catcher (pytest_runtest_makereport below).
SMOKE_DAG_S = 300  # the whole smoke DAG on 2 idle cores, rounded up
HANG_FACTOR = float(os.environ.get("MEMREPRO_HANG_FACTOR", "6"))


def hang_limit(typical_s: float) -> float:
    """The hang catcher's limit for a step that typically takes ``typical_s`` seconds here."""
    return typical_s * HANG_FACTOR


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A subprocess past its hang catcher fails saying so, not as a slow-machine failure."""
    report = (yield).get_result()
    if call.excinfo is not None and call.excinfo.errisinstance(subprocess.TimeoutExpired):
        err = call.excinfo.value
        report.longrepr = (f"HANG CATCHER: {err.cmd!r} ran past {err.timeout:.0f} s, "
                           f"{HANG_FACTOR:g} times what it takes on a 2-core machine; this "
                           "is a hang, not a slow machine (MEMREPRO_HANG_FACTOR raises the "
                           f"limit).\n{report.longrepr}")


def snakemake(cwd, *args, timeout=None):
    """Run the Snakemake CLI of this interpreter's environment in ``cwd``; ``timeout``: the
    typical seconds of the run (default: the whole smoke DAG's), times HANG_FACTOR."""
    exe = Path(sys.executable).with_name("snakemake")
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=hang_limit(timeout or SMOKE_DAG_S))


def load_params():
    """The project's configuration as ``resolve`` reads it: params.yaml and the papers' files
    (config/<paper>.yaml) merged, every ``at:`` moved to ``scales.<scale>.experiments``
    (``.figures``)."""
    from memrepro.config import load_config

    return load_config(ROOT)


def write_params(path, cfg):
    """Write a whole configuration (``load_params()``, changed) to ``path`` as one params.yaml
    that lists no paper's file (``papers: []``, kept for DVC's params), so that it alone is
    read."""
    cfg = {**cfg, "papers": []}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def _panel_series(figure):
    """The (experiment, loss) entries of a figure's panels, as config._check_figures reads them."""
    return [s for panel in figure.get("panels", []) for s in panel.get("series") or [panel]]


def small_params(path, keep=("ar/fig7", "ps/symmetry")):
    """Write the project's configuration to ``path`` (a params.yaml, read alone: ``papers:
    []``) reduced to build only the figures ``keep``: the other figures go, and so do the
    experiments that no remaining figure uses (from every scale's overlay too, which may only
    name existing experiments and figures). Done on the loaded, merged mappings, so the
    anchors and the files they came from do not matter."""
    params = load_params()
    params["figures"] = {fid: params["figures"][fid] for fid in keep}
    used = {s["experiment"] for f in params["figures"].values() for s in _panel_series(f)}
    params["experiments"] = {k: v for k, v in params["experiments"].items() if k in used}
    params["partitions"] = {k: v for k, v in (params.get("partitions") or {}).items()
                            if v["experiment"] in used}
    for overlay in (params.get("scales") or {}).values():
        for key, names in (("experiments", used), ("figures", keep)):
            if (overlay or {}).get(key):
                overlay[key] = {k: v for k, v in overlay[key].items() if k in names}
    write_params(path, params)
    return params
