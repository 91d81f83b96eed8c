# Extraction: histories -> tidy per-figure tables and the DVC metrics summary.


rule extract:
    input:
        extract_inputs,
    output:
        "results/metrics/{paper}/{name}.csv",
    params:
        entries=extract_entries,
        spec=lambda wc: PLAN.figures[fid_of(wc)],
    log:
        "logs/extract/{paper}/{name}.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/extract.py"


rule sensitivity:
    input:
        data=lambda wc: f"results/data/{PLAN.figures[fid_of(wc)]['resolved_dataset']}.npz",
    output:
        "results/metrics/{paper}/{name}.csv",
    wildcard_constraints:
        name=computed_stems(),
    params:
        spec=lambda wc: PLAN.figures[fid_of(wc)],
    threads: config.get("train_threads", 1)
    log:
        "logs/extract/{paper}/{name}.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/sensitivity.py"


ruleorder: sensitivity > extract


rule summary:
    input:
        [history_path(c) for c in PLAN.cells.values()],
    output:
        summary="results/summary.json",
        plots=directory("results/plots"),
    params:
        entries=[(c, history_path(c)) for c in PLAN.cells.values()],
    log:
        "logs/extract/summary.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/summary.py"
