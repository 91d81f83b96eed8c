"""Checking a figure's spec, and the one wording of a refused value.

Every error about a bad value reads ``<key>: <value> is not allowed; allowed: <what is>``
(``where: key value ...`` inside a figure or a function), so a reader learns the key, the
value and the way out in one line; :func:`refused` writes it (:func:`not_allowed` when the
value is a Python value) and the rest of the package calls them. The figure helpers
(:func:`where_figure`, :func:`where_panel`, :func:`check_keys`, :func:`positive_int`,
:func:`number`) are what every paper's figure kinds need to check the items of a spec that
:class:`memrepro.figures.FigureKind`'s key lists do not reach.

A leaf module: no memrepro imports, no numpy, so the configuration check, the data download
and the figure kinds all import it without cost or cycle.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable


def _shown(value) -> str:
    """``repr`` of the value, numpy scalars shown as the Python number they hold (``3``, not
    ``np.int64(3)``)."""
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()
    return repr(value)


def refused(subject: str, allowed, *, why: str = "", many: bool = False) -> str:
    """The one wording: ``<subject> is not allowed<why>; allowed: <allowed>``. ``subject``
    names the key and shows the value, as text where a Python value would say less ("labels
    0..12", "sha256 ab12..."); ``why`` goes right after "not allowed" (" with
    train.stop_when_fit: true"); ``many``: the subject is several things ("are not
    allowed"). Where the value is a Python value, :func:`not_allowed` writes the subject."""
    return f"{subject} {'are' if many else 'is'} not allowed{why}; allowed: {allowed}"


def not_allowed(key: str, value, allowed, *, where: str = "", why: str = "",
                many: bool = False) -> str:
    """:func:`refused` for a ``value`` of ``key``, shown as its ``repr``: ``key: value is not
    allowed; allowed: ...``, or ``where: key value ...`` when ``where`` (a figure, a
    function) is given."""
    named = f"{where}: {key} {_shown(value)}" if where else f"{key}: {_shown(value)}"
    return refused(named, allowed, why=why, many=many)


def refuse(where: str, key: str, value, allowed) -> ValueError:
    """The error for a refused ``value`` of ``key`` inside ``where`` (see :func:`not_allowed`)."""
    return ValueError(not_allowed(key, value, allowed, where=where))


# --- a figure's spec --------------------------------------------------------------------------

def title_of(spec: dict) -> str:
    return str(spec.get("title") or "<untitled figure>")


def where_figure(spec: dict) -> str:
    """The prefix of an error message about the figure: ``figure 'Its title'``."""
    return f"figure {title_of(spec)!r}"


def where_panel(spec: dict, i: int) -> str:
    """The prefix of an error message about panel ``i``: ``figure 'T': panel i (title)``."""
    panels = spec.get("panels") or []
    p = panels[i] if i < len(panels) and isinstance(panels[i], dict) else {}
    return f"{where_figure(spec)}: panel {i} ({p.get('title', 'untitled')})"


def check_keys(item, allowed: Iterable[str], where: str, required: Iterable[str] = ()) -> dict:
    """A spec mapping (a panel's nested item, e.g. one of its ``subsets``) with only
    ``allowed`` keys and every ``required`` one."""
    allowed = sorted(allowed)
    if not isinstance(item, dict):
        raise refuse(where, "entry", item, f"a mapping with keys {allowed}")
    if unknown := sorted(set(item) - set(allowed)):
        raise ValueError(not_allowed("key(s)", unknown, allowed, where=where, many=True))
    if missing := [k for k in required if k not in item]:
        raise ValueError(f"{where}: key(s) {missing} missing; required: {list(required)}")
    return item


def positive_int(value, where: str, key: str, default: int | None) -> int | None:
    """``value`` (or ``default`` when None) as an int >= 1."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise refuse(where, key, value, "an integer >= 1")
    return int(value)


def number(value, where: str, key: str) -> float | None:
    """``value`` as a float, None staying None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise refuse(where, key, value, "a number")
    return float(value)
