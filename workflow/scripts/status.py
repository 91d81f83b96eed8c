"""The build at a glance, also while it runs: jobs done / running / left, and each running
training job's epoch and ETA (from the job logs). Read only: safe beside a running Snakemake.

    python workflow/scripts/status.py [--config scale=quick] [-d DIR] [--stale SECONDS]

Not a Snakemake `script:`; run it from the repository root. See memrepro.pipeline.build_status.
"""

from memrepro.pipeline.build_status import main

if __name__ == "__main__":
    print(main())
