"""Arpit et al. 2017, Figs. 3-4 at each scale: Sec. 3.2 differentiates through all the SGD steps,
so quick and paper unroll the whole run; only smoke truncates (its time budget)."""

from __future__ import annotations

import pytest
from conftest import load_params

from memrepro.config import resolve

FIGURES = ("ar/fig3", "ar/fig4")


def _settings(scale: str) -> dict[str, dict]:
    plan = resolve({**load_params(), "scale": scale}, check_files=False)
    return {name: plan.figures[name]["settings"] for name in FIGURES}


@pytest.mark.parametrize("scale", ["quick", "paper"])
def test_quick_and_paper_unroll_every_step(scale: str) -> None:
    for name, settings in _settings(scale).items():
        assert "restart_every" in settings, name
        assert settings["restart_every"] is None, (name, settings)


def test_smoke_truncates_at_20_and_changes_nothing_else() -> None:
    smoke, paper = _settings("smoke"), _settings("paper")
    for name in FIGURES:
        assert smoke[name]["restart_every"] == 20, name
        assert smoke[name] == {**paper[name], "restart_every": 20}, name
