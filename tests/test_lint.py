"""Static checks as tests, so `pytest` alone keeps main clean."""

import subprocess
import sys
from pathlib import Path

from conftest import ROOT, snakemake


def test_ruff_is_clean():
    ruff = Path(sys.executable).with_name("ruff")
    res = subprocess.run([str(ruff), "check", "src", "tests", "workflow/scripts", "benchmarks"],
                         cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_snakemake_lint_is_clean(workdir):
    res = snakemake(workdir, "--lint")
    assert res.returncode == 0, res.stdout + res.stderr
