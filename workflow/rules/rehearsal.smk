# The rehearsal's cost report (memrepro.rehearsal.report): one row per training job, what it
# measured here beside what the real job would do, projected onto a GPU model. Only in a
# rehearsal (`memrepro rehearse`); the figures target asks for it instead of the claims.
from memrepro.paths import REHEARSAL_CSV, REHEARSAL_LOG, REHEARSAL_MD


rule rehearsal_report:
    input:
        (
            [rehearsal_cost_path(g) for g, v in PLAN.groups.items() if not v.get("copy_of")]
            if REHEARSAL
            else []
        ),
    output:
        csv=REHEARSAL_CSV,
        md=REHEARSAL_MD,
    log:
        REHEARSAL_LOG,
    conda:
        CONDA_ENV
    params:
        real=REAL,
        scale=PLAN.scale,
        settings=REHEARSAL or {},
    script:
        "../scripts/rehearsal_report.py"
