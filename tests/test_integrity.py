"""No failure after the work is done (issue 19): run.json records the sha256 and size of each
file its training job wrote, a figure's provenance the sha256 of its table, its caption the
sha256 of its PNG and PDF; ``memrepro verify`` checks all of it without training; a plain rerun
repairs a damaged or deleted run (the Snakefile's startup sweep), and ``memrepro status`` says
beforehand what that rerun will run."""

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import ROOT, hang_limit, small_params, snakemake

from memrepro import io, provenance
from memrepro.pipeline import integrity
from memrepro.run_files import write_run_files

FIGURE, EXP = "llj/fig3", "llj_mlp_mnist_rand"
CELL = "loss-cce_eta-0.3333333333333333_seed-0"
RUN = Path("results/runs") / EXP / CELL
STEM = "results/figures/llj/fig3_standin"
PROBE = RUN / "probes" / "correctness_epoch-4.npz"
BUILD_S = 60  # the small build below on 2 cores
MEMREPRO = Path(sys.executable).parent / "memrepro"  # the console script of this environment


# --- the records ----------------------------------------------------------------------------

def test_run_json_records_each_written_file_with_its_sha256_and_size(tmp_path):
    out = tmp_path / "run"
    io.write_npz(out / "probes" / "p_epoch-0.npz", x=np.arange(3))
    history = [{"epoch": 0, "j1": 0.1, "j2": 0.2, "test_acc": 0.3}]
    write_run_files(out, {"slug": "s"}, {"w": torch.ones(2)}, history,
                    ["epoch", "j1", "j2", "test_acc"], torch.device("cpu"), {"mode": "single"})
    files = io.read_json(out / "run.json")["files"]
    assert sorted(files) == ["history.csv", "model.pt", "probes/p_epoch-0.npz"]
    for name, rec in files.items():
        assert rec == {"bytes": (out / name).stat().st_size, "sha256": io.sha256(out / name)}


def test_a_figure_record_holds_its_tables_sha256(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,2\n")
    params = provenance.figure_params([{"experiment": "e", "slug": "a"}], [])
    rec = provenance.figure_record(params, table=table)
    assert rec["table_sha256"] == io.sha256(table)


def test_an_unreadable_npz_is_named(tmp_path):
    path = tmp_path / "probe_epoch-1.npz"
    io.write_npz(path, x=np.arange(100))
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(ValueError, match=re.escape(str(path))) as err:
        io.load_npz(path)
    assert isinstance(err.value.__cause__, zipfile.BadZipFile)


def _job(kind, name, outputs, inputs=()):
    from memrepro.pipeline.build_status import Job
    return Job(kind, name, list(outputs), "log", inputs=list(inputs))


def test_the_sweep_repairs_a_damaged_or_lost_run_and_leaves_a_fresh_build_alone(tmp_path):
    run = "results/runs/e/c"
    train = _job("train", "e/all", [f"{run}/history.csv", f"{run}/run.json"])
    figure = _job("figure", "p/f", ["results/figures/p/f.png"], [f"{run}/history.csv"])
    claims = _job("claims", "claims", ["results/claims.json"], ["results/figures/p/f.png"])
    jobs = [train, figure, claims]
    assert integrity.to_repair(jobs, tmp_path) == []  # nothing built yet: nothing to repair
    io.write_text(tmp_path / "results/figures/p/f.png", "png")
    lost = integrity.to_repair(jobs, tmp_path)  # its figure was built from it: lost
    assert [(r.job, r.problems, r.damaged) for r in lost] == \
        [(train, [(f"{run}/history.csv", "missing")], [])]
    assert lost[0].downstream == [figure, claims]
    io.write_text(tmp_path / run / "history.csv", "epoch\n0\n")
    io.write_json(tmp_path / run / "run.json", {"files": {"history.csv": {"bytes": 8}}})
    assert integrity.to_repair(jobs, tmp_path) == []  # as recorded
    io.write_text(tmp_path / run / "history.csv", "epoch\n")
    (damaged,) = integrity.to_repair(jobs, tmp_path)
    assert damaged.damaged == [f"{run}/history.csv"]
    assert integrity.describe(damaged) == [
        f"{run}/history.csv is damaged (6 bytes, run.json records 8)"]


@pytest.mark.parametrize(("argv", "builds"), [
    (["--cores", "all", "figures"], True), (["-j2", "-p"], True), (["-n"], False),
    (["--dry-run", "figures"], False), (["-np"], False), (["--touch"], False),
    (["--report", "r.html"], False), (["--config", "scale=quick"], True)])
def test_a_dry_run_only_says_what_a_build_would_repair(argv, builds):
    assert integrity.builds_nothing(argv) is not builds


# --- a small build: LLJ Fig. 3 (one MLP, probe files every epoch) for 10 epochs -------------

def _small(dest: Path) -> Path:
    for name in ("Snakefile", "params.yaml"):
        shutil.copy(ROOT / name, dest / name)
    for name in ("workflow", "envs", "profiles"):
        shutil.copytree(ROOT / name, dest / name)
    small_params(dest / "params.yaml", keep=(FIGURE,))
    params = yaml.safe_load((dest / "params.yaml").read_text())
    params["scales"]["smoke"]["experiments"][EXP]["train"]["epochs"] = 10
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return dest


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    wd = _small(tmp_path_factory.mktemp("integrity"))
    res = snakemake(wd, "--cores", "2", "figures", timeout=BUILD_S)
    assert res.returncode == 0, res.stderr[-3000:]
    return wd


@pytest.fixture
def build(built, tmp_path):
    """A copy of the small build (times kept, Snakemake's records included)."""
    return Path(shutil.copytree(built, tmp_path / "b", symlinks=True))


def _verify(wd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(MEMREPRO), "verify"], cwd=wd, capture_output=True, text=True,
                          timeout=hang_limit(20))


