"""Recovery without flags (issue 14): after SIGINT or SIGKILL to Snakemake alone, a plain
rerun finishes with histories byte-identical to an uninterrupted run, resuming rather than
retraining; the job of a killed Snakemake stops by itself; a live Snakemake still locks out
a second one. Plus the pieces: the watchdog, stale locks, the store of finished outputs."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, load_params, snakemake, write_params

from memrepro.device_data import to_device
from memrepro.engine import GroupTrainer, train_cell
from memrepro.noise import apply_noise
from memrepro.pipeline import resume, watchdog

EXP, CELL, EPOCHS = "ar_mnist_randx", "loss-cce_eta-0.4_seed-0", 400
RUN = Path("results/runs") / EXP / CELL
TARGET = str(RUN / "history.csv")
PROBES = [RUN / "probes" / f"per_example_epoch-{e}.npz" for e in (0, 1, 350)]
COMPARED = [RUN / "history.csv", *PROBES]


def small_workflow(dest: Path, epochs: int = EPOCHS) -> Path:
    """A copy of the workflow with one small AR MLP experiment (one cell, one job that trains
    for a few seconds at smoke scale: checkpoints every 5 epochs, probe files at 0, 1, 350)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "params.yaml"):
        shutil.copy(ROOT / name, dest / name)
    for name in ("workflow", "envs", "profiles"):
        shutil.copytree(ROOT / name, dest / name)
    params = load_params()
    exp = params["experiments"][EXP]
    exp["noise"]["rates"] = [0.4]
    exp["probes"]["per_example"] = {"epochs": [0, 1, 350]}
    params["experiments"], params["figures"], params["partitions"] = {EXP: exp}, {}, {}
    for overlay in params["scales"].values():
        if "experiments" in overlay:
            overlay["experiments"] = {k: v for k, v in overlay["experiments"].items() if k == EXP}
        if "figures" in overlay:
            overlay["figures"] = {}
    params["scales"]["smoke"]["experiments"][EXP]["train"]["epochs"] = epochs
    # every scale's overlay is checked: the probe epochs must lie within each one's epochs
    params["scales"]["quick"]["experiments"][EXP]["train"]["epochs"] = max(epochs, 350)
    write_params(dest / "params.yaml", params)
    return dest


def start(wd: Path) -> subprocess.Popen:
    """Snakemake in its own process group (so a signal reaches it alone), output to a file."""
    exe = Path(sys.executable).with_name("snakemake")
    out = open(wd / "snakemake.out", "w")  # noqa: SIM115 - closed with the process
    # SIGINT back to its default first: a shell that runs the tests in the background (nohup,
    # `&`, some CI runners) starts them with SIGINT ignored, and Python then never turns it
    # into KeyboardInterrupt, in Snakemake or in its jobs
    return subprocess.Popen([str(exe), "--cores", "all", TARGET], cwd=wd, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=_default_sigint)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_training(wd: Path, proc: subprocess.Popen, timeout: float = 300) -> int:
    """Wait until the training job has written its first checkpoint; return the job's pid."""
    end = time.monotonic() + timeout
    while not (wd / RUN / "checkpoint.pt").exists():
        assert proc.poll() is None, (wd / "snakemake.out").read_text()[-3000:]
        assert time.monotonic() < end, "the training job did not start"
        time.sleep(0.05)
    pids = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                          text=True).stdout.split()
    assert len(pids) == 1, pids
    return int(pids[0])


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def rerun(wd: Path) -> str:
    res = snakemake(wd, "--cores", "all", TARGET)
    assert res.returncode == 0, res.stderr[-4000:]
    return res.stderr


