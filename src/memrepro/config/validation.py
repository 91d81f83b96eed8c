"""Validation of the configuration (params.yaml and config/<paper>.yaml): the JSON schema with
the code's names injected (models, losses, noises, figure kinds, the papers' probes and
objectives and their options), errors that name the key, the value, what is allowed and the
nearest valid name, and the checks a schema cannot express (each figure kind's keys, model
arguments and their declared constraints, every scale's overlay). An error names the file
each line comes from (params.yaml, a paper's file, a ``--configfile``, the ``--config`` values
or a user's dataset): :meth:`ConfigError.attributed`.

``memrepro.config.resolve`` calls it; the catalog is imported inside functions, so importing
this module loads no paper.
"""

from __future__ import annotations

import copy
import functools
import inspect
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from memrepro.config.dataset_checks import dataset_errors
from memrepro.config.errors import (
    ConfigError,
    Line,
    _key,
    _unknown_keys,
    _where,
    error_line,
    fail,
    name_list,
    one_of,
)

__all__ = ["ConfigError", "load_schema"]

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "params.schema.yaml"
ENGINE_MODEL_ARGS = ("in_channels", "num_classes", "image_size")  # filled in by the engine


def load_schema(path: str | Path | None = None) -> dict:
    """params.schema.yaml with the code's names injected: models, losses (and their
    arguments), noises, probes and objectives (with the papers' options schemas), figure
    kinds (and any key a kind declares that the schema does not describe)."""
    from memrepro import catalog
    from memrepro.losses import LOSSES
    from memrepro.models import MODELS
    from memrepro.noise import NOISES

    file = Path(path or SCHEMA_PATH)
    stat = file.stat()
    schema = copy.deepcopy(_schema_file(str(file), stat.st_mtime_ns, stat.st_size))
    d = schema["$defs"]
    exp = d["experiment"]["properties"]
    exp["model"]["properties"]["name"]["enum"] = sorted(MODELS)
    _check_declared(d["model_arguments"], MODELS, ENGINE_MODEL_ARGS)
    _check_declared(d["loss_arguments"], LOSSES)
    exp["losses"]["items"]["enum"] = sorted(LOSSES)
    exp["loss_params"]["properties"] = {
        name: _arguments_schema(fn, d["loss_arguments"]["properties"].get(name, {}))
        for name, fn in sorted(LOSSES.items())}
    exp["noise"]["properties"]["name"]["enum"] = sorted(NOISES)
    options = catalog.option_schemas()
    exp["probes"]["properties"] = {
        name: _options_schema(options.get(name, {}), d["probe_schedule"])
        for name in sorted(catalog.probe_names())}
    no_every = d["experiment"]["then"]["properties"]["probes"]  # with stop_when_fit
    every = no_every.pop("every")
    no_every["properties"] = {name: {"properties": {"every": every}}
                              for name in catalog.file_probe_names()}
    train = exp["train"]["properties"]
    for name in sorted(catalog.objective_names()):
        if name in train:
            raise ValueError(f"objective {name!r} has the name of a train key")
        train[name] = _options_schema(options.get(name, {}))
    kinds = catalog.figure_kinds()
    d["figure"]["properties"]["kind"]["enum"] = sorted(kinds)
    d["figure"]["properties"]["losses"]["items"]["enum"] = sorted(LOSSES)
    panel = d["figure"]["properties"]["panels"]["items"]["properties"]
    panel["metrics"]["items"]["enum"] = panel["metric"]["enum"] = catalog.history_metrics()
    _describe_kind_keys(d["figure"], kinds)
    return schema


@functools.lru_cache(maxsize=4)
def _schema_file(path: str, mtime_ns: int, size: int) -> dict:
    """The schema file as parsed, once per version of it (a plan resolves every scale)."""
    return yaml.safe_load(Path(path).read_text())


