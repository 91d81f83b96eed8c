# memrepro: one DAG for every figure. Entry points: `snakemake --cores all figures`
# (default scale smoke), `figures_<paper>` (one paper's figures) and `dvc repro`.
# Configuration: params.yaml (global) and the papers' files it lists, config/<paper>.yaml.
import sys
from pathlib import Path

from snakemake.utils import min_version

from memrepro.config import ConfigError, load_sources, merge_sources, overlay_changes, resolve
from memrepro.config.layout import unlisted_paper_files
from memrepro.pipeline.build_status import plan_jobs
from memrepro.pipeline.integrity import repair as repair_damaged_runs
from memrepro.pipeline import terminal
from memrepro.pipeline.jobenv import put_on_pythonpath
from memrepro.pipeline.resume import forget_recorded
from memrepro.pipeline.snakemake_locks import guard as guard_snakemake_locks
from memrepro.pipeline.watchdog import clear_stale_locks
from memrepro.rehearsal import plan as rehearsal

min_version("9.0")

# Snakemake's terminal output for the whole run: long file lists and reasons summarised, no
# line over memrepro.pipeline.terminal.WIDTH characters (a 100-cell job printed
# 27,000-character lines)
terminal.install()


# The files the config is merged from, read here: params.yaml, the papers' files it lists
# (config/<paper>.yaml), each --configfile and the --config values (a dotted key such as
# experiments.x.train.epochs=5 nested). A YAML syntax error names its file and line, and an
# error names the file that set its key (memrepro.config.layout).
try:
    SOURCES = load_sources(
        "params.yaml", workflow.overwrite_configfiles, workflow.config_settings.config
    )
except ConfigError as err:
    sys.exit(err.refusal())  # the message, on stderr; exit status 1


configfile: "params.yaml"


# Snakemake's `config`: the same files merged in the same order (it read params.yaml only)
config.clear()
config.update(merge_sources(SOURCES))
if workflow.is_main_process:
    for _unread in unlisted_paper_files(workflow.basedir, config):
        sys.stderr.write(
            f"memrepro: {_unread} is not read: params.yaml `papers` does not " "list it\n"
        )


# The image for `--sdm apptainer` (docs/container.md); unused without that flag.
container: "memrepro.sif"


report: "workflow/report/workflow.rst"


try:
    SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "params.schema.yaml"
    PLAN = resolve(config, schema_path=SCHEMA, sources=SOURCES)
except ConfigError as err:
    sys.exit(err.refusal())
# A rehearsal (`memrepro rehearse`, docs/rehearsal.md): the plan's every job for a few steps at
# its real shapes, in a directory of its own; REAL keeps what the real jobs would do.
REHEARSAL = rehearsal.settings(config)
REAL = {}
if REHEARSAL:
    try:
        rehearsal.check_directory(Path.cwd())
        REAL = rehearsal.rehearse(PLAN, REHEARSAL)
    except ValueError as err:
        sys.exit(f"memrepro: {err}")
if workflow.is_main_process:  # what the scale's overlay changed, once (not in cluster jobs)
    sys.stderr.write("".join(f"memrepro: {line}\n" for line in overlay_changes(PLAN)))


# jobs in the conda env of envs/ (--sdm conda) import memrepro from this checkout
put_on_pythonpath(Path(workflow.basedir) / "src")


# After a killed Snakemake: remove its leftover locks once nothing of it runs any more (a
# live Snakemake keeps its own), and forget the outputs kept for finished jobs that Snakemake
# has since recorded (memrepro.pipeline.watchdog, memrepro.pipeline.resume;
# docs/operations.md "If a run is interrupted").
if workflow.is_main_process:
    # two Snakemakes started at once: one runs, the other says the directory is locked
    guard_snakemake_locks()
    clear_stale_locks()
    forget_recorded()
    # a run file damaged or lost after its job finished (sizes against run.json, no hashing):
    # its group and everything downstream are rebuilt (memrepro.pipeline.integrity;
    # docs/operations.md); not in a rehearsal, whose model files are temporary
    if not REHEARSAL:
        repair_damaged_runs(plan_jobs(PLAN))


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/noise.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/partition.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/manifest.smk"
include: "workflow/rules/rehearsal.smk"


sys.stderr.write(
    f"memrepro: scale '{PLAN.scale}': {len(PLAN.cells)} training cells planned "
    f"in {len(PLAN.groups)} training job(s) over {len(PLAN.datasets)} dataset(s) and "
    f"{len(PLAN.figures)} figure(s).\n"
)


if Path("results").is_dir() and not Path(".snakemake/metadata").is_dir():
    sys.stderr.write(
        "memrepro: results/ has no Snakemake records (after `dvc pull`?): run "
        "`memrepro after-pull` first, or Snakemake may retrain.\n"
    )


rule data:
    input:
        expand("results/data/{ds}.npz", ds=sorted(PLAN.datasets)),


rule runs:
    input:
        [history_path(c) for c in PLAN.cells.values()],
        [p["path"] for p in PLAN.partitions.values()],


rule figures:
    input:
        figure_outputs(),
        rules.summary.output,
        # a rehearsal evaluates no claim and has no manifest: its cost report instead
        rules.rehearsal_report.output if REHEARSAL else rules.claims.output,
        [] if REHEARSAL else rules.manifest.output,


rule all:
    default_target: True
    input:
        rules.figures.input,


# One paper's figures (figures_ps, figures_ar, figures_llj, figures_md, and one per paper a
# user adds): its drawn figures and tables, and the runs they read; no claims or summary
# (those read every paper's results).
for _paper in sorted({fid.split("/")[0] for fid in PLAN.figures}):

    rule:
        name:
            f"figures_{_paper}"
        input:
            paper_figure_outputs(_paper),


# The last line of a build: the claims scorecard's count, naming every claim expected at this
# scale that failed (the same verdicts as results/claims.md), when results/ has a scorecard of
# this scale.
onsuccess:
    from memrepro.claims import print_end_of_build

    if not REHEARSAL:
        print_end_of_build(rules.claims.output.json, PLAN.scale)
