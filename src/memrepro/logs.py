"""Per-job logging for the thin workflow scripts."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def to_log(paths) -> logging.Logger:
    """Send logging (INFO and up) and stderr of this job to its Snakemake log file."""
    log = logging.getLogger("memrepro")
    log.setLevel(logging.INFO)
    if paths:
        path = Path(paths[0])
        path.parent.mkdir(parents=True, exist_ok=True)
        stream = open(path, "w", buffering=1)  # noqa: SIM115 - lives as long as the job
        sys.stderr = stream
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
    return log
