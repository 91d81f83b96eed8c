"""Keep Snakemake's terminal output readable: no line over ``WIDTH`` characters.

Snakemake prints each job's input, output and reason on one line each. A training job of 100
cells has 400 outputs, so those lines ran to 27,000 characters, and "params changed" reasons
printed every cell's spec. ``install()`` adds a filter to Snakemake's logger that, before any
handler formats a record:

- summarises a long file list (a job's ``input``/``output``/``log``) as counts under their
  common folder: ``400 files in results/runs/ar_fig1_randy/: 100 x history.csv, ...``; a file
  listed many times is shown once with ``(x100)``;
- summarises the file lists inside a job's ``reason`` the same way, and cuts a long params
  clause to its start (``snakemake --list-changes params`` lists the changes in full);
- wraps any other message line longer than ``WIDTH`` (e.g. a dry run's list of rule names).

It reads the fields of Snakemake's job events (``input``, ``output``, ``log``, ``reason``: the
interface its logger plugins get, ``snakemake_interface_logger_plugins``) and changes only
values that are too long. The full lists stay a command away: ``snakemake --summary`` lists
every output file and its state, ``--list-changes params`` the outputs whose parameters changed.
The log file under ``.snakemake/log/`` gets the same, shorter lines. Installed by
workflow/rules/figures.smk when Snakemake reads the workflow.
"""

from __future__ import annotations

import logging
import os
import re
import textwrap
from collections import Counter

WIDTH = 160
INDENT = 12  # "    output: ", "    reason: "
FILE_CLAUSES = ("Missing output files: ", "Incomplete output files: ", "Updated input files: ",
                "Input files updated by another job: ")
PARAMS_CLAUSE = "Params have changed since last execution: "
PARAMS_NOISE = "Union of exclusive params before and now across all output: "


def _listing(names: list[str], budget: int) -> str:
    """``a, b, c`` cut to about ``budget`` characters, ending ``... and k more``."""
    out: list[str] = []
    for i, name in enumerate(names):
        more = len(names) - i - 1
        if out and len(", ".join([*out, name]) + f", ... and {more} more" * bool(more)) > budget:
            return ", ".join(out) + f", ... and {more + 1} more"
        out.append(name)
    return ", ".join(out)


