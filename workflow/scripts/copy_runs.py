"""Snakemake script: a rehearsal's copied job (memrepro.rehearsal.copies)."""

from memrepro.rehearsal.copies import copy_outputs

sm = snakemake  # noqa: F821 - injected by Snakemake
copy_outputs(dict(sm.params.src), dict(sm.params.dst), list(sm.params.slugs))
