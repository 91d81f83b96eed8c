"""Snakemake script: one figure (PDF + PNG + caption) from its tidy table."""

import pandas as pd

from memrepro.figures import FIGURES
from memrepro.logs import to_log

sm = snakemake  # noqa: F821 - injected by Snakemake
to_log(sm.log)
spec = sm.params.spec
if spec["kind"] not in FIGURES:
    raise ValueError(f"figure {spec.get('title')!r}: unknown kind {spec['kind']!r}; "
                     f"known: {sorted(FIGURES)}")
table = pd.read_csv(sm.input.table)
FIGURES[spec["kind"]](table, spec, sm.params.caption, sm.output.pdf, sm.output.png)
