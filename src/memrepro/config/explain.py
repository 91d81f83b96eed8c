"""What an experiment is at a scale, and where each of its settings comes from.

``describe(experiment, scale)`` (``memrepro show``) resolves the project's configuration as
the Snakefile does and lists the experiment's settings after the scale's overlays, one line
per leaf (``train.epochs = 30``), each with the layer that set it last: the paper's file
(``config/llj.yaml``), its overlay at the scale (``config/llj.yaml at.smoke``), the scale's
``all`` (``params.yaml scales.smoke.all``), a dataset substitution (``params.yaml
scales.smoke.substitute``), a ``--configfile`` or ``--config``. A list is one leaf: an
overlay replaces it whole.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

from memrepro.config.errors import _defines, name_list
from memrepro.config.layout import lift_at, load_sources, merge_sources
from memrepro.subsets import is_partition_subset

__all__ = ["UnknownExperiment", "describe"]


class UnknownExperiment(KeyError):
    """An experiment name the configuration does not define (``args[0]``: the message)."""


def describe(experiment: str, scale: str | None = None, root: str | Path = ".",
             configfiles=(), cli: dict | None = None) -> str:
    """``experiment``'s resolved settings at ``scale`` (default: the scale params.yaml names),
    each with where it came from, and the cells and training jobs it expands to."""
    from memrepro.config.plan import resolve

    root = Path(root)
    sources = _relabelled(load_sources(root / "params.yaml", configfiles, cli), root)
    config = merge_sources(sources)
    names = list(config.get("experiments") or {})
    if experiment not in names:
        near = difflib.get_close_matches(experiment, names, n=1)
        raise UnknownExperiment(f"no experiment {experiment!r}; allowed: {name_list(names)}"
                                + (f"; did you mean {near[0]!r}?" if near else ""))
    config["scale"] = scale or config["scale"]
    schema = root / "workflow" / "schemas" / "params.schema.yaml"
    plan = resolve(config, check_files=False, schema_path=schema if schema.is_file() else None,
                   sources=sources)
    exp = plan.experiments[experiment]
    own_part = is_partition_subset(plan.config["experiments"][experiment].get("subset"))
    layers = _layers(experiment, plan.scale, sources, own_part)
    lines = [f"{experiment} at scale {plan.scale!r} (paper {exp['paper']}):"]
    for key, value in _leaves({k: v for k, v in exp.items() if k != "resolved_dataset"}):
        lines.append(f"  {key} = {_shown(value)}    # {_origin(key, layers)}")
    if exp["resolved_dataset"] != exp["dataset"]:
        lines.append(f"  dataset used = {exp['resolved_dataset']}    # params.yaml "
                     f"scales.{plan.scale}.substitute")
    jobs = sum(g["experiment"] == experiment for g in plan.groups.values())
    cells = len(plan.cells_of(experiment))
    lines.append(f"{cells} training cell(s) in {jobs} training job(s)")
    return "\n".join(lines)


def _relabelled(sources: list[tuple[str, Any]], root: Path) -> list[tuple[str, Any]]:
    """params.yaml under its own name, ``--config`` as ``--config``."""
    names = {str(root / "params.yaml"): "params.yaml", "--config (command line)": "--config"}
    return [(names.get(label, label), data) for label, data in sources]


def _layers(name: str, scale: str, sources: list[tuple[str, Any]],
            own_partition: bool) -> list[tuple[str, dict]]:
    """(where, mapping) from the lowest layer to the highest, as ``resolve`` merges them:
    each source's experiment, then each source's ``all`` at the scale (less its ``subset``
    for an experiment that trains on a part of a partition), then its overlay."""
    lifted = [(label, lift_at(copy.deepcopy(data))) for label, data in sources]
    base = [(label, (d.get("experiments") or {}).get(name)) for label, d in lifted]
    scales = [(label, (d.get("scales") or {}).get(scale) or {}) for label, d in lifted]
    everyone = [(f"{label} scales.{scale}.all", {k: v for k, v in s["all"].items()
                                                  if k != "subset" or not own_partition})
                for label, s in scales if isinstance(s.get("all"), dict)]
    own = [(f"{label} at.{scale}", (s.get("experiments") or {}).get(name))
           for label, s in scales]
    return [(where, m) for where, m in base + everyone + own if isinstance(m, dict)]


def _origin(key: str, layers: list[tuple[str, dict]]) -> str:
    """The last layer that sets ``key`` (or a mapping above it, replaced whole)."""
    for where, mapping in reversed(layers):
        if _defines(mapping, key)[1] or _replaced_whole(mapping, key):
            return where
    return "?"


def _replaced_whole(mapping: dict, key: str) -> bool:
    """A partition-form ``subset`` (or any non-mapping) set above ``key``."""
    parts = key.split(".")
    node: Any = mapping
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
        if not isinstance(node, dict) or is_partition_subset(node):
            return True
    return False


def _leaves(node: dict, prefix: str = ""):
    """(dotted key, value) for every leaf: a value that is not a non-empty mapping."""
    for key, value in node.items():
        if isinstance(value, dict) and value and not is_partition_subset(value):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _shown(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, dict) and is_partition_subset(value):
        return "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
    return str(value)
