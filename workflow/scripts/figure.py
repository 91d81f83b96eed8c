"""Snakemake script: one figure. Its kind makes the tidy table from what it reads, then draws
it (table -> results/metrics/, PDF + PNG + caption), or writes the table as the figure
(CSV + Markdown). Each carries the provenance record (memrepro.provenance) built from the
job's ``provenance`` param, the commit and the environment."""

import pandas as pd

from memrepro import catalog, io
from memrepro.figures import write_figure, write_table_figure
from memrepro.logs import to_log
from memrepro.provenance import figure_record

sm = snakemake  # noqa: F821 - injected by Snakemake
log = to_log(sm.log)
spec = sm.params.spec
kind = catalog.figure_kinds()[spec["kind"]]
if kind.threads:
    import torch

    torch.set_num_threads(max(1, int(sm.threads)))
if kind.reads == "dataset":
    inputs = io.load_npz(sm.input[0])
else:
    inputs = sm.params.entries
table = kind.table(inputs, spec)
record = figure_record(sm.params.provenance)
log.info("%s table: %d rows", spec["kind"], len(table))
if kind.draw is None:
    write_table_figure(table, sm.output.csv, sm.output.md, sm.params.caption, record)
else:
    io.write_text(sm.output.table, table.to_csv(index=False))
    # drawn from the table as written, so a figure redrawn from results/metrics/ is the same
    write_figure(kind.draw(pd.read_csv(sm.output.table), spec), sm.output.pdf, sm.output.png,
                 sm.params.caption, record)
