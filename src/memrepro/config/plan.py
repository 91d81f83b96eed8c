"""Read, validate and expand the configuration (params.yaml and config/<paper>.yaml) into a
plan of jobs.

``resolve(config)`` is what the Snakefile calls before any rule runs: it validates the
raw config against workflow/schemas/params.schema.yaml (with the registries' names, the
models' and losses' arguments and the papers' probe and objective options injected), checks
every figure's, panel's and series' keys against its kind, checks every scale's overlay,
applies the chosen scale's overlay, checks the result again, and expands every experiment
into training cells with stable, readable slugs; ``Plan.partitions`` holds each partition with
its scoring cell resolved (memrepro.subsets). The expanded plan is checked for what used to
fail only inside a job (memrepro.config.plan_checks: probe epochs, subset sizes, the model a probe
or objective needs, figure selectors), and so is every other scale's plan (its errors end
with ``(at scale 'paper')``).

Strict: every mapping is closed, so a typo is refused before any job runs. Every error names
the key, the offending value and what is allowed, and the nearest valid name when there is
one (``did you mean 'metrics'?``), under the file it comes from (``sources``: params.yaml,
a paper's config/<name>.yaml, a ``--configfile``, the ``--config`` values; a user's dataset
file). A scale's overlay of an experiment is read from ``scales.<scale>.experiments``, where
``at:`` is lifted to; an error about it is shown as written (``experiments.<name>.at.<scale>``).

``overlay_changes(plan)`` (memrepro.config.overlays) lists what the chosen scale's overlay
changed in which experiment (and figure); the Snakefile prints it once when it plans.
"""


from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from pathlib import Path

from memrepro.config.errors import (
    ConfigError,
    Line,
    check_user_data,
    error_line,
    fail,
    invalid,
    name_list,
    one_of,
)
from memrepro.config.layout import lift_at
from memrepro.config.plan_checks import cell_errors, plan_errors
from memrepro.config.validation import (
    ENGINE_MODEL_ARGS,
    arguments_of,
    check_against,
    check_config,
    load_schema,
    model_value_errors,
    subschema,
)
from memrepro.paths import fmt_rate
from memrepro.subsets import is_partition_subset, resolve_partitions

__all__ = ["Plan", "resolve"]


@dataclass
class Plan:
    scale: str
    datasets: dict[str, dict]          # every dataset a job needs, by its (substituted) name
    cells: dict[tuple[str, str], dict]  # (experiment, slug) -> resolved cell spec
    experiments: dict[str, dict]
    figures: dict[str, dict]
    config: dict = field(repr=False, default_factory=dict)
    groups: dict[str, dict] = field(default_factory=dict)  # group id -> one training job
    partitions: dict[str, dict] = field(default_factory=dict)  # name -> resolved (subsets)

    def cells_of(self, experiment: str, loss: str | None = None) -> list[dict]:
        return [c for (e, _), c in self.cells.items()
                if e == experiment and (loss is None or c["loss"]["name"] == loss)]


def deep_merge(base: dict, overlay: dict) -> dict:
    """Return base with overlay merged in: dicts merge recursively, other values replace."""
    out = copy.deepcopy(base)
    for k, v in overlay.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) \
            else copy.deepcopy(v)
    return out


def seed_list(seeds: list[int] | int) -> list[int]:
    """``seeds`` as written in params.yaml: a list, or a count N meaning 0..N-1."""
    return list(range(seeds)) if isinstance(seeds, int) else list(seeds)


def cell_slug(loss: str, rate: float, seed: int) -> str:
    return f"loss-{loss}_eta-{fmt_rate(rate)}_seed-{seed}"


def resolve(config: dict, check_files: bool = True, schema_path: str | Path | None = None,
            sources: list[tuple[str, dict]] | None = None) -> Plan:
    """Validate ``config`` (params.yaml and the papers' files merged, then --configfile and
    --config overrides: ``memrepro.config.layout``) and expand it; every experiment's and
    figure's ``at:`` is first moved into its scale's overlay (``lift_at``). The Snakefile
    passes its own copy of the schema, so a non-editable install works too, and the files the
    config was merged from (``load_sources``), so that an error names the file that set the
    key (else params.yaml)."""
    try:
        config = lift_at(config, check=True)  # each `at:` into its scale's overlay
        plan = _resolve(config, check_files, schema_path)
        fail(_other_scale_errors(config, schema_path))
        return plan
    except ConfigError as err:  # attributed to the sources as resolved: their at: lifted
        lifted = [(label, lift_at(data)) for label, data in sources or ()]
        raise err.attributed(lifted) from None


