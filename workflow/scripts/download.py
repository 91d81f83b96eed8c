"""Snakemake script: fetch one torchvision dataset's raw files, md5-checked, into RAW_ROOT."""

from pathlib import Path

from memrepro.download import MARKER, download
from memrepro.pipeline.logs import to_log

sm = snakemake  # noqa: F821 - injected by Snakemake
log = to_log(sm.log)
dest = download(sm.params.name, sm.params.root, sm.params.mirror,
                resources=sm.params.resources)
if Path(sm.output[0]).resolve() != (dest / MARKER).resolve():
    raise RuntimeError(f"download wrote {dest / MARKER}, but the rule expects {sm.output[0]}")
log.info("%s: raw files verified in %s", sm.params.name, dest)
