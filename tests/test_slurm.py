"""A smoke build through a real single-node SLURM cluster (profiles/slurm).

The test starts munged, slurmctld and slurmd from the Debian packages (slurm-wlm, munge) on
localhost, everything in a temporary directory, and runs `snakemake --workflow-profile
profiles/slurm figures` on a small plan (AR Fig. 7 and PS's symmetry table: every
kind of job, data to claims, two of them training jobs): every job goes through sbatch,
training jobs ask for a GPU (two stand-in GPUs backed by /dev/null and /dev/zero), the others
for none. The whole smoke DAG proves nothing more and took 925 s on 2 cores (96 jobs):
MEMREPRO_SLURM_FIGURES=all builds it. See docs/cluster.md.

CI installs the packages and sets MEMREPRO_REQUIRE_SLURM=1: a missing tool or a cluster that
does not come up then fails the test instead of skipping it.

Needs root (slurmd starts the jobs) and a free /etc/slurm/slurm.conf: the executor plugin's
job step drops SLURM_CONF before its srun, so the config must be found at the default path;
the test links it there and removes the link at the end. It never replaces a real file.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from conftest import small_params, snakemake

from memrepro.captions import figure_stem
from memrepro.config import load_config, resolve

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "scontrol", "sinfo")
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")
PROFILE = "profiles/slurm"
N_GPUS = 2  # two stand-in GPUs: two training jobs can run side by side on the two cores
# printed into every job's log by the TaskProlog below: what the job itself saw
PROLOG_TAG = "memrepro-slurm-test:"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path, n=20):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return f"({path} not written)"


def _wait(check, timeout, step=0.5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(step)
    return False


def _node_line():
    """slurmd -C's description of this machine, with the stand-in GPUs added."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, timeout=30)
    line = next((x for x in out.stdout.splitlines() if x.startswith("NodeName=")), None)
    if out.returncode != 0 or line is None:
        _skip(f"`slurmd -C` did not describe this node: {out.stderr.strip()}")
    name = line.split()[0].split("=", 1)[1]
    return name, f"{line} NodeAddr=127.0.0.1 Gres=gpu:{N_GPUS} State=UNKNOWN"


def _write_config(d, node, node_line):
    (d / "task_prolog.sh").write_text(
        "#!/bin/sh\n"
        f'echo "print {PROLOG_TAG} job=$SLURM_JOB_ID '
        'CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-unset}"\n'
    )
    (d / "task_prolog.sh").chmod(0o755)
    devices = ["/dev/null", "/dev/zero"][:N_GPUS]
    (d / "gres.conf").write_text(
        "".join(f"NodeName={node} Name=gpu File={dev}\n" for dev in devices)
    )
    settings = {
        "ClusterName": "memrepro-test",
        "SlurmctldHost": f"{node}(127.0.0.1)",
        "SlurmctldPort": _free_port(),
        "SlurmdPort": _free_port(),
        "SlurmUser": "root",
        "SlurmdUser": "root",
        "AuthType": "auth/munge",
        "CredType": "cred/munge",
        "AuthInfo": f"socket={d}/munge/munge.socket.2",
        "StateSaveLocation": d / "state",
        "SlurmdSpoolDir": d / "spool",
        "SlurmctldPidFile": d / "slurmctld.pid",
        "SlurmdPidFile": d / "slurmd.pid",
        "SlurmctldLogFile": d / "slurmctld.log",
        "SlurmdLogFile": d / "slurmd.log",
        "ProctrackType": "proctrack/linuxproc",
        "TaskPlugin": "task/none",
        "TaskProlog": d / "task_prolog.sh",
        "SelectType": "select/cons_tres",
        "SelectTypeParameters": "CR_Core_Memory",
        "AccountingStorageType": "accounting_storage/none",
        "JobAcctGatherType": "jobacct_gather/none",
        "MpiDefault": "none",
        "ReturnToService": "2",
        # finished jobs stay visible to squeue/scontrol for an hour: the profile's
        # squeue status checks and this test's evidence rely on it
        "MinJobAge": "3600",
        "GresTypes": "gpu",
    }
    lines = [f"{k}={v}" for k, v in settings.items()]
    lines += [node_line, f"PartitionName=test Nodes={node} Default=YES MaxTime=INFINITE State=UP"]
    conf = d / "slurm.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def _stop(procs):
    """SIGTERM each daemon we started (by PID), then SIGKILL what is left after 10 s."""
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in reversed(procs):
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _skip(why):
    """Skip, or fail where CI asks for the real thing (MEMREPRO_REQUIRE_SLURM=1)."""
    if os.environ.get("MEMREPRO_REQUIRE_SLURM") == "1":
        pytest.fail(f"MEMREPRO_REQUIRE_SLURM=1 but {why}")
    pytest.skip(why)


