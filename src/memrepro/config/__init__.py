"""The configuration: params.yaml and the papers' files read, checked and expanded into a plan.

The names below are the package's interface; its modules are:

- ``plan``: ``resolve(config)`` -> :class:`Plan` (cells, groups, figures, partitions);
- ``layout``: the files (params.yaml, config/<paper>.yaml) read and merged, ``at:`` lifted;
- ``errors``: :class:`ConfigError` and the one way an error line is written;
- ``explain``: ``describe(experiment, scale)``, its settings and where each came from;
- ``validation``: the JSON schema, with the registries' names and arguments injected;
- ``overlays``: what a scale's overlay changed (printed when the Snakefile plans);
- ``plan_checks``, ``dataset_checks``, ``dataset_sizes``: what used to fail inside a job,
  refused at planning.
"""

from memrepro.config.errors import ConfigError
from memrepro.config.layout import load_config, load_sources, merge_sources
from memrepro.config.overlays import overlay_changes
from memrepro.config.plan import Plan, cell_slug, deep_merge, make_groups, resolve
from memrepro.config.validation import load_schema

__all__ = ["ConfigError", "Plan", "cell_slug", "deep_merge", "load_config", "load_schema",
           "load_sources", "make_groups", "merge_sources", "overlay_changes", "resolve"]
