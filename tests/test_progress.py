"""Progress you can see (issue 14): a training job logs one line per epoch (cells, epoch/total,
loss, J1, test accuracy, s/epoch, ETA), a resumed job says so, and the log of an interrupted
attempt survives the rerun (Snakemake deletes a job's log before running it again)."""

import logging
import sys
import textwrap

import pandas as pd
import pytest
import torch
from conftest import snakemake
from test_groups import _cells

from memrepro.engine import train_group
from memrepro.pipeline import progress
from memrepro.pipeline.logs import attempts_path, current_attempt, to_log


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture
def job_log():
    """``attempt(path)``: set up the job log as workflow/scripts/train.py does, as a new
    process would (the previous attempt's handler closed); all undone afterwards."""
    logger, stderr = logging.getLogger("memrepro"), sys.stderr
    before, level = list(logger.handlers), logger.level

    def close():
        sys.stderr = stderr
        for h in logger.handlers[len(before):]:
            logger.removeHandler(h)
            h.stream.close()

    def attempt(path):
        close()
        return to_log([path], keep_attempts=True)

    yield attempt
    close()
    logger.setLevel(level)


def _epoch_lines(text):
    return [ln for ln in text.splitlines() if progress.parse(ln)]


def test_a_stacked_group_logs_one_line_per_epoch(tmp_path, job_log):
    specs, datas = _cells([0, 1, 2], (0.4,), epochs=4)
    job_log(tmp_path / "job.log")
    train_group(specs, datas, [tmp_path / s["slug"] for s in specs], mode="stacked",
                progress=False)
    lines = _epoch_lines((tmp_path / "job.log").read_text())
    assert len(lines) == 4
    for k, line in enumerate(lines, 1):
        assert len(line) < 200, line
        assert " INFO epoch " in line and "| mean loss " in line and " J1 " in line
        assert " test " in line and " s/epoch | ETA " in line
        p = progress.parse(line)
        assert (p["epoch"], p["epochs"], p["cell"]) == (k, 4, None)
        assert p["label"] == "3 cells loss-cce_eta-0.4_seed-0...seed-2"
    assert progress.parse(lines[-1])["eta_s"] == 0


def test_the_line_reports_the_means_of_the_cells(tmp_path, job_log):
    specs, datas = _cells([0, 1], (0.0, 0.4), epochs=2)
    job_log(tmp_path / "job.log")
    hist = train_group(specs, datas, [tmp_path / s["slug"] for s in specs], mode="stacked",
                       progress=False)
    last = _epoch_lines((tmp_path / "job.log").read_text())[-1]
    means = pd.DataFrame([h[-1] for h in hist])[["loss", "j1", "test_acc"]].mean()
    assert f"mean loss {means['loss']:.4f} J1 {means['j1']:.3f} test {means['test_acc']:.3f}" \
        in last


def test_a_sequential_group_names_the_cell_and_the_job_eta(tmp_path, job_log):
    specs, datas = _cells([0, 1, 2], (0.4,), epochs=3)
    job_log(tmp_path / "job.log")
    train_group(specs, datas, [tmp_path / s["slug"] for s in specs], mode="sequential",
                progress=False)
    parsed = [progress.parse(ln) for ln in _epoch_lines((tmp_path / "job.log").read_text())]
    assert [(p["cell"], p["cells"], p["epoch"]) for p in parsed] == [
        (c, 3, e) for c in (1, 2, 3) for e in (1, 2, 3)]
    assert parsed[0]["label"] == "loss-cce_eta-0.4_seed-0" and parsed[-1]["eta_s"] == 0
    # the ETA counts the cells still to come: 8 epochs after the first one
    assert parsed[0]["eta_s"] == pytest.approx(8 * parsed[0]["s_per_epoch"], abs=1)


