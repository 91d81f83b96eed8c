# Helpers only: lookups into PLAN (memrepro.config.Plan), paths from memrepro.paths, figure
# kinds from memrepro.catalog.
import re
from pathlib import Path

from memrepro import catalog

from memrepro.pipeline import job_inputs
from memrepro.captions import figure_caption, figure_stem, figure_title
from memrepro.pipeline.gpuslots import gpu_count
from memrepro.paths import (
    DOWNLOAD_LOG,
    FIGURE_LOG,
    NOISE_JSON,
    NOISE_LOG,
    NOISE_NPZ,
    PARTITION_LOG,
    PARTITION_NPZ,
    PREPARE_LOG,
    SUMMARY_LOG,
    TRAIN_LOG,
    dataset_files,
    figure_files,
    group_outputs,
    history_path,
    rehearsal_cost_path,
    run_dir,
)
from memrepro.tables import figure_entries

RAW_ROOT = config["data"]["root"]
KINDS = catalog.figure_kinds()
FILE_PROBES = catalog.file_probe_names()
CONDA_ENV = "../../envs/memrepro.yaml"


wildcard_constraints:
    ds=r"[A-Za-z0-9_\-]+",
    exp=r"[A-Za-z0-9_\-]+",
    noise=r"[a-z_]+",
    rate=r"[0-9.]+",
    seed=r"[0-9]+",
    paper=r"[a-z0-9]+",


def train_gpus():
    """GPUs one training job holds: 1 when it will use CUDA (device cuda, or auto on a
    machine with a GPU), else 0. On a GPU cluster whose submit host has no GPU, set
    device: cuda so jobs ask SLURM for one."""
    device = config.get("device", "auto")
    return 0 if device == "cpu" or (device == "auto" and gpu_count() == 0) else 1


def train_outputs(group):
    """A training job's outputs; in a rehearsal its model files are temporary (deleted once
    no figure needs them: the paper plan's would fill 251 GB)."""
    outs = group_outputs(group["cells"], FILE_PROBES)
    if REHEARSAL:
        outs["model"] = [temp(f) for f in outs["model"]]
    return outs


def rule_name(gid):
    """The name of a training group's job: train_<experiment>_<group>, an identifier."""
    ident = re.sub(r"\W", "_", gid)
    return f"train_{ident}"


# figure file stem (paper/name[_standin]) -> figure id (config/<paper>.yaml)
STEMS = {figure_stem(fid, spec, PLAN): fid for fid, spec in PLAN.figures.items()}


def fid_of(wc):
    return STEMS[f"{wc.paper}/{wc.name}"]


def kind_of(wc):
    return KINDS[PLAN.figures[fid_of(wc)]["kind"]]


def figure_entries_of(wc):
    """What the figure's table reads from the runs (None for a dataset or no input)."""
    kind = kind_of(wc)
    if kind.reads in ("dataset", "none"):
        return None
    return figure_entries(PLAN, fid_of(wc), kind.reads, FILE_PROBES)


def figure_inputs(wc):
    """The files behind a figure: its runs' files, the prepared dataset, or nothing."""
    return job_inputs.figure_inputs(PLAN, fid_of(wc), FILE_PROBES)


def figure_threads(wc):
    """CPU threads of a figure job: the training jobs' count when its table computes."""
    return config.get("train_threads", 1) if kind_of(wc).threads else 1


def figure_outputs():
    return [
        f
        for stem, fid in STEMS.items()
        for f in figure_files(stem, KINDS[PLAN.figures[fid]["kind"]].draw is not None)
    ]


def paper_figure_outputs(paper):
    """The figure files of one paper (figure ids <paper>/<name>): the figures_<paper> target."""
    return [
        f
        for stem, fid in STEMS.items()
        if fid.split("/")[0] == paper
        for f in figure_files(stem, KINDS[PLAN.figures[fid]["kind"]].draw is not None)
    ]


def prepare_inputs(wc):
    """What a dataset is prepared from: the download marker, the user's file, or the prepared
    arrays and sidecar of the dataset a derived one is made from."""
    spec = PLAN.datasets[wc.ds]
    if spec["source"] == "torchvision":
        return [f"{RAW_ROOT}/{spec.get('name', wc.ds)}/.complete.json"]
    if spec["source"] == "npz":
        return [spec["path"]]
    if spec["source"] == "derived":
        return list(dataset_files(spec["from"]))
    return []


def group_inputs(group):
    """A training job's named inputs (memrepro.pipeline.job_inputs; `memrepro status` reads the
    same)."""
    return job_inputs.group_inputs(group["cells"])


def partition_of(wc):
    """The resolved partition (memrepro.config.Plan.partitions) a partition job writes."""
    return PLAN.partitions[wc.name]


def partition_spec(wc):
    """What the partition script needs (a change reruns it); the scoring cell by its run."""
    spec = partition_of(wc)
    keep = ("name", "split", "easy", "difficult", "epoch", "probe", "field", "dataset")
    return {
        **{k: spec[k] for k in keep},
        "run": run_dir(spec["cell"]),
        "subset": spec["cell"].get("subset"),
    }


def raw_root_of(inputs):
    """The raw-data root above a download marker (<root>/<name>/.complete.json), if any."""
    markers = [f for f in inputs if f.endswith(".complete.json")]
    return str(Path(markers[0]).parents[1]) if markers else RAW_ROOT
