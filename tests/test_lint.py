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


def test_rule_files_are_snakefmt_formatted():
    """Snakefile and workflow/rules/*.smk as `snakefmt` writes them (its settings:
    [tool.snakefmt] in pyproject.toml). To fix: `snakefmt Snakefile workflow/rules`."""
    snakefmt = Path(sys.executable).with_name("snakefmt")
    files = ["Snakefile", *sorted(p.relative_to(ROOT).as_posix()
                                  for p in (ROOT / "workflow" / "rules").glob("*.smk"))]
    assert len(files) > 1, files
    res = subprocess.run([str(snakefmt), "--check", *files], cwd=ROOT, capture_output=True,
                         text=True)
    if res.returncode == 1:  # some file would change: name them, with the diff
        bad = [f for f in files if subprocess.run([str(snakefmt), "--check", f], cwd=ROOT,
                                                  capture_output=True).returncode != 0]
        diff = subprocess.run([str(snakefmt), "--compact-diff", *bad], cwd=ROOT,
                              capture_output=True, text=True).stdout
        raise AssertionError(f"not as snakefmt writes them: {bad}; fix: snakefmt "
                             f"{' '.join(bad)}\n{diff[:6000]}")
    assert res.returncode == 0, res.stdout + res.stderr  # 123: snakefmt could not parse a file


def test_snakemake_lint_is_clean(workdir):
    res = snakemake(workdir, "--lint")
    assert res.returncode == 0, res.stdout + res.stderr
