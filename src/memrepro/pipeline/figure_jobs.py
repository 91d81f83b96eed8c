"""What Snakemake's HTML report shows of a figure (`snakemake --report results/report.html`).

The rules in workflow/rules/figures.smk mark each figure for the report with a category (its
paper), labels (its number and title) and a ``gallery`` parameter (``gallery_entry``) that
workflow/report/workflow.rst and figure.rst render: the landing page is a gallery of every
figure in figure order, each with its thumbnail, title, caption, and its settings folded away.

Snakemake lists results by their labels as text (fig10 before fig2), so a figure's number is
padded with figure spaces (U+2007, as wide as a digit), which sort before digits: "Fig.  2"
comes before "Fig. 10" and looks like "Fig. 2". Torch-free.
"""

from __future__ import annotations

import re
from pathlib import Path

FIGURE_SPACE = "\u2007"
NUMBER = re.compile(r"\d+")


def category(paper: str) -> str:
    """A paper's category in the report: ``AR: Arpit et al. 2017``."""
    from memrepro import catalog

    record = catalog.papers().get(paper)
    who = record.citation.split(",")[0].strip() if record else ""
    return f"{paper.upper()}: {who}" if who else paper.upper()


def padded(text: str, width: int = 2) -> str:
    """Numbers in ``text`` left-padded with figure spaces to ``width`` digits."""
    return NUMBER.sub(lambda m: FIGURE_SPACE * (width - len(m.group())) + m.group(), text)


def natural_key(text: str) -> str:
    """A text key that sorts numbers by value: ``fig2`` before ``fig10``."""
    return NUMBER.sub(lambda m: m.group().rjust(6, "0"), text)


def split_title(title: str, paper: str) -> tuple[str, str]:
    """("Fig. 7", "accuracy ...") from "AR Fig. 7: accuracy ..."; (the whole title minus a
    leading paper name, "") when it has no "<label>: " part."""
    rest = re.sub(rf"^{re.escape(paper)}\s+", "", title, flags=re.I)
    label, sep, text = rest.partition(": ")
    if not sep or len(label) > 24:
        return rest, ""
    return label, text


def experiments_of(spec: dict) -> list[str]:
    """The experiments a figure's panels and series draw from, in order."""
    names = [s["experiment"] for p in spec.get("panels", []) for s in p.get("series") or [p]]
    return list(dict.fromkeys(names))


def gallery_entry(fid: str, spec: dict, caption: str) -> dict:
    """What the report shows of figure ``fid``: its category, label, title, sort order, and
    its caption split into the lead (citation and title, scale), the settings of each
    experiment (a line each, folded away in the report) and the notes."""
    paper, name = fid.split("/", 1)
    experiments = experiments_of(spec)
    label, text = split_title(spec.get("title", name), paper)
    lines = [line for line in caption.strip().splitlines() if line.strip()]
    is_setting = [any(line.startswith(f"{e}: ") for e in experiments) for line in lines]
    first = is_setting.index(True) if True in is_setting else min(2, len(lines))
    return {
        "paper": paper, "category": category(paper), "label": label, "title": text,
        "order": f"{paper}/{natural_key(name)}",
        "lead": lines[:first],
        "settings": [line for line, s in zip(lines, is_setting, strict=True) if s],
        "notes": [line for i, (line, s) in enumerate(zip(lines, is_setting, strict=True))
                  if i >= first and not s],
    }


def built_counts(results: str | Path = "results") -> dict[str, int]:
    """Numbers for the report's landing page: figures and training runs found on disk, and the
    claims scorecard's counts once it is built."""
    results = Path(results)
    figures = [p for p in (results / "figures").rglob("*")
               if p.suffix == ".png" or (p.suffix == ".csv" and p.with_suffix(".md").exists())]
    out = {"figures": len(figures),
           "training runs": sum(1 for _ in (results / "runs").glob("*/*/history.csv"))}
    card = results / "claims.json"
    if card.is_file():  # the claims scorecard's verdicts (memrepro.claims)
        from memrepro.claims import read_json

        c = read_json(card)["counts"]
        out.update({"claims held": c["held"], "claims failed": c["failed"],
                    "expected but failed": c["expected_but_failed"]})
    return out


def job_spec(fid: str, plan, titled: bool = True):
    """A figure job's ``spec`` parameter: the figure's settings (its title completed with the
    scale and stand-in notes when ``titled``), folded (memrepro.pipeline.folded)."""
    from memrepro.captions import figure_title
    from memrepro.pipeline.folded import fold

    spec = plan.figures[fid]
    return fold({**spec, "title": figure_title(spec, plan)} if titled else spec,
                f"settings of figure {fid}")


def job_entries(entries: list | None):
    """A figure job's ``entries`` parameter (what it reads, per run), folded."""
    from memrepro.pipeline.folded import fold

    return None if entries is None else fold(entries, f"{len(entries)} runs")


def job_gallery(fid: str, plan):
    """A figure job's ``gallery`` parameter: ``gallery_entry``, folded."""
    from memrepro.captions import figure_caption
    from memrepro.pipeline.folded import fold

    spec = plan.figures[fid]
    return fold(gallery_entry(fid, spec, figure_caption(fid, spec, plan)),
                f"report entry of {fid}")


def labels(gallery: dict) -> dict[str, str]:
    """The report's column for a figure: its number, padded so that the report's text sort puts
    Fig. 2 before Fig. 10, and its title. One label: Snakemake turns a second label with two
    values into a toggle, and then broke the list of a paper with two figures. Braces become
    parentheses (Snakemake reads braces in a label as wildcards)."""
    text = padded(gallery["label"]) + (f": {gallery['title']}" if gallery["title"] else "")
    return {"figure": text.replace("{", "(").replace("}", ")")}
