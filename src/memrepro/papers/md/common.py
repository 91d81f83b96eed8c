"""What the MD figure kinds share: finding a run's ``features`` file by epoch, the display
names of MD's losses. (The spec checks are the core's, ``memrepro.specs``.)

Torch-free: figure jobs import it.
"""

from __future__ import annotations

from memrepro.paths import probe_file_at

PROBE = "features"
# MD Sec. 4.1's names of its four losses (legends); any other loss shows its own name
LOSS_LABELS = {"cce": "CE", "ls": "LS", "mse_logits": "MSE", "label_relaxation": "LR"}


def loss_label(name: str) -> str:
    return LOSS_LABELS.get(name, name)


def features_file(files, epoch, where: str) -> tuple[int, str]:
    """(epoch, path) of the run's features file at ``epoch`` (None: the last recorded)."""
    return probe_file_at(files, PROBE, epoch, where)
