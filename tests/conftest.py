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
