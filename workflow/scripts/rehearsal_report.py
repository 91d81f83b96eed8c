"""Snakemake script: the rehearsal's cost report (memrepro.rehearsal.report)."""

from memrepro.pipeline.logs import to_log
from memrepro.rehearsal.report import write_report

sm = snakemake  # noqa: F821 - injected by Snakemake
log = to_log(sm.log)
totals = write_report(list(sm.input), dict(sm.params.real), sm.params.scale,
                      dict(sm.params.settings), sm.output.csv, sm.output.md)
log.info("rehearsal report: %s", totals)
