"""The one command, `memrepro` (memrepro.cli): its help names every command on one line, `list`
names what the catalog and the registries define, `verify` names a damaged figure or run
file, and the expected failures (not a project folder, a missing folder, a bad option) are
one line and exit status 2, without a traceback. `status` and `replay` run through the
command in tests/test_build_status.py, tests/test_integrity.py and below; `after-pull` and
`plots` in tests/test_dvc_remote.py."""

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, hang_limit
from test_provenance import _figure, _record

from memrepro import catalog, cli, io, provenance
from memrepro.figures import write_figure
from memrepro.pipeline import integrity
from memrepro.pipeline.inventory import first_sentence

MEMREPRO = Path(sys.executable).parent / "memrepro"  # the console script of this environment


def _memrepro(*args, cwd=ROOT, typical_s=10):
    return subprocess.run([str(MEMREPRO), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=hang_limit(typical_s))


def _refused(res: subprocess.CompletedProcess, *words: str) -> None:
    """Exit 2, one line on stderr naming ``words``, no traceback."""
    assert res.returncode == 2, res.stdout + res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert all(w in res.stderr for w in words), res.stderr


def test_help_names_every_command_on_one_line():
    res = _memrepro("--help")
    assert res.returncode == 0, res.stderr
    for name, (help_line, *_) in cli.COMMANDS.items():
        assert re.search(rf"^ +{re.escape(name)} +{re.escape(help_line)}$", res.stdout, re.M), \
            f"{name}:\n{res.stdout}"
    module = subprocess.run([sys.executable, "-m", "memrepro", "--help"], capture_output=True,
                            text=True, timeout=hang_limit(10))
    assert module.returncode == 0 and module.stdout == res.stdout


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_every_command_has_its_help(name, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main([name, "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and out.startswith(f"usage: memrepro {name} ")
    assert cli.COMMANDS[name][0] in " ".join(out.split()) and "--root" in out


def _sections(text: str) -> dict[str, list[str]]:
    """``list``'s output: heading -> the names listed under it."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if heading := re.fullmatch(r"(\w+) \((\d+)\):", line):
            out[heading[1]] = []
        elif line.startswith("  "):
            out[list(out)[-1]].append(line.split()[0])
    return out


def test_list_names_every_paper_kind_and_loss_from_where_they_are_defined():
    from memrepro.losses import LOSSES

    res = _memrepro("list", typical_s=15)
    assert res.returncode == 0, res.stderr
    listed = _sections(res.stdout)
    assert listed["papers"] == list(catalog.papers()) == ["ps", "ar", "llj", "md"]
    assert listed["kinds"] == list(catalog.figure_kinds())
    assert listed["losses"] == list(LOSSES) and "cce" in listed["losses"]
    assert set(listed["probes"]) == set(catalog.probe_names())
    assert listed["objectives"] == catalog.objective_names()
    assert listed["figures"] and all("/" in f for f in listed["figures"])
    cce = next(ln for ln in res.stdout.splitlines() if ln.split()[:1] == ["cce"])
    assert first_sentence(LOSSES["cce"].__doc__) in cce


def test_list_papers_and_kinds_load_no_torch():
    code = ("import sys; from memrepro.cli import main; main(['list', 'papers']); "
            "main(['list', 'kinds']); assert 'torch' not in sys.modules, 'torch loaded'")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=hang_limit(10))
    assert res.returncode == 0, res.stderr
    assert "Arpit et al. 2017" in res.stdout


def test_a_description_is_the_first_sentence():
    assert first_sentence("One ``x`` here.  Two.") == "One x here."
    assert first_sentence("Arpit et al. 2017, Fig. 1: rates. More.") == \
        "Arpit et al. 2017, Fig. 1: rates."
    assert first_sentence("VGG (LLJ App. A): channels. Next") == "VGG (LLJ App. A): channels."
    assert first_sentence("CSR probe {}") == "CSR probe"
    assert first_sentence("a" * 200, limit=10) == "a" * 7 + "..."
    assert first_sentence(None) == ""


def _results(tmp_path: Path, monkeypatch) -> Path:
    """A hand-made results folder: one run with its file record, two figures (ar/f1, ar/f2)
    with their provenance, tables and image digests, as a build writes them."""
    results = tmp_path / "results"
    run = results / "runs" / "e" / "a"
    io.write_text(run / "history.csv", "epoch,j1\n0,0.5\n")
    io.write_json(run / "run.json", {"spec": {}, integrity.RECORD: integrity.file_record(run)})
    for name in ("f1", "f2"):
        table = results / f"metrics/ar/{name}.csv"
        io.write_text(table, pd.DataFrame({"a": [1]}).to_csv(index=False))
        rec = {**_record(tmp_path, monkeypatch), "table_sha256": io.sha256(table)}
        stem = results / "figures" / "ar" / name
        images = [stem.with_suffix(".pdf"), stem.with_suffix(".png")]
        write_figure(_figure(), *images, "Cap.", rec)
        provenance.add_image_digests(stem.with_suffix(".caption.txt"), images)
    return results


def test_verify_names_the_damaged_figure_and_run_file(tmp_path, monkeypatch, capsys):
    results = _results(tmp_path, monkeypatch)
    assert cli.main(["verify", str(results)]) == 0
    out = capsys.readouterr().out
    assert "1 runs and 2 figures" in out and "0 problems" in out and "ar/f2: commit" in out
    png = results / "figures/ar/f2.png"
    png.write_bytes(png.read_bytes() + b"\0")
    history = results / "runs/e/a/history.csv"
    history.write_text(history.read_text().replace("0.5", "0.6"))
    assert cli.main(["verify", str(results)]) == 1
    got = capsys.readouterr()
    problems = [ln for ln in got.err.splitlines() if ln.startswith("PROBLEM")]
    assert len(problems) == 2 and "2 problems" in got.out
    assert problems[0].startswith(f"PROBLEM {history}: sha256 differs from run.json's")
    assert f"PROBLEM {png}: sha256 differs from the one its caption records" in problems[1]
    assert "ar/f1: commit" in got.out and "ar/f2: commit" not in got.out
    # the default folder is the project's results/
    (tmp_path / "params.yaml").write_text("{}\n")
    assert cli.main(["verify", "--root", str(tmp_path)]) == 1


def test_verify_shows_a_files_record(tmp_path, monkeypatch, capsys):
    results = _results(tmp_path, monkeypatch)
    png = results / "figures/ar/f1.png"
    assert cli.main(["verify", "--record", str(png)]) == 0
    assert capsys.readouterr().out == f"{png}: {provenance.show(png)}\n"


def test_replay_through_the_command(workdir):
    res = _memrepro("replay", "--json", "replay.json", cwd=workdir, typical_s=15)
    assert res.returncode == 1 and "no finished cells to replay" in res.stderr, res.stderr
    named = _memrepro("replay", "--cells", "nope", cwd=workdir, typical_s=15)
    assert named.returncode == 1 and "no finished cell named ['nope']" in named.stderr


def test_outside_a_project_each_command_says_so_in_one_line(tmp_path):
    for args in (["status"], ["replay"], ["verify"], ["after-pull"], ["show", "x"],
                 ["list"], ["list", "figures"]):
        _refused(_memrepro(*args, cwd=tmp_path), f"memrepro {args[0]}:",
                 "no Snakefile or params.yaml in the current directory")
    _refused(_memrepro("status", "--root", tmp_path / "nope"), "no such folder")
    _refused(_memrepro("verify", tmp_path / "nope"), "no such folder")
    _refused(_memrepro("plots", cwd=tmp_path), "no .dvc/")
    assert _memrepro("list", "papers", cwd=tmp_path).returncode == 0  # needs no project


def test_bad_usage_exits_2():
    assert _memrepro("status", "--bogus").returncode == 2
    assert _memrepro("list", "planets").returncode == 2
    assert _memrepro("verify", "--", "x").returncode == 2
    assert _memrepro().returncode == 2


def test_show_describes_an_experiment_and_refuses_an_unknown_one_in_one_line():
    from memrepro.pipeline.project import load_plan

    name = next(iter(load_plan(ROOT).experiments))
    res = _memrepro("show", name, "--scale", "quick", "--config", "seed_offset=3",
                    typical_s=15)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"{name} at scale 'quick'")
    _refused(_memrepro("show", "no_such_experiment", typical_s=15), "memrepro show: ",
             "no experiment 'no_such_experiment'")


def test_after_pull_and_plots_pass_the_rest_on(tmp_path, monkeypatch):
    """`after-pull`: targets, then what follows `--` goes to snakemake; `plots`: any option it
    does not know, and what follows `--`, goes to `dvc plots show` (run in --root)."""
    from memrepro.pipeline import dvcplots, restore

    seen = {}
    monkeypatch.setattr(restore, "restore", lambda *a, **k: seen.update(restore=(a, k)))
    (tmp_path / "Snakefile").write_text("")
    assert cli.main(["after-pull", "runs", "--root", str(tmp_path), "--skip-dvc-check", "--",
                     "--config", "scale=quick"]) == 0
    assert seen["restore"] == ((str(tmp_path), ["runs"], ["--config", "scale=quick"]),
                               {"check_dvc": False})
    monkeypatch.setattr(dvcplots.subprocess, "call",
                        lambda cmd, cwd: seen.update(plots=(cmd[1:], cwd)) or 0)
    (tmp_path / ".dvc").mkdir()
    assert cli.main(["plots", "--open", "--root", str(tmp_path), "--", "-o", "out"]) == 0
    assert seen["plots"] == (["plots", "show", "--html-template", str(dvcplots.OFFLINE_TEMPLATE),
                              "--open", "-o", "out"], tmp_path)
    assert "vega-embed" in (tmp_path / dvcplots.OFFLINE_TEMPLATE).read_text()
