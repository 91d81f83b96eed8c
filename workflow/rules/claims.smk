# The claims scorecard: every paper's headline claims (memrepro.catalog.claims()) evaluated on
# the tidy tables of the figures they read, at this scale (memrepro.claims). A claim whose
# figure is not in the plan is shown as "not built". The report shows the table first.

from memrepro import catalog
from memrepro.captions import figure_stem
from memrepro.paths import CLAIMS_CSV, CLAIMS_JSON, CLAIMS_LOG, CLAIMS_MD, table_path

# figure id -> its tidy table, for every planned, drawn figure some claim reads
CLAIM_READS = {t for c in catalog.claims() for t in c.tables}
CLAIM_TABLES = {
    fid: table_path(figure_stem(fid, spec, PLAN))
    for fid, spec in PLAN.figures.items()
    if fid in CLAIM_READS and catalog.figure_kinds()[spec["kind"]].draw is not None
}


rule claims:
    input:
        list(CLAIM_TABLES.values()),
    output:
        json=CLAIMS_JSON,
        md=CLAIMS_MD,
        # the HTML report shows this table at the top of its landing page (the `scorecard`
        # param marks it for workflow/report/workflow.rst)
        csv=report(
            CLAIMS_CSV,
            caption="../report/claims.rst",
            category="Claims scorecard",
            labels={"figure": "all claims"},
        ),
    log:
        CLAIMS_LOG,
    conda:
        CONDA_ENV
    params:
        tables=CLAIM_TABLES,
        scale=PLAN.scale,
        scorecard=True,
    script:
        "../scripts/claims.py"
