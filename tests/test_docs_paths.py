"""Every command and repository path the README and docs/*.md show must exist.

Read from code spans and code blocks: paths with a slash (files or folders of the checkout; a
``*`` must match something; from a ``<placeholder>`` on only the part before it is checked),
``memrepro.x.y`` names (a module, or a name in one), ``memrepro <command> [--option]`` (the
argparse parser of memrepro.cli), ``snakemake ... <target>`` (a rule of the Snakefile or
workflow/rules), ``python -m <module>`` (importable) and ``python <file>.py`` (exists). Paths of
what a build or a user makes are skipped (results/, resources/, logs/, ...; the results
folders a text names relative to results/; figure ids like ``ps/fig4``).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import shlex

import pytest
import yaml
from conftest import ROOT

# design-notes.md is a history: it names files as they were when each note was written
PAGES = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md")
                                     if p.name != "design-notes.md"),
         *sorted((ROOT / "docs/papers").glob("*.md"))]
# made by a build, a tool or the user, or named relative to results/; paper ids: figure ids
NOT_IN_REPO = {"results", "resources", "logs", ".snakemake", "dvc_plots", ".whl", "tmp",
               "rehearsal",  # made by `memrepro rehearse`
               "runs", "noise", "metrics", "figures", "summary", "plots", "partitions",
               "data", "probes", "train", "my", "ps", "ar", "llj", "md", ".venv", ".git"}
MADE_BY_TOOLS = (".dvc/cache", ".dvc/config.local", ".dvc/tmp")  # DVC's, not the checkout's
PLACEHOLDERS = {"toy", "mine"}  # docs/adding-a-paper.md's example paper; the user's dataset
PATH = re.compile(r"^[A-Za-z_.][\w.+-]*(/[\w.*<>{}\[\],+-]*)+$")
# a path is checked when its first part is in the checkout, or when it names a source file
SOURCE_FILE = re.compile(r"\.(py|md|yaml|yml|smk|toml|txt|lock|cff|png|rst|css|cfg)$")
BASES = ("", "src", "src/memrepro")  # docs name paths from the root, src/ or the package
MODULE_NAME = re.compile(r"^memrepro(\.\w+)+$")
NOT_MODULE = re.compile(r"\.(sif|tar|json|yaml|md|py|txt|gz)$")
# snakemake options followed by one value (the rest are flags or take KEY=VALUE items)
SNAKEMAKE_VALUE = {"--cores", "-c", "--jobs", "-j", "--configfile", "--report", "--profile",
                   "--workflow-profile", "--sdm", "--apptainer-args", "--apptainer-prefix",
                   "--report-metadata", "--report-stylesheet", "--directory", "-d",
                   "--snakefile", "-s"}
SEPARATORS = {"|", "||", "&&", ";", "\\"}


def code_pieces(markdown: str) -> list[tuple[int, str, str]]:
    """(line, 'span' | 'bash' | 'block', text) of every code span and code-block line; a bash
    line continued with a backslash is joined with the next, and its comment dropped."""
    out, fence, lang, pending = [], None, "", ""
    for n, line in enumerate(markdown.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            fence, lang = (None, "") if fence else (n, stripped[3:].strip())
            continue
        if fence and lang in ("bash", "sh", "shell"):
            if stripped.startswith("#"):
                continue
            text = pending + line.split(" #")[0]
            if text.rstrip().endswith("\\"):
                pending = text.rstrip()[:-1] + " "
                continue
            out.append((n, "bash", text))
            pending = ""
        elif fence:
            out.append((n, "block", line))
        else:
            out += [(n, "span", s) for s in re.findall(r"`([^`\n]+)`", line)]
    return out


def commands(text: str) -> list[list[str]]:
    """The simple commands of a shell line: split at | && ; and comments, leading
    VAR=value assignments and a `.` / `source` dropped."""
    try:
        words = shlex.split(text.split(" #")[0], comments=False)
    except ValueError:
        words = text.split()
    out, current = [], []
    for w in [*words, ";"]:
        if w in SEPARATORS or w.startswith("$("):
            while current and re.match(r"^\w+=", current[0]):
                current.pop(0)
            if current and current[0] not in (".", "source"):
                out.append(current)
            current = [w[2:]] if w.startswith("$(") and len(w) > 2 else []
        else:
            current.append(w.rstrip(")"))
    return out


def rules() -> set[str]:
    """The rules written in the Snakefile and workflow/rules, and the per-paper targets it
    makes in a loop: ``figures_<paper>`` for each paper params.yaml lists (and the docs'
    example paper)."""
    files = [ROOT / "Snakefile", *sorted((ROOT / "workflow/rules").glob("*.smk"))]
    written = {m for f in files for m in re.findall(r"^(?:rule|checkpoint) (\w+):",
                                                    f.read_text(), re.M)}
    papers = yaml.safe_load((ROOT / "params.yaml").read_text())["papers"]
    return written | {f"figures_{p}" for p in [*papers, *PLACEHOLDERS]}


def path_problem(token: str) -> str | None:
    token = token.lstrip("\"'(").rstrip("\"'(),.;:")
    if not PATH.match(token) or token.split("/")[0] in NOT_IN_REPO | {".."}:
        return None
    parts = []
    for part in token.rstrip("/").split("/"):
        if any(c in part for c in "<{[") or part in ("...", "…") or \
                part.split(".")[0] in PLACEHOLDERS:
            break
        parts.append(part)
    rel = "/".join(parts)
    if rel.startswith(MADE_BY_TOOLS):
        return None
    if not parts or not (SOURCE_FILE.search(rel) or any(
            (ROOT / base / parts[0]).exists() for base in BASES)):
        return None  # a word with a slash (mean/min/max), not a path of the checkout
    for base in BASES:
        where = ROOT / base
        if list(where.glob(rel)) if "*" in rel else (where / rel).exists():
            return None
    return f"no such file or folder: {rel}"


def module_problem(name: str) -> str | None:
    """A module, or a name defined in the longest importable module it starts with."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            obj = importlib.import_module(module)
            for attr in parts[cut:]:
                if not hasattr(obj, attr):
                    return f"{module} has no {'.'.join(parts[cut:])}"
                obj = getattr(obj, attr)
            return None
    return f"no module {name}"


