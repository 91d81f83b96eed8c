# Helpers only: path builders and lookups into PLAN (memrepro.config.Plan).
import re
from pathlib import Path

from memrepro.captions import figure_caption, figure_stem, figure_title, symmetry_caption
from memrepro.config import cell_noise_path
from memrepro.gpuslots import gpu_count

RAW_ROOT = config["data"]["root"]
CONDA_ENV = "../../envs/memrepro.yaml"


wildcard_constraints:
    ds=r"[A-Za-z0-9_\-]+",
    exp=r"[A-Za-z0-9_\-]+",
    noise=r"[a-z_]+",
    rate=r"[0-9.]+",
    seed=r"[0-9]+",
    paper=r"[a-z0-9]+",


def history_path(cell):
    return run_path(cell, "history.csv")


def train_gpus():
    """GPUs one training job holds: 1 when it will use CUDA (device cuda, or auto on a
    machine with a GPU), else 0. On a GPU cluster whose submit host has no GPU, set
    device: cuda so jobs ask SLURM for one."""
    device = config.get("device", "auto")
    return 0 if device == "cpu" or (device == "auto" and gpu_count() == 0) else 1


def run_path(cell, name):
    return f"results/runs/{cell['experiment']}/{cell['slug']}/{name}"


def probe_files(cell):
    """The per-example probe files a cell writes (probes: {name: {epochs: [...]}})."""
    return [
        run_path(cell, f"probes/{name}_epoch-{e}.npz")
        for name, opts in sorted((cell.get("probes") or {}).items())
        for e in opts.get("epochs", [])
    ]


def train_outputs(group):
    cells = group["cells"]
    out = {name: [run_path(c, name + ext) for c in cells]
           for name, ext in (("history", ".csv"), ("model", ".pt"), ("run", ".json"))}
    probes = [f for c in cells for f in probe_files(c)]
    return {**out, "probes": probes} if probes else out


def extract_inputs(wc):
    """The files behind extract_entries: histories, probe files or trained models."""
    paths = [e[-1] for e in extract_entries(wc)]
    return [f for p in paths for f in (p if isinstance(p, list) else [p])]


def rate_entries(fid):
    """(panel index, panel title, every cell) of a per-example figure's panels."""
    return [
        (i, p.get("title", p["experiment"]), PLAN.cells_of(p["experiment"], p["loss"]))
        for i, p in enumerate(PLAN.figures[fid].get("panels", []))
    ]


def filter_entries(fid):
    """(panel, title, cell, model file): the first seed's run at the panel's noise rate."""
    out = []
    for i, p in enumerate(PLAN.figures[fid]["panels"]):
        cells = [c for c in PLAN.cells_of(p["experiment"], p["loss"])
                 if "eta" not in p or abs(c["noise"]["rate"] - p["eta"]) < 1e-9]
        if not cells:
            raise ValueError(f"figures.{fid}.panels[{i}]: no run of {p['experiment']} at "
                             f"eta {p.get('eta')}")
        out.append((i, p.get("title", p["experiment"]), cells[0], run_path(cells[0], "model.pt")))
    return out


def extract_entries(wc):
    fid = fid_of(wc)
    kind = PLAN.figures[fid]["kind"]
    if kind == "per_example_rates":
        return [(i, t, cells[0], [f for c in cells for f in probe_files(c)])
                for i, t, cells in rate_entries(fid)]
    if kind == "filters":
        return filter_entries(fid)
    return [(i, t, k, c, history_path(c)) for i, t, k, c in panel_entries(fid)]


def rule_name(gid):
    """The name of a training group's job: train_<experiment>_<group>, an identifier."""
    ident = re.sub(r"\W", "_", gid)
    return f"train_{ident}"


def panel_entries(fid):
    """(panel index, panel title, series index, cell) for every cell a figure draws; a
    panel's `series` entries each name an experiment and loss (series 0: the panel's own)."""
    out = []
    for i, p in enumerate(PLAN.figures[fid].get("panels", [])):
        for k, s in enumerate(p.get("series") or [p]):
            out += [(i, p.get("title", f"panel {i}"), k, c)
                    for c in PLAN.cells_of(s["experiment"], s["loss"])]
    return out


TABLE_KINDS = {"symmetry"}  # figures that are tables (CSV + Markdown), not plots
COMPUTED_KINDS = {"gini", "class_sensitivity"}  # tables computed from a dataset, no training


def computed_stems():
    """Regex of the figure stems whose table the `sensitivity` rule computes."""
    names = [s.split("/", 1)[1] for s, f in STEMS.items()
             if PLAN.figures[f]["kind"] in COMPUTED_KINDS]
    return "|".join(map(re.escape, names)) or "(?!)"


# figure file stem (paper/name[_standin]) -> figure id in params.yaml
STEMS = {figure_stem(fid, spec, PLAN): fid for fid, spec in PLAN.figures.items()}


def fid_of(wc):
    return STEMS[f"{wc.paper}/{wc.name}"]


def figure_outputs():
    out = []
    for stem, fid in STEMS.items():
        if PLAN.figures[fid]["kind"] in TABLE_KINDS:
            out += [f"results/figures/{stem}.csv", f"results/figures/{stem}.md"]
        else:
            out += [f"results/figures/{stem}.{ext}" for ext in ("pdf", "png", "caption.txt")]
    return out


def prepare_inputs(wc):
    spec = PLAN.datasets[wc.ds]
    if spec["source"] == "torchvision":
        return [f"{RAW_ROOT}/{spec.get('name', wc.ds)}/.complete.json"]
    if spec["source"] == "npz":
        return [spec["path"]]
    return []


def group_inputs(group):
    c0 = group["cells"][0]
    return {
        "data": f"results/data/{c0['dataset']}.npz",
        "meta": f"results/data/{c0['dataset']}.json",
        "noise": [cell_noise_path(c) for c in group["cells"]],
    }


def raw_root_of(inputs):
    """The raw-data root above a download marker (<root>/<name>/.complete.json), if any."""
    markers = [f for f in inputs if f.endswith(".complete.json")]
    return str(Path(markers[0]).parents[1]) if markers else RAW_ROOT
