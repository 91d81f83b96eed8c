"""docs/papers/<paper>.md are rendered from each paper's NOTE (the text that closes its
captions) and the catalog: the committed pages must equal the rendering, so they cannot rot."""

import pytest
from conftest import ROOT

from memrepro import catalog
from memrepro.paper_docs import REGENERATE, clauses, main, markdown_text, render


@pytest.mark.parametrize("paper", list(catalog.papers()))
def test_the_committed_page_is_the_rendering(paper):
    page = ROOT / "docs/papers" / f"{paper}.md"
    assert page.exists(), f"{page} is missing: run `{REGENERATE}` and commit docs/papers/"
    assert page.read_text() == render(paper), (
        f"{page} differs from its paper's NOTE / the catalog: run `{REGENERATE}` and commit "
        f"docs/papers/")


def test_every_paper_states_its_choices_for_its_captions_and_its_page():
    for paper, record in catalog.papers().items():
        assert record.note.startswith(f"{paper.upper()} choices where the paper is silent: ")
        assert record.note_kinds, f"{paper}: its NOTE closes no caption"
        for clause in clauses(record.note):
            assert f"- {markdown_text(clause)}" in render(paper)


def test_a_note_splits_at_sentences_and_at_semicolons_outside_parentheses():
    note = ("XY choices where the paper is silent: batch 16 (as the code; noise first); "
            "randX at Fig. 3 of Zhang et al. 2017. Model: MLP; 3 seeds.")
    assert clauses(note) == ["Batch 16 (as the code; noise first).",
                             "randX at Fig. 3 of Zhang et al. 2017.",
                             "Model: MLP.", "3 seeds."]
    assert markdown_text("recorded as *_sm") == r"recorded as \*_sm"


def test_an_unknown_paper_is_refused_by_name():
    with pytest.raises(ValueError, match="'xx' is not allowed; allowed: .*'md'"):
        render("xx")


def test_check_reports_a_stale_page_and_writing_fixes_it(tmp_path, capsys):
    (tmp_path / "docs/papers").mkdir(parents=True)
    (tmp_path / "docs/papers/ps.md").write_text("# stale\n")
    assert main(["--check", "--root", str(tmp_path)]) == 1
    assert "differs:" in capsys.readouterr().out
    assert main(["--root", str(tmp_path)]) == 0
    assert (tmp_path / "docs/papers/ps.md").read_text() == render("ps")
    assert main(["--check", "--root", str(tmp_path)]) == 0
