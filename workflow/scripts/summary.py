"""Snakemake script: final J1/J2/test accuracy per cell (DVC metrics) and per-cell curves
(DVC plots)."""

from memrepro import io
from memrepro.logs import to_log
from memrepro.tables import summary, write_plot_tables

sm = snakemake  # noqa: F821 - injected by Snakemake
to_log(sm.log)
io.write_json(sm.output.summary, summary(sm.params.entries))
write_plot_tables(sm.params.entries, sm.output.plots)
