"""Configuration errors and where they come from.

Every error line names the key, the offending value, what is allowed and the nearest valid
name (``did you mean 'metrics'?``). A :class:`ConfigError` groups its lines by the file they
come from: params.yaml, a paper's config/<name>.yaml, a ``--configfile`` given to Snakemake,
the ``--config`` values, or a user's dataset. ``memrepro.config.layout.load_sources`` reads the
files as the Snakefile sees them (:func:`read_yaml`: a YAML syntax error names the file, line
and column) so that :meth:`ConfigError.attributed` can tell which of them set the key a line
is about, and shows a key of a scale's overlay as the file writes it (``at:``).
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any

import yaml

from memrepro.specs import refused

DEFAULT_SOURCE = "params.yaml"  # what an error is about when its file is not known
MAX_LINES = 10  # errors listed at once


class Line(str):
    """One error line; ``where``: the dotted key it is about (which file set it: ``source_of``)."""

    where: str | None = None


class ConfigError(ValueError):
    """An invalid configuration: ``groups`` maps each source (a file; None: not yet known,
    shown as params.yaml) to its error lines, each naming key, value and what is allowed."""

    def __init__(self, lines: list[str] | str = (), source: str | None = None,
                 groups: dict[str | None, list[str]] | None = None):
        self.groups = groups or {source: [lines] if isinstance(lines, str) else list(lines)}
        super().__init__("\n".join(f"{src or DEFAULT_SOURCE} is invalid:\n" + "\n".join(ls)
                                   for src, ls in self.groups.items()))

    @property
    def sources(self) -> list[str]:
        return [src or DEFAULT_SOURCE for src in self.groups]

    def refusal(self) -> str:
        """What the Snakefile prints before it stops."""
        return f"memrepro: {self}\nNothing was run. Fix {' and '.join(self.sources)}."

    def attributed(self, sources: list[tuple[str, Any]] | None) -> ConfigError:
        """The same lines under the file each comes from: of ``sources`` ((label, mapping),
        lowest precedence first, as Snakemake merges them, each with its ``at:`` lifted as
        ``resolve`` reads it), the last that sets its key; a key of a scale's overlay of an
        experiment or figure shown as the files write it (``at:``, :func:`as_written`)."""
        sources = list(sources or ())
        groups: dict[str | None, list[str]] = {}
        for src, lines in self.groups.items():
            label = src
            for line in lines:  # a line without a key ("... and 3 more") stays with the last
                if sources and src is None and getattr(line, "where", None) is not None:
                    label = source_of(line.where, sources)
                groups.setdefault(label or (sources[0][0] if sources else None),
                                  []).append(as_written(line))
        order = [label for label, _ in sources]  # as merged; others (a dataset file) last
        return ConfigError(groups=dict(sorted(groups.items(), key=lambda g: (
            order.index(g[0]) if g[0] in order else len(order)))))


_INTERNAL = re.compile(r"^(\s*)scales\.([^.\s\[]+)\.(experiments|figures)\.([^.\s\[:]+)")


def as_written(line: str) -> str:
    """An error line about ``scales.<s>.experiments.<name>...`` (the form ``at:`` is lifted
    into) as the files write it: ``experiments.<name>.at.<s>...``; its ``where`` is kept."""
    text = _INTERNAL.sub(lambda m: f"{m[1]}{m[3]}.{m[4]}.at.{m[2]}", str(line))
    if text == line:
        return line
    out = Line(text)
    out.where = getattr(line, "where", None)
    return out


def source_of(where: str, sources: list[tuple[str, Any]]) -> str:
    """The label of the last source that sets the dotted key ``where`` (or the most of it)."""
    best, most = sources[0][0], 0
    for label, data in reversed(sources) if where else ():
        depth, whole = _defines(data, where)
        if whole:
            return label
        if depth > most:
            best, most = label, depth
    return best


def _defines(node: Any, where: str) -> tuple[int, bool]:
    """How many parts of the dotted key ``where`` (``a.b[2].c``) ``node`` holds, and whether
    all of them; keys may contain dots, so the longest key that fits is taken."""
    depth, rest = 0, where
    while rest:
        if isinstance(node, dict):
            k = max((k for k in node if rest == str(k) or rest.startswith((f"{k}.", f"{k}["))),
                    key=lambda k: len(str(k)), default=None)
            if k is None:
                return depth, False
            node, rest = node[k], rest[len(str(k)):]
        elif isinstance(node, list) and (m := re.match(r"\[(\d+)\]", rest)) \
                and int(m[1]) < len(node):
            node, rest = node[int(m[1])], rest[m.end():]
        else:
            return depth, False
        rest, depth = rest.removeprefix("."), depth + 1
    return depth, True


# --- error lines -----------------------------------------------------------------------------


def _key(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def one_of(names) -> str:
    return "one of " + name_list(names)


def name_list(names) -> str:
    return ", ".join(map(repr, names)) or "none"


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 120 else text[:117] + "..."


def _did_you_mean(value: Any, choices) -> str:
    """``; did you mean 'x'?`` for the nearest of ``choices`` to a string ``value``, or ''."""
    if not isinstance(value, str):
        return ""
    near = difflib.get_close_matches(value, [str(c) for c in choices], n=1)
    return f"; did you mean {near[0]!r}?" if near else ""


def error_line(key: str, value: Any, allowed: str, why: str = "", choices=(),
               leaf: Any = None) -> Line:
    """The one error format: key, offending value, what is allowed, the nearest choice;
    ``leaf``: the value is a key of the mapping at ``key`` (an unknown key)."""
    line = Line("  " + refused(f"{key}: {short(value)}", allowed, why=why)
                + _did_you_mean(value, choices))
    line.where = _where(key, leaf)
    return line


def _where(key: str, leaf: Any = None) -> str:
    """The dotted key a line is about (``<top level>`` is the empty key)."""
    key = "" if key == "<top level>" else key
    if leaf is None:
        return key
    return f"{key}.{leaf}" if key else str(leaf)


def invalid(key: str, value: Any, allowed: str, why: str = "", choices=(),
            leaf: Any = None) -> ConfigError:
    return ConfigError([error_line(key, value, allowed, why, choices, leaf)])


def fail(lines: list[str]) -> None:
    """Raise one ConfigError listing ``lines`` (the first MAX_LINES), if there are any."""
    lines = list(dict.fromkeys(lines))
    if lines:
        more = len(lines) - MAX_LINES
        raise ConfigError(lines[:MAX_LINES] + ([f"  ... and {more} more"] if more > 0 else []))


def _unknown_keys(key: str, mapping, allowed, what: str = "only the keys",
                  why: str = "") -> list[str]:
    """A line for every key of ``mapping`` that is not in ``allowed``."""
    allowed = sorted(allowed)
    return [error_line(key, k, f"{what} {name_list(allowed)}", why, allowed, leaf=k)
            for k in mapping if k not in allowed]


def check_user_data(datasets: dict) -> None:
    """Users' .npz files (``source: npz``), read without unpickling; an error is listed under
    the file it is about."""
    from memrepro.data import DataError, validate_npz

    for name, spec in datasets.items():
        if spec["source"] == "npz":
            if not Path(spec["path"]).is_file():
                raise invalid(f"datasets.{name}.path", spec["path"], "an existing .npz file "
                              "(relative paths: from the directory Snakemake runs in)")
            try:
                validate_npz(spec["path"], key=f"datasets.{name}.path",
                             num_classes=spec.get("num_classes"))
            except DataError as e:
                raise ConfigError([f"  {e}"], source=f"{spec['path']} (datasets.{name})") \
                    from None


# --- reading a configuration file -----------------------------------------------------------


def read_yaml(path: str | Path, label: str | None = None) -> Any:
    """A YAML file's content; its syntax errors as a ConfigError naming line and column."""
    label = label or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        context = (f" ({e.context}, line {e.context_mark.line + 1})"
                   if e.context and e.context_mark else "")
        raise ConfigError([f"  {where}: {e.problem}{context}"], source=label) from None
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as e:
        raise ConfigError([f"  {e}"], source=label) from None
    if not isinstance(data, dict):
        raise ConfigError(["  " + refused(f"<top level>: {short(data)}", "a mapping of keys "
                                          "(scale, datasets, experiments, ...)")], source=label)
    twice = duplicate_keys(text)
    if twice:
        raise ConfigError(twice, source=label)
    return data


def duplicate_keys(text: str) -> list[str]:
    """A key written twice in one mapping: YAML keeps the last silently (a second `figures:`
    would drop every figure before it). Read from the composed node graph, before `<<` merges,
    so a key that overrides a merged one is fine."""
    out, seen, todo = [], set(), [yaml.compose(text, Loader=yaml.SafeLoader)]
    while todo:
        node = todo.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict = {}
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else None
                if name is not None and name != "<<" and name in first:
                    out.append(f"  line {key.start_mark.line + 1}: key {name!r} is written twice "
                               f"in one mapping (first at line {first[name]}); allowed: each "
                               "key once")
                first.setdefault(name, key.start_mark.line + 1)
                todo.append(value)
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)
    return sorted(out, key=lambda line: int(line.split()[1].rstrip(":")))


def _shown(path: str | Path) -> str:
    """``path`` relative to the working directory when it lies below it."""
    rel = os.path.relpath(path)
    return str(path) if rel.startswith("..") else rel
