"""The build at a glance (issue 14): `memrepro status` counts the jobs done,
running and left from a results/ and logs/ tree, and shows each running training job's epoch
and ETA from its log."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, hang_limit, load_params

from memrepro.config import resolve
from memrepro.pipeline import build_status
from memrepro.pipeline.logs import SEPARATOR

MEMREPRO = Path(sys.executable).parent / "memrepro"  # the console script of this environment


@pytest.fixture(scope="module")
def jobs():
    return build_status.plan_jobs(resolve(load_params(), check_files=False))


def _touch(root, paths):
    for p in paths:
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_text("{}" if p.endswith(".json") else "x")  # run.json: no record


def _stamp(t):
    return time.strftime("%Y-%m-%d %H:%M:%S,000", time.localtime(t))


def _epoch_line(t, epoch, label, eta):
    return (f"{_stamp(t)} INFO epoch {epoch}/10 | {label} | mean loss 1.2345 J1 0.500 "
            f"test 0.400 | 2.00 s/epoch | ETA {eta}")


def _tree(root, jobs, now):
    """Data and noise done, training jobs: one done, one running (epoch 3/10, ETA 0:01:00
    written 5 s ago; its earlier attempt reached 7/10), one stopped an hour ago; the rest left.
    A Snakemake holds the lock."""
    train = [j for j in jobs if j.kind == "train"]
    _touch(root, [o for j in jobs if j.kind in ("data", "noise") for o in j.outputs])
    _touch(root, train[0].outputs)
    _touch(root, train[1].outputs[:3])  # a sequential group's first cell is written
    run_log, stop_log = root / train[1].log, root / train[2].log
    _touch(root, [train[1].log, train[2].log])
    run_log.write_text("\n".join([
        SEPARATOR.format(n=1, time="x", note=""), _epoch_line(now - 900, 7, "8 cells a...b",
                                                             "0:00:06"),
        SEPARATOR.format(n=2, time="y", note=""),
        f"{_stamp(now - 20)} INFO training {train[1].name}: 8 cell(s) on cpu",
        _epoch_line(now - 5, 3, "8 cells a...b", "0:01:00")]) + "\n")
    stop_log.write_text(_epoch_line(now - 3600, 4, "x", "0:00:12") + "\n")
    os.utime(run_log, (now - 5, now - 5))
    os.utime(stop_log, (now - 3600, now - 3600))
    (root / ".snakemake" / "locks").mkdir(parents=True)
    (root / ".snakemake" / "locks" / "0.input.lock").write_text("")
    return train


def test_counts_and_the_running_jobs_epoch_and_eta(tmp_path, jobs):
    now = float(int(time.time()))  # whole seconds, as the log's time stamps
    train = _tree(tmp_path, jobs, now)
    states = build_status.assess(jobs, tmp_path, now=now)
    by = {j.name: j for j in states if j.kind == "train"}
    assert [by[t.name].state for t in train[:3]] == ["done", "running", "stopped"]
    info = by[train[1].name].info
    assert (info["epoch"], info["epochs"]) == (3, 10)  # the latest attempt only
    assert info["eta_now"] == pytest.approx(55, abs=1)
    n = {s: sum(j.state == s for j in states) for s in ("done", "running", "stopped", "left")}
    data = sum(j.kind in ("data", "noise") for j in jobs)
    assert n == {"done": data + 1, "running": 1, "stopped": 1, "left": len(jobs) - data - 3}
    text = build_status.render(states, "smoke", tmp_path, now=now)
    assert f"{len(jobs)} jobs, {data + 1} done, 1 running, {len(jobs) - data - 2} left" in text
    row = next(ln for ln in text.splitlines() if ln.startswith(train[1].name))
    assert row.split()[-7:] == ["running", "-", "3/10", "2.00", "0:00:55", "5s", "ago"]
    assert max(len(ln) for ln in text.splitlines()) <= 100


def test_no_snakemake_lock_means_nothing_runs(tmp_path, jobs):
    now = float(int(time.time()))  # whole seconds, as the log's time stamps
    train = _tree(tmp_path, jobs, now)
    (tmp_path / ".snakemake" / "locks" / "0.input.lock").unlink()
    states = build_status.assess(jobs, tmp_path, now=now)
    assert next(j for j in states if j.name == train[1].name).state == "stopped"
    assert "no Snakemake is running here" in build_status.render(states, "", tmp_path, now)


def test_a_resumed_job_shows_its_cell_and_epoch_before_its_next_epoch(tmp_path, jobs):
    now = float(int(time.time()))  # whole seconds, as the log's time stamps
    train = _tree(tmp_path, jobs, now)
    with open(tmp_path / train[1].log, "a") as f:
        f.write(f"{_stamp(now)} INFO resuming cell 2/8 loss-cce from epoch 6 of 10\n")
    info = build_status.assess(jobs, tmp_path, now=now)[jobs.index(train[1])].info
    assert (info["cell"], info["cells"], info["epoch"], info["epochs"]) == (2, 8, 6, 10)
    assert "eta_s" not in info


def test_the_command_in_a_build_directory(workdir, jobs):
    now = float(int(time.time()))  # whole seconds, as the log's time stamps
    train = _tree(workdir, jobs, now)
    res = subprocess.run([str(MEMREPRO), "status"], cwd=workdir, capture_output=True,
                         text=True, timeout=hang_limit(40))
    assert res.returncode == 0, res.stderr
    assert "1 running" in res.stdout and "Snakemake is running here" in res.stdout
    row = next(ln for ln in res.stdout.splitlines() if ln.startswith(train[1].name))
    assert " running " in row and " 3/10 " in row
    quick = subprocess.run([str(MEMREPRO), "status", "-d", str(workdir), "--config",
                            "scale=quick"], capture_output=True, text=True,
                           timeout=hang_limit(40))
    assert quick.returncode == 0 and "(scale quick)" in quick.stdout, quick.stderr


def test_log_paths_mirror_the_rules(jobs):
    """build_status names each job's log as the rules do: both take the patterns from
    memrepro.paths, and every rule's log is one of them."""
    rules = "".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    for pattern in ("DOWNLOAD_LOG,", "PREPARE_LOG,", "NOISE_LOG,", "TRAIN_LOG.format(group=",
                    "FIGURE_LOG,", "SUMMARY_LOG,", "CLAIMS_LOG,"):
        assert pattern in rules
    assert '"logs/' not in rules  # no log path written in a rule file itself
    noise = next(j for j in jobs if j.kind == "noise")
    ds, setting, seed = Path(noise.outputs[0]).with_suffix("").parts[-3:]
    assert noise.log == f"logs/noise/{ds}/{setting}_{seed}.log"
