"""Snakemake script: the DVC metrics (a few numbers per experiment, one file each), every
cell's final J1/J2/test accuracy (one file), and per-cell curves (DVC plots)."""

from memrepro.pipeline.logs import to_log
from memrepro.tables import write_plot_tables, write_summary

sm = snakemake  # noqa: F821 - injected by Snakemake
log = to_log(sm.log)
write_summary(sm.params.entries, sm.output.metrics, sm.output.cells)
write_plot_tables(sm.params.entries, sm.output.plots)
log.info("summary of %d cells in %d experiment file(s)", len(sm.params.entries),
         len(sm.output.metrics))
