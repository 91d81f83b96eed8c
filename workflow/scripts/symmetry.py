"""Snakemake script: the loss-symmetry check table (PS Sec. 3)."""

from memrepro.figures import symmetry_table, write_symmetry
from memrepro.logs import to_log
from memrepro.losses import LOSSES

sm = snakemake  # noqa: F821 - injected by Snakemake
to_log(sm.log)
spec = sm.params.spec
losses = {name: LOSSES[name]() for name in spec["losses"]}
table = symmetry_table(losses, num_classes=spec.get("num_classes", 10), n=spec.get("samples", 1000))
write_symmetry(table, sm.output.csv, sm.output.md, sm.params.caption)
