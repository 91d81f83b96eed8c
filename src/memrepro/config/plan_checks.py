"""Checks of a resolved plan that used to fail only inside a job, made at planning.

``memrepro.config.resolve`` calls :func:`plan_errors` once the chosen scale's experiments are
merged and expanded into cells (and again for every other scale): every error names the key,
the value and what is allowed (memrepro.config.errors), before any job runs.

- a probe epoch past the run's last epoch (``train.epochs``, per sweep point): the probe file
  would never be written, and the job would fail after training;
- an integer ``subset`` larger than the training set (memrepro.config.dataset_sizes): it would train
  on all the data silently;
- a derived dataset's ``classes`` naming a class its base lacks (the prepare job's error);
- a probe or objective on a model without what it needs (``Paper.model_needs``, e.g. LLJ's
  turn-over dropout needs ``tod: true``; the training job's error at its start);
- a probe without the objective it reads from (``Probe.needs_objective``, memrepro.hooks: LLJ's
  ``grad_stats`` needs ``train.track_gradients``; the training job's error at its start);
- a figure's panel or series naming a noise rate, seed, sweep value or feature dimension
  that no run of its experiment and loss has, or a subset's part or partition that does not
  exist (the figure job's error, after all training).
"""

from __future__ import annotations

import json

from memrepro.config.dataset_checks import derived_class_errors
from memrepro.config.dataset_sizes import train_size
from memrepro.config.errors import error_line, name_list, one_of
from memrepro.subsets import PARTS


def plan_errors(config: dict, cells: dict, figures: dict, read_files: bool) -> list[str]:
    """Every error of the resolved ``cells`` and ``figures`` (and of the config's derived
    datasets); ``read_files``: a user's .npz may be read to know its size."""
    specs = config["datasets"]
    return (derived_class_errors(specs, read_files) + subset_errors(cells, specs, read_files)
            + figure_errors(figures, cells, config.get("partitions") or {}))


# --- cells ----------------------------------------------------------------------------------------


def cell_errors(cells: dict) -> list[str]:
    """Each cell's probe epochs and the model its probes and objectives need (repeats across
    cells are dropped by ``fail``); checked as soon as an experiment is expanded, before the
    partitions that read its probe files."""
    from memrepro import catalog
    from memrepro.hooks import objective_need_errors

    needs = catalog.model_needs()
    return [line for cell in cells.values()
            for line in _probe_epoch_errors(cell) + _model_need_errors(cell, needs)
            + objective_need_errors(cell, catalog.training_hooks()[0])]


def subset_errors(cells: dict, specs: dict, read_files: bool) -> list[str]:
    """Each cell's integer subset against its dataset's training set."""
    sizes: dict[str, int | None] = {}
    for ds in {c["dataset"] for c in cells.values()}:
        sizes[ds] = train_size(ds, specs, read_files)
    return [line for c in cells.values() for line in _subset_errors(c, sizes[c["dataset"]])]


def _swept(cell: dict, key: str) -> str:
    """`` at sweep <name>=<label>`` when the cell's sweep sets ``key`` (or below it), else ''."""
    point = cell.get("sweep") or {}
    hit = any(k == key or k.startswith(f"{key}.") for k in point.get("keys", []))
    return f" at sweep {point['name']}={point['label']}" if hit else ""


def _probe_epoch_errors(cell: dict) -> list[str]:
    """Listed probe epochs lie in 0..train.epochs (0: the initialisation)."""
    last, at = int(cell["train"]["epochs"]), f"experiments.{cell['experiment']}.probes"
    return [error_line(f"{at}.{name}.epochs[{i}]", e, f"an epoch 0..{last} (the last epoch: "
                       f"train.epochs = {last}{_swept(cell, 'train.epochs')})")
            for name, opts in (cell.get("probes") or {}).items()
            for i, e in enumerate((opts or {}).get("epochs") or []) if not 0 <= e <= last]


def _subset_errors(cell: dict, size: int | None) -> list[str]:
    """An integer subset takes at most every training example."""
    k = cell.get("subset")
    if size is None or isinstance(k, (dict, bool)) or not isinstance(k, int) or k <= size:
        return []
    swept = _swept(cell, "subset")
    key = f"experiments.{cell['experiment']}.{'sweep' if swept else 'subset'}"
    return [error_line(key, k, f"at most {size} (the training examples of dataset "
                       f"{cell['dataset']!r}){swept}")]


