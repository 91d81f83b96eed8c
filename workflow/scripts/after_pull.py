"""Run after `dvc pull` (or `dvc checkout`): make Snakemake see the pulled results as built.

    python workflow/scripts/after_pull.py [TARGET ...] [--skip-dvc-check] [-- SNAKEMAKE ARGS]

Checks with `dvc status` that the results match dvc.lock, then runs
`snakemake --touch --forceall` on the targets (default: figures). See docs/data-remote.md
and memrepro.pipeline.restore. Not a Snakemake `script:`; run it from the repository root.
"""

import sys

from memrepro.pipeline.restore import main

if __name__ == "__main__":
    sys.exit(main())
