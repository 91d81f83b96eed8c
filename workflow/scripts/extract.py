"""Snakemake script: the tidy table of one figure."""

from memrepro import io
from memrepro.logs import to_log
from memrepro.metrics import figure_table

sm = snakemake  # noqa: F821 - injected by Snakemake
to_log(sm.log)
table = figure_table(sm.params.entries)
io.write_text(sm.output[0], table.to_csv(index=False))
