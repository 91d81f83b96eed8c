"""Snakemake script: one partition (memrepro.subsets): the easy and difficult examples of a
scoring run, by the score its probe file recorded."""

from memrepro import io
from memrepro.pipeline.logs import to_log
from memrepro.subsets import partition_from_files

sm = snakemake  # noqa: F821 - injected by Snakemake
log = to_log(sm.log)
spec = dict(sm.params.spec)
arrays = partition_from_files(sm.input.probe, sm.input.data, spec)
io.write_npz(sm.output[0], **arrays)
log.info("%s: %d examples of %s (%s split, %s at epoch %d): %d easy, %d difficult -> %s",
         spec["name"], len(arrays["scored"]), spec["run"], spec["split"], spec["probe"],
         spec["epoch"], len(arrays["easy"]), len(arrays["difficult"]), sm.output[0])