def _resolve(config: dict, check_files: bool, schema_path: str | Path | None) -> Plan:
    schema = load_schema(schema_path)
    check_config(config, schema)
    scale, overlay = _overlay(config)
    from memrepro.catalog import file_probe_names

    experiments, cells, datasets = {}, {}, {}
    for name, raw in config["experiments"].items():
        exp = _experiment(name, raw, overlay, config["datasets"], schema)
        ds = exp["resolved_dataset"]
        datasets[ds] = {"name": ds, **config["datasets"][ds]}
        experiments[name] = exp
        cells.update(_expand_cells(name, exp, datasets[ds].get("stand_in_for"), scale, schema))
    _apply_seed_offset(cells, config.get("seed_offset", 0))
    partitions = resolve_partitions(config, experiments, cells, file_probe_names())
    figures = _resolve_figures(config, overlay, datasets)
    _check_figures(figures, experiments)
    fail(plan_errors(config, cells, figures, read_files=check_files))
    _add_bases(datasets, config["datasets"])
    if check_files:
        check_user_data(config["datasets"])
    return Plan(scale, datasets, cells, experiments, figures, config,
                make_groups(cells, experiments), partitions)


def _apply_seed_offset(cells: dict, offset: int) -> None:
    """Record the build's ``seed_offset`` in every cell (memrepro.seeds.cell_seed draws from
    it); offset 0 adds nothing, so a default build's cells, and its outputs, stay as they were."""
    if offset:
        for cell in cells.values():
            cell["seed_offset"] = int(offset)


def _other_scale_errors(config: dict, schema_path: str | Path | None) -> list[str]:
    """Every scale's plan, not only the chosen one's: each other scale resolved on its own
    (no file read), its error lines ending with the scale they are about."""
    lines = []
    for name, overlay in config["scales"].items():
        if name == config["scale"]:
            continue
        try:
            _resolve({**config, "scale": name, "scales": {name: overlay}}, False, schema_path)
        except ConfigError as err:
            lines += [_at_scale(line, name) for group in err.groups.values() for line in group]
    return lines


def _at_scale(line: str, scale: str) -> str:
    """An error line of another scale's plan, saying which scale."""
    if not line.lstrip().startswith("..."):  # not the "... and 3 more" line
        tagged = Line(f"{line} (at scale {scale!r})")
        tagged.where = getattr(line, "where", None)
        return tagged
    return line


def _add_bases(datasets: dict, specs: dict) -> None:
    """Add the datasets that derived ones are made from (and theirs), to be prepared first."""
    todo = list(datasets)
    while todo:
        spec = datasets[todo.pop()]
        if spec["source"] == "derived" and spec["from"] not in datasets:
            datasets[spec["from"]] = {"name": spec["from"], **specs[spec["from"]]}
            todo.append(spec["from"])


def _overlay(config: dict) -> tuple[str, dict]:
    """The chosen scale and its overlay."""
    scale = config["scale"]
    if scale not in config["scales"]:
        raise invalid("scale", scale, one_of(config["scales"]), choices=config["scales"])
    return scale, config["scales"][scale] or {}


def _experiment(name: str, raw: dict, overlay: dict, datasets: dict, schema: dict) -> dict:
    """An experiment with the scale's overlay merged in, checked, with its
    ``resolved_dataset`` (after the scale's substitution). A scale-wide ``all: {subset: k}``
    leaves an experiment's own partition-form subset as it is (``experiments.<name>`` of the
    overlay still replaces it)."""
    scale_wide = overlay.get("all", {})
    if is_partition_subset(raw.get("subset")):  # a part of what the scoring run trained on
        scale_wide = {k: v for k, v in scale_wide.items() if k != "subset"}
    exp = deep_merge(raw, scale_wide)
    own = overlay.get("experiments", {}).get(name, {})
    if "subset" in own:  # a subset is replaced whole, never merged key by key
        exp.pop("subset", None)
    exp = deep_merge(exp, own)
    check_against(exp, subschema(schema, "experiment"), ("experiments", name))
    if exp["dataset"] not in datasets:
        raise invalid(f"experiments.{name}.dataset", exp["dataset"],
                      "a key of datasets: " + one_of(datasets), choices=datasets)
    _check_rates(name, exp["noise"])
    exp["resolved_dataset"] = overlay.get("substitute", {}).get(exp["dataset"], exp["dataset"])
    return exp


