# memrepro: one DAG for every figure. Entry points: `snakemake --cores all figures`
# (default scale smoke) and `dvc repro`. Configuration: params.yaml only.
import sys
from pathlib import Path

from snakemake.utils import min_version

from memrepro.config import ConfigError, resolve
from memrepro.jobenv import put_on_pythonpath

min_version("9.0")


configfile: "params.yaml"


# The image for `--sdm apptainer` (docs/container.md); unused without that flag.
container: "memrepro.sif"


report: "workflow/report/workflow.rst"


try:
    SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "params.schema.yaml"
    PLAN = resolve(config, schema_path=SCHEMA)
except ConfigError as err:
    sys.stderr.write(f"memrepro: {err}\nNothing was run. Fix params.yaml or the --config value.\n")
    sys.exit(1)


# jobs in the conda env of envs/ (--sdm conda) import memrepro from this checkout
put_on_pythonpath(Path(workflow.basedir) / "src")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/noise.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/figures.smk"


sys.stderr.write(
    f"memrepro: scale '{PLAN.scale}': {len(PLAN.cells)} training cells planned "
    f"in {len(PLAN.groups)} training job(s) over {len(PLAN.datasets)} dataset(s) and "
    f"{len(PLAN.figures)} figure(s).\n"
)


if Path("results").is_dir() and not Path(".snakemake/metadata").is_dir():
    sys.stderr.write(
        "memrepro: results/ has no Snakemake records (after `dvc pull`?): run "
        "`python workflow/scripts/after_pull.py` first, or Snakemake may retrain.\n"
    )


rule data:
    input:
        expand("results/data/{ds}.npz", ds=sorted(PLAN.datasets)),


rule runs:
    input:
        [history_path(c) for c in PLAN.cells.values()],


rule figures:
    input:
        figure_outputs(),
        "results/summary.json",


rule all:
    default_target: True
    input:
        rules.figures.input,