@pytest.fixture
def slurm_cluster():
    """munged + slurmctld + slurmd on localhost; yields the path of slurm.conf."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        _skip(f"SLURM/munge not installed (missing {', '.join(missing)}); "
                    "see docs/cluster.md: apt-get install -y slurm-wlm munge")
    if os.geteuid() != 0:
        _skip("needs root: slurmd runs as root here and starts the jobs")
    if DEFAULT_CONF.is_symlink() and not DEFAULT_CONF.exists():
        DEFAULT_CONF.unlink()  # a dangling link left by an interrupted run of this test
    if DEFAULT_CONF.exists() or DEFAULT_CONF.is_symlink():
        _skip(f"{DEFAULT_CONF} exists (a real cluster or another run of this test); "
              "refusing to replace it")

    d = Path(tempfile.mkdtemp(prefix="memrepro-slurm-"))
    d.chmod(0o755)  # munged wants its socket directory searchable by everyone
    for sub in ("munge", "state", "spool"):
        (d / sub).mkdir()
    (d / "munge").chmod(0o755)
    key = d / "munge" / "munge.key"
    key.write_bytes(os.urandom(128))  # a key of our own: only our munged reads it
    key.chmod(0o600)
    node, node_line = _node_line()
    conf = _write_config(d, node, node_line)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    procs, made_etc, linked = [], False, False
    logs = {}
    try:
        def start(name, args):
            logs[name] = d / f"{name}.out"
            with open(logs[name], "w") as out:
                procs.append(subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                              env=env, start_new_session=True))

        sock = d / "munge" / "munge.socket.2"
        start("munged", ["munged", "-F", "-S", str(sock), f"--key-file={key}",
                         f"--pid-file={d}/munge/munged.pid", f"--seed-file={d}/munge/seed",
                         f"--log-file={d}/munge/munged.log"])
        if not _wait(sock.exists, 15):
            _skip(f"munged did not start:\n{_tail(logs['munged'])}\n"
                        f"{_tail(d / 'munge' / 'munged.log')}")

        if not DEFAULT_CONF.parent.exists():
            DEFAULT_CONF.parent.mkdir(parents=True)
            made_etc = True
        DEFAULT_CONF.symlink_to(conf)
        linked = True

        start("slurmctld", ["slurmctld", "-D", "-c", "-f", str(conf)])
        start("slurmd", ["slurmd", "-D", "-f", str(conf)])

        def idle():
            if any(p.poll() is not None for p in procs):
                return True  # a daemon died: stop waiting
            res = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True,
                                 text=True, env=env, timeout=30)
            return res.stdout.strip() == "idle"

        if not _wait(idle, 60) or any(p.poll() is not None for p in procs):
            _skip("SLURM did not come up (node not idle within 60 s):\n"
                        + "\n".join(f"--- {n}\n{_tail(p)}" for n, p in logs.items())
                        + f"\n--- slurmctld.log\n{_tail(d / 'slurmctld.log')}"
                        + f"\n--- slurmd.log\n{_tail(d / 'slurmd.log')}")
        yield conf
    finally:
        if procs and procs[0].poll() is None and len(procs) == 3:
            # cancel whatever is still queued or running before the daemons go
            subprocess.run(["scancel", "--full", "--user", "root"], env=env,
                           capture_output=True, timeout=30)
            _wait(lambda: not subprocess.run(["squeue", "-h", "-t", "PD,R,CG"], env=env,
                                             capture_output=True, text=True,
                                             timeout=30).stdout.strip(), 30)
        _stop(procs)
        if linked and DEFAULT_CONF.is_symlink() and DEFAULT_CONF.resolve() == conf.resolve():
            DEFAULT_CONF.unlink()
        if made_etc:
            try:
                DEFAULT_CONF.parent.rmdir()
            except OSError:
                pass
        shutil.rmtree(d, ignore_errors=True)


def _jobs(conf):
    """Every job slurmctld knows about, as {key: value} (scontrol's one-line format)."""
    out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True,
                         env={**os.environ, "SLURM_CONF": str(conf)}, timeout=30)
    assert out.returncode == 0, out.stderr
    return [dict(re.findall(r"(\S+?)=(\S*)", line)) for line in out.stdout.splitlines()
            if line.startswith("JobId=")]


