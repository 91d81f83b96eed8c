# Helpers only: path builders and lookups into PLAN (memrepro.config.Plan).
from memrepro.captions import figure_caption, figure_stem, figure_title, symmetry_caption
from memrepro.config import noise_path

RAW_ROOT = config["data"]["root"]


wildcard_constraints:
    ds=r"[A-Za-z0-9_\-]+",
    exp=r"[A-Za-z0-9_\-]+",
    cell=r"loss-[a-z0-9_]+_eta-[0-9.]+_seed-[0-9]+",
    noise=r"[a-z_]+",
    rate=r"[0-9.]+",
    seed=r"[0-9]+",
    paper=r"[a-z0-9]+",


def history_path(cell):
    return f"results/runs/{cell['experiment']}/{cell['slug']}/history.csv"


def cell_of(wc):
    return PLAN.cells[(wc.exp, wc.cell)]


def panel_entries(fid):
    """(panel index, panel title, cell) for every cell a figure draws."""
    spec = PLAN.figures[fid]
    return [
        (i, p.get("title", f"panel {i}"), c)
        for i, p in enumerate(spec.get("panels", []))
        for c in PLAN.cells_of(p["experiment"], p["loss"])
    ]


# figure file stem (paper/name[_standin]) -> figure id in params.yaml
STEMS = {figure_stem(fid, spec, PLAN): fid for fid, spec in PLAN.figures.items()}


def fid_of(wc):
    return STEMS[f"{wc.paper}/{wc.name}"]


def figure_outputs():
    out = []
    for stem, fid in STEMS.items():
        if PLAN.figures[fid]["kind"] == "symmetry":
            out += [f"results/figures/{stem}.csv", f"results/figures/{stem}.md"]
        else:
            out += [f"results/figures/{stem}.{ext}" for ext in ("pdf", "png", "caption.txt")]
    return out
