"""Shared fixtures: a throw-away copy of the workflow to run Snakemake in."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def workdir(tmp_path):
    """A copy of Snakefile, params.yaml, workflow/, envs/ and profiles/ in a temporary directory."""
    for name in ("Snakefile", "params.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for name in ("workflow", "envs", "profiles"):
        shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path


def snakemake(cwd, *args, timeout=900):
    """Run the Snakemake CLI of this interpreter's environment in ``cwd``."""
    exe = Path(sys.executable).with_name("snakemake")
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def load_params():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def _panel_series(figure):
    """The (experiment, loss) entries of a figure's panels, as config._check_figures reads them."""
    return [s for panel in figure.get("panels", []) for s in panel.get("series") or [panel]]


def small_params(path, keep=("ar/fig7", "ps/symmetry")):
    """Rewrite params.yaml at ``path`` to build only the figures ``keep``: the other figures go,
    and so do the experiments that no remaining figure uses (from every scale's overlay too,
    which may only name existing experiments and figures). Done on the loaded mappings, so the
    anchors and any other top-level keys of params.yaml do not matter."""
    params = yaml.safe_load(path.read_text())
    params["figures"] = {fid: params["figures"][fid] for fid in keep}
    used = {s["experiment"] for f in params["figures"].values() for s in _panel_series(f)}
    params["experiments"] = {k: v for k, v in params["experiments"].items() if k in used}
    params["partitions"] = {k: v for k, v in (params.get("partitions") or {}).items()
                            if v["experiment"] in used}
    for overlay in (params.get("scales") or {}).values():
        for key, names in (("experiments", used), ("figures", keep)):
            if (overlay or {}).get(key):
                overlay[key] = {k: v for k, v in overlay[key].items() if k in names}
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return params
