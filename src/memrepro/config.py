"""Read, validate and expand params.yaml into a plan of jobs.

``resolve(config)`` is what the Snakefile calls before any rule runs: it validates the
raw config against workflow/schemas/params.schema.yaml (with the registries' names
injected as enums), applies the chosen scale's overlay, checks the result again, and
expands every experiment into training cells with stable, readable slugs. Every error
names the key, the offending value and what is allowed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from memrepro.paths import fmt_rate

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "params.schema.yaml"
FULL_RATE_NOISES = {"random_labels", "random_inputs", "unique_class"}  # eta = 1 meaningful


class ConfigError(ValueError):
    """Invalid params.yaml; the message names key, value and what is allowed."""


@dataclass
class Plan:
    scale: str
    datasets: dict[str, dict]          # every dataset a job needs, by its (substituted) name
    cells: dict[tuple[str, str], dict]  # (experiment, slug) -> resolved cell spec
    experiments: dict[str, dict]
    figures: dict[str, dict]
    config: dict = field(repr=False, default_factory=dict)
    groups: dict[str, dict] = field(default_factory=dict)  # group id -> one training job

    def cells_of(self, experiment: str, loss: str | None = None) -> list[dict]:
        return [c for (e, _), c in self.cells.items()
                if e == experiment and (loss is None or c["loss"]["name"] == loss)]


def load_schema(path: str | Path | None = None) -> dict:
    from memrepro import catalog
    from memrepro.losses import LOSSES
    from memrepro.models import MODELS
    from memrepro.noise import NOISES

    schema = yaml.safe_load(Path(path or SCHEMA_PATH).read_text())
    d = schema["$defs"]
    d["experiment"]["properties"]["model"]["properties"]["name"]["enum"] = sorted(MODELS)
    d["experiment"]["properties"]["losses"]["items"]["enum"] = sorted(LOSSES)
    d["experiment"]["properties"]["loss_params"]["propertyNames"] = {"enum": sorted(LOSSES)}
    d["experiment"]["properties"]["noise"]["properties"]["name"]["enum"] = sorted(NOISES)
    d["experiment"]["properties"]["probes"]["propertyNames"] = {
        "enum": sorted(catalog.probe_names())}
    d["figure"]["properties"]["kind"]["enum"] = sorted(catalog.figure_kinds())
    d["figure"]["properties"]["losses"]["items"]["enum"] = sorted(LOSSES)
    return schema


def _key(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def _allowed(err: jsonschema.ValidationError) -> str:
    v, val = err.validator, err.validator_value
    s = err.schema if isinstance(err.schema, dict) else {}
    if v == "enum":
        return _one_of(val)
    if v in {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}:
        lo = ("> " if "exclusiveMinimum" in s else ">= ") + str(
            s.get("exclusiveMinimum", s.get("minimum", "-inf")))
        hi = ("< " if "exclusiveMaximum" in s else "<= ") + str(
            s.get("exclusiveMaximum", s.get("maximum", "inf")))
        return f"a number {lo} and {hi}"
    if v == "required":
        return f"the key(s) {', '.join(map(repr, val))} must be present"
    if v == "additionalProperties":
        return "only the keys " + ", ".join(sorted(s.get("properties", {})))
    if v == "propertyNames":
        return "keys that are " + _one_of(val.get("enum", []))
    if v == "type":
        return f"a value of type {val}"
    return s.get("description", err.message)


HEADER = "params.yaml is invalid:\n"


def _invalid(key: str, value: Any, allowed: str, why: str = "") -> ConfigError:
    """The one error format: key, offending value, what is allowed."""
    return ConfigError(f"{HEADER}  {key}: {_short(value)} is not allowed{why}; allowed: {allowed}")


def _one_of(names) -> str:
    return "one of " + ", ".join(map(repr, names))


def _check(instance: Any, schema: dict, prefix: tuple = ()) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path)))
    if errors:
        lines = []
        for e in errors[:10]:
            leaf = e
            while leaf.context:  # descend into anyOf/oneOf to the useful part
                leaf = min(leaf.context, key=lambda c: len(c.context))
            value = leaf.instance if leaf.validator != "additionalProperties" else (
                sorted(set(leaf.instance) - set(leaf.schema.get("properties", {}))))
            lines.append(f"  {_key(prefix + tuple(leaf.absolute_path))}: {_short(value)} is not "
                         f"allowed; allowed: {_allowed(leaf)}")
        raise ConfigError(HEADER + "\n".join(lines))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 120 else text[:117] + "..."


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


def resolve(config: dict, check_files: bool = True, schema_path: str | Path | None = None) -> Plan:
    """Validate ``config`` (params.yaml after --config overrides) and expand it. The Snakefile
    passes its own copy of the schema, so a non-editable install works too."""
    schema = load_schema(schema_path)
    _check(config, schema)
    scale = config["scale"]
    if scale not in config["scales"]:
        raise _invalid("scale", scale, _one_of(config["scales"]))
    overlay = config["scales"][scale] or {}
    substitute = overlay.get("substitute", {})
    for k, v in substitute.items():
        if v not in config["datasets"]:
            raise _invalid(f"scales.{scale}.substitute.{k}", v,
                           "a key of datasets: " + _one_of(config["datasets"]))
    for name in overlay.get("experiments", {}):
        if name not in config["experiments"]:
            raise _invalid(f"scales.{scale}.experiments", name,
                           "a key of experiments: " + _one_of(config["experiments"]))

    experiments, cells, datasets = {}, {}, {}
    for name, exp in config["experiments"].items():
        exp = deep_merge(exp, overlay.get("all", {}))
        exp = deep_merge(exp, overlay.get("experiments", {}).get(name, {}))
        _check(exp, {**schema["$defs"]["experiment"], "$defs": schema["$defs"]},
               ("experiments", name))
        if exp["dataset"] not in config["datasets"]:
            raise _invalid(f"experiments.{name}.dataset", exp["dataset"],
                           "a key of datasets: " + _one_of(config["datasets"]))
        noise = exp["noise"]
        for i, r in enumerate(noise["rates"]):
            if r >= 1 and noise["name"] not in FULL_RATE_NOISES:
                raise _invalid(f"experiments.{name}.noise.rates[{i}]", r, "0 <= eta < 1",
                               f" for noise {noise['name']!r}")
        ds = substitute.get(exp["dataset"], exp["dataset"])
        exp["resolved_dataset"] = ds
        datasets[ds] = {"name": ds, **config["datasets"][ds]}
        experiments[name] = exp
        for point in sweep_points(exp, f"experiments.{name}.sweep"):
            setting = apply_sweep(exp, point)
            if point:
                _check({k: v for k, v in setting.items() if k != "resolved_dataset"},
                       {**schema["$defs"]["experiment"], "$defs": schema["$defs"]},
                       ("experiments", name, f"sweep {point['name']}={point['label']}"))
            for loss in exp["losses"]:
                for rate in noise["rates"]:
                    for seed in seed_list(exp["seeds"]):
                        slug = cell_slug(loss, rate, seed) + (
                            f"_{point['name']}-{point['label']}" if point else "")
                        cells[(name, slug)] = {
                            "experiment": name, "paper": exp["paper"], "slug": slug,
                            "dataset": ds, "stand_in_for": datasets[ds].get("stand_in_for"),
                            "model": setting["model"],
                            "loss": {"name": loss,
                                     "params": exp.get("loss_params", {}).get(loss, {})},
                            "noise": {"name": noise["name"], "rate": float(rate),
                                      **({"seed": int(noise["seed"])} if "seed" in noise
                                         else {})},
                            "seed": int(seed), "train": setting["train"], "scale": scale,
                            "subset": setting.get("subset"),
                            **({"probes": exp["probes"]} if exp.get("probes") else {}),
                            **({"sweep": point} if point else {}),
                        }
    figures = {}
    for fid, spec in config["figures"].items():
        spec = deep_merge(spec, (overlay.get("figures") or {}).get(fid, {}))
        if "dataset" in spec:  # a figure computed from a dataset, not from training runs
            if spec["dataset"] not in config["datasets"]:
                raise _invalid(f"figures.{fid}.dataset", spec["dataset"],
                               "a key of datasets: " + _one_of(config["datasets"]))
            ds = substitute.get(spec["dataset"], spec["dataset"])
            spec["resolved_dataset"] = ds
            datasets[ds] = {"name": ds, **config["datasets"][ds]}
        figures[fid] = spec
    for fid in (overlay.get("figures") or {}):
        if fid not in config["figures"]:
            raise _invalid(f"scales.{scale}.figures", fid,
                           "a key of figures: " + _one_of(config["figures"]))
    _check_figures(figures, experiments)
    if check_files:
        _check_user_data(config["datasets"])
    return Plan(scale, datasets, cells, experiments, figures, config,
                make_groups(cells, experiments))


SWEEP_ROOTS = ("model", "train", "subset")


def sweep_points(exp: dict, key: str) -> list[dict]:
    """The settings an experiment's ``sweep`` walks through (one hyper-parameter, or several
    moved together): ``[{name, keys, values, label}]``, or ``[{}]`` without a sweep."""
    sw = exp.get("sweep")
    if not sw:
        return [{}]
    keys = [sw["key"]] if "key" in sw else list(sw.get("keys", []))
    if not keys or ("key" in sw) == ("keys" in sw):
        raise _invalid(key, sw, "exactly one of 'key' (one dotted key) or 'keys' (a list)")
    for k in keys:
        if k.split(".")[0] not in SWEEP_ROOTS:
            raise _invalid(f"{key}.key", k, "a dotted key under " + _one_of(SWEEP_ROOTS))
    points = []
    for i, v in enumerate(sw["values"]):
        vals = [v] if "key" in sw else v
        if not isinstance(vals, list) or len(vals) != len(keys):
            raise _invalid(f"{key}.values[{i}]", v, f"a list of {len(keys)} numbers (one per key)"
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
            raise _invalid("figures", fid, "ids of the form <paper>/<name>, e.g. ps/fig1")
        for i, panel in enumerate(spec.get("panels", [])):
            for j, p in enumerate(panel.get("series") or [panel]):
                key = f"figures.{fid}.panels[{i}]" + (f".series[{j}]" if "series" in panel
                                                      else "")
                if p["experiment"] not in experiments:
                    raise _invalid(f"{key}.experiment", p["experiment"], _one_of(experiments))
                losses = experiments[p["experiment"]]["losses"]
                if p["loss"] not in losses:
                    raise _invalid(f"{key}.loss", p["loss"],
                                   f"{_one_of(losses)} (the losses of {p['experiment']})")


def _check_user_data(datasets: dict) -> None:
    from .data import DataError, validate_npz

    for name, spec in datasets.items():
        if spec["source"] == "npz":
            if "path" not in spec:
                raise _invalid(f"datasets.{name}.path", None,
                               "a path to an .npz with x_train, y_train, x_test, y_test")
            try:
                validate_npz(spec["path"], key=f"datasets.{name}.path")
            except DataError as e:
                raise ConfigError(f"{HEADER}  {e}") from None
