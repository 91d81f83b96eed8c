"""Snakemake script: the tidy table of one figure."""

from memrepro import io
from memrepro.logs import to_log
from memrepro.metrics import figure_table, filter_table, per_example_rates

sm = snakemake  # noqa: F821 - injected by Snakemake
to_log(sm.log)
spec = sm.params.spec
if spec["kind"] == "per_example_rates":
    table = per_example_rates(
        sm.params.entries, examples=spec.get("examples", 1000),
        binomial=[i for i, p in enumerate(spec["panels"]) if p.get("binomial")])
elif spec["kind"] == "filters":
    table = filter_table(sm.params.entries)
else:
    table = figure_table(sm.params.entries)
io.write_text(sm.output[0], table.to_csv(index=False))
