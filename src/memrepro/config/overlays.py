"""What the chosen scale's overlay changed: ``overlay_changes(plan)`` (a
``memrepro.config.Plan``) lists each changed setting with its old and new value and the
experiments (or figures) it changed; the Snakefile prints it once when it plans.
"""

from __future__ import annotations

from memrepro.config.errors import short

UNSET = object()  # a setting the experiment did not have


def overlay_changes(plan, width: int = 190) -> list[str]:
    """What the chosen scale's overlay changed, one line (at most ``width`` characters) per
    setting, old and new value, and the experiments (or figures) it changed, e.g. ``smoke
    overlay: train.epochs 1000 -> 20 in 2 experiments (ar_capacity_randx, ar_capacity_randy)``;
    a dataset substitution reads ``dataset mnist -> digits``. Empty when nothing changed."""
    changes: dict[tuple[str, str, str, str], list[str]] = {}
    for what, raws, merged in (("experiment", plan.config["experiments"], plan.experiments),
                               ("figure", plan.config["figures"], plan.figures)):
        for name, spec in merged.items():
            for setting, old, new in _changed(raws[name], spec):
                changes.setdefault((what, setting, old, new), []).append(name)
    lines = []
    for (what, setting, old, new), names in sorted(
            changes.items(), key=lambda c: (c[0][0], c[0][1], -len(c[1]), c[0][2:])):
        n, names = len(names), sorted(names)
        shown = ", ".join(names[:3]) + (f", +{n - 3} more" if n > 3 else "")
        line = (f"{plan.scale} overlay: {setting} {old} -> {new} in {n} {what}"
                f"{'s' if n > 1 else ''} ({shown})")
        lines.append(line if len(line) <= width else line[:width - 3] + "...")
    return lines


def _changed(raw: dict, spec: dict, prefix: str = ""):
    """(dotted setting, old, new) for every value of ``spec`` that differs from ``raw``."""
    for key, new in spec.items():
        if key == "resolved_dataset":
            if new != spec.get("dataset"):
                yield "dataset", str(spec.get("dataset")), str(new)
            continue
        old = raw.get(key, UNSET) if isinstance(raw, dict) else UNSET
        if isinstance(new, dict) and new and (isinstance(old, dict) or old is UNSET):
            yield from _changed(old if isinstance(old, dict) else {}, new, f"{prefix}{key}.")
        elif old is UNSET or old != new:
            yield f"{prefix}{key}", _compact(old), _compact(new)


def _compact(value) -> str:
    """A value as YAML would show it, lists of more than 40 characters shortened."""
    if isinstance(value, list):
        items = [_compact(v) for v in value]
        text = "[" + ", ".join(items) + "]"
        if len(text) > 40 and len(items) > 3:
            text = f"[{items[0]}, {items[1]}, ..., {items[-1]}] ({len(items)} values)"
        return text
    if value is UNSET:
        return "unset"
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return format(value, "g") if isinstance(value, float) else short(value).strip("'")
