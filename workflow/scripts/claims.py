"""Snakemake script: the claims scorecard (results/claims.json, .md and .csv)."""

from memrepro import catalog, claims
from memrepro.pipeline.logs import to_log

sm = snakemake  # noqa: F821 - injected by Snakemake
log = to_log(sm.log)
card = claims.evaluate(catalog.claims(), claims.load_tables(dict(sm.params.tables)),
                       sm.params.scale)
claims.write_json(sm.output.json, card)
claims.write_markdown(sm.output.md, card)
claims.write_csv(sm.output.csv, card)
log.info("claims at scale %s: %s", sm.params.scale, card["counts"])
