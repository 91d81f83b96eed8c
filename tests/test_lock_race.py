"""Two Snakemakes in one directory at once (issue 19): neither dies with a traceback; each
runs, or refuses with Snakemake's own "Directory cannot be locked"; a Snakemake's end never
removes the locks of another that lives. Snakemake's file locks, as guarded by
memrepro.pipeline.snakemake_locks, and the stale-lock sweep (memrepro.pipeline.watchdog)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from snakemake.exceptions import LockException
from snakemake.persistence.file import FilePersistence
from test_recovery import small_workflow

from memrepro.pipeline import snakemake_locks, watchdog

# two tiny rules for the tests' copy of the workflow; the second waits, while its DAG is
# built (after its Snakemake has set up .snakemake/locks, before it locks), for a flag file
RULES = '''

rule lock_race_tiny:
    output: "tiny-{name}.txt"
    shell: "touch {output}"


def _lock_race_wait(wildcards):
    import time
    Path("waiting.flag").touch()
    end = time.monotonic() + 300
    while not Path("go.flag").exists() and time.monotonic() < end:
        time.sleep(0.05)
    return []


rule lock_race_paused:
    input: _lock_race_wait
    output: "paused.txt"
    shell: "touch {output}"
'''


@pytest.fixture(scope="module")
def racing_workflow(tmp_path_factory):
    wd = small_workflow(tmp_path_factory.mktemp("race") / "wd")
    with open(wd / "Snakefile", "a") as f:
        f.write(RULES)
    return wd


def _start(wd: Path, target: str) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("snakemake")
    return subprocess.Popen([str(exe), "--cores", "1", target], cwd=wd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _ran_or_refused_clearly(proc: subprocess.Popen) -> str:
    out = proc.communicate(timeout=600)[0]
    assert "Traceback" not in out and "FileNotFoundError" not in out, out[-3000:]
    assert proc.returncode == 0 or "Directory cannot be locked" in out, out[-3000:]
    return out


@pytest.mark.slow
def test_two_snakemakes_started_at_the_same_instant(racing_workflow):
    wd = racing_workflow
    for k in range(3):
        procs = [_start(wd, f"tiny-{k}{n}.txt") for n in "ab"]
        for p in procs:
            _ran_or_refused_clearly(p)
        assert not list((wd / watchdog.LOCKS).glob("*.lock"))  # nothing left locked


@pytest.mark.slow
def test_a_snakemake_whose_neighbour_ended_while_it_built_its_dag(racing_workflow):
    """The neighbour's end used to delete .snakemake/locks under it: FileNotFoundError
    .snakemake/locks/0.input.lock."""
    wd = racing_workflow
    for f in ("waiting.flag", "go.flag", "paused.txt"):
        (wd / f).unlink(missing_ok=True)
    slow = _start(wd, "paused.txt")
    end = time.monotonic() + 300
    while not (wd / "waiting.flag").exists():
        assert slow.poll() is None and time.monotonic() < end, slow.communicate()[0][-3000:]
        time.sleep(0.05)
    _ran_or_refused_clearly(_start(wd, "tiny-quick.txt"))  # locks, runs, unlocks
    (wd / "go.flag").touch()
    _ran_or_refused_clearly(slow)
    assert (wd / "paused.txt").exists()


# --- the guarded lock, unit by unit ---------------------------------------------------------

@pytest.fixture
def guarded(monkeypatch):
    """Snakemake's locking guarded in this process, for this test only."""
    for name in snakemake_locks.REPLACED:  # restored afterwards
        monkeypatch.setattr(FilePersistence, name, getattr(FilePersistence, name))
    assert snakemake_locks.guard()


def _persistence(root: Path, inputs=(), outputs=()) -> FilePersistence:
    """Snakemake's file persistence of ``root``, with only what its locking uses."""
    p = FilePersistence.__new__(FilePersistence)
    p._path = root / ".snakemake"
    p._lockdir = str(p._path / "locks")
    p._lockfile = {}
    os.makedirs(p._lockdir, exist_ok=True)
    p.all_inputfiles = lambda: list(inputs)
    p.all_outputfiles = lambda: list(outputs)
    return p


def test_a_lock_taken_after_a_neighbour_removed_the_lock_folder(tmp_path, guarded):
    later = _persistence(tmp_path, ["in"], ["later-out"])  # set up: .snakemake/locks exists
    with _persistence(tmp_path, ["in"], ["first-out"]).lock():
        pass  # a neighbour locks and ends
    with later.lock():
        assert (tmp_path / ".snakemake/locks/0.output.lock").read_text() == "later-out\n"
    assert not (tmp_path / ".snakemake/locks").exists()


def test_the_end_of_one_snakemake_keeps_the_locks_of_another(tmp_path, guarded):
    a = _persistence(tmp_path, ["in"], ["a-out"])
    b = _persistence(tmp_path, ["in"], ["b-out"])
    with a.lock():
        with b.lock():  # other outputs: no conflict
            pass
        assert sorted(v for _, v in a._read_locks()) == ["a-out", "in"]
    with a.lock(), pytest.raises(LockException):  # the same outputs: refused
        with _persistence(tmp_path, [], ["a-out"]).lock():
            pass


def test_unlock_still_removes_every_lock(tmp_path, guarded):
    locks = tmp_path / ".snakemake/locks"
    with _persistence(tmp_path, ["in"], ["out"]).lock():
        _persistence(tmp_path).cleanup_locks()  # `snakemake --unlock`
        assert not locks.exists()


def test_a_lock_file_that_vanishes_while_being_read_is_skipped(tmp_path, guarded):
    p = _persistence(tmp_path, ["in"], ["out"])
    (Path(p._lockdir) / "0.output.lock").symlink_to("gone")  # listed, then not there
    (Path(p._lockdir) / "1.output.lock").write_text("other\n")
    assert list(p._read_locks()) == [("output", "other")]
    assert not p.locked


def test_the_stale_lock_sweep_survives_a_lock_folder_that_vanishes(tmp_path, monkeypatch):
    locks = tmp_path / watchdog.LOCKS
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("x\n")

    def vanish(root):  # the killed Snakemake's files go while the sweep looks at them
        if locks.exists():
            for f in locks.iterdir():
                f.unlink()
            locks.rmdir()
        return []

    monkeypatch.setattr(watchdog, "live_entries", vanish)
    watchdog.clear_stale_locks(tmp_path, wait_s=0)
    assert not locks.exists()


def test_snakemake_still_has_what_the_guard_replaces():
    """An upgrade of Snakemake that changes its locking fails here, not in a user's run."""
    assert snakemake_locks.compatible()