def state_of(path: Path) -> dict:
    return torch.load(path, weights_only=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    wd = small_workflow(tmp_path_factory.mktemp("uninterrupted"))
    rerun(wd)
    return {f: (wd / f).read_bytes() for f in COMPARED}, state_of(wd / RUN / "model.pt")


def assert_same_as(wd: Path, uninterrupted) -> None:
    files, model = uninterrupted
    for f, data in files.items():
        assert (wd / f).read_bytes() == data, f"{f} differs from the uninterrupted run's"
    got = state_of(wd / RUN / "model.pt")
    assert got.keys() == model.keys() and all(torch.equal(got[k], model[k]) for k in got)
    assert not (wd / RUN / "checkpoint.pt").exists()


# --- Snakemake interrupted for real -------------------------------------------------------

@pytest.mark.slow
def test_sigint_to_snakemake_then_a_plain_rerun_restores_the_finished_group(tmp_path,
                                                                           uninterrupted):
    wd = small_workflow(tmp_path / "wd")
    proc = start(wd)
    wait_for_training(wd, proc)
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=300) != 0
    # Snakemake waited for its job to finish, then exited without recording it
    assert (wd / TARGET).exists() and list((wd / ".snakemake" / "incomplete").iterdir())
    model = (wd / RUN / "model.pt").stat().st_ino
    err = rerun(wd)  # plain: no --rerun-incomplete
    assert_same_as(wd, uninterrupted)
    assert (wd / RUN / "model.pt").stat().st_ino == model, "retrained instead of restored"
    assert "nothing trained" in (wd / "logs/train" / EXP / "all.log").read_text(), err
    # once Snakemake has recorded the outputs, the next start forgets what was kept
    assert "Nothing to be done" in rerun(wd)
    assert not list((wd / resume.STORES).rglob("*.pt"))


@pytest.mark.slow
def test_sigkill_to_snakemake_stops_its_job_and_a_plain_rerun_resumes(tmp_path, uninterrupted):
    wd = small_workflow(tmp_path / "wd")
    proc = start(wd)
    job = wait_for_training(wd, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    end = time.monotonic() + 60
    while running(job):  # the orphaned job notices, checkpoints and exits by itself
        assert time.monotonic() < end, "the orphaned training job runs on"
        time.sleep(0.1)
    assert not (wd / TARGET).exists(), "the job trained to the end instead of stopping"
    assert 0 < state_of(wd / RUN / "checkpoint.pt")["epoch"] < EPOCHS
    assert list((wd / ".snakemake" / "locks").iterdir())  # the killed Snakemake's locks
    first_probe = (wd / PROBES[0]).stat().st_ino
    err = rerun(wd)  # plain: no --unlock, no --rerun-incomplete
    assert "removed the locks" in err
    assert_same_as(wd, uninterrupted)
    # the epoch-0 probe file is the one written before the kill: resumed, not restarted
    assert (wd / PROBES[0]).stat().st_ino == first_probe


@pytest.mark.slow
def test_ctrl_c_then_a_plain_rerun_resumes_with_the_probe_files_written_before(tmp_path,
                                                                             uninterrupted):
    wd = small_workflow(tmp_path / "wd")
    proc = start(wd)
    wait_for_training(wd, proc)
    os.killpg(proc.pid, signal.SIGINT)  # the terminal's Ctrl-C: Snakemake and its job
    assert proc.wait(timeout=300) != 0
    assert not (wd / TARGET).exists() and (wd / PROBES[0]).exists()
    first_probe = (wd / PROBES[0]).stat().st_ino
    rerun(wd)  # Snakemake deletes the probe files; the resumed job gets them back
    assert_same_as(wd, uninterrupted)
    assert (wd / PROBES[0]).stat().st_ino == first_probe


@pytest.mark.slow
def test_a_running_snakemake_still_locks_out_a_second_one(tmp_path):
    wd = small_workflow(tmp_path / "wd", epochs=20_000)  # trains for minutes
    first = start(wd)
    try:
        job = wait_for_training(wd, first)
        second = snakemake(wd, "--cores", "all", TARGET)
        assert second.returncode != 0 and "cannot be locked" in second.stderr, second.stderr
        assert first.poll() is None and running(job)
        # rerun-incomplete did not delete the first run's outputs: the lock check came first
        assert (wd / PROBES[0]).exists() and (wd / RUN / "checkpoint.pt").exists()
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=60)


# --- the watchdog --------------------------------------------------------------------------

CHILD = """
import sys, time
from memrepro.pipeline import watchdog
watchdog.watch_snakemake(interval=0.1)
print("watching", flush=True)
end = time.monotonic() + 60
while not watchdog.stop_requested() and time.monotonic() < end:
    time.sleep(0.05)
open(sys.argv[1], "w").write("stopped" if watchdog.stop_requested() else "timeout")
"""

PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], cwd=sys.argv[3])
print(child.pid, flush=True)
time.sleep(600)
"""


def test_the_watchdog_asks_to_stop_when_its_parent_dies(tmp_path):
    flag = tmp_path / "flag"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, CHILD, str(flag), str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    end = time.monotonic() + 60
    while not list((tmp_path / watchdog.REGISTRY).glob(str(child))):  # registered: watching
        assert time.monotonic() < end
        time.sleep(0.05)
    assert not flag.exists()
    parent.kill()
    parent.wait()
    while not flag.exists():
        assert time.monotonic() < end, "the child did not notice its parent's death"
        time.sleep(0.05)
    assert flag.read_text() == "stopped"
    while running(child):
        time.sleep(0.05)
    assert not list((tmp_path / watchdog.REGISTRY).glob(str(child)))  # unregistered at exit


def test_liveness_tells_a_dead_and_a_reused_pid():
    me = os.getpid()
    assert watchdog.alive(me) and watchdog.alive(me, watchdog.start_token(me))
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert not watchdog.alive(dead.pid)
    if watchdog.start_token(me) is not None:  # Linux: a pid now used by another process
        assert not watchdog.alive(me, "not-my-start-time")
    assert watchdog.runs_snakemake(["/x/bin/python3", "/x/bin/snakemake", "--cores", "all"])
    assert watchdog.runs_snakemake(["python", "-m", "snakemake", "-n"])
    assert not watchdog.runs_snakemake(["python3", "/w/.snakemake/scripts/tmp1.train.py"])


def _entry(root: Path, pid: int, role: str, snakemake_pid: int | None = None) -> None:
    reg = root / watchdog.REGISTRY
    reg.mkdir(parents=True, exist_ok=True)
    (reg / str(pid)).write_text(json.dumps({
        "role": role, "pid": pid, "start": watchdog.start_token(pid),
        "host": socket.gethostname(),
        "snakemake": [snakemake_pid, None] if snakemake_pid else None}))


def _locked(root: Path) -> Path:
    locks = root / watchdog.LOCKS
    locks.mkdir(parents=True, exist_ok=True)
    (locks / "0.output.lock").write_text("results/x\n")
    return locks


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_stale_locks_go_only_when_no_registered_process_lives(tmp_path):
    locks = _locked(tmp_path)
    with subprocess.Popen(["sleep", "30"]) as other:
        _entry(tmp_path, other.pid, "snakemake")  # another Snakemake, alive: keeps its locks
        assert not watchdog.clear_stale_locks(tmp_path, wait_s=0)
        assert (locks / "0.output.lock").exists()
        other.kill()
    _entry(tmp_path, _dead_pid(), "snakemake")  # killed: its locks are stale
    assert watchdog.clear_stale_locks(tmp_path, wait_s=0)
    assert not locks.exists()
    assert [p.name for p in (tmp_path / watchdog.REGISTRY).iterdir()] == [str(os.getpid())]


def test_the_job_of_a_killed_snakemake_is_waited_for(tmp_path):
    locks = _locked(tmp_path)
    job = subprocess.Popen(["sleep", "1.5"])
    threading.Thread(target=job.wait, daemon=True).start()  # reaped when it ends
    _entry(tmp_path, job.pid, "job", snakemake_pid=_dead_pid())
    t0 = time.monotonic()
    assert watchdog.clear_stale_locks(tmp_path, wait_s=60, poll_s=0.05)
    assert time.monotonic() - t0 > 0.5 and not locks.exists()


# --- the engine: stopping, the store of finished outputs -----------------------------------

def _toy():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 160)
    x = (rng.integers(0, 60, (160, 1, 6, 6)) + 40 * y[:, None, None, None]).astype(np.uint8)
    r = apply_noise("symmetric_other", y, 4, 0.4, 0)
    return to_device({"x_train": x, "y_train": y, "x_test": x[:32], "y_test": y[:32]},
                     {"labels": r.labels, "corrupted": r.corrupted}, 4, torch.device("cpu"))


def _spec(epochs=6):
    return {"model": {"name": "mlp", "hidden": [16]}, "loss": {"name": "cce"}, "seed": 1,
            "slug": "toy", "probes": {"per_example": {"epochs": [0, 2, 5]}},
            "train": {"epochs": epochs, "batch_size": 32, "checkpoint_every": 3,
                      "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9}}}


@pytest.fixture
def fresh_watchdog(monkeypatch):
    monkeypatch.setattr(watchdog, "_stop", threading.Event())
    monkeypatch.setattr(watchdog, "_reason", [])


def _bytes(run: Path) -> dict:
    """history.csv and the probe files, byte for byte."""
    return {p.relative_to(run): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and ".resume" not in p.parts and p.suffix in (".csv", ".npz")}


def _same_model(a: Path, b: Path) -> bool:
    sa, sb = state_of(a / "model.pt"), state_of(b / "model.pt")
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_stop_request_checkpoints_then_exits_and_the_rerun_resumes(tmp_path, fresh_watchdog):
    torch.set_num_threads(1)
    full = train_cell(_spec(), _toy(), tmp_path / "full", progress=False)
    watchdog.request_stop("test")
    with pytest.raises(watchdog.Stopped, match="stopped after epoch 1"):
        train_cell(_spec(), _toy(), tmp_path / "cut", progress=False)
    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["epoch"] == 1
    watchdog._stop.clear()
    (tmp_path / "cut" / "probes" / "per_example_epoch-0.npz").unlink()  # as Snakemake does
    resumed = train_cell(_spec(), _toy(), tmp_path / "cut", progress=False)
    assert len(resumed) == len(full) == 7
    assert len(_bytes(tmp_path / "cut")) == 4  # history.csv and the probes of epochs 0, 2, 5
    assert _bytes(tmp_path / "cut") == _bytes(tmp_path / "full")
    assert _same_model(tmp_path / "cut", tmp_path / "full")


def test_a_finished_cell_whose_outputs_were_deleted_is_restored_not_retrained(tmp_path,
                                                                            monkeypatch):
    out = tmp_path / "run"
    first = train_cell(_spec(), _toy(), out, progress=False)
    files, inode = _bytes(out), (out / "model.pt").stat().st_ino
    for f in [*files, "model.pt", "run.json"]:  # Snakemake deletes an unrecorded job's outputs
        (out / f).unlink()
    with monkeypatch.context() as m:
        m.setattr(GroupTrainer, "train_epoch", lambda *a: pytest.fail("trained again"))
        again = GroupTrainer([_spec()], [_toy()]).run([out], progress=False)[0]
    assert _bytes(out) == files and (out / "model.pt").stat().st_ino == inode
    assert (out / "run.json").exists()
    assert json.dumps(again) == json.dumps(first)  # the same rows, NaN where they were
    # other settings: the store is stale and the cell trains again
    changed = _spec(epochs=4)
    (out / "history.csv").unlink()
    assert len(train_cell(changed, _toy(), out, progress=False)) == 5


def test_sweep_forgets_what_snakemake_has_recorded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recorded, pending = (resume.RUNS / "e" / c for c in ("recorded", "pending"))
    for run in (recorded, pending):
        (run / "probes").mkdir(parents=True)
        for name in ("history.csv", "model.pt", "run.json", "probes/p_epoch-0.npz"):
            (run / name).write_text(name)
        resume.finish(run, "fp")
    marker = resume.incomplete_marker(pending / "history.csv")
    marker.parent.mkdir(parents=True)
    marker.write_text('{"external_jobid": null}')
    failed = resume.RUNS / "e" / "failed"  # a job that failed after training: its outputs
    failed.mkdir()                          # deleted, its marker removed (its record kept)
    for name in ("history.csv", "model.pt", "run.json"):
        (failed / name).write_text(name)
    resume.finish(failed, "fp")
    for name in ("history.csv", "model.pt", "run.json"):
        (failed / name).unlink()
    assert resume.forget_recorded() == 1
    assert not resume.store_dir(recorded).exists()
    assert (resume.store_dir(pending) / "files" / "probes" / "p_epoch-0.npz").exists()
    assert resume.finished([failed], ["fp"]) is not None  # restored for the rerun
    assert (failed / "model.pt").read_text() == "model.pt"


def test_the_incomplete_marker_path_is_snakemakes():
    from snakemake.persistence.file import FilePersistence

    fp = FilePersistence.__new__(FilePersistence)
    fp._max_len = 255
    for name in ("results/runs/e/c/history.csv", "results/runs/" + "x" * 300 + "/history.csv"):
        want = fp._record_path(".snakemake/incomplete", name)
        assert str(resume.incomplete_marker(name)) == want


# --- a job that fails after training; a corrupt checkpoint (issue 19) ----------------------

FAIL_AFTER_TRAINING = '\nraise RuntimeError("memrepro test: the job fails after training")\n'


def _train_log(wd: Path) -> str:
    return (wd / "logs/train" / EXP / "all.log").read_text()


@pytest.mark.slow
def test_a_job_that_fails_after_training_keeps_its_state_and_the_rerun_trains_nothing(
        tmp_path, uninterrupted):
    wd = small_workflow(tmp_path / "wd")
    script = wd / "workflow/scripts/train.py"
    good = script.read_text()
    script.write_text(good + FAIL_AFTER_TRAINING)  # as a missing output or a late bug would
    res = snakemake(wd, "--cores", "all", TARGET)
    assert res.returncode != 0 and "fails after training" in _train_log(wd), res.stderr[-3000:]
    assert not (wd / TARGET).exists()  # Snakemake deleted the failed job's outputs
    script.write_text(good)  # the fix
    err = rerun(wd)  # plain
    assert_same_as(wd, uninterrupted)
    assert "nothing trained" in _train_log(wd).split("===== attempt")[-1], err
    assert "Nothing to be done" in rerun(wd)  # recorded now: the kept state is forgotten
    assert not resume.store_dir(wd / RUN).exists() and not (wd / resume.STORES / EXP).exists()


def _corrupt(path: Path) -> bytes:
    data = path.read_bytes()
    bad = data[: len(data) // 2]  # truncated, as a crash before the data reached the disk
    path.write_bytes(bad)
    return bad


def test_a_corrupt_checkpoint_is_set_aside_named_and_the_cell_trains_from_scratch(
        tmp_path, caplog):
    torch.set_num_threads(1)
    full = train_cell(_spec(), _toy(), tmp_path / "full", progress=False)
    cut = tmp_path / "cut"
    train_cell(_spec(), _toy(), cut, stop_after=4, progress=False)
    bad = _corrupt(cut / "checkpoint.pt")
    with caplog.at_level("WARNING", logger="memrepro"):
        again = train_cell(_spec(), _toy(), cut, progress=False)
    assert str(cut / "checkpoint.pt") in caplog.text and "cannot be read" in caplog.text
    assert (cut / "checkpoint.pt.corrupt-1").read_bytes() == bad  # set aside, not lost
    assert len(again) == len(full)
    assert _bytes(cut) == _bytes(tmp_path / "full") and _same_model(cut, tmp_path / "full")
    assert "checkpoint.pt.corrupt-1" not in {p.name for p in resume.store_dir(cut).rglob("*")}
    # a second corrupt one does not overwrite the first
    train_cell(_spec(), _toy(), tmp_path / "cut2", stop_after=4, progress=False)
    (tmp_path / "cut2" / "checkpoint.pt.corrupt-1").write_bytes(b"earlier")
    (tmp_path / "cut2" / "checkpoint.pt").write_bytes(b"\x00garbage")
    train_cell(_spec(), _toy(), tmp_path / "cut2", progress=False)
    assert (tmp_path / "cut2" / "checkpoint.pt.corrupt-1").read_bytes() == b"earlier"
    assert (tmp_path / "cut2" / "checkpoint.pt.corrupt-2").read_bytes() == b"\x00garbage"


@pytest.mark.slow
def test_a_plain_rerun_gets_past_a_corrupt_checkpoint(tmp_path, uninterrupted):
    wd = small_workflow(tmp_path / "wd")
    rerun(wd)
    (wd / TARGET).unlink()  # the job runs again, with nothing kept (as after a kill) ...
    shutil.rmtree(wd / resume.STORES)
    (wd / RUN / "checkpoint.pt").write_bytes(os.urandom(4096))  # ... and finds this
    rerun(wd)
    assert_same_as(wd, uninterrupted)
    log = _train_log(wd).split("===== attempt")[-1]
    assert "checkpoint.pt" in log and "cannot be read" in log, log
    assert (wd / RUN / "checkpoint.pt.corrupt-1").exists()


def test_a_failure_while_writing_the_outputs_resumes_from_the_last_epoch(tmp_path,
                                                                         monkeypatch):
    from memrepro import engine

    full = train_cell(_spec(), _toy(), tmp_path / "full", progress=False)
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(engine, "write_run_files", lambda *a: (_ for _ in ()).throw(OSError("disk")))
        with pytest.raises(OSError, match="disk"):
            train_cell(_spec(), _toy(), out, progress=False)
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 6
    with monkeypatch.context() as m:
        m.setattr(GroupTrainer, "train_epoch", lambda *a: pytest.fail("trained again"))
        again = train_cell(_spec(), _toy(), out, progress=False)
    assert json.dumps(again) == json.dumps(full)
    assert _bytes(out) == _bytes(tmp_path / "full") and _same_model(out, tmp_path / "full")
