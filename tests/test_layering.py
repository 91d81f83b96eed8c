"""The package's layering, read from the source: the core never loads a paper, papers never
import each other, no import cycle, small files and functions, and every figure ``kind:``
resolves through ``memrepro.catalog`` without torch.

Core: every ``memrepro`` module outside ``memrepro.papers`` except ``memrepro.catalog`` (the one
place that lists the papers). Imports are read with ``ast``, including those inside functions.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from conftest import ROOT, hang_limit, load_params

from memrepro import catalog

SRC = ROOT / "src"
PACKAGE = SRC / "memrepro"
PAPERS = "memrepro.papers"
WARN_FILE_LINES = 400  # a file longer than this is worth splitting: a warning, not a failure
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
CORE = sorted(m for m in MODULES if m != "memrepro.catalog" and m != PAPERS
              and not m.startswith(PAPERS + "."))


def is_paper(name: str) -> bool:
    return name.startswith(PAPERS + ".")


def paper_of(name: str) -> str | None:
    """``ar`` for ``memrepro.papers.ar`` and everything under it."""
    return name.split(".")[2] if is_paper(name) else None


def _known(name: str) -> str:
    """The memrepro module an import names: itself, or the closest enclosing package."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imported(name: str) -> list[tuple[int, str]]:
    """(line, memrepro module) of every import in module ``name``, at any depth (inside
    functions too). ``from P import x`` names ``P.x`` when that is a module, else ``P``."""
    path = MODULES[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x, from .m import y
                base = package[:len(package) - node.level + 1]
                mod = ".".join([*base, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod
                       for a in node.names]
        else:
            continue
        out += [(node.lineno, _known(t)) for t in targets
                if t == "memrepro" or t.startswith("memrepro.")]
    return out


def import_graph() -> dict[str, set[str]]:
    return {m: {t for _, t in imported(m) if t != m} for m in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle ``[a, b, ..., a]`` of the graph, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=hang_limit(100))


# --- (a) the core loads no paper ------------------------------------------------------------

def test_modules_are_found():
    assert {"memrepro.engine", "memrepro.figures", "memrepro.config"} <= set(CORE)
    assert "memrepro.papers.ar.lass" in MODULES and "memrepro.catalog" not in CORE


IMPORT_EACH = """
import importlib, json, sys
out = {"failed": {}, "papers": {}}
for name in json.loads(sys.argv[1]):
    before = set(sys.modules)
    try:
        importlib.import_module(name)
    except Exception as err:
        out["failed"][name] = f"{type(err).__name__}: {err}"
    new = sorted(m for m in set(sys.modules) - before if m.startswith("memrepro.papers"))
    if new:
        out["papers"][name] = new
print(json.dumps(out))
"""


def test_importing_the_core_loads_no_paper():
    """In a fresh interpreter, each core module in turn; the paper modules that appear in
    sys.modules are charged to the import that loaded them."""
    res = subprocess.run([sys.executable, "-c", IMPORT_EACH, json.dumps(CORE)], cwd=ROOT,
                         capture_output=True, text=True, timeout=hang_limit(100))
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert not out["failed"], f"core modules that cannot be imported: {out['failed']}"
    assert not out["papers"], f"core modules that load a paper: {out['papers']}"


# --- (b) papers are independent -------------------------------------------------------------

def cross_paper_imports() -> list[str]:
    return [f"{m}:{line} imports {t}" for m in sorted(MODULES) if is_paper(m)
            for line, t in sorted(imported(m)) if is_paper(t) and paper_of(t) != paper_of(m)]


def test_no_paper_imports_another_paper():
    bad = cross_paper_imports()
    assert not bad, "\n".join(bad)


def test_the_cross_paper_check_sees_every_import_form(tmp_path, monkeypatch):
    """The rule above can fail: another paper imported inside a function, as a package
    member, relatively; the paper's own modules and the core stay allowed."""
    fake = tmp_path / "mod.py"
    fake.write_text("from memrepro.papers.zz import own\nfrom memrepro import figures\n"
                    "from . import own\n"
                    "def f():\n    from memrepro.papers.ar import lass\n    return lass\n"
                    "from memrepro.papers import ps\nfrom ..ar.sweep_curves import KIND\n")
    monkeypatch.setitem(MODULES, "memrepro.papers.zz.mod", fake)
    (tmp_path / "own.py").write_text("")
    monkeypatch.setitem(MODULES, "memrepro.papers.zz.own", tmp_path / "own.py")
    assert cross_paper_imports() == [
        "memrepro.papers.zz.mod:5 imports memrepro.papers.ar.lass",
        "memrepro.papers.zz.mod:7 imports memrepro.papers.ps",
        "memrepro.papers.zz.mod:8 imports memrepro.papers.ar.sweep_curves"]


# --- (c) no import cycle --------------------------------------------------------------------

def test_find_cycle_reports_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_among_memrepro_modules():
    graph = import_graph()
    assert graph["memrepro.catalog"] >= {"memrepro.papers.ar.index", "memrepro.papers.ps.index"}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle (imports inside functions included): " + " -> ".join(
        cycle)


# --- (d) sizes ------------------------------------------------------------------------------

def file_lengths(limit: int) -> dict[str, int]:
    """Source file -> its number of lines, for those longer than ``limit``."""
    return {str(p.relative_to(ROOT)): n for p in MODULES.values()
            if (n := len(p.read_text().splitlines())) > limit}


def test_no_source_file_over_the_line_limit():
    long = file_lengths(MAX_FILE_LINES)
    assert not long, f"files over {MAX_FILE_LINES} lines: {long}"
    if longish := file_lengths(WARN_FILE_LINES):
        warnings.warn(f"files over {WARN_FILE_LINES} lines (the limit is {MAX_FILE_LINES}): "
                      f"{longish}", stacklevel=1)


def test_no_function_over_the_line_limit():
    long = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {n} lines")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)


# --- (e) the catalog ------------------------------------------------------------------------

def _kinds(node) -> list[str]:
    """Every ``kind:`` value anywhere in a parsed YAML document."""
    if isinstance(node, dict):
        return ([node["kind"]] if "kind" in node else []) + [
            k for v in node.values() for k in _kinds(v)]
    if isinstance(node, list):
        return [k for v in node for k in _kinds(v)]
    return []


def test_every_kind_in_params_resolves_in_the_catalog():
    params = load_params()
    kinds = _kinds(params)
    assert len(kinds) >= len(params["figures"])  # every figure has a kind
    unknown = sorted(set(kinds) - set(catalog.figure_kinds()))
    assert not unknown, f"params.yaml kinds not in catalog.figure_kinds(): {unknown}"


def kind_module_problems(kinds: dict) -> list[str]:
    """A paper's figure kind ``k`` is drawn in ``memrepro.papers.<paper>.<k>``, so a reader goes
    from a figure's ``kind:`` to its file by name; kinds that share one table may share a
    ``<topic>_kinds`` module."""
    out = []
    for name, kind in kinds.items():
        module = defined_in(kind)
        if module and module.rsplit(".", 1)[1] != name and not module.endswith("_kinds"):
            out.append(f"kind {name!r} is defined in {module}")
    return out


def defined_in(kind) -> str | None:
    """The paper module (not an index) that holds ``kind``'s record; None for the core's."""
    return next((name for name, module in sorted(sys.modules.items())
                 if is_paper(name) and not name.endswith(".index")
                 and any(v is kind for v in vars(module).values())), None)


def test_each_paper_kind_lives_in_a_file_named_after_it():
    assert not kind_module_problems(catalog.figure_kinds())
    # the check can fail: a kind drawn in a module of another name is reported
    from memrepro.papers.llj import score_histogram
    assert kind_module_problems({"histogram": score_histogram.KIND}) == [
        "kind 'histogram' is defined in memrepro.papers.llj.score_histogram"]


def test_merged_refuses_a_name_defined_twice():
    assert catalog.merged("thing", {"a": 1}, {"b": 2}) == {"a": 1, "b": 2}
    with pytest.raises(ValueError, match="thing 'a' is defined twice"):
        catalog.merged("thing", {"a": 1}, {"b": 2, "a": 3})


def test_the_catalog_names_are_consistent():
    """The torch-free name lists agree with the training modules, and no name is defined
    twice (each call would raise)."""
    catalog.check_training_hooks()
    kinds = catalog.figure_kinds()
    assert "curves" in kinds and {"symmetry", "sweep_curves", "gradient_curves"} <= set(kinds)
    probes, objectives = catalog.training_hooks()
    assert sorted(probes) == sorted(catalog.probe_names())
    assert sorted(objectives) == sorted(catalog.objective_names())
    assert set(catalog.file_probe_names()) == {n for n, p in probes.items() if p.writes == "npz"}


def test_figure_kinds_resolve_without_torch():
    res = run_python("import sys\nimport memrepro.catalog as c\nk = c.figure_kinds()\n"
                     "c.metric_styles(); c.probe_names(); c.option_notes()\n"
                     "assert 'curves' in k\n"
                     "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'torch')\n"
                     "assert not loaded, loaded[:5]\n")
    assert res.returncode == 0, res.stderr


def test_training_hooks_load_no_figure_code():
    """A training job resolves probes and objectives without matplotlib or pandas' drawing
    side: it pays only for what it uses."""
    res = run_python("import sys\nimport memrepro.catalog as c\nc.training_hooks()\n"
                     "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'"
                     " or m in ('memrepro.figures', 'memrepro.curves'))\n"
                     "assert not loaded, loaded[:5]\n")
    assert res.returncode == 0, res.stderr
