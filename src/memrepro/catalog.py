"""The one place that resolves names: figure kinds, metric styles, probes and training
objectives, from the core and from every paper folder.

Papers are listed here explicitly, one import and one ``PAPERS`` entry each (and one
``_TRAINING`` line for a paper with training add-ons); nothing registers itself by being
imported. A name defined twice is refused. :func:`figure_kinds` and the name lists are
torch-free (configuration, captions and figure jobs use them); :func:`training_hooks` imports
the training modules (torch) and is used by training jobs only.

The core never imports this module at import time: ``config``, ``captions`` and the workflow
scripts call it inside functions, so importing any core module loads no paper.
"""

from __future__ import annotations

import functools
import importlib

from memrepro import curves, figures
from memrepro.paper import Paper
from memrepro.papers import ar, ps

PAPERS: dict[str, Paper] = {"ps": ps.PAPER, "ar": ar.PAPER}
# the modules holding each paper's PROBES and OBJECTIVES (imported by training jobs only)
_TRAINING = {"ar": "memrepro.papers.ar.training"}
CORE_PROBE_NAMES = ("per_example",)  # memrepro.probes.CORE_PROBES (torch), named here


def merged(what: str, *sources: dict) -> dict:
    """The union of name -> thing mappings; a name in two of them is refused."""
    out: dict = {}
    for source in sources:
        for name, thing in source.items():
            if name in out:
                raise ValueError(f"catalog: {what} {name!r} is defined twice")
            out[name] = thing
    return out


@functools.cache
def metric_styles() -> dict[str, figures.MetricStyle]:
    return merged("metric style", curves.METRIC_STYLES,
                  *(p.metric_styles for p in PAPERS.values()))


@functools.cache
def figure_kinds() -> dict[str, figures.FigureKind]:
    """Every ``kind:`` name: the core's ``curves`` and each paper's kinds."""
    return merged("figure kind", {"curves": curves.curves_kind(metric_styles())},
                  *(p.kinds for p in PAPERS.values()))


def probe_names() -> list[str]:
    return list(merged("probe", dict.fromkeys(CORE_PROBE_NAMES),
                       *(p.probes for p in PAPERS.values())))


def objective_names() -> list[str]:
    return list(merged("objective", *(p.objectives for p in PAPERS.values())))


def file_probe_names() -> list[str]:
    """Probes that write files (the rest write a history column), torch-free; checked
    against the probes themselves by :func:`training_hooks`."""
    return [*CORE_PROBE_NAMES, *(n for p in PAPERS.values() for n in sorted(p.file_probes))]


def option_notes() -> tuple[dict[str, str], dict[str, str]]:
    """Caption texts: ({objective: text}, {probe: text}) of every paper."""
    return (merged("objective", *(p.objectives for p in PAPERS.values())),
            merged("probe", *(p.probes for p in PAPERS.values())))


def paper_of(fid: str) -> Paper | None:
    """The paper of a figure id ``<paper>/<name>`` (None for a paper without a folder)."""
    return PAPERS.get(fid.split("/")[0])


@functools.cache
def training_hooks() -> tuple[dict, dict]:
    """(probes, objectives): name -> ``memrepro.probes.Probe`` / ``memrepro.engine.Objective``
    for the core and every paper, checked against the names the papers' indexes declare."""
    from memrepro.probes import CORE_PROBES

    modules = {p: importlib.import_module(m) for p, m in _TRAINING.items()}
    for pid, paper in PAPERS.items():
        mod = modules.get(pid)
        got_p, got_o = (set(mod.PROBES), set(mod.OBJECTIVES)) if mod else (set(), set())
        if got_p != set(paper.probes) or got_o != set(paper.objectives):
            raise ValueError(f"catalog: paper {pid!r} declares probes {sorted(paper.probes)} "
                             f"and objectives {sorted(paper.objectives)}, its training module "
                             f"defines {sorted(got_p)} and {sorted(got_o)}")
        files = {n for n, pr in (mod.PROBES if mod else {}).items() if pr.writes == "npz"}
        if files != set(paper.file_probes):
            raise ValueError(f"catalog: paper {pid!r} declares file probes "
                             f"{sorted(paper.file_probes)}, its training module has "
                             f"{sorted(files)}")
    probes = merged("probe", CORE_PROBES, *(m.PROBES for m in modules.values()))
    objectives = merged("objective", *(m.OBJECTIVES for m in modules.values()))
    return probes, objectives
