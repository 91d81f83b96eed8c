# Figures: one job per figure makes its tidy table (results/metrics/) and draws it (PDF + PNG
# + caption), or, for a kind whose table is the figure, writes it as CSV + Markdown. What a
# job reads and does comes from its kind (memrepro.catalog.figure_kinds()).


rule figure:
    input:
        figure_inputs,
    output:
        table="results/metrics/{paper}/{name}.csv",
        pdf="results/figures/{paper}/{name}.pdf",
        png=report(
            "results/figures/{paper}/{name}.png",
            caption="../report/figure.rst",
            category="{paper}",
            labels={"figure": "{name}"},
        ),
        caption="results/figures/{paper}/{name}.caption.txt",
    log:
        "logs/figure/{paper}/{name}.log",
    conda:
        CONDA_ENV
    threads: figure_threads
    params:
        spec=lambda wc: {
            **PLAN.figures[fid_of(wc)],
            "title": figure_title(PLAN.figures[fid_of(wc)], PLAN),
        },
        caption=lambda wc: figure_caption(fid_of(wc), PLAN.figures[fid_of(wc)], PLAN),
        entries=figure_entries_of,
    script:
        "../scripts/figure.py"


rule table_figure:
    input:
        figure_inputs,
    output:
        csv=report(
            "results/figures/{paper}/{name}.csv",
            caption="../report/figure.rst",
            category="{paper}",
            labels={"figure": "{name}"},
        ),
        md="results/figures/{paper}/{name}.md",
    log:
        "logs/figure/{paper}/{name}.log",
    conda:
        CONDA_ENV
    threads: figure_threads
    params:
        spec=lambda wc: PLAN.figures[fid_of(wc)],
        caption=lambda wc: figure_caption(fid_of(wc), PLAN.figures[fid_of(wc)], PLAN),
        entries=figure_entries_of,
    script:
        "../scripts/figure.py"


rule summary:
    input:
        [history_path(c) for c in PLAN.cells.values()],
    output:
        summary="results/summary.json",
        plots=directory("results/plots"),
    log:
        "logs/summary.log",
    conda:
        CONDA_ENV
    params:
        entries=[(c, history_path(c)) for c in PLAN.cells.values()],
    script:
        "../scripts/summary.py"