def _model_need_errors(cell: dict, needs: dict) -> list[str]:
    """Each objective (``train.<name>``) and probe gets a model with the arguments it needs."""
    model, lines = cell["model"], []
    for where, options in (("train", cell["train"]), ("probes", cell.get("probes") or {})):
        for name in options:
            for arg, value in (needs.get(name) or {}).items():
                if model.get(arg) != value:
                    takes = _models_taking(arg)
                    lines.append(error_line(
                        f"experiments.{cell['experiment']}.{where}.{name}", options[name],
                        f"a model with {arg}: {json.dumps(value)} (the models that take "
                        f"{arg}: {name_list(takes)})", f" with model {model['name']!r}",
                        choices=()))
    return lines


def _models_taking(arg: str) -> list[str]:
    """The registered models whose constructor takes ``arg``."""
    from memrepro.config.validation import arguments_of
    from memrepro.models import MODELS

    return sorted(name for name, fn in MODELS.items() if arg in (arguments_of(fn) or []))


# --- figures --------------------------------------------------------------------------------------

# a panel's or series' key that picks runs -> what a cell has for it (None: nothing)
SELECTORS = {
    "eta": ("noise rates", lambda c: float(c["noise"]["rate"])),
    "seed": ("seeds", lambda c: int(c["seed"])),
    "sweep": ("sweep values", lambda c: float(c["sweep"]["values"][0]) if "sweep" in c
              else None),
    "feature_dim": ("model.feature_dim values", lambda c: c["model"].get("feature_dim")),
}


def figure_errors(figures: dict, cells: dict, partitions: dict) -> list[str]:
    """Every panel's and series' run selectors match a run of its experiments and losses (a
    panel's: of any of its series); every subset names an existing part and partition."""
    lines = []
    for fid, spec in figures.items():
        for i, panel in enumerate(spec.get("panels") or []):
            at, items = f"figures.{fid}.panels[{i}]", panel.get("series") or [panel]
            runs = [_runs_of(item, cells) for item in items]
            lines += _selector_errors(at, panel, [c for r in runs for c in r], items)
            for j, item in enumerate(items if "series" in panel else []):
                lines += _selector_errors(f"{at}.series[{j}]", item, runs[j], [item])
            lines += _subset_item_errors(at, panel, partitions)
    return lines


def _runs_of(item: dict, cells: dict) -> list[dict]:
    """The cells of a panel's or series' experiment and loss."""
    return [c for c in cells.values()
            if c["experiment"] == item["experiment"] and c["loss"]["name"] == item["loss"]]


def _selector_errors(at: str, node: dict, runs: list[dict], items: list[dict]) -> list[str]:
    """``node``'s selectors (eta, etas, seed, sweep, feature_dim) against ``runs``, the cells
    of the experiments and losses of ``items``."""
    from memrepro.figures import MATCH_TOL

    def has(values, wanted) -> bool:
        try:
            return any(abs(float(v) - float(wanted)) <= MATCH_TOL for v in values)
        except (TypeError, ValueError):
            return False

    whose = "; ".join(dict.fromkeys(f"{s['experiment']}, loss {s['loss']!r}" for s in items))
    lines = []
    for key, (what, of) in SELECTORS.items():
        values = [of(c) for c in runs]
        if key not in node or (key == "feature_dim" and None in values):  # None: any M
            continue
        values = sorted({v for v in values if v is not None})
        if not has(values, node[key]):
            lines.append(error_line(f"{at}.{key}", node[key],
                                    f"{name_list(values)} (the {what} of the runs of {whose})"))
    etas = node.get("etas")
    rates = sorted({float(c["noise"]["rate"]) for c in runs})
    if isinstance(etas, list) and etas and not any(has(rates, e) for e in etas):
        lines.append(error_line(f"{at}.etas", etas,
                                f"a list naming at least one of {name_list(rates)}"
                                f" (the noise rates of the runs of {whose}; a rate that this scale "
                                "does not train is skipped)"))
    return lines


def _subset_item_errors(at: str, panel: dict, partitions: dict) -> list[str]:
    """A panel's ``subsets``: each ``part`` is a part of a partition, each ``partition`` one
    of the config's."""
    lines = []
    for j, sub in enumerate(panel.get("subsets") or []):
        if not isinstance(sub, dict):
            continue
        if "part" in sub and sub["part"] not in PARTS:
            lines.append(error_line(f"{at}.subsets[{j}].part", sub["part"], one_of(PARTS),
                                    choices=PARTS))
        if "partition" in sub and sub["partition"] not in partitions:
            lines.append(error_line(f"{at}.subsets[{j}].partition", sub["partition"],
                                    "a key of partitions: " + one_of(partitions),
                                    choices=partitions))
    return lines
