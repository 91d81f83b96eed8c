"""The configuration's files and how they are merged into the one mapping ``resolve`` reads.

``params.yaml`` holds what is global (scale, device, data, datasets, each scale's dataset
``substitute`` and its ``all`` overlay) and lists the papers' files, ``papers: [ps, ar, ...]``:
``config/<name>.yaml``, each with ``templates``, ``experiments``, ``partitions`` and
``figures``. An experiment's or figure's overlay at a scale sits next to it, as
``at: {smoke: {...}, quick: {...}}``. :func:`load_sources` reads the files in Snakemake's
order of precedence (params.yaml, the papers' files in the listed order, each
``--configfile``, the ``--config`` values, whose dotted keys it nests); :func:`merge_sources`
merges them as Snakemake merges config files (mappings key by key, anything else replaced).

:func:`lift_at` moves every ``at:`` into the scale's overlay, ``scales.<scale>.experiments``
(``.figures``), the form the resolution has always read, so the plan does not depend on where
an overlay is written. An error about such a key is shown as written
(``experiments.<name>.at.<scale>...``: ``memrepro.config.errors.as_written``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from memrepro.config.errors import (
    ConfigError,
    Line,
    _shown,
    error_line,
    fail,
    name_list,
    one_of,
    read_yaml,
)

PAPER_DIR = "config"  # config/<name>.yaml, relative to params.yaml
PAPER_KEYS = ("templates", "experiments", "partitions", "figures")
WITH_AT = ("experiments", "figures")  # whose entries may carry `at:`
CLI = "--config (command line)"


def load_sources(main: str | Path = "params.yaml", configfiles=(), cli: dict | None = None
                 ) -> list[tuple[str, Any]]:
    """``[(label, mapping)]`` in Snakemake's order of precedence, lowest first: ``main``
    (skipped when absent), the papers' files it lists (``papers``, the last value any source
    gives), each ``--configfile`` and the ``--config`` values with their dotted keys nested.
    A YAML syntax error names the file, line and column; a paper's file names only its
    experiments, partitions, figures and templates, none of them set in another paper's."""
    main = Path(main)
    head = [(str(main), read_yaml(main, str(main)))] if main.is_file() else []
    extra = [(f"{_shown(p)} (--configfile)", p) for p in configfiles]
    extra = [(label, read_yaml(p, label)) for label, p in extra]
    listed = [d.get("papers") for _, d in head + extra + [(CLI, cli or {})] if "papers" in d]
    out = head + _paper_sources(main.parent, listed[-1] if listed else [])
    for label, data in extra:  # a dotted key in a --configfile is nested too
        out.append((label, nest_dotted(data, merge_sources(out), label)))
    if cli:
        out.append((CLI, nest_dotted(_typed(dict(cli)), merge_sources(out))))
    return out


def _typed(cli: dict) -> dict:
    """Snakemake parses a ``--config`` value that is a mapping or list with YAML's base
    loader, every scalar a string (``{x: {train: {epochs: '5'}}}``): each is read as a YAML
    file would read it (5), so a nested override works as written."""
    def typed(value: Any, nested: bool) -> Any:
        if isinstance(value, dict):
            return {k: typed(v, True) for k, v in value.items()}
        if isinstance(value, list):
            return [typed(v, True) for v in value]
        if nested and isinstance(value, str):
            try:
                return yaml.safe_load(value) if value else value
            except yaml.YAMLError:
                return value
        return value
    return {k: typed(v, False) for k, v in cli.items()}


def _paper_sources(root: Path, names) -> list[tuple[str, dict]]:
    """The papers' files, each checked for its keys; a name in two of them is refused."""
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError([error_line("papers", names, "a list of names <name> of files "
                                      f"{PAPER_DIR}/<name>.yaml")], source="params.yaml")
    present = sorted(p.stem for p in (root / PAPER_DIR).glob("*.yaml"))
    missing = [n for n in names if n not in present]
    fail([error_line("papers", n, f"names of files {PAPER_DIR}/<name>.yaml: "
                     f"{name_list(present)}", choices=present) for n in missing])
    out, home, lines = [], {}, []
    for name in names:
        label = f"{PAPER_DIR}/{name}.yaml"
        data = read_yaml(root / label, label)
        bad = [error_line("<top level>", k, f"only the keys {name_list(PAPER_KEYS)} (global "
                          "settings are in params.yaml)", choices=PAPER_KEYS, leaf=k)
               for k in data if k not in PAPER_KEYS]
        if bad:
            raise ConfigError(bad, source=label)
        for what in PAPER_KEYS:
            for key in data.get(what) or {}:
                if (what, key) in home:
                    lines.append(f"  {what}.{key}: set in {home[what, key]} and in {label}; "
                                 "allowed: each name in one paper's file")
                home.setdefault((what, key), label)
        out.append((label, data))
    fail(lines)
    return out


