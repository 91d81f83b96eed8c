"""The environment the workflow's jobs inherit from the Snakemake process."""

from __future__ import annotations

import os
from pathlib import Path


def put_on_pythonpath(src: str | Path) -> None:
    """Prepend ``src`` to PYTHONPATH, so that jobs running in another Python (the conda env
    of ``envs/``, ``--sdm conda``) import memrepro from this checkout."""
    parts = [str(src), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
