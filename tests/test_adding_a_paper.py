"""docs/adding-a-paper.md works as written: its code blocks, put where it says, make a paper
that the catalog resolves and that Snakemake plans, and its probe measures what it claims."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, hang_limit

DOC = ROOT / "docs" / "adding-a-paper.md"


def _blocks(lang: str) -> list[str]:
    return [b for kind, b in re.findall(r"```(\w*)\n(.*?)```", DOC.read_text(), re.S)
            if kind == lang]


@pytest.fixture(scope="module")
def toy_checkout(tmp_path_factory) -> Path:
    """A copy of the workflow and package with the doc's toy paper added, step by step."""
    root = tmp_path_factory.mktemp("toy")
    for name in ("Snakefile", "params.yaml"):
        shutil.copy(ROOT / name, root / name)
    for name in ("config", "workflow", "envs", "profiles", "src"):
        shutil.copytree(ROOT / name, root / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    index, kind, training, catalog_snippet = _blocks("python")
    folder = root / "src" / "memrepro" / "papers" / "toy"
    folder.mkdir()
    (folder / "__init__.py").write_text('"""Toy et al. 2026."""\n')
    (folder / "index.py").write_text(index)
    (folder / "final_bar.py").write_text(kind)
    (folder / "training.py").write_text(training)
    # step 4: the catalog's papers() and TRAINING, as the doc shows them
    catalog = root / "src" / "memrepro" / "catalog.py"
    text = catalog.read_text()
    new_papers = catalog_snippet.split("\nTRAINING")[0]
    new_training = "TRAINING" + catalog_snippet.split("\nTRAINING", 1)[1].strip()
    text, n1 = re.subn(r"@functools.cache\ndef papers\(\).*?return \{.*?\}\n",
                       "@functools.cache\n" + new_papers.replace("def papers():",
                       "def papers() -> dict[str, Paper]:") + "\n", text, flags=re.S)
    text, n2 = re.subn(r"^TRAINING = \{.*?\}\n", new_training + "\n", text, flags=re.M | re.S)
    assert (n1, n2) == (1, 1), "the doc's catalog snippet no longer matches catalog.py"
    catalog.write_text(text)
    # step 5: experiments and figures in config/toy.yaml, listed in params.yaml
    (root / "config" / "toy.yaml").write_text(_blocks("yaml")[0])
    params = (root / "params.yaml").read_text()
    assert params.count("papers: [ps, ar, llj, md]") == 1
    (root / "params.yaml").write_text(params.replace("papers: [ps, ar, llj, md]",
                                                     "papers: [ps, ar, llj, md, toy]"))
    return root


def _python(root: Path, code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=env,
                          capture_output=True, text=True, timeout=hang_limit(100))


def test_the_toy_paper_resolves_and_its_probe_measures_the_margin(toy_checkout):
    res = _python(toy_checkout, """
import torch
from types import SimpleNamespace
from memrepro import catalog
catalog.check_training_hooks()
assert "final_bar" in catalog.figure_kinds() and "margin" in catalog.history_metrics()
probes, _ = catalog.training_hooks()
# two models, two examples: margins (3 - 1, 0 - 2) and (1 - 1, 5 - 4) -> means 0.0 and 0.5
logits = torch.tensor([[[3., 1., 0.], [2., 0., 0.]], [[1., 1., 0.], [0., 4., 5.]]])
ctx = SimpleNamespace(data=SimpleNamespace(y_noisy=torch.tensor([[0, 1], [0, 2]])))
print(probes["margin"].measure({}, ctx, 1, logits))
""")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[0.0, 0.5]"


def test_snakemake_plans_the_toy_figure(toy_checkout):
    env = {**os.environ, "PYTHONPATH": str(toy_checkout / "src")}
    exe = Path(sys.executable).with_name("snakemake")
    res = subprocess.run([str(exe), "-n", "figures_toy"],
                         cwd=toy_checkout, env=env, capture_output=True, text=True,
                         timeout=hang_limit(100))
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout + res.stderr
    assert "train_toy_mlp_all" in out and re.search(r"figure\s+1", out)
    assert "results/figures/toy/fig1_standin.png" in out and "train_ps_" not in out
