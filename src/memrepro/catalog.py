"""The one place that resolves names: figure kinds, metric styles, probes and training
objectives, from the core and from every paper folder.

Papers are listed here explicitly, in :func:`papers` (one import and one entry each) and in
``TRAINING`` (one line for a paper with training add-ons); nothing registers itself by being
imported. A name defined twice is refused. :func:`figure_kinds` and the name lists are
torch-free (configuration, captions and figure jobs use them). :func:`training_hooks` imports
only the training modules (torch), not the figure kinds (matplotlib, pandas): a training job
pays for what it uses. :func:`check_training_hooks` checks that both sides agree (a test runs
it).

The core never imports this module at import time: ``config``, ``captions`` and the workflow
scripts call it inside functions, so importing any core module loads no paper.
"""

from __future__ import annotations

import functools
import importlib

from memrepro.paper import Paper

# the modules holding each paper's PROBES and OBJECTIVES (imported by training jobs only)
TRAINING = {
    "ar": "memrepro.papers.ar.training",
    "llj": "memrepro.papers.llj.training",
    "md": "memrepro.papers.md.training",
}
CORE_PROBE_NAMES = ("per_example",)  # memrepro.probes.CORE_PROBES (torch), named here


@functools.cache
def papers() -> dict[str, Paper]:
    """Every paper's index, by its id (the ``<paper>`` of figure ids ``<paper>/<name>``)."""
    from memrepro.papers.ar import index as ar
    from memrepro.papers.llj import index as llj
    from memrepro.papers.md import index as md
    from memrepro.papers.ps import index as ps

    return {"ps": ps.PAPER, "ar": ar.PAPER, "llj": llj.PAPER, "md": md.PAPER}


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
def metric_styles() -> dict:
    """How ``curves`` draws each history column: the core's styles and each paper's."""
    from memrepro import curves

    return merged("metric style", curves.METRIC_STYLES,
                  *(p.metric_styles for p in papers().values()))


@functools.cache
def figure_kinds() -> dict:
    """Every ``kind:`` name (-> ``memrepro.figures.FigureKind``): the core's ``curves`` and
    each paper's kinds."""
    from memrepro import curves

    return merged("figure kind", {"curves": curves.curves_kind(metric_styles())},
                  *(p.kinds for p in papers().values()))


def probe_names() -> list[str]:
    return list(merged("probe", dict.fromkeys(CORE_PROBE_NAMES),
                       *(p.probes for p in papers().values())))


def objective_names() -> list[str]:
    return list(merged("objective", *(p.objectives for p in papers().values())))


def file_probe_names() -> list[str]:
    """Probes that write files (the rest write a history column), torch-free; checked
    against the probes themselves by :func:`training_hooks`."""
    return [*CORE_PROBE_NAMES, *(n for p in papers().values() for n in sorted(p.file_probes))]


def history_metrics() -> list[str]:
    """Every history.csv metric a figure may draw: the engine's and the history probes'."""
    from memrepro.tables import METRICS

    files = set(file_probe_names())
    return [*METRICS, *(n for n in probe_names() if n not in files)]


def option_notes() -> tuple[dict[str, str], dict[str, str]]:
    """Caption texts: ({objective: text}, {probe: text}) of every paper."""
    return (merged("objective", *(p.objectives for p in papers().values())),
            merged("probe", *(p.probes for p in papers().values())))


def paper_of(fid: str) -> Paper | None:
    """The paper of a figure id ``<paper>/<name>`` (None for a paper without a folder)."""
    return papers().get(fid.split("/")[0])


def claims() -> list:
    """Every paper's claims (``memrepro.claims.Claim``), in paper order; an id declared twice
    is refused."""
    return unique_claims([c for p in papers().values() for c in p.claims])


def unique_claims(claims_: list) -> list:
    """``claims_``, refusing an id that appears twice."""
    return list(merged("claim", *({c.id: c} for c in claims_)).values())


def option_schemas() -> dict[str, dict]:
    """The JSON schema of each paper probe's / objective's options, by name."""
    return merged("options schema", *(p.option_schemas for p in papers().values()))


def model_needs() -> dict[str, dict]:
    """The model arguments each paper probe / objective needs (``Paper.model_needs``)."""
    return merged("model need", *(p.model_needs for p in papers().values()))


@functools.cache
def training_hooks() -> tuple[dict, dict]:
    """(probes, objectives): name -> ``memrepro.probes.Probe`` / ``memrepro.engine.Objective``
    of the core and every paper's training module."""
    from memrepro.probes import CORE_PROBES

    modules = [importlib.import_module(m) for m in TRAINING.values()]
    return (merged("probe", CORE_PROBES, *(m.PROBES for m in modules)),
            merged("objective", *(m.OBJECTIVES for m in modules)))


def check_training_hooks() -> None:
    """Each paper's index names exactly the probes (and file probes) and objectives its
    training module defines."""
    for pid, paper in papers().items():
        mod = importlib.import_module(TRAINING[pid]) if pid in TRAINING else None
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
