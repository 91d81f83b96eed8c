"""What a paper folder declares: :class:`Paper`, the record in ``papers/<name>/index.py``.

Torch-free: the configuration check, captions and figure jobs read it. A paper's training
add-ons (probes, objectives) live in its ``training`` module, which ``memrepro.catalog``
imports only for training jobs and planning's hook checks; the index names them here so that
captions and figure jobs know them without torch. The add-ons themselves
(``memrepro.probes.Probe``, ``memrepro.engine.Objective``) receive a
``memrepro.hooks.HookContext``, never the trainer (docs/hooks.md); a probe that reads what an
objective records declares it on the Probe (``needs_objective``), not here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from memrepro.specs import refused


@dataclass(frozen=True)
class Paper:
    """``citation``: the caption's first words. ``kinds``: its figure kinds (name ->
    ``FigureKind``). ``metric_styles``: how ``curves`` draws its history columns.
    ``probes`` / ``objectives``: the names its training module defines, each with the caption
    text of a run that uses it (``{}`` is replaced by the options); ``file_probes``: those of
    its probes that write files rather than a history column. ``option_schemas``: the JSON
    schema of each probe's / objective's options mapping, by name (``memrepro.config`` injects
    them into params.schema.yaml: ``probes.<name>`` and ``train.<name>``; an options mapping is
    closed unless its schema says otherwise, and every probe also takes the core's schedule,
    ``epochs`` and ``every``). ``note``: a closing caption line for its figures of the kinds in
    ``note_kinds``. ``kind_note_suffix``: text appended to a kind's note in its figures.
    ``claims``: its headline claims (``memrepro.claims.Claim``, declared in its ``claims``
    module), evaluated by the ``claims`` target. ``model_needs``: the model arguments a
    probe or objective needs, by its name (``{"turnover": {"tod": True}}``: only a model
    built with ``tod: true``); the configuration refuses any other model before any job."""

    citation: str
    kinds: dict[str, Any] = field(default_factory=dict)
    metric_styles: dict[str, Any] = field(default_factory=dict)
    probes: dict[str, str] = field(default_factory=dict)
    objectives: dict[str, str] = field(default_factory=dict)
    file_probes: frozenset[str] = frozenset()
    option_schemas: dict[str, dict] = field(default_factory=dict)
    note: str = ""
    note_kinds: frozenset[str] = frozenset()
    kind_note_suffix: dict[str, str] = field(default_factory=dict)
    claims: tuple = ()
    model_needs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self):
        for what in ("option_schemas", "model_needs"):
            unknown = sorted(set(getattr(self, what)) - set(self.probes) - set(self.objectives))
            if unknown:
                raise ValueError(refused(f"Paper.{what}: {unknown}", "the paper's probes and "
                                         f"objectives {sorted({*self.probes, *self.objectives})}",
                                         many=True))