def summarise_files(files: list[str], budget: int = WIDTH - INDENT) -> list[str]:
    """``files`` as Snakemake's items (it joins them with ``, ``): all of them when they fit in
    ``budget`` characters, or are few (then over several lines); a file listed many times once,
    with ``(xN)``. Else one summary: how many files under which folder, by name when names
    recur (a cell's history.csv, model.pt, ...), else by subfolder."""
    counts = Counter(files)
    uniq = list(dict.fromkeys(files))
    items = [f"{f} (x{counts[f]})" if counts[f] > 1 else f for f in uniq]
    if len(", ".join(items)) <= budget:
        return items
    if len(items) <= 8:
        return _lines(items, budget)
    try:
        common = os.path.commonpath(uniq)
    except ValueError:  # absolute and relative paths mixed
        common = ""
    rel = [os.path.relpath(f, common) if common else f for f in uniq]
    head = f"{len(uniq)} files{f' in {common}/' if common else ''}: "
    by_folder: dict[str, list[str]] = {}
    for r in rel:
        folder, _, tail = r.partition(os.sep)
        by_folder.setdefault(folder if tail else "", []).append(tail or r)
    tails = {tuple(t) for t in by_folder.values()}
    names = Counter(os.path.basename(r) for r in rel)
    where = [f"{k}/ ({len(v)})" for k, v in by_folder.items() if k] + by_folder.get("", [])
    if len(by_folder) > 2 and len(tails) == 1 and len(", ".join(*tails)) < budget // 2:
        # the same few files in each of many folders (a group's cells)
        text = head + f"{len(by_folder)} folders x " + ", ".join(tails.pop())
        first, last = list(by_folder)[0], list(by_folder)[-1]
        if len(text) + len(first) + len(last) + 8 <= budget:
            text += f" ({first} ... {last})"
    elif len(names) <= len(uniq) // 2:  # names recur: which, and where
        text = head + _listing([f"{c} x {n}" if c > 1 else n for n, c in names.most_common()],
                               budget // 2)
        if len(by_folder) > 1:
            text += f"; in {len(by_folder)} folders"
            if budget - len(text) > 40:
                text += ": " + _listing(where, budget - len(text) - 2)
    else:  # mostly distinct names: where they are
        text = head + _listing(where, budget - len(head))
    if len(uniq) < len(files):
        text += f"; {len(files) - len(uniq)} repeated"
    return [shorten(text, budget)]


def _lines(items: list[str], budget: int) -> list[str]:
    """``items`` with line breaks (and the continuation indent) before those that would
    overflow ``budget`` once ``, ``-joined."""
    out, used = [], 0
    for item in items:
        if out and used + 2 + len(item) > budget:
            out.append("\n" + " " * INDENT + item)
            used = len(item)
        else:
            out.append(item)
            used += len(item) + 2 * bool(used)
    return out


def shorten(text: str, budget: int, hint: str = "") -> str:
    """``text`` cut to ``budget`` characters, ending in ``...`` (and ``hint``)."""
    if len(text) <= budget:
        return text
    tail = f"... ({len(text)} characters{'; ' + hint if hint else ''})"
    return text[: max(0, budget - len(tail))] + tail


def summarise_reason(reason: str, width: int = WIDTH) -> str:
    """A job's reason with its file lists summarised, one clause per line when long."""
    budget = width - INDENT - 1  # the clause's ";"
    clauses = re.split(r"; (?=[A-Z])", reason)
    out = []
    for clause in clauses:
        prefix = next((p for p in FILE_CLAUSES if clause.startswith(p)), None)
        if prefix is not None:
            files = clause[len(prefix):].split(", ")
            clause = prefix + ", ".join(summarise_files(files, budget - len(prefix)))
        elif clause.startswith(PARAMS_CLAUSE):
            clause = "Params changed: " + clause[len(PARAMS_CLAUSE):].replace(PARAMS_NOISE, "")
            clause = shorten(clause.strip(), budget, "snakemake --list-changes params")
        out.append(shorten(clause, budget))
    joined = "; ".join(out)
    return joined if len(joined) <= budget else (";\n" + " " * INDENT).join(out)


def wrap(text: str, width: int = WIDTH) -> str:
    """Every line of ``text`` longer than ``width`` wrapped, continuation lines indented."""
    lines = []
    for line in text.split("\n"):
        if len(line) <= width:
            lines.append(line)
            continue
        lead = line[: len(line) - len(line.lstrip())]
        lines += textwrap.wrap(line, width, initial_indent="", subsequent_indent=lead + "    ",
                               break_on_hyphens=False, drop_whitespace=True) or [line]
    return "\n".join(lines)


class ShortLines(logging.Filter):
    """The filter ``install()`` adds to Snakemake's logger (see the module's docstring)."""

    def __init__(self, width: int = WIDTH):
        super().__init__()
        self.width = width

    def filter(self, record: logging.LogRecord) -> bool:
        for key in ("input", "output", "log"):
            files = getattr(record, key, None)
            if isinstance(files, list) and all(isinstance(f, str) for f in files):
                setattr(record, key, summarise_files(files, self.width - INDENT))
        if isinstance(getattr(record, "reason", None), str):
            record.reason = summarise_reason(record.reason, self.width)
        if isinstance(record.msg, str):
            record.msg = wrap(record.msg, self.width)
        return True


def install(width: int = WIDTH) -> None:
    """Add ``ShortLines`` to Snakemake's logger (once per process)."""
    logger = logging.getLogger("snakemake.logging")
    if not any(isinstance(f, ShortLines) for f in logger.filters):
        logger.addFilter(ShortLines(width))
