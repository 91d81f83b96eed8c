"""One GPU per local GPU job: device lists, exclusive claims across processes, and the
workflow profile capping concurrent GPU jobs at the (simulated) GPU count."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT, snakemake

from memrepro.pipeline import gpuslots

CLAIM = ("import os, sys, time; from memrepro.pipeline.gpuslots import claim_gpu; "
         "d = claim_gpu(timeout=float(sys.argv[1])); "
         "print(d, os.environ.get('CUDA_VISIBLE_DEVICES'), flush=True); "
         "time.sleep(float(sys.argv[2]))")


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """A simulated 2-GPU machine with its own lock directory."""
    env = {"MEMREPRO_GPU_COUNT": "2", "MEMREPRO_GPU_LOCK_DIR": str(tmp_path / "locks")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID"):
        monkeypatch.delenv(k, raising=False)
    return {**os.environ, **env}


def _claim(env, timeout=5.0, hold=0.0):
    return subprocess.Popen([sys.executable, "-c", CLAIM, str(timeout), str(hold)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_visible_devices(monkeypatch):
    monkeypatch.delenv("MEMREPRO_GPU_COUNT", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert gpuslots.visible_devices() == ["2", "3"]
    for hidden in ("", "-1"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
        assert gpuslots.gpu_count() == 0
    monkeypatch.setenv("MEMREPRO_GPU_COUNT", "4")
    assert gpuslots.visible_devices() == ["0", "1", "2", "3"]


def test_claims_are_exclusive_and_freed_when_a_job_ends(machine):
    a, b = _claim(machine, hold=3), _claim(machine, hold=3)
    first = {a.stdout.readline().split()[0], b.stdout.readline().split()[0]}
    assert first == {"0", "1"}  # two jobs, two different devices
    c = _claim(machine, timeout=0.5)  # a third job finds every device taken
    _, err = c.communicate(timeout=30)
    assert c.returncode != 0 and "no free GPU among ['0', '1']" in err
    a.kill()  # a crashed job frees its device (the kernel drops its lock)
    a.wait()
    d = _claim(machine, timeout=5)
    out, _ = d.communicate(timeout=30)
    dev, visible = out.split()
    assert dev == visible and dev in first  # the freed device, and it is the only one seen
    b.kill()
    b.wait()


def test_nothing_is_claimed_under_slurm_or_without_gpus(machine, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    assert gpuslots.claim_gpu() is None and "CUDA_VISIBLE_DEVICES" not in os.environ
    monkeypatch.delenv("SLURM_JOB_ID")
    monkeypatch.setenv("MEMREPRO_GPU_COUNT", "0")
    assert gpuslots.claim_gpu() is None


@pytest.mark.slow
def test_workflow_profile_caps_gpu_jobs_and_each_sees_its_own_device(tmp_path, machine):
    """Six GPU jobs on a simulated 2-GPU machine, through the real workflow profile."""
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    (tmp_path / "claim.py").write_text(CLAIM.replace("; ", "\n"))
    (tmp_path / "Snakefile").write_text(textwrap.dedent(f"""
        rule all:
            input: expand("out/{{i}}.txt", i=range(6))
        rule gpu_job:
            output: "out/{{i}}.txt"
            resources: gpu=1
            shell: "{sys.executable} claim.py 60 1.5 > {{output}}.tmp; "
                   "date +%s.%N >> {{output}}.tmp; mv {{output}}.tmp {{output}}"
    """))
    res = snakemake(tmp_path, "--cores", "6")  # 6 cores: only the GPU cap limits the jobs
    assert res.returncode == 0, res.stderr[-2000:]
    assert 'Resource("gpu", 2)' in res.stdout + res.stderr  # cap = the simulated count
    jobs = []
    for f in sorted((tmp_path / "out").iterdir()):
        dev_line, end = f.read_text().splitlines()
        dev, visible = dev_line.split()
        assert dev == visible and dev in {"0", "1"}
        jobs.append((float(end) - 1.5, float(end), dev))
    for s1, e1, d1 in jobs:  # jobs that overlap in time hold different devices
        overlapping = [d for s, e, d in jobs if s < e1 and s1 < e]
        assert len(overlapping) <= 2 and overlapping.count(d1) == 1
