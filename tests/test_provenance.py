"""The provenance record (memrepro.provenance): in the caption, the PDF Info and the PNG text
chunk of every figure; the figure files stay byte-identical for the same record."""

import json
import subprocess

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from memrepro import cli, io, provenance
from memrepro.figures import write_figure, write_table_figure

SPECS = [{"experiment": "e", "slug": "b", "seed": 1}, {"experiment": "e", "slug": "a", "seed": 0}]


def _figure():
    fig = Figure(figsize=(3, 2))
    FigureCanvasAgg(fig)
    fig.subplots().plot([0, 1, 2], [1, 0, 1], label="x (y)")
    return fig


def _record(tmp_path, monkeypatch):
    monkeypatch.setenv(provenance.IMAGE_ENV, "nvidia/cuda:13@sha256:abc")
    sidecar = tmp_path / "d.json"
    io.write_json(sidecar, {"name": "d", "sha256": "f" * 64})
    return provenance.record(SPECS, provenance.dataset_digests({"d": sidecar}))


def test_record_holds_commit_settings_data_lock_and_image(tmp_path, monkeypatch):
    rec = _record(tmp_path, monkeypatch)
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    assert rec["commit"] == head.stdout.strip() and isinstance(rec["dirty"], bool)
    assert rec["settings_sha256"] == provenance.settings_digest(SPECS[::-1])  # order-free
    assert rec["runs"] == 2 and rec["datasets"] == {"d": "f" * 64}
    assert rec["requirements_lock_sha256"] == io.sha256("requirements.lock")
    assert rec["image_base"].endswith("@sha256:abc") and "image_note" not in rec
    assert provenance.record(SPECS) == provenance.record(SPECS)  # no time in it
    # a run plotted in two panels counts once, and the digest is that of the distinct runs
    twice = provenance.record(SPECS + SPECS[:1])
    assert twice["runs"] == 2 and twice["settings_sha256"] == rec["settings_sha256"]
    assert provenance.settings_digest(SPECS[:1]) != rec["settings_sha256"]


def test_no_git_repository_is_said_not_raised(tmp_path, monkeypatch):
    monkeypatch.delenv(provenance.IMAGE_ENV, raising=False)
    rec = provenance.record(SPECS, root=tmp_path)
    assert rec["commit"] is None and "no git repository" in rec["git_note"]
    assert rec["requirements_lock_sha256"] is None and rec["image_base"] is None
    monkeypatch.setenv(provenance.IMAGE_ENV, "debian:12")
    assert "no digest" in provenance.record(SPECS, root=tmp_path)["image_note"]


def test_figure_params_and_record_from_them(tmp_path, monkeypatch):
    cell = {"experiment": "e", "slug": "a", "dataset": "digits"}
    params = provenance.figure_params([cell, dict(cell)], ["results/data/cifar.npz"])
    assert params["runs"] == 1 and sorted(params["sidecars"]) == ["cifar", "digits"]
    rec = provenance.figure_record(params)
    assert rec["settings_sha256"] == params["settings_sha256"] and rec["runs"] == 1


def test_figures_carry_the_record_and_stay_byte_identical(tmp_path, monkeypatch):
    rec = _record(tmp_path, monkeypatch)
    out = []
    for run in ("one", "two"):
        pdf, png = tmp_path / run / "f.pdf", tmp_path / run / "f.png"
        write_figure(_figure(), pdf, png, "A caption.", rec)
        cap = tmp_path / run / "f.caption.txt"
        out.append([f.read_bytes() for f in (pdf, png, cap)])
        text = Image.open(png).text
        shown = json.loads(text[provenance.KEY])
        assert shown["commit"] == rec["commit"]
        assert shown["settings_sha256"] == provenance.settings_digest(SPECS)
        assert json.loads(provenance.show(pdf)) == rec == json.loads(provenance.show(cap))
        lines = cap.read_text().splitlines()
        assert lines[0] == "A caption." and lines[-1].startswith("Provenance: {")
        assert b"/CreationDate" not in out[-1][0] and "Software" not in text
    assert out[0] == out[1]
    write_figure(_figure(), tmp_path / "g.pdf", tmp_path / "g.png", "A caption.",
                 {**rec, "commit": "0" * 40})
    assert (tmp_path / "g.png").read_bytes() != out[0][1]


def test_a_table_figure_ends_in_the_provenance_line(tmp_path, monkeypatch):
    rec = _record(tmp_path, monkeypatch)
    md = tmp_path / "t.md"
    write_table_figure(pd.DataFrame({"a": [1]}), tmp_path / "t.csv", md, "Cap.", rec)
    assert json.loads(provenance.show(md)) == rec


def test_check_finds_every_figure_and_names_a_file_without_the_record(tmp_path, monkeypatch,
                                                                     capsys):
    figures = tmp_path / "figures"
    table = tmp_path / "metrics/ar/f1.csv"  # what f1 is drawn from, and ps/t's own table
    io.write_text(table, pd.DataFrame({"a": [1]}).to_csv(index=False))
    rec = {**_record(tmp_path, monkeypatch), "table_sha256": io.sha256(table)}
    write_figure(_figure(), figures / "ar/f1.pdf", figures / "ar/f1.png", "Cap.", rec)
    provenance.add_image_digests(figures / "ar/f1.caption.txt",
                                 [figures / "ar/f1.pdf", figures / "ar/f1.png"])
    write_table_figure(pd.DataFrame({"a": [1]}), figures / "ps/t.csv", figures / "ps/t.md",
                       "Cap.", rec)
    lines, problems = provenance.check(figures)
    assert problems == [] and len(lines) == 2
    assert f"commit {rec['commit'][:12]}" in lines[0] and rec["settings_sha256"][:12] in lines[0]
    assert cli.main(["verify", str(tmp_path)]) == 0  # tmp_path: the results folder
    assert "0 runs and 2 figures under" in capsys.readouterr().out
    # a PNG redrawn without the record, and one whose record differs from its PDF's
    write_figure(_figure(), figures / "ar/f2.pdf", figures / "ar/f2.png", "Cap.", rec)
    write_figure(_figure(), tmp_path / "x.pdf", figures / "ar/f2.png", "Cap.", None)
    write_figure(_figure(), figures / "ar/f3.pdf", figures / "ar/f3.png", "Cap.", rec)
    write_figure(_figure(), tmp_path / "y.pdf", figures / "ar/f3.png", "Cap.",
                 {**rec, "commit": "0" * 40})
    _, problems = provenance.check(figures)
    assert len(problems) == 2
    assert "ar/f2: no provenance record in f2.caption.txt, f2.png" in problems[0]
    assert "ar/f3: its files carry different records" in problems[1]
    assert cli.main(["verify", str(tmp_path)]) == 1
    assert "PROBLEM ar/f2: no provenance record" in capsys.readouterr().err.replace(
        str(figures) + "/", "")
    (tmp_path / "none").mkdir()
    assert cli.main(["verify", str(tmp_path / "none")]) == 1  # nothing built
    assert "(nothing built there)" in capsys.readouterr().out
