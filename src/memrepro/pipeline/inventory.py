"""``memrepro list [what]``: the names a configuration may use, one line each with a short
description where the code has one.

Every name comes from where it is defined, never from a list kept here: the papers, figure
kinds, probes and objectives from ``memrepro.catalog``; losses, models and noises from their
registries (``LOSSES``, ``MODELS``, ``NOISES``); figures from the project's resolved plan
(``memrepro.pipeline.project.load_plan``). A description is the first sentence of the thing's
own text: a paper's citation, the docstring of the module defining a kind's table, a probe's or
objective's caption text, a registered function's docstring.

``papers`` and ``kinds`` import no torch (the catalog's torch-free side), so they answer in
about a second; ``figures`` resolves the plan, which checks model and loss names against the
registries and so imports torch, as do ``probes`` (the core's probes), ``losses``, ``models``
and ``noises``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path

WHAT = ("papers", "figures", "kinds", "probes", "objectives", "losses", "models", "noises")
DESCRIPTION_CHARS = 100
# words whose full stop ends no sentence even before a capital ("LLJ App. A", "Sec. B")
ABBREVIATED = "".join(f"(?<!{w})" for w in ("App", "Sec", "Fig", "Figs", "Tab", "Eq", "al"))


def first_sentence(text: str | None, limit: int = DESCRIPTION_CHARS) -> str:
    """The text's first sentence on one line, up to ``limit`` characters (then "..."). A
    sentence ends at a full stop followed by a capital, except after an ``ABBREVIATED``
    word ("et al. 2017", "App. A"). ReStructuredText quotes and caption placeholders (``{}``)
    are dropped."""
    flat = " ".join((text or "").replace("``", "").replace("{}", "").split())
    match = re.search(ABBREVIATED + r"\.(?=\s+[A-Z])", flat)
    sentence = flat[:match.start() + 1] if match else flat
    return sentence if len(sentence) <= limit else sentence[:limit - 3].rstrip() + "..."


def doc_of(thing: object) -> str:
    return first_sentence(inspect.getdoc(thing))


def papers(root: Path) -> dict[str, str]:
    from memrepro import catalog

    return {pid: first_sentence(p.citation, 120) for pid, p in catalog.papers().items()}


def figures(root: Path) -> dict[str, str]:
    from memrepro.pipeline.project import load_plan

    plan = load_plan(root)
    return {fid: f"{spec.get('kind')}: {first_sentence(spec.get('title'))}"
            for fid, spec in plan.figures.items()}


def kinds(root: Path) -> dict[str, str]:
    """Each kind's paper and title: the first sentence of the module that defines its table
    (a kind's note is a caption's method paragraph, too long for one line), else its note."""
    import sys

    from memrepro import catalog

    owner = {name: pid for pid, p in catalog.papers().items() for name in p.kinds}
    out = {}
    for name, kind in catalog.figure_kinds().items():
        module = sys.modules.get(getattr(kind.table, "__module__", ""))
        title = first_sentence(getattr(module, "__doc__", None)) or first_sentence(kind.note)
        out[name] = f"({owner.get(name, 'core')}) {title}"
    return out


def _paper_hooks(which: str) -> dict[str, str]:
    from memrepro import catalog

    return {name: f"({pid}) {first_sentence(text)}" for pid, p in catalog.papers().items()
            for name, text in getattr(p, which).items()}


def probes(root: Path) -> dict[str, str]:
    from memrepro import catalog
    from memrepro.probes import CORE_PROBES

    core = {name: f"(core) {doc_of(getattr(CORE_PROBES.get(name), 'measure', None))}"
            for name in catalog.CORE_PROBE_NAMES}
    return {**core, **_paper_hooks("probes")}


def objectives(root: Path) -> dict[str, str]:
    return _paper_hooks("objectives")


def _registry(module: str, name: str) -> Callable[[Path], dict[str, str]]:
    def listing(root: Path) -> dict[str, str]:
        import importlib

        return {key: doc_of(fn) for key, fn in getattr(importlib.import_module(module),
                                                       name).items()}
    listing.__doc__ = f"Every name of {module}.{name}, with its docstring's first sentence."
    return listing


LISTINGS: dict[str, Callable[[Path], dict[str, str]]] = {
    "papers": papers, "figures": figures, "kinds": kinds, "probes": probes,
    "objectives": objectives, "losses": _registry("memrepro.losses", "LOSSES"),
    "models": _registry("memrepro.models", "MODELS"),
    "noises": _registry("memrepro.noise", "NOISES"),
}


def lines(items: dict[str, str], indent: str = "") -> list[str]:
    """``name  description`` lines, the descriptions aligned."""
    width = max((len(n) for n in items), default=0)
    return [f"{indent}{name:<{width}}  {text}".rstrip() for name, text in items.items()]


def listing(what: str | None, root: Path) -> str:
    """One kind of names (``what``), or every kind under a heading each (``what`` None)."""
    if what is not None:
        return "\n".join(lines(LISTINGS[what](root)))
    out: list[str] = []
    for name in WHAT:
        items = LISTINGS[name](root)
        out += [f"{name} ({len(items)}):", *lines(items, "  "), ""]
    return "\n".join(out).rstrip("\n")
