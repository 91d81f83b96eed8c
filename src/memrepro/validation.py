"""Validation of params.yaml: the JSON schema with the code's names injected (models,
losses, noises, figure kinds, the papers' probes and objectives and their options), errors
that name the key, the value, what is allowed and the nearest valid name, and the checks a
schema cannot express (each figure kind's keys, model arguments, every scale's overlay).

``memrepro.config.resolve`` calls it; the catalog is imported inside functions, so importing
this module loads no paper.
"""

from __future__ import annotations

import copy
import difflib
import inspect
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "params.schema.yaml"
ENGINE_MODEL_ARGS = ("in_channels", "num_classes", "image_size")  # filled in by the engine
HEADER = "params.yaml is invalid:\n"
MAX_LINES = 10  # errors listed at once


class ConfigError(ValueError):
    """Invalid params.yaml; the message names key, value and what is allowed."""


def load_schema(path: str | Path | None = None) -> dict:
    """params.schema.yaml with the code's names injected: models, losses (and their
    arguments), noises, probes and objectives (with the papers' options schemas), figure
    kinds (and any key a kind declares that the schema does not describe)."""
    from memrepro import catalog
    from memrepro.losses import LOSSES
    from memrepro.models import MODELS
    from memrepro.noise import NOISES

    schema = yaml.safe_load(Path(path or SCHEMA_PATH).read_text())
    d = schema["$defs"]
    exp = d["experiment"]["properties"]
    exp["model"]["properties"]["name"]["enum"] = sorted(MODELS)
    exp["losses"]["items"]["enum"] = sorted(LOSSES)
    exp["loss_params"]["properties"] = {name: _arguments_schema(fn)
                                        for name, fn in sorted(LOSSES.items())}
    exp["noise"]["properties"]["name"]["enum"] = sorted(NOISES)
    options = catalog.option_schemas()
    exp["probes"]["properties"] = {
        name: _options_schema(options.get(name, {}), d["probe_schedule"])
        for name in sorted(catalog.probe_names())}
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


