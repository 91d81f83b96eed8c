"""Snakemake script: build results/data/<ds>.npz (uint8 NCHW, int64 labels) and its .json."""

from memrepro.data import prepare
from memrepro.pipeline.logs import to_log

sm = snakemake  # noqa: F821 - injected by Snakemake
to_log(sm.log)  # prepare() logs what it wrote
prepare(dict(sm.params.spec), sm.params.root, sm.output.npz, sm.output.json)
