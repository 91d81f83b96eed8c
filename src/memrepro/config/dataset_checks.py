"""Checks of the config's ``datasets`` that a schema cannot express: which keys go with which
``source``, a derived dataset's chain of bases (no cycle), and its ``classes`` against its
base's (memrepro.config.dataset_sizes). ``memrepro.config.validation`` checks the raw config with
:func:`dataset_errors`; ``memrepro.config.plan_checks`` adds :func:`derived_class_errors` once a
user's file may be read.
"""

from __future__ import annotations

from memrepro.config.dataset_sizes import class_counts
from memrepro.config.errors import Line, error_line, name_list, one_of

DERIVED_ONLY = ("from", "classes", "train_splits")
DERIVED_KEYS = ("source", *DERIVED_ONLY, "stand_in_for")
OTHER_KEYS = ("name", "path", "num_classes", "resize", "channels")  # unknown ones: the schema's
REQUIRED = {"npz": ("path", "an .npz with x_train, y_train, x_test, y_test"),
            "derived": ("from", "the key of the dataset it is made from")}


def dataset_errors(config: dict) -> list[str]:
    """What the schema leaves to code: a user's dataset (source npz) names its file, and only
    such a dataset declares its class count (the other sources know theirs); a derived
    dataset names another dataset (no cycle) and takes only its own keys, which no other
    source takes."""
    datasets = config.get("datasets")
    datasets = {k: v for k, v in (datasets if isinstance(datasets, dict) else {}).items()
                if isinstance(v, dict)}
    lines = []
    for name, spec in datasets.items():
        source = spec.get("source")
        need, what = REQUIRED.get(source, (None, ""))
        if need and need not in spec:
            line = Line(f"  datasets.{name}: {need!r} missing; required with source "
                        f"{source!r}: {need!r} ({what})")
            line.where = f"datasets.{name}"
            lines.append(line)
        for key in spec:
            owner = "npz" if key == "num_classes" else "derived" if key in DERIVED_ONLY else None
            if (owner and owner != source) or (source == "derived" and key in OTHER_KEYS):
                allowed = (f"only with source {owner!r}" + (" (a user's dataset)" if owner ==
                                                            "npz" else "") if owner else
                           "with source 'derived' only the keys " + name_list(DERIVED_KEYS))
                lines.append(error_line(f"datasets.{name}.{key}", spec[key], allowed,
                                        f" with source {source!r}"))
        if source == "derived" and "from" in spec:
            lines += _base_errors(name, datasets)
    return lines


def _base_errors(name: str, datasets: dict) -> list[str]:
    """A derived dataset's ``from`` names another dataset, and following ``from`` never comes
    back to it."""
    base, chain = datasets[name]["from"], [name]
    while base in datasets and base not in chain:
        chain.append(base)
        base = datasets[base].get("from") if datasets[base].get("source") == "derived" else None
    if base is None or (base in datasets and base != name):
        return []
    others = [k for k in datasets if k != name]
    allowed = ("a key of datasets other than itself: " + one_of(others) if base not in datasets
               else f"a dataset not made from {name!r} (a cycle: {' -> '.join(chain + [base])})")
    return [error_line(f"datasets.{name}.from", datasets[name]["from"], allowed, choices=others)]


def derived_class_errors(specs: dict, read_files: bool) -> list[str]:
    """A derived dataset keeps only classes of its base (0..K-1)."""
    lines = []
    for name, spec in specs.items():
        if spec.get("source") != "derived" or not spec.get("classes"):
            continue
        base = class_counts(spec["from"], specs, read_files)
        k = len(base["train"]) if base else None
        for i, c in enumerate(spec["classes"]):
            if k is not None and not 0 <= c < k:
                lines.append(error_line(f"datasets.{name}.classes[{i}]", c,
                                        f"a class of {spec['from']!r}: 0..{k - 1}"))
    return lines