def _check_rates(name: str, noise: dict) -> None:
    """eta = 1 only for a noise registered as full-rate (memrepro.noise); each rate once (a
    rate twice would name the same cells twice)."""
    from memrepro.noise import FULL_RATE, allows_full_rate

    for i, r in enumerate(noise["rates"]):
        if r >= 1 and not allows_full_rate(noise["name"]):
            raise invalid(f"experiments.{name}.noise.rates[{i}]", r,
                          f"0 <= eta < 1 (eta = 1 only for {name_list(sorted(FULL_RATE))})",
                          f" for noise {noise['name']!r}")
        if fmt_rate(r) in map(fmt_rate, noise["rates"][:i]):
            raise invalid(f"experiments.{name}.noise.rates[{i}]", r,
                          "distinct noise rates (this one is listed before)")


def _expand_cells(name: str, exp: dict, stand_in_for: str | None, scale: str,
                  schema: dict) -> dict[tuple[str, str], dict]:
    """The experiment's cells: every sweep point x loss x noise rate x seed."""
    cells = {}
    points = sweep_points(exp, f"experiments.{name}.sweep")
    if points[0]:
        field_ = "key" if "key" in exp["sweep"] else "keys"
        fail(_sweep_model_errors(f"experiments.{name}.sweep.{field_}", points[0]["keys"],
                                  exp["model"]["name"]))
    for point in points:
        setting = apply_sweep(exp, point)
        if point:
            at = ("experiments", name, f"sweep {point['name']}={point['label']}")
            check_against({k: v for k, v in setting.items() if k != "resolved_dataset"},
                          subschema(schema, "experiment"), at)
            model_at = ".".join((*at, "model"))
            fail(model_value_errors(dict.fromkeys(setting["model"], model_at),
                                     setting["model"], schema))
        for loss, rate, seed in itertools.product(exp["losses"], exp["noise"]["rates"],
                                                  seed_list(exp["seeds"])):
            cell = _cell(name, exp, setting, point, stand_in_for, loss, rate, seed, scale)
            cells[(name, cell["slug"])] = cell
    fail(cell_errors(cells))
    return cells


def _sweep_model_errors(key: str, keys: list[str], model: str) -> list[str]:
    """Swept ``model.<argument>`` keys that the model's constructor does not take."""
    from memrepro.models import MODELS

    args = arguments_of(MODELS[model], ENGINE_MODEL_ARGS)
    if args is None:
        return []
    allowed = [f"model.{a}" for a in args]
    return [error_line(key, k, f"the arguments of model {model!r}: {name_list(allowed)}",
                       choices=allowed)
            for k in keys if k.startswith("model.") and ".".join(k.split(".")[:2]) not in allowed]


def _cell(name: str, exp: dict, setting: dict, point: dict, stand_in_for: str | None,
          loss: str, rate: float, seed: int, scale: str) -> dict:
    """One training cell: what a run needs to know."""
    noise = exp["noise"]
    slug = cell_slug(loss, rate, seed) + (f"_{point['name']}-{point['label']}" if point else "")
    return {
        "experiment": name, "paper": exp["paper"], "slug": slug,
        "dataset": exp["resolved_dataset"], "stand_in_for": stand_in_for,
        "model": setting["model"],
        "loss": {"name": loss, "params": exp.get("loss_params", {}).get(loss, {})},
        "noise": {"name": noise["name"], "rate": float(rate),
                  **({"seed": int(noise["seed"])} if "seed" in noise else {})},
        "seed": int(seed), "train": setting["train"], "scale": scale,
        "subset": setting.get("subset"),
        **({"probes": exp["probes"]} if exp.get("probes") else {}),
        **({"sweep": point} if point else {}),
    }


def _resolve_figures(config: dict, overlay: dict, datasets: dict) -> dict[str, dict]:
    """Every figure with the scale's overlay merged in; a figure computed from a dataset
    gets its ``resolved_dataset`` (added to ``datasets``)."""
    substitute = overlay.get("substitute", {})
    figures = {}
    for fid, spec in config["figures"].items():
        spec = deep_merge(spec, (overlay.get("figures") or {}).get(fid, {}))
        if "dataset" in spec:  # a figure computed from a dataset, not from training runs
            if spec["dataset"] not in config["datasets"]:
                raise invalid(f"figures.{fid}.dataset", spec["dataset"],
                              "a key of datasets: " + one_of(config["datasets"]),
                              choices=config["datasets"])
            ds = substitute.get(spec["dataset"], spec["dataset"])
            spec["resolved_dataset"] = ds
            datasets[ds] = {"name": ds, **config["datasets"][ds]}
        figures[fid] = spec
    return figures


