"""A clean terminal: every input function evaluates, and no line Snakemake prints runs past
~200 characters (a 100-cell training job printed lines of 27,000), while a changed setting
still says which parameter changed (memrepro.pipeline.terminal, memrepro.pipeline.folded)."""

import logging
import pickle
import re

import pytest
import yaml
from conftest import small_params, snakemake

from memrepro.pipeline.folded import cells_label, digest, fold
from memrepro.pipeline.terminal import WIDTH, ShortLines, summarise_files, summarise_reason, wrap

LIMIT = 200  # the longest line a run may print


def _long_lines(res):
    text = res.stdout + res.stderr
    return [(len(line), line[:160]) for line in text.splitlines() if len(line) >= LIMIT]


def _cells(experiment, n, names=("history.csv", "model.pt", "run.json")):
    return [f"results/runs/{experiment}/loss-cce_eta-1.0_seed-{i}/{name}"
            for i in range(n) for name in names]


def test_files_are_summarised_only_when_long():
    short = ["results/data/digits.npz", "results/data/digits.json"]
    assert summarise_files(short) == short
    noise = short + ["results/noise/digits/random_labels_eta-1.0/seed0.npz"] * 100
    assert summarise_files(noise) == [*short, "results/noise/digits/random_labels_eta-1.0/"
                                                "seed0.npz (x100)"]
    (cells,) = summarise_files(_cells("ar_fig1_randy", 100))
    assert cells.startswith("300 files in results/runs/ar_fig1_randy/: 100 folders x "
                            "history.csv, model.pt, run.json"), cells
    (runs,) = summarise_files([f for e in ("a", "b", "c") for f in _cells(e, 40)[::3]])
    assert runs == "120 files in results/runs/: 120 x history.csv; in 3 folders: a/ (40), " \
                   "b/ (40), c/ (40)"
    mixed = [f"results/summary/ar/e{i}.json" for i in range(20)] + \
        [f"results/plots/e__c{i}.csv" for i in range(300)] + ["results/summary_cells.json"]
    assert summarise_files(mixed) == ["321 files in results/: summary/ (20), plots/ (300), "
                                      "summary_cells.json"]
    few = [f"results/figures/ar/fig{i}_standin_with_a_long_name.png" for i in range(5)]
    lines = ", ".join(summarise_files(few)).split("\n")  # a few files: all of them, wrapped
    assert len(lines) > 1 and all(len(line) <= WIDTH for line in lines)
    assert all(f in "".join(lines) for f in few)


def test_reasons_keep_their_clauses_and_fit():
    reason = ("Missing output files: " + ", ".join(_cells("x", 100)) +
              "; Input files updated by another job: results/data/digits.npz; Params have "
              "changed since last execution: Union of exclusive params before and now across "
              "all output: before: <100 cells of x, sha256 aaa> now: <100 cells of x, sha256 bbb> ")
    out = summarise_reason(reason)
    assert all(len(line) <= WIDTH for line in out.split("\n"))
    assert "Missing output files: 300 files in results/runs/x/" in out
    assert "Input files updated by another job: results/data/digits.npz" in out
    assert "Params changed: before: <100 cells of x, sha256 aaa> now: <100 cells of x, " \
           "sha256 bbb>" in out
    assert summarise_reason("Missing output files: a.txt") == "Missing output files: a.txt"
    long = "Params have changed since last execution: before: " + "x" * 5000
    assert "snakemake --list-changes params" in summarise_reason(long)


def test_the_filter_rewrites_snakemake_records_in_place():
    record = logging.LogRecord("snakemake.logging", logging.INFO, __file__, 1,
                               "rule x: " + ", ".join(["train_rule_name"] * 40), None, None)
    record.output = _cells("exp", 100)
    record.reason = "Missing output files: " + ", ".join(_cells("exp", 100))
    record.wildcards = {"ds": "digits"}
    assert ShortLines().filter(record) is True
    assert record.output == [summarise_files(_cells("exp", 100))[0]]
    assert len(record.reason) < WIDTH and record.wildcards == {"ds": "digits"}
    assert max(len(line) for line in record.msg.split("\n")) <= WIDTH
    assert wrap("short") == "short"


def test_folded_parameters_show_a_digest_and_stay_what_they_are():
    cells = [{"experiment": "e", "seed": s, "train": {"epochs": 3}} for s in range(100)]
    folded = fold(cells, cells_label(cells))
    assert repr(folded) == str(folded) == f"<100 cells of e, sha256 {digest(cells)}>"
    assert folded == cells and [dict(c) for c in folded] == cells  # what train.py does
    again = pickle.loads(pickle.dumps(folded))  # how Snakemake hands params to a script
    assert type(again) is type(folded) and repr(again) == repr(folded) and again == cells
    changed = [dict(c) for c in cells]
    changed[57]["train"] = {"epochs": 4}  # one setting of one cell: another digest
    assert repr(fold(changed, cells_label(changed))) != repr(folded)
    spec = fold({"kind": "curves", "panels": [{"experiment": "e"}]}, "settings of figure p/f")
    assert spec["kind"] == "curves" and repr(spec).startswith("<settings of figure p/f, sha256 ")


def test_every_input_function_evaluates_and_a_dry_run_fits_the_terminal(workdir):
    """The whole smoke DAG's dry run with every input function evaluated (the removed
    `sensitivity` rule used to raise KeyError 'resolved_dataset' here), in short lines."""
    res = snakemake(workdir, "-n", "figures", "--strict-dag-evaluation", "functions")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "InputFunctionException" not in res.stdout + res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    assert not _long_lines(res), _long_lines(res)[:3]


@pytest.mark.slow
def test_a_build_prints_short_lines_and_a_changed_param_says_so(workdir):
    """A real build of AR Fig. 1 (three training jobs of 100 cells each: the longest job
    records of the smoke DAG, about 20 s), then a dry run after changing one experiment's
    learning rate."""
    small_params(workdir / "params.yaml", keep=("ar/fig1",))
    res = snakemake(workdir, "--cores", "2", "figures")
    assert res.returncode == 0, res.stderr[-3000:]
    assert not _long_lines(res), _long_lines(res)[:3]
    out = res.stdout + res.stderr
    assert "output: 400 files in results/runs/ar_fig1_randy/: 100 folders x history.csv, " \
           "model.pt, run.json, probes/per_example_epoch-1.npz" in out
    assert "results/noise/digits/random_labels_eta-1.0/seed0.npz (x100)" in out

    changed = workdir / "changed.yaml"
    changed.write_text(yaml.safe_dump({"scales": {"smoke": {"experiments": {
        "ar_fig1_randy": {"train": {"optimizer": {"lr": 0.05}}}}}}}))
    dry = snakemake(workdir, "-n", "figures", "--configfile", changed)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert not _long_lines(dry), _long_lines(dry)[:3]
    before, now = re.search(r"Params changed: before: <100 cells of ar_fig1_randy, sha256 "
                            r"(\w+)> now: <100 cells of ar_fig1_randy, sha256 (\w+)>",
                            dry.stdout + dry.stderr).groups()
    assert before != now
    # the trigger still works: that experiment's training job runs again, and no other
    trains = re.findall(r"^(?:local)?rule (train_\w+):", dry.stdout + dry.stderr, flags=re.M)
    assert trains == ["train_ar_fig1_randy_all"], trains
