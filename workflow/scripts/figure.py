"""Snakemake script: one figure. Its kind makes the tidy table from what it reads, then draws
it (table -> results/metrics/, PDF + PNG + caption), or writes the table as the figure
(CSV + Markdown). Each carries the provenance record (memrepro.provenance) built from the
job's ``provenance`` param, the commit, the environment and the sha256 of the table as
written; a drawn figure's caption ends with the sha256 of its PDF and PNG."""

import pandas as pd

from memrepro import catalog, io
from memrepro.figures import caption_path, table_markdown, with_provenance, write_figure
from memrepro.pipeline.logs import to_log
from memrepro.provenance import add_image_digests, figure_record

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
log.info("%s table: %d rows", spec["kind"], len(table))
# the table first: the record holds the sha256 of its bytes as written
out_table = sm.output.csv if kind.draw is None else sm.output.table
io.write_text(out_table, table.to_csv(index=False))
record = figure_record(sm.params.provenance, table=out_table)
if kind.draw is None:
    io.write_text(sm.output.md, table_markdown(table, with_provenance(sm.params.caption, record)))
else:
    # drawn from the table as written, so a figure redrawn from results/metrics/ is the same
    write_figure(kind.draw(pd.read_csv(out_table), spec), sm.output.pdf, sm.output.png,
                 sm.params.caption, record)
    add_image_digests(caption_path(sm.output.png), [sm.output.pdf, sm.output.png])