def unlisted_paper_files(root: str | Path, config: dict) -> list[str]:
    """The files config/*.yaml that ``papers`` does not list (so are not read)."""
    listed = set(config.get("papers") or [])
    return [f"{PAPER_DIR}/{p.name}" for p in sorted((Path(root) / PAPER_DIR).glob("*.yaml"))
            if p.stem not in listed]


def merge_sources(sources: list[tuple[str, Any]]) -> dict:
    """The sources merged as Snakemake merges config files: mappings key by key, lists and
    other values replaced, later sources winning."""
    out: dict = {}
    for _, data in sources:
        _update(out, data)
    return out


def _update(base: dict, new: dict) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _update(base[k], v)
        else:
            base[k] = copy.deepcopy(v)


def nest_dotted(cli: dict, files: dict, label: str = CLI) -> dict:
    """A dotted key (``experiments.x.train.epochs: 5``) of overrides as ``{experiments: {x:
    {train: {epochs: 5}}}}``. Every part but the last must name an existing key of the merged
    files (the nearest one is suggested), except ``at`` and a scale under it, which an
    override may add. (Snakemake's own ``--config`` refuses a dotted key before the Snakefile
    runs; a ``--configfile``, the ``memrepro`` command's ``--config`` and a nested ``--config``
    value reach here.)"""
    out: dict = {}
    lines = []
    for key, value in cli.items():
        if not isinstance(key, str) or "." not in key:
            _update(out, {key: value})
            continue
        parts = key.split(".")
        node, nested = files, value
        for i, part in enumerate(parts[:-1]):
            new = part == "at" or (i > 0 and parts[i - 1] == "at")
            if not isinstance(node, dict) or (part not in node and not new):
                where = ".".join(parts[:i]) or "<top level>"
                keys = sorted(map(str, node)) if isinstance(node, dict) else []
                lines.append(error_line(where, part, "an existing key: " + one_of(keys)
                                        if keys else "a mapping", choices=keys, leaf=part))
                break
            node = node.get(part, {})
        else:
            for part in reversed(parts):
                nested = {part: nested}
            _update(out, nested)
    if lines:
        raise ConfigError(lines, source=label)
    return out


def lift_at(config: Any, check: bool = False) -> Any:
    """``config`` with every experiment's and figure's ``at: {<scale>: overlay}`` moved to
    ``scales.<scale>.experiments.<name>`` (``.figures``), merged over one written there.
    ``check``: an ``at`` naming a scale that ``scales`` does not define is refused."""
    if not isinstance(config, dict) or not any(
            isinstance(config.get(w), dict) and any(isinstance(s, dict) and "at" in s
                                                    for s in config[w].values())
            for w in WITH_AT):
        return config
    out = dict(config)
    scales = out["scales"] = copy.deepcopy(out.get("scales")) or {}
    known = list(scales) if isinstance(scales, dict) else []
    lines = []
    for what in WITH_AT:
        if not isinstance(out.get(what), dict):
            continue
        out[what] = {name: _without_at(spec) for name, spec in out[what].items()}
        for name, spec in config[what].items():
            at = spec.get("at") if isinstance(spec, dict) else None
            if at is None:
                continue
            if not isinstance(at, dict):
                lines.append(error_line(f"{what}.{name}.at", at, "a mapping of scale -> "
                                        "overlay: " + one_of(known)))
                continue
            for scale, overlay in at.items():
                if check and scale not in known:
                    lines.append(_unknown_scale(what, name, scale, known))
                    continue
                if not isinstance(scales, dict):
                    continue
                if not isinstance(scales.get(scale), dict):
                    scales[scale] = {}
                own = scales[scale].setdefault(what, {})
                own[name] = _merged(own.get(name), overlay)
    fail(lines)
    return out


def _without_at(spec: Any) -> Any:
    return {k: v for k, v in spec.items() if k != "at"} if isinstance(spec, dict) else spec


def _merged(old: Any, new: Any) -> Any:
    if isinstance(old, dict) and isinstance(new, dict):
        merged = copy.deepcopy(old)
        _update(merged, new)
        return merged
    return copy.deepcopy(new)


def _unknown_scale(what: str, name: str, scale: str, known: list[str]) -> Line:
    line = error_line(f"{what}.{name}.at", scale, f"the scales of params.yaml: "
                      f"{name_list(known)}", choices=known)
    line.where = f"scales.{scale}.{what}.{name}"  # where lift_at puts it, in every source
    return line


def load_config(root: str | Path = ".", lifted: bool = True) -> dict:
    """params.yaml and the papers' files of the checkout at ``root``, merged (and, with
    ``lifted``, with every ``at:`` moved to its scale's overlay: what ``resolve`` reads)."""
    merged = merge_sources(load_sources(Path(root) / "params.yaml"))
    return lift_at(merged, check=True) if lifted else merged
