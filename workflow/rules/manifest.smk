# The build's manifest (memrepro.pipeline.manifest): the sha256 of every file under results/ and the
# machine and libraries that made them. It runs last: its inputs are the figures, the summary
# and the claims, which come after every training, noise and data job. Compare two builds with
# `python -m memrepro.pipeline.manifest compare A.json B.json`.

from memrepro.paths import MANIFEST, MANIFEST_LOG


rule manifest:
    input:
        figure_outputs(),
        rules.summary.output,
        rules.claims.output,
    output:
        MANIFEST,
    log:
        MANIFEST_LOG,
    conda:
        CONDA_ENV
    params:
        build={"scale": PLAN.scale, "train_threads": config.get("train_threads", 1)},
    script:
        "../scripts/manifest.py"