SWEEP_ROOTS = ("model", "train", "subset")


def sweep_points(exp: dict, key: str) -> list[dict]:
    """The settings an experiment's ``sweep`` walks through (one hyper-parameter, or several
    moved together): ``[{name, keys, values, label}]``, or ``[{}]`` without a sweep."""
    sw = exp.get("sweep")
    if not sw:
        return [{}]
    keys = [sw["key"]] if "key" in sw else list(sw.get("keys", []))
    if not keys or ("key" in sw) == ("keys" in sw):
        what = "both 'key' and 'keys' given" if "key" in sw and "keys" in sw else \
            "'key' or 'keys' missing"
        line = Line(f"  {key}: {what}; allowed: exactly one of 'key' (one dotted key) or "
                    "'keys' (a list of dotted keys moved together)")
        line.where = key
        raise ConfigError([line])
    for k in keys:
        if k.split(".")[0] not in SWEEP_ROOTS:
            raise invalid(f"{key}.key", k, "a dotted key under " + one_of(SWEEP_ROOTS))
    points = []
    for i, v in enumerate(sw["values"]):
        vals = [v] if "key" in sw else v
        if not isinstance(vals, list) or len(vals) != len(keys):
            raise invalid(f"{key}.values[{i}]", v, f"a list of {len(keys)} numbers (one per key)"
                          if "keys" in sw else "a number")
        points.append({"name": sw["name"], "keys": keys, "values": vals,
                       "label": "-".join(format(float(x), "g") for x in vals)})
    return points


def apply_sweep(exp: dict, point: dict) -> dict:
    """``exp`` with the sweep point's values written at their dotted keys."""
    out = copy.deepcopy(exp)
    for k, v in zip(point.get("keys", []), point.get("values", []), strict=True):
        *path, last = k.split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
        node[last] = v
    return out


GROUP_AXES = {"loss": lambda c: c["loss"]["name"], "eta": lambda c: fmt_rate(c["noise"]["rate"]),
              "seed": lambda c: str(c["seed"]),
              "sweep": lambda c: c["sweep"]["label"] if "sweep" in c else None}


def make_groups(cells: dict[tuple[str, str], dict], experiments: dict) -> dict[str, dict]:
    """One training job per group: the cells of an experiment that differ only in the axes
    of its ``group.by`` (default: seed), at most ``group.size`` cells each. The group's slug
    names what its cells share (``loss-cce_eta-0.4``; ``all`` when nothing is shared), with
    ``_part-<k>`` when a group is split by size."""
    buckets: dict[tuple[str, str], list[dict]] = {}
    for (exp, _), cell in cells.items():
        by = experiments[exp].get("group", {}).get("by", ["seed"])
        fixed = [f"{a}-{f(cell)}" for a, f in GROUP_AXES.items()
                 if a not in by and f(cell) is not None]
        buckets.setdefault((exp, "_".join(fixed) or "all"), []).append(cell)
    groups = {}
    for (exp, slug), members in buckets.items():
        opts = experiments[exp].get("group", {})
        size = int(opts.get("size") or len(members))
        parts = [members[i:i + size] for i in range(0, len(members), size)]
        for k, part in enumerate(parts):
            gslug = slug if len(parts) == 1 else f"{slug}_part-{k}"
            groups[f"{exp}/{gslug}"] = {"experiment": exp, "slug": gslug, "cells": part,
                                        "mode": opts.get("mode", "auto")}
    return groups


def _check_figures(figures: dict, experiments: dict) -> None:
    for fid, spec in figures.items():
        if "/" not in fid:
            raise invalid("figures", fid, "ids of the form <paper>/<name>, e.g. ps/fig1")
        for i, panel in enumerate(spec.get("panels", [])):
            for j, p in enumerate(panel.get("series") or [panel]):
                key = f"figures.{fid}.panels[{i}]" + (f".series[{j}]" if "series" in panel
                                                      else "")
                if p["experiment"] not in experiments:
                    raise invalid(f"{key}.experiment", p["experiment"], one_of(experiments),
                                  choices=experiments)
                losses = experiments[p["experiment"]]["losses"]
                if p["loss"] not in losses:
                    raise invalid(f"{key}.loss", p["loss"],
                                  f"{one_of(losses)} (the losses of {p['experiment']})",
                                  choices=losses)