def _status(wd: Path) -> str:
    res = subprocess.run([str(MEMREPRO), "status"], cwd=wd, capture_output=True, text=True,
                         timeout=hang_limit(20))
    assert res.returncode == 0, res.stderr
    return res.stdout


def _left(status: str) -> int:
    return int(re.search(r"(\d+) left", status.splitlines()[0])[1])


def _ran(out: str) -> int:
    """Jobs Snakemake ran, the target rule (`figures`) not counted."""
    return int(re.findall(r"\d+ of (\d+) steps", out)[-1]) - 1


def _flip_byte(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def _edit_history(path: Path) -> None:
    df = pd.read_csv(path)
    df.loc[3, "j1"] = 0.5 if df.loc[3, "j1"] != 0.5 else 0.25
    path.write_text(df.to_csv(index=False))


def _edit_png_pixels(path: Path) -> None:
    """Repaint a corner of the PNG, keeping its text chunks (the provenance record)."""
    from PIL import Image, PngImagePlugin
    img = Image.open(path)
    info = PngImagePlugin.PngInfo()
    for k, v in img.text.items():
        info.add_text(k, v)
    pixels = img.convert("RGBA")
    pixels.paste((255, 0, 0, 255), (0, 0, 5, 5))
    pixels.save(path, pnginfo=info)


TAMPER = {
    "history value": (RUN / "history.csv", _edit_history),
    "model byte": (RUN / "model.pt", lambda p: _flip_byte(p, p.stat().st_size // 2)),
    "figure table": (Path("results/metrics/llj/fig3_standin.csv"),
                     lambda p: p.write_text(p.read_text().replace("0.", "0.9", 1))),
    "figure pixels": (Path(STEM + ".png"), _edit_png_pixels),
}


def test_the_build_verifies(build):
    res = _verify(build)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 problems" in res.stdout
    rec = json.loads(provenance.show(build / (STEM + ".png")))
    assert rec["table_sha256"] == io.sha256(build / "results/metrics/llj/fig3_standin.csv")


@pytest.mark.parametrize("what", sorted(TAMPER))
def test_the_check_catches_tampering_without_training(build, what):
    path, tamper = TAMPER[what]
    tamper(build / path)
    res = _verify(build)
    assert res.returncode == 1, res.stdout + res.stderr
    problems = [ln for ln in res.stderr.splitlines() if ln.startswith("PROBLEM")]
    assert len(problems) == 1 and str(path) in problems[0], res.stderr


def test_a_plain_rerun_repairs_a_truncated_probe_file(build):
    figure = [(build / f"{STEM}.{ext}").read_bytes() for ext in ("png", "pdf")]
    probe = build / PROBE
    probe.write_bytes(probe.read_bytes()[:100])
    left = _left(_status(build))
    assert left >= 2  # the training job and the figure that reads it, at least
    res = snakemake(build, "--cores", "2", "figures", timeout=BUILD_S)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"{PROBE}" in res.stderr and "rebuild" in res.stderr
    assert _ran(res.stderr) == left
    io.load_npz(probe)
    assert [(build / f"{STEM}.{ext}").read_bytes() for ext in ("png", "pdf")] == figure
    assert _left(_status(build)) == 0
    assert _verify(build).returncode == 0


def test_a_plain_rerun_rebuilds_a_deleted_experiment_as_status_says(build):
    figure = (build / f"{STEM}.png").read_bytes()
    shutil.rmtree(build / "results/runs" / EXP)
    left = _left(_status(build))
    assert left >= 2
    res = snakemake(build, "--cores", "2", "figures", timeout=BUILD_S)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Nothing to be done" not in res.stderr
    assert _ran(res.stderr) == left
    assert (build / RUN / "model.pt").is_file()
    assert (build / f"{STEM}.png").read_bytes() == figure
    assert _left(_status(build)) == 0 and _verify(build).returncode == 0
