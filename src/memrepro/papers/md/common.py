"""What the MD figure kinds share: finding a run's ``features`` file by epoch, checking spec
values with errors that name the key, the display names of MD's losses.

Torch-free (numpy): figure jobs import it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from memrepro.figures import title_of
from memrepro.paths import probe_file_at

PROBE = "features"
# MD Sec. 4.1's names of its four losses (legends); any other loss shows its own name
LOSS_LABELS = {"cce": "CE", "ls": "LS", "mse_logits": "MSE", "label_relaxation": "LR"}


def loss_label(name: str) -> str:
    return LOSS_LABELS.get(name, name)


def where_figure(spec: dict) -> str:
    return f"figure {title_of(spec)!r}"


def where_panel(spec: dict, i: int) -> str:
    panels = spec.get("panels") or []
    p = panels[i] if i < len(panels) and isinstance(panels[i], dict) else {}
    return f"{where_figure(spec)}: panel {i} ({p.get('title', 'untitled')})"


def refuse(where: str, key: str, value, allowed: str) -> ValueError:
    return ValueError(f"{where}: {key} {value!r} is not allowed; allowed: {allowed}")


def check_keys(item, allowed: Iterable[str], where: str) -> dict:
    """A spec mapping with only ``allowed`` keys."""
    if not isinstance(item, dict):
        raise refuse(where, "entry", item, f"a mapping with keys {sorted(allowed)}")
    unknown = sorted(set(item) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: key(s) {unknown} are not allowed; allowed: "
                         f"{sorted(allowed)}")
    return item


def positive_int(value, where: str, key: str, default: int | None) -> int | None:
    """``value`` (or ``default`` when None) as an int >= 1."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise refuse(where, key, value, "an integer >= 1")
    return int(value)


def number(value, where: str, key: str):
    """``value`` as a float, None staying None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise refuse(where, key, value, "a number")
    return float(value)


def features_file(files, epoch, where: str) -> tuple[int, str]:
    """(epoch, path) of the run's features file at ``epoch`` (None: the last recorded)."""
    return probe_file_at(files, PROBE, epoch, where)
