"""Per-job logging for the thin workflow scripts.

Snakemake deletes a job's log before it runs the job again, so the log of an interrupted
attempt would be lost on the rerun. With ``keep_attempts`` (training jobs) the log has a hard
link, ``.<name>.attempts`` beside it, that Snakemake does not know: a rerun links the log back
to it and appends, after a separator line naming the attempt and its start time. The log then
holds every attempt, the newest last.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import time
from pathlib import Path

SEPARATOR = "===== attempt {n} of this job, started {time}{note} ====="
ATTEMPT = re.compile(r"^===== attempt (\d+) of this job", re.MULTILINE)


def attempts_path(path: str | Path) -> Path:
    """The hidden twin (a hard link) that keeps a job log's attempts across reruns."""
    path = Path(path)
    return path.with_name(f".{path.name}.attempts")


def to_log(paths, keep_attempts: bool = False) -> logging.Logger:
    """Send logging (INFO and up) and stderr of this job to its Snakemake log file.
    ``keep_attempts``: append to the earlier attempts' log (kept across Snakemake's deletion
    of the log), after a separator line; else start the log afresh."""
    log = logging.getLogger("memrepro")
    log.setLevel(logging.INFO)
    if paths:
        path = Path(paths[0])
        path.parent.mkdir(parents=True, exist_ok=True)
        if keep_attempts:
            stream = _open_attempt(path)
        else:
            stream = open(path, "w", buffering=1)  # noqa: SIM115 - lives as long as the job
        sys.stderr = stream
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
    return log


def _open_attempt(path: Path):
    """``path`` opened for appending, holding the earlier attempts and a separator line."""
    twin = attempts_path(path)
    if twin.exists() and not path.exists():  # Snakemake removed the log: bring it back
        with contextlib.suppress(OSError):  # no hard links here: the log starts afresh
            os.link(twin, path)
    stream = open(path, "a+", buffering=1)  # noqa: SIM115 - lives as long as the job
    stream.seek(0)
    n = len(ATTEMPT.findall(stream.read())) + 1
    if not (twin.exists() and os.path.samefile(path, twin)):
        with contextlib.suppress(OSError):  # best effort: the log itself is written anyway
            tmp = twin.with_name(twin.name + ".tmp")
            tmp.unlink(missing_ok=True)
            os.link(path, tmp)
            os.replace(tmp, twin)
    if stream.tell():
        stream.write("\n")
    note = " (earlier attempts above)" if n > 1 else ""
    stream.write(SEPARATOR.format(n=n, time=time.strftime("%Y-%m-%d %H:%M:%S"), note=note) + "\n")
    return stream


def current_attempt(text: str) -> str:
    """The part of a log's text written by its latest attempt (all of it without separators)."""
    starts = [m.start() for m in ATTEMPT.finditer(text)]
    return text[starts[-1]:] if starts else text
