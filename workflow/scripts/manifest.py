"""Snakemake script: results/manifest.json (memrepro.pipeline.manifest), after every other
result."""

from pathlib import Path

from memrepro.pipeline import manifest
from memrepro.pipeline.logs import to_log

sm = snakemake  # noqa: F821 - injected by Snakemake
log = to_log(sm.log)
out = Path(sm.output[0])
manifest.write(out.parent, out, build=dict(sm.params.build))
log.info("manifest: %s", out)