def _arguments(fn, filled: tuple[str, ...] = ()) -> list[str] | None:
    """The keyword arguments ``fn`` takes, less ``filled``; None when it takes ``**kwargs``."""
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return sorted(p.name for p in params if p.name not in filled
                  and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def _arguments_schema(fn) -> dict:
    """The mapping of ``fn``'s keyword arguments (open when it takes ``**kwargs``)."""
    args = _arguments(fn)
    return {"type": "object", "additionalProperties": args is None,
            "properties": {a: {} for a in args or []}}


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


# --- error messages ------------------------------------------------------------------------


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
    if v == "propertyNames":
        return "keys that are " + _one_of(val.get("enum", []))
    if v == "type":
        return f"a value of type {val}"
    return s.get("description", err.message)


def _one_of(names) -> str:
    return "one of " + _names(names)


def _names(names) -> str:
    return ", ".join(map(repr, names)) or "none"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 120 else text[:117] + "..."


def _did_you_mean(value: Any, choices) -> str:
    """``; did you mean 'x'?`` for the nearest of ``choices`` to a string ``value``, or ''."""
    if not isinstance(value, str):
        return ""
    near = difflib.get_close_matches(value, [str(c) for c in choices], n=1)
    return f"; did you mean {near[0]!r}?" if near else ""


def _line(key: str, value: Any, allowed: str, why: str = "", choices=()) -> str:
    """The one error format: key, offending value, what is allowed, the nearest choice."""
    return (f"  {key}: {_short(value)} is not allowed{why}; allowed: {allowed}"
            f"{_did_you_mean(value, choices)}")


def _invalid(key: str, value: Any, allowed: str, why: str = "", choices=()) -> ConfigError:
    return ConfigError(HEADER + _line(key, value, allowed, why, choices))


def _fail(lines: list[str]) -> None:
    """Raise one ConfigError listing ``lines`` (the first MAX_LINES), if there are any."""
    lines = list(dict.fromkeys(lines))
    if lines:
        more = len(lines) - MAX_LINES
        raise ConfigError(HEADER + "\n".join(lines[:MAX_LINES])
                          + (f"\n  ... and {more} more" if more > 0 else ""))


def _unknown_keys(key: str, mapping, allowed, what: str = "only the keys",
                  why: str = "") -> list[str]:
    """A line for every key of ``mapping`` that is not in ``allowed``."""
    allowed = sorted(allowed)
    return [_line(key, k, f"{what} {_names(allowed)}", why, allowed)
            for k in mapping if k not in allowed]


def _schema_errors(instance: Any, schema: dict, prefix: tuple = (), skip=None) -> list[str]:
    """One line per schema violation (one per unknown key), sorted by key, an unknown key
    before what it leaves missing; ``skip(leaf, path)`` drops violations reported elsewhere."""
    found = []
    for e in jsonschema.Draft202012Validator(schema).iter_errors(instance):
        leaf = e
        while leaf.context:  # descend into anyOf/oneOf to the useful part
            leaf = min(leaf.context, key=lambda c: len(c.context))
        path = prefix + tuple(leaf.absolute_path)
        if skip is not None and skip(leaf, path):
            continue
        key = _key(path)
        if leaf.validator == "additionalProperties":
            lines = _unknown_keys(key, leaf.instance, leaf.schema.get("properties", {}))
        elif leaf.validator == "required":
            missing = [k for k in leaf.validator_value if k not in leaf.instance]
            lines = [f"  {key}: {_names(missing)} missing; required: "
                     f"{_names(leaf.validator_value)}"]
        else:
            choices = leaf.validator_value if leaf.validator == "enum" else ()
            lines = [_line(key, leaf.instance, _allowed(leaf), choices=choices)]
        order = (list(map(str, path)), leaf.validator != "additionalProperties")
        found += [(order, line) for line in lines]
    return [line for _, line in sorted(found, key=lambda f: f[0])]


def _check(instance: Any, schema: dict, prefix: tuple = ()) -> None:
    _fail(_schema_errors(instance, schema, prefix))


def _sub(schema: dict, name: str) -> dict:
    """``$defs[name]`` as a schema of its own."""
    return {**schema["$defs"][name], "$defs": schema["$defs"]}


def _partial(node: Any) -> Any:
    """The schema less every ``required``: what a scale's overlay of an experiment or a
    figure must satisfy (it checks keys and values but needs none of them)."""
    if isinstance(node, list):
        return [_partial(x) for x in node]
    if not isinstance(node, dict):
        return node
    return {k: ({n: _partial(s) for n, s in v.items()} if k in ("properties", "$defs")
                else _partial(v)) for k, v in node.items() if k != "required"}


# --- checks before the scale is applied -------------------------------------------------------


def _check_config(config: dict, schema: dict) -> None:
    """The raw config: the schema, each figure's keys against its kind, every scale's overlay
    and every experiment's model arguments (at every scale)."""
    from memrepro import catalog

    kinds = catalog.figure_kinds()
    figs = config.get("figures") if isinstance(config.get("figures"), dict) else {}
    known = {f for f, s in figs.items() if isinstance(s, dict) and s.get("kind") in kinds}

    def by_kind(leaf, path) -> bool:  # a figure's unknown keys: reported by its kind
        return (leaf.validator == "additionalProperties" and len(path) > 1
                and path[0] == "figures" and path[1] in known)

    lines = _schema_errors(config, schema, skip=by_kind)
    for fid in known:
        lines += _figure_key_errors(f"figures.{fid}", figs[fid], figs[fid]["kind"], kinds)
    _fail(lines)
    _fail(_scale_errors(config, schema, kinds))
    _fail(_model_arg_errors(config))


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
    exp_schema, fig_schema = _partial(_sub(schema, "experiment")), _partial(_sub(schema, "figure"))
    names = {what: list(config[what]) for what in ("datasets", "experiments", "figures")}
    lines = []
    for sname, overlay in config["scales"].items():
        at, overlay = f"scales.{sname}", overlay or {}
        for k, v in overlay.get("substitute", {}).items():
            for key, name in ((f"{at}.substitute", k), (f"{at}.substitute.{k}", v)):
                if name not in names["datasets"]:
                    lines.append(_line(key, name, "a key of datasets: " + _one_of(
                        names["datasets"]), choices=names["datasets"]))
        lines += _schema_errors(overlay.get("all", {}), exp_schema, ("scales", sname, "all"))
        for what, schema_ in (("experiments", exp_schema), ("figures", fig_schema)):
            for name, part in (overlay.get(what) or {}).items():
                if name not in names[what]:
                    lines.append(_line(f"{at}.{what}", name, f"a key of {what}: " + _one_of(
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


def _model_arg_errors(config: dict) -> list[str]:
    """Model arguments (``model:`` of an experiment, of ``all`` and of an experiment in a
    scale's overlay) that the model's constructor, as merged at each scale, does not take."""
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
    return lines


def _model_key_errors(key: str, model_spec: dict, model: str, why: str = "") -> list[str]:
    from memrepro.models import MODELS

    allowed = _arguments(MODELS[model], ENGINE_MODEL_ARGS)
    if allowed is None:
        return []
    return _unknown_keys(key, [k for k in model_spec if k != "name"], allowed,
                         f"the arguments of model {model!r}:", why)


# --- resolution ------------------------------------------------------------------------------