def arguments_of(fn, filled: tuple[str, ...] = ()) -> list[str] | None:
    """The keyword arguments ``fn`` takes, less ``filled``; None when it takes ``**kwargs``."""
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return sorted(p.name for p in params if p.name not in filled
                  and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def _arguments_schema(fn, declared: dict) -> dict:
    """The mapping of ``fn``'s keyword arguments (open when it takes ``**kwargs``), each with
    its declared constraints."""
    args = arguments_of(fn)
    props = declared.get("properties", {})
    return {"type": "object", "additionalProperties": args is None,
            "properties": {a: props.get(a, {}) for a in args or props}}


def _check_declared(declared: dict, registry: dict, filled: tuple[str, ...] = ()) -> None:
    """Constraints declared in the schema only for registered names and their arguments."""
    for name, spec in declared["properties"].items():
        args = arguments_of(registry[name], filled) if name in registry else []
        bad = [a for a in spec.get("properties", {}) if args is not None and a not in args]
        if name not in registry or bad:
            raise ValueError(f"params.schema.yaml declares constraints of {name!r} {bad or ''}"
                             f" but {name!r} is not registered or takes no such argument")


def _options_schema(own: dict, schedule: dict | None = None) -> dict:
    """A probe's or objective's options: the paper's schema, closed unless it says otherwise;
    a probe also takes the core's schedule (``epochs``, ``every``: memrepro.probes.due)."""
    out = {"type": "object", "additionalProperties": False, **copy.deepcopy(own)}
    if schedule is not None:
        out["properties"] = {**schedule["properties"], **out.get("properties", {})}
        out.setdefault("description", schedule["description"])
    return out


def _describe_kind_keys(figure: dict, kinds: dict) -> None:
    """The figure schema describes the union of all kinds' keys: add any a kind declares that
    the schema file lacks (the per-kind check, :func:`_figure_key_errors`, is the authority)."""
    panel = figure["properties"]["panels"]["items"]
    series = panel["properties"]["series"]["items"]
    for kind in kinds.values():
        for keys, node in ((kind.keys, figure), (kind.panel_keys, panel),
                           (kind.series_keys, series)):
            for key in keys:
                node["properties"].setdefault(key, {"description": "a key of a figure kind"})


# --- error messages (the lines: memrepro.config.errors) -----------------------------------


def _allowed(err: jsonschema.ValidationError) -> str:
    v, val = err.validator, err.validator_value
    s = err.schema if isinstance(err.schema, dict) else {}
    if v == "enum":
        return one_of(val)
    if v in {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}:
        bounds = [f"{op} {s[k]}" for k, op in (("minimum", ">="), ("exclusiveMinimum", ">"),
                                               ("maximum", "<="), ("exclusiveMaximum", "<"))
                  if k in s]
        return ("an integer " if s.get("type") == "integer" else "a number ") + " and ".join(
            bounds)
    if v in {"oneOf", "anyOf"} and s.get("description"):  # the first sentence says what
        first = s["description"].split(". ")[0].rstrip(".")
        return first[:1].lower() + first[1:]
    if v == "required":
        return f"the key(s) {', '.join(map(repr, val))} must be present"
    if v == "propertyNames":
        return "keys that are " + one_of(val.get("enum", []))
    if v == "type":
        return f"a value of type {val}"
    if v == "minItems":  # e.g. losses: [] -> "a list of at least 1 of 'cce', 'mse', ..."
        enum = (s.get("items") or {}).get("enum")
        what = name_list(enum) if enum else "item(s)"
        return f"a list of at least {val} of {what}" + (
            f" ({s['description'].rstrip('.')})" if s.get("description") else "")
    if v == "uniqueItems":
        return "each value once" + (f" ({s['description'].rstrip('.')})"
                                    if s.get("description") else "")
    return s.get("description", err.message)


def _schema_errors(instance: Any, schema: dict, prefix: tuple = (), skip=None) -> list[str]:
    """One line per schema violation (one per unknown key), sorted by key, an unknown key
    before what it leaves missing; ``skip(leaf, path)`` drops violations reported elsewhere."""
    found = []
    for e in jsonschema.Draft202012Validator(schema).iter_errors(instance):
        leaf = e
        while leaf.context and not (isinstance(leaf.schema, dict)
                                    and leaf.schema.get("description")):  # descend into anyOf/oneOf
            leaf = min(leaf.context, key=lambda c: len(c.context))  # unless it says what
        path = prefix + tuple(leaf.absolute_path)
        if skip is not None and skip(leaf, path):
            continue
        key = _key(path)
        if leaf.validator == "additionalProperties":
            lines = _unknown_keys(key, leaf.instance, leaf.schema.get("properties", {}))
        elif leaf.validator == "required":
            missing = [k for k in leaf.validator_value if k not in leaf.instance]
            lines = [Line(f"  {key}: {name_list(missing)} missing; required: "
                          f"{name_list(leaf.validator_value)}")]
            lines[0].where = _where(key)
        else:
            choices = leaf.validator_value if leaf.validator == "enum" else ()
            lines = [error_line(key, leaf.instance, _allowed(leaf), choices=choices)]
        order = (list(map(str, path)), leaf.validator != "additionalProperties")
        found += [(order, line) for line in lines]
    return [line for _, line in sorted(found, key=lambda f: f[0])]


def check_against(instance: Any, schema: dict, prefix: tuple = ()) -> None:
    fail(_schema_errors(instance, schema, prefix))


def subschema(schema: dict, name: str) -> dict:
    """``$defs[name]`` as a schema of its own."""
    return {**schema["$defs"][name], "$defs": schema["$defs"]}


def _partial(node: Any) -> Any:
    """The schema less every ``required``: what a scale's overlay of an experiment or a
    figure must satisfy (it checks keys and values but needs none of them; no ``at`` in it)."""
    if isinstance(node, list):
        return [_partial(x) for x in node]
    if not isinstance(node, dict):
        return node
    return {k: ({n: _partial(s) for n, s in v.items() if n != "at" or k != "properties"}
                if k in ("properties", "$defs") else _partial(v))
            for k, v in node.items() if k != "required"}


# --- checks before the scale is applied -------------------------------------------------------


def check_config(config: dict, schema: dict) -> None:
    """The raw config: the schema, each figure's keys against its kind, every scale's overlay
    and every experiment's model arguments (at every scale), all errors in one message."""
    from memrepro import catalog

    kinds = catalog.figure_kinds()
    figs = config.get("figures") if isinstance(config.get("figures"), dict) else {}
    known = {f for f, s in figs.items() if isinstance(s, dict) and s.get("kind") in kinds}

    def by_kind(leaf, path) -> bool:  # a figure's unknown keys: reported by its kind
        return (leaf.validator == "additionalProperties" and len(path) > 1
                and path[0] == "figures" and path[1] in known)

    lines = _schema_errors(config, schema, skip=by_kind) + dataset_errors(config)
    for fid in known:
        lines += _figure_key_errors(f"figures.{fid}", figs[fid], figs[fid]["kind"], kinds)
        lines += _figure_needs(f"figures.{fid}", figs[fid], kinds[figs[fid]["kind"]])
    try:  # all at once; these checks read what the schema checked, so may fail if it did not
        lines += _scale_errors(config, schema, kinds) + _model_arg_errors(config, schema)
    except Exception:
        if not lines:
            raise
    fail(lines)


def _figure_needs(key: str, spec: dict, kind) -> list[str]:
    """A figure drawn from runs names its panels; one computed from a dataset names it."""
    need = ("panels" if kind.reads in ("history", "probes", "model") and "panels" in kind.keys
            else "dataset" if kind.reads == "dataset" else None)
    if need is None or spec.get(need):
        return []
    line = Line(f"  {key}: {need!r} missing; required by a {spec['kind']!r} figure: {need!r}")
    line.where = key
    return [line]


def _figure_key_errors(key: str, spec: dict, kind_name: str, kinds: dict) -> list[str]:
    """The keys of a figure (or of a scale's overlay of one), its panels and their series
    that its kind does not accept (``FigureKind.keys`` / ``panel_keys`` / ``series_keys``)."""
    kind = kinds.get(kind_name)
    if kind is None:
        return []
    what = f"the keys of a {kind_name!r} "
    lines = _unknown_keys(key, spec, {"kind", "title", *kind.keys}, what + "figure:")
    panels = spec.get("panels") if "panels" in kind.keys else None
    for i, panel in enumerate(panels if isinstance(panels, list) else []):
        if not isinstance(panel, dict):
            continue
        lines += _unknown_keys(f"{key}.panels[{i}]", panel, kind.panel_keys, what + "panel:")
        series = panel.get("series") if "series" in kind.panel_keys else None
        for j, item in enumerate(series if isinstance(series, list) else []):
            if isinstance(item, dict):
                lines += _unknown_keys(f"{key}.panels[{i}].series[{j}]", item, kind.series_keys,
                                       what + "series item:")
    return lines


def _scale_errors(config: dict, schema: dict, kinds: dict) -> list[str]:
    """Every scale's overlay (not only the chosen one): the names it refers to, and its keys
    and values against the experiment and figure schemas (nothing required)."""
    exp_schema = _partial(subschema(schema, "experiment"))
    fig_schema = _partial(subschema(schema, "figure"))
    names = {what: list(config[what]) for what in ("datasets", "experiments", "figures")}
    lines = []
    for sname, overlay in config["scales"].items():
        at, overlay = f"scales.{sname}", overlay or {}
        for k, v in overlay.get("substitute", {}).items():
            for key, name in ((f"{at}.substitute", k), (f"{at}.substitute.{k}", v)):
                if name not in names["datasets"]:
                    lines.append(error_line(key, name, "a key of datasets: " + one_of(
                        names["datasets"]), choices=names["datasets"]))
        lines += _schema_errors(overlay.get("all", {}), exp_schema, ("scales", sname, "all"))
        for what, schema_ in (("experiments", exp_schema), ("figures", fig_schema)):
            for name, part in (overlay.get(what) or {}).items():
                if name not in names[what]:
                    lines.append(error_line(f"{at}.{what}", name, f"a key of {what}: " + one_of(
                        names[what]), choices=names[what]))
                    continue
                where = ("scales", sname, what, name)
                if what == "experiments":
                    lines += _schema_errors(part, schema_, where)
                    continue
                kind = part.get("kind", config["figures"][name]["kind"])
                lines += _schema_errors(part, schema_, where, skip=_by_kind if kind in kinds
                                        else None)
                lines += _figure_key_errors(_key(where), part, kind, kinds)
    return lines


def _by_kind(leaf, path) -> bool:
    """A figure's unknown keys: reported by :func:`_figure_key_errors` against its kind."""
    return leaf.validator == "additionalProperties"


def _model_arg_errors(config: dict, schema: dict) -> list[str]:
    """Model arguments (``model:`` of an experiment, of ``all`` and of an experiment in a
    scale's overlay) that the model's constructor, as merged at each scale, does not take,
    or whose value breaks its declared constraint (named where it was set)."""
    from memrepro.models import MODELS

    lines = []
    for sname, overlay in config["scales"].items():
        overlay = overlay or {}
        for name, exp in config["experiments"].items():
            part = (overlay.get("experiments") or {}).get(name) or {}
            layers = [(f"experiments.{name}.model", exp["model"]),
                      (f"scales.{sname}.all.model", (overlay.get("all") or {}).get("model", {})),
                      (f"scales.{sname}.experiments.{name}.model", part.get("model", {}))]
            model = next(lay["name"] for _, lay in reversed(layers) if "name" in lay)
            if model not in MODELS:
                continue  # the schema names it
            for key, layer in layers:
                why = (f" (model {model!r} at scale {sname!r})"
                       if layer.get("name", model) != model else "")
                lines += _model_key_errors(key, layer, model, why)
            set_at = {a: key for key, layer in layers for a in layer if a != "name"}
            merged = {a: lay[a] for _, lay in layers for a in lay if a != "name"}
            lines += model_value_errors(set_at, {"name": model, **merged}, schema)
    return lines


def model_value_errors(set_at: dict[str, str], spec: dict, schema: dict) -> list[str]:
    """The arguments of a merged ``model:`` mapping that break their model's declared
    constraints (``$defs.model_arguments`` of the schema); ``set_at[arg]``: where it was set."""
    declared = schema["$defs"]["model_arguments"]["properties"].get(spec.get("name"), {})
    lines = []
    for arg, value in spec.items():
        if arg in declared.get("properties", {}):
            own = {**declared["properties"][arg], "$defs": schema["$defs"]}
            lines += _schema_errors(value, own, (set_at[arg], arg))
    return lines


def _model_key_errors(key: str, model_spec: dict, model: str, why: str = "") -> list[str]:
    from memrepro.models import MODELS

    allowed = arguments_of(MODELS[model], ENGINE_MODEL_ARGS)
    if allowed is None:
        return []
    return _unknown_keys(key, [k for k in model_spec if k != "name"], allowed,
                         f"the arguments of model {model!r}:", why)
