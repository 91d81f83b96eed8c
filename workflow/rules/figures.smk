# Figures: one job per figure makes its tidy table (results/metrics/) and draws it (PDF + PNG
# + caption), or, for a kind whose table is the figure, writes it as CSV + Markdown. What a
# job reads and does comes from its kind (memrepro.catalog.figure_kinds()). The summary job
# writes the DVC metrics and plots. In the HTML report (`snakemake --report`) each figure has
# its paper as category, its number and title as label, and a `gallery` entry that
# workflow/report/*.rst render (memrepro.pipeline.figure_jobs).

from memrepro.pipeline import figure_jobs as rep
from memrepro.pipeline.folded import fold
from memrepro.paths import SUMMARY_CELLS, plot_path, summary_paths
from memrepro.provenance import figure_params


rule figure:
    input:
        figure_inputs,
    output:
        table="results/metrics/{paper}/{name}.csv",
        pdf="results/figures/{paper}/{name}.pdf",
        png=report(
            "results/figures/{paper}/{name}.png",
            caption="../report/figure.rst",
            category=lambda wc: rep.category(wc.paper),
            labels=lambda wc, params: rep.labels(params.gallery),
        ),
        caption="results/figures/{paper}/{name}.caption.txt",
    log:
        FIGURE_LOG,
    conda:
        CONDA_ENV
    threads: figure_threads
    params:
        spec=lambda wc: rep.job_spec(fid_of(wc), PLAN),
        caption=lambda wc: figure_caption(fid_of(wc), PLAN.figures[fid_of(wc)], PLAN),
        entries=lambda wc: rep.job_entries(figure_entries_of(wc)),
        # the record's parts known when the DAG is built (memrepro.provenance.figure_params);
        # the job adds the commit, the datasets' sha256, the lock's and the image's (no param:
        # a new commit reruns nothing)
        provenance=lambda wc: figure_params(
            [e[3] for e in figure_entries_of(wc) or []], figure_inputs(wc)
        ),
        gallery=lambda wc: rep.job_gallery(fid_of(wc), PLAN),
    script:
        "../scripts/figure.py"


rule table_figure:
    input:
        figure_inputs,
    output:
        csv=report(
            "results/figures/{paper}/{name}.csv",
            caption="../report/figure.rst",
            category=lambda wc: rep.category(wc.paper),
            labels=lambda wc, params: rep.labels(params.gallery),
        ),
        md="results/figures/{paper}/{name}.md",
    log:
        FIGURE_LOG,
    conda:
        CONDA_ENV
    threads: figure_threads
    params:
        spec=lambda wc: rep.job_spec(fid_of(wc), PLAN, titled=False),
        caption=lambda wc: figure_caption(fid_of(wc), PLAN.figures[fid_of(wc)], PLAN),
        entries=lambda wc: rep.job_entries(figure_entries_of(wc)),
        # the record's parts known when the DAG is built (memrepro.provenance.figure_params);
        # the job adds the commit, the datasets' sha256, the lock's and the image's (no param:
        # a new commit reruns nothing)
        provenance=lambda wc: figure_params(
            [e[3] for e in figure_entries_of(wc) or []], figure_inputs(wc)
        ),
        gallery=lambda wc: rep.job_gallery(fid_of(wc), PLAN),
    script:
        "../scripts/figure.py"


# DVC's view of the results: a few numbers per experiment (one file each, `dvc metrics show`
# prints one row per file), every cell's final numbers (results/summary_cells.json), and each
# cell's curves (`dvc plots show`; declared one by one, as a directory() output would leave
# Snakemake's .snakemake_timestamp among them). It reads every cell's history (params) but
# declares one per training job: a job writes all its cells' files at once, so one stands for
# the rest, and Snakemake, which records each input's checksum for every output, then does
# 37 x 617 checksums at smoke instead of 579 x 617 (about 10 s of its main process).
rule summary:
    input:
        [history_path(g["cells"][0]) for g in PLAN.groups.values()],
    output:
        metrics=summary_paths(PLAN.cells.values()),
        cells=SUMMARY_CELLS,
        plots=[plot_path(c) for c in PLAN.cells.values()],
    log:
        SUMMARY_LOG,
    conda:
        CONDA_ENV
    params:
        entries=lambda wc: fold(
            [(c, history_path(c)) for c in PLAN.cells.values()], f"{len(PLAN.cells)} cells"
        ),
    script:
        "../scripts/summary.py"
