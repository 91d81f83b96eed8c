"""``docs/papers/<paper>.md``, rendered from the paper's index: one source for its choices.

A paper's choices where the paper is silent are written once, as the ``NOTE`` of its index
(``memrepro.papers.<paper>.index``), which also closes the captions of its figures. The page is
that note as a bullet list (split at sentences and at semicolons outside parentheses), the kinds
whose captions carry it, the paper's own figure kinds with their method paragraphs, and its
headline claims, all read through :mod:`memrepro.catalog`. ``tests/test_paper_docs.py`` fails
when a committed page differs from the rendering, so the page cannot drift from the captions.

Regenerate: ``python -m memrepro.paper_docs`` (writes every page; ``--check`` only compares).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from memrepro.io import atomic_path
from memrepro.specs import not_allowed

DOCS = Path("docs/papers")
REGENERATE = "python -m memrepro.paper_docs"
SENTENCE_END = re.compile(r"(?<=[\w)\]%])\. (?=[A-Z(])")


def _paper(paper: str):
    from memrepro import catalog  # inside: the core never imports a paper at import time

    papers = catalog.papers()
    if paper not in papers:
        raise ValueError(not_allowed("paper", paper, sorted(papers)))
    return papers[paper]


def markdown_text(text: str) -> str:
    """``*`` is literal in a note (``*_sm``), never emphasis."""
    return text.replace("*", r"\*")


def clauses(note: str) -> list[str]:
    """The note's sentences, each split at ``;`` outside parentheses; a leading
    "... where the paper is silent:" stays the header's, not a bullet's."""
    head, sep, rest = note.partition(" where the paper is silent: ")
    body = rest if sep else note
    out = []
    for sentence in SENTENCE_END.split(body.strip()):
        depth, start = 0, 0
        for i, ch in enumerate(sentence):
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if ch == ";" and depth == 0:
                out.append(sentence[start:i])
                start = i + 1
        out.append(sentence[start:])
    return [_sentence(c) for c in out if c.strip()]


def _sentence(clause: str) -> str:
    """A clause as a sentence: a first word in lower case (not a name like randX) capitalised."""
    clause = clause.strip().rstrip(".")
    first = clause.split(" ", 1)[0].rstrip(":,")
    if first.isalpha() and first.islower():
        clause = clause[0].upper() + clause[1:]
    return clause + "."


def _choices(paper) -> list[str]:
    lines = ["## Choices where the paper is silent", ""]
    if not paper.note:
        return [*lines, "None recorded.", ""]
    lines += [f"- {markdown_text(c)}" for c in clauses(paper.note)]
    kinds = ", ".join(f"`{k}`" for k in sorted(paper.note_kinds)) or "none"
    lines += ["", f"These lines close the caption of each of its figures of the kinds {kinds}."]
    for kind, suffix in sorted(paper.kind_note_suffix.items()):
        lines.append(f"Its `{kind}` captions add: {markdown_text(suffix.strip())}")
    return [*lines, ""]


def _kinds(paper) -> list[str]:
    lines = ["## Its own figure kinds", ""]
    for name, kind in sorted(paper.kinds.items()):
        lines.append(f"- `{name}`: {markdown_text(kind.note) or '(the method is in its caption)'}")
    return [*lines, ""]


def _claims(paper) -> list[str]:
    lines = ["## Claims the scorecard measures (`results/claims.md`)", ""]
    for claim in paper.claims:
        lines.append(f"- **{claim.id}** ({claim.section}; figure `{claim.figure}`; expected at "
                     f"{', '.join(claim.scales)}): {_sentence(markdown_text(claim.words))}")
    return [*lines, ""]


def render(paper: str) -> str:
    """The page of ``paper`` (an id of ``memrepro.catalog.papers()``: ps, ar, llj, md)."""
    record = _paper(paper)
    lines = [f"# {paper.upper()}: {record.citation}", "",
             f"<!-- Rendered from src/memrepro/papers/{paper}/index.py (NOTE) and "
             f"memrepro.catalog by `{REGENERATE}`; do not edit by hand. -->", ""]
    lines += _choices(record) + _kinds(record) + _claims(record)
    return "\n".join(lines).rstrip("\n") + "\n"


def paper_ids() -> list[str]:
    from memrepro import catalog

    return list(catalog.papers())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write docs/papers/<paper>.md from the papers' "
                                             "index records.")
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 on a difference")
    ap.add_argument("--root", default=".", help="the repository root (default: .)")
    args = ap.parse_args(argv)
    stale = []
    for paper in paper_ids():
        path = Path(args.root) / DOCS / f"{paper}.md"
        text = render(paper)
        if path.exists() and path.read_text() == text:
            continue
        stale.append(str(path))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                Path(tmp).write_text(text)
    for path in stale:
        print(f"{'differs' if args.check else 'wrote'}: {path}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