def _job_stats(text):
    """Snakemake's 'Job stats' table: {rule: count}."""
    counts, inside = {}, False
    for line in text.splitlines():
        if line.startswith("Job stats:"):
            inside, counts = True, {}
            continue
        if inside:
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                if parts[0] == "total":
                    inside = False
                else:
                    counts[parts[0]] = int(parts[1])
    return counts


def test_smoke_build_through_slurm(slurm_cluster, workdir, monkeypatch):
    conf = slurm_cluster
    if os.environ.get("MEMREPRO_SLURM_FIGURES", "small") != "all":
        small_params(workdir / "params.yaml")
    # train_gpus() (workflow/rules/common.smk) asks for a GPU when it sees one; this machine
    # has none, so tell it about the cluster's (stand-in) GPU: training jobs then hold gpu=1
    monkeypatch.setenv("MEMREPRO_GPU_COUNT", "1")
    t0 = time.time()
    res = snakemake(workdir, "--workflow-profile", PROFILE, "--jobs", "4",
                    "--slurm-init-seconds-before-status-checks", "5",
                    "--slurm-keep-successful-logs", "--slurm-no-account",
                    "figures", timeout=2400)
    elapsed = time.time() - t0
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-5000:]
    assert "workflow specific profile profiles/slurm" in log

    # every figure file was written
    plan = resolve(load_config(workdir))
    for fid, spec in plan.figures.items():
        stem = workdir / "results" / "figures" / figure_stem(fid, spec, plan)
        exts = ["csv", "md"] if spec["kind"] == "symmetry" else ["pdf", "png", "caption.txt"]
        for ext in exts:
            path = stem.parent / f"{stem.name}.{ext}"
            assert path.is_file() and path.stat().st_size > 0, f"{path} missing or empty"

    # every job that does work was an sbatch job of this run: slurmctld knows one completed
    # job per Snakemake job, named by rule (the plugin's --comment), in this working directory
    stats = _job_stats(log)
    assert stats, "no 'Job stats' table in Snakemake's output"
    jobs = [j for j in _jobs(conf) if j.get("WorkDir") == str(workdir)]
    per_rule = {}
    for j in jobs:
        rule = re.sub(r"_wildcards_.*$", "", j["Comment"]).removeprefix("rule_")
        per_rule[rule] = per_rule.get(rule, 0) + 1
        assert j["JobState"] == "COMPLETED" and j["ExitCode"] == "0:0", j
    # the target rule `figures` has no action: Snakemake finishes it without a job
    expected = {rule: n for rule, n in stats.items() if rule != "figures"}
    assert per_rule == expected, (per_rule, expected)
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", log)
    assert sorted(submitted) == sorted(j["JobId"] for j in jobs)

    # training jobs asked for a GPU (--gpus=1) and got one; the others asked for none
    train = [j for j in jobs if j["Comment"].startswith("rule_train_")]
    assert len(train) == len(plan.groups) > 0
    for j in jobs:
        wants_gpu = "gres:gpu:1" in j.get("TresPerJob", "")
        assert wants_gpu == (j in train), (j["Comment"], j.get("TresPerJob"))
    # ... as the jobs themselves saw it (the TaskProlog wrote into each job's own log)
    for j in jobs:
        text = Path(j["StdOut"]).read_text()
        seen = re.search(rf"{PROLOG_TAG} job={j['JobId']} CUDA_VISIBLE_DEVICES=(\S+)", text)
        assert seen, f"no prolog line in {j['StdOut']}"
        if j in train:
            assert seen.group(1) in {str(i) for i in range(N_GPUS)}, (j["Comment"], seen[0])
        else:
            assert seen.group(1) == "unset", (j["Comment"], seen[0])
    print(f"smoke build through SLURM: {len(jobs)} sbatch jobs in {elapsed:.0f} s")