def test_resume_is_announced_and_the_interrupted_attempt_is_kept(tmp_path, job_log):
    specs, datas = _cells([0, 1, 2], (0.4,), epochs=4)
    full = train_group(specs, datas, [tmp_path / "full" / s["slug"] for s in specs],
                       mode="stacked", progress=False)
    dirs, log = [tmp_path / "cut" / s["slug"] for s in specs], tmp_path / "logs" / "g.log"
    job_log(log)
    train_group(specs, datas, dirs, mode="stacked", progress=False, stop_after=2)
    log.unlink()  # what Snakemake does before it runs the job again
    job_log(log)
    resumed = train_group(specs, datas, dirs, mode="stacked", progress=False)
    text = log.read_text()
    first, second = text.split("===== attempt 2 of this job, started ")
    assert first.startswith("===== attempt 1 of this job, started ")
    assert [progress.parse(ln)["epoch"] for ln in _epoch_lines(first)] == [1, 2]
    assert "resuming 3 cells loss-cce_eta-0.4_seed-0...seed-2 from epoch 2 of 4" in second
    assert [progress.parse(ln)["epoch"] for ln in _epoch_lines(second)] == [3, 4]
    assert current_attempt(text).startswith("===== attempt 2") and "(earlier attempts above)" \
        in second.splitlines()[0]
    assert attempts_path(log).samefile(log)
    for a, b in zip(resumed, full, strict=True):  # logging changes no number
        pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b), check_exact=True)


def test_a_resumed_sequential_cell_says_which(tmp_path, job_log):
    specs, datas = _cells([0, 1], (0.4,), epochs=4)
    dirs = [tmp_path / s["slug"] for s in specs]
    job_log(tmp_path / "job.log")
    train_group(specs, datas, dirs, mode="sequential", progress=False, stop_after=3)
    train_group(specs, datas, dirs, mode="sequential", progress=False)
    assert "resuming cell 1/2 loss-cce_eta-0.4_seed-0 from epoch 3 of 4" in \
        (tmp_path / "job.log").read_text()


def test_without_a_log_handler_nothing_is_printed(tmp_path, capfd):
    specs, datas = _cells([0, 1], (0.4,), epochs=2)
    dirs = [tmp_path / s["slug"] for s in specs]
    train_group(specs, datas, dirs, mode="stacked", stop_after=1)
    train_group(specs, datas, dirs, mode="stacked")
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_cells_label_is_short():
    slugs = [f"loss-cce_eta-0.0_seed-{k}_width-256" for k in range(100)]
    assert progress.cells_label(slugs) == "100 cells loss-cce_eta-0.0_seed-0_width-256..." \
        "seed-99_width-256"
    assert len(progress.cells_label([s * 3 for s in slugs])) == progress.LABEL_WIDTH
    assert progress.hms(3725.4) == "1:02:05" and progress.seconds("1:02:05") == 3725


JOB = """\
from pathlib import Path
from memrepro.pipeline.logs import to_log
log = to_log(snakemake.log, keep_attempts=snakemake.params.keep)
attempt = 2 if Path("second").exists() else 1
log.info("work of attempt %d", attempt)
if attempt == 1:
    raise SystemExit(1)
Path(snakemake.output[0]).write_text("ok")
"""

SNAKEFILE = """\
rule all:
    input: "kept.done", "plain.done"
rule job:
    output: "{name}.done"
    log: "logs/{name}.log"
    params: keep=lambda wc: wc.name == "kept"
    script: "job.py"
"""


def test_snakemake_rerun_keeps_the_failed_attempts_log(tmp_path):
    """Against Snakemake itself: it deletes a job's log before a rerun (``plain``: today's
    behaviour); a training job's log (``kept``) holds both attempts."""
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    (tmp_path / "job.py").write_text(textwrap.dedent(JOB))
    assert snakemake(tmp_path, "--cores", "1", "--keep-going", timeout=100).returncode != 0
    (tmp_path / "second").touch()
    res = snakemake(tmp_path, "--cores", "1", timeout=100)
    assert res.returncode == 0, res.stderr[-3000:]
    kept = (tmp_path / "logs" / "kept.log").read_text()
    assert "work of attempt 1" in kept and "work of attempt 2" in kept
    assert kept.index("work of attempt 1") < kept.index("===== attempt 2 of this job") \
        < kept.index("work of attempt 2")
    plain = (tmp_path / "logs" / "plain.log").read_text()
    assert "work of attempt 1" not in plain and "work of attempt 2" in plain
