"""Snakemake script: final J1/J2/test accuracy per cell (DVC metrics)."""

from memrepro import io
from memrepro.logs import to_log
from memrepro.metrics import summary

sm = snakemake  # noqa: F821 - injected by Snakemake
to_log(sm.log)
io.write_json(sm.output[0], summary(sm.params.entries))
