"""The project folder the ``memrepro`` command works in, and its plan.

A project folder holds the ``Snakefile`` and ``params.yaml``; every command that reads the
plan or the build (``status``, ``replay``, ``after-pull``, ``plots``, ``show``,
``list figures``) starts from one, given by ``--root`` (default: the current directory), and
refuses any other folder with one line (:class:`NotAProject`) instead of failing later on a
missing file.

:func:`load_plan` is the one place the command line reads the configuration, the way the
Snakefile does (``memrepro.config.load_sources``: params.yaml, the papers' files it lists,
``--configfile``, ``--config KEY=VALUE`` overrides, merged by ``merge_sources``), so a change
in how the configuration is split over files is made here once.
"""

from __future__ import annotations

from pathlib import Path

import yaml

MARKERS = ("Snakefile", "params.yaml")
SCHEMA = Path("workflow") / "schemas" / "params.schema.yaml"


class NotAProject(Exception):
    """The folder is not a memrepro project folder (no Snakefile, no params.yaml)."""


def project_root(root: str | Path = ".") -> Path:
    """``root`` when it holds the Snakefile or params.yaml, else :class:`NotAProject`."""
    path = Path(root)
    if not path.is_dir():
        raise NotAProject(f"--root {root}: no such folder")
    if not any((path / m).is_file() for m in MARKERS):
        where = "the current directory" if str(root) == "." else str(path)
        raise NotAProject(f"no Snakefile or params.yaml in {where}: run memrepro in the "
                          "project folder or give --root PROJECT")
    return path


def config_overrides(items: list[str] | tuple[str, ...]) -> dict:
    """``--config KEY=VALUE ...`` as Snakemake reads them: each value parsed as YAML; a dotted
    key (``experiments.x.train.epochs=5``) is nested by ``load_sources``."""
    from memrepro.config import ConfigError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--config {item!r}: expected KEY=VALUE", source="--config")
        out[key] = yaml.safe_load(value)
    return out


def load_sources(root: str | Path, configfile: str | Path | None = None,
                 overrides: list[str] | tuple[str, ...] = ()) -> list:
    """The files the project's configuration is merged from, as the Snakefile reads them
    (``memrepro.config.load_sources``): params.yaml, the papers' files it lists, then
    ``--configfile`` and the ``--config`` overrides on top, as Snakemake merges them."""
    from memrepro.config import load_sources as config_sources

    return config_sources(Path(root) / "params.yaml", [configfile] if configfile else [],
                          config_overrides(overrides))


def load_plan(root: str | Path, configfile: str | Path | None = None,
              overrides: list[str] | tuple[str, ...] = ()):
    """``memrepro.config.resolve`` of the project's merged configuration, files not checked
    (the command line reads a build, it does not start one); an error names the file that
    set its key."""
    from memrepro.config import merge_sources, resolve

    sources = load_sources(root, configfile, overrides)
    schema = Path(root) / SCHEMA
    return resolve(merge_sources(sources), check_files=False,
                   schema_path=schema if schema.exists() else None, sources=sources)
