# Figures (PDF + PNG + caption) from tidy tables; the loss-symmetry table from the losses.


rule figure:
    input:
        table="results/metrics/{paper}/{name}.csv",
    output:
        pdf="results/figures/{paper}/{name}.pdf",
        png=report(
            "results/figures/{paper}/{name}.png",
            caption="../report/figure.rst",
            category="{paper}",
            labels={"figure": "{name}"},
        ),
        caption="results/figures/{paper}/{name}.caption.txt",
    params:
        spec=lambda wc: {
            **PLAN.figures[fid_of(wc)],
            "title": figure_title(PLAN.figures[fid_of(wc)], PLAN),
        },
        caption=lambda wc: figure_caption(fid_of(wc), PLAN.figures[fid_of(wc)], PLAN),
    log:
        "logs/figure/{paper}/{name}.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/figure.py"


rule symmetry:
    output:
        csv=report(
            "results/figures/{paper}/{name}.csv",
            caption="../report/figure.rst",
            category="{paper}",
            labels={"figure": "{name}"},
        ),
        md="results/figures/{paper}/{name}.md",
    params:
        spec=lambda wc: PLAN.figures[fid_of(wc)],
        caption=lambda wc: symmetry_caption(PLAN.figures[fid_of(wc)], PLAN),
    log:
        "logs/figure/{paper}/{name}.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/symmetry.py"