def memrepro_problem(words: list[str]) -> str | None:
    from memrepro import cli

    if len(words) < 2 or words[1].startswith("-"):
        return None  # `memrepro --help`
    if words[1] not in cli.COMMANDS:
        return f"memrepro has no command {words[1]!r}; it has {sorted(cli.COMMANDS)}"
    if cli.COMMANDS[words[1]][3]:
        return None  # passes its other options on (plots -> dvc plots show)
    sub = cli.parser(words[1])._subparsers._group_actions[0].choices[words[1]]
    unknown = [w.split("=")[0] for w in words[2:] if w.startswith("-") and w != "--"
               and w.split("=")[0] not in sub._option_string_actions]
    return f"memrepro {words[1]} has no option {unknown[0]}" if unknown else None


def snakemake_targets(words: list[str]) -> list[str]:
    targets, skip = [], False
    for w in words[1:]:
        if skip:
            skip = False
        elif w in SNAKEMAKE_VALUE:
            skip = True
        elif re.match(r"^[a-z][a-z0-9_]*$", w):
            targets.append(w)
    return targets


def command_problem(words: list[str]) -> str | None:
    head = words[0]
    if head == "memrepro":
        return memrepro_problem(words)
    if head == "snakemake":
        bad = [t for t in snakemake_targets(words) if t not in rules()]
        return f"snakemake has no rule {bad[0]!r}" if bad else None
    if head in ("python", "python3") and len(words) > 1:
        if words[1] == "-m" and len(words) > 2:
            return None if importlib.util.find_spec(words[2]) else f"no module {words[2]}"
        if words[1].endswith(".py") and not (ROOT / words[1]).is_file():
            return f"no such script: {words[1]}"
    return None


def problems(markdown: str) -> list[str]:
    """``line: problem`` for every reference in ``markdown`` that does not exist."""
    out = []
    for n, where, text in code_pieces(markdown):
        found, checked = [], set()
        if where in ("span", "bash"):
            for command in commands(text):
                found.append(command_problem(command))
                if command[0] in ("python", "python3"):
                    checked.update(command[1:3])  # the module or script: reported once
        tokens = text.split() if where != "block" else [w for w in text.split()[:1]
                                                         if not w.endswith(":")]
        found += [path_problem(t.rstrip(",")) for t in tokens if t not in checked]
        names = [t.strip(".,()`") for t in text.split() if t not in checked]
        found += [module_problem(name) for name in names if MODULE_NAME.match(name)
                  and not NOT_MODULE.search(name)
                  and not PLACEHOLDERS & set(name.split("."))]
        out += [f"line {n}: {p} (in `{text.strip()}`)" for p in found if p]
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_and_path_a_page_shows_exists(page):
    found = problems(page.read_text())
    assert not found, f"{page.relative_to(ROOT)}:\n" + "\n".join(found)


SNIPPET = """Build with `snakemake --cores all figures --config scale=quick`, then
`snakemake --cores 2 figures_nowhere`; see `src/memrepro/engine.py`, `src/memrepro/gone.py`,
`workflow/rules/*.smk`, `workflow/rules/*.nope`, `results/figures/<paper>/x.png` and
`src/memrepro/papers/<paper>/index.py`; `memrepro.pipeline.manifest`, `memrepro.no_module`.

```bash
memrepro status --config scale=quick
memrepro frobnicate
memrepro replay --sample 3 --no-such-option
python -m memrepro.nothing_here
python workflow/scripts/gone.py
docker run --rm memrepro snakemake --cores all figures
```
"""


def test_the_checker_reports_each_wrong_reference_and_nothing_else():
    found = problems(SNIPPET)
    expected = ["snakemake has no rule 'figures_nowhere'", "no such file or folder: "
                "src/memrepro/gone.py", "no such file or folder: workflow/rules/*.nope",
                "memrepro has no no_module", "memrepro has no command 'frobnicate'",
                "memrepro replay has no option --no-such-option",
                "no module memrepro.nothing_here", "no such script: workflow/scripts/gone.py"]
    for problem in expected:
        assert sum(problem in f for f in found) == 1, (problem, found)
    assert len(found) == len(expected), found  # the right ones, placeholders and docker not
