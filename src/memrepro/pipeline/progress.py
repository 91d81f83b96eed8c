"""Progress of a training job: tqdm's bar on a terminal, and one line per epoch on the logger
``memrepro.engine`` (the job's log, through ``memrepro.pipeline.logs.to_log``), which
``memrepro.pipeline.build_status`` reads back. Without a log handler (tests, library use) the
lines go
nowhere: they are INFO, below Python's last-resort WARNING.

A line reads, for one cell, a group trained as one, and a cell of a group trained one cell
after another (``ETA`` is the whole job's time left; ``<=`` when ``train.stop_when_fit`` makes
``epochs`` a cap; a group's loss, J1 and test accuracy are means over its cells)::

    epoch 3/10 | loss-cce_eta-0.4_seed-0 | loss 1.2345 J1 0.456 test 0.789 | 2.31 s/epoch
        | ETA 0:00:16                                        (one line in the log)
    epoch 3/10 | 8 cells loss-cce_eta-0.0_seed-0...seed-7 | mean loss 1.2345 J1 ... | ...
    epoch 3/10 | cell 2/8 loss-cce_eta-0.4_seed-0 | loss ... | 2.31 s/epoch | ETA <=0:05:12
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable

from tqdm.auto import tqdm

log = logging.getLogger("memrepro.engine")

LABEL_WIDTH = 64

LINE = re.compile(
    r"epoch (?P<epoch>\d+)/(?P<epochs>\d+) \| (?:cell (?P<cell>\d+)/(?P<cells>\d+) )?"
    r"(?P<label>[^|]*?) \| [^|]* \| (?P<spe>[\d.]+) s/epoch \| ETA (?P<cap><=)?(?P<eta>[\d:]+)")
RESUME = re.compile(r"resuming (?P<label>.*) from epoch (?P<epoch>\d+) of (?P<epochs>\d+)")


def cells_label(slugs: list[str], width: int = LABEL_WIDTH) -> str:
    """A group's cells, short: the slug of one cell; ``8 cells <first>...<last>`` with the
    last slug's part shared with the first (up to a ``_``) left out."""
    slugs = [str(s) for s in slugs]
    if len(slugs) == 1:
        label = slugs[0]
    else:
        first, last = slugs[0], slugs[-1]
        cut = os.path.commonprefix([first, last]).rfind("_") + 1
        label = f"{len(slugs)} cells {first}...{last[cut:]}"
    return label if len(label) <= width else label[:width - 3] + "..."


def hms(seconds: float) -> str:
    """``H:MM:SS`` (hours unbounded)."""
    s = max(0, round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def seconds(text: str) -> int:
    """The seconds of an ``H:MM:SS`` string."""
    h, m, s = (int(p) for p in text.split(":"))
    return 3600 * h + 60 * m + s


def short_number(x: float) -> str:
    """A positive number in at most 4 characters or so: 2.31, 31.2, 312."""
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


class EpochProgress:
    """One training call's progress: the bar over its epochs and a log line after each.
    ``cell_of`` = (k, n): this call trains the k-th of n cells trained one after another in
    one job (the ETA then counts the cells after it too). Announces a resumed start."""

    def __init__(self, slugs: list[str], start: int, epochs: int, *, desc: str | None = None,
                 enabled: bool | None = None, cell_of: tuple[int, int] | None = None,
                 cap: bool = False):
        self.label = cells_label(slugs)
        if cell_of is not None:
            self.label = f"cell {cell_of[0]}/{cell_of[1]} {self.label}"
        self.size, self.epochs, self.cap = len(slugs), epochs, cap
        self.later = (cell_of[1] - cell_of[0]) * epochs if cell_of else 0  # epochs after this
        self.desc = desc or (slugs[0] if slugs else "train")
        self.enabled, self.start = enabled, start
        if start:
            log.info("resuming %s from epoch %d of %d", self.label, start, epochs)
        self.t0, self.done = time.perf_counter(), 0

    def bar(self, todo: Iterable[int]):
        """tqdm over the epochs to run (off when not on a terminal, unless ``enabled``)."""
        self._bar = tqdm(todo, initial=self.start, total=self.epochs, desc=self.desc,
                         leave=False, disable=None if self.enabled is None else not self.enabled)
        return self._bar

    def epoch(self, epoch: int, loss: list[float], rows: list[dict]) -> None:
        """After epoch ``epoch`` (1-based): the bar's postfix (first cell) and the log line."""
        r0 = rows[0]
        self._bar.set_postfix(j1=f"{r0['j1']:.3f}", j2=f"{r0['j2']:.3f}",
                              test=f"{r0['test_acc']:.3f}")
        self.done += 1
        if not log.isEnabledFor(logging.INFO):
            return
        spe = (time.perf_counter() - self.t0) / self.done
        n = len(rows)
        j1, test = (sum(r[k] for r in rows) / n for k in ("j1", "test_acc"))
        metrics = (f"{'mean ' if n > 1 else ''}loss {sum(loss) / n:.4f} J1 {j1:.3f} "
                   f"test {test:.3f}")
        eta = hms(spe * (self.epochs - epoch + self.later))
        log.info("epoch %d/%d | %s | %s | %s s/epoch | ETA %s%s", epoch, self.epochs,
                 self.label, metrics, short_number(spe), "<=" if self.cap else "", eta)


def parse(line: str) -> dict | None:
    """The fields of a per-epoch line (None if ``line`` is not one): epoch, epochs, cell,
    cells (None unless a cell of a one-after-another group), label, s_per_epoch, eta_s, cap."""
    m = LINE.search(line)
    if not m:
        return None
    g = m.groupdict()
    return {"epoch": int(g["epoch"]), "epochs": int(g["epochs"]),
            "cell": int(g["cell"]) if g["cell"] else None,
            "cells": int(g["cells"]) if g["cells"] else None,
            "label": g["label"].strip(), "s_per_epoch": float(g["spe"]),
            "eta_s": seconds(g["eta"]), "cap": bool(g["cap"])}
