"""Figure captions and stand-in labels: what a reader needs to trust a figure."""

from __future__ import annotations

PAPERS = {
    "ps": "Patel & Sastry 2021, \"Memorization in Deep Neural Networks: Does the Loss "
          "Function matter?\"",
    "ar": "Arpit et al. 2017, \"A Closer Look at Memorization in Deep Networks\"",
    "llj": "Liu, Lin & Jaggi 2022, \"Understanding Memorization from the Perspective of "
           "Optimization via Efficient Influence Estimation\"",
    "md": "\"Memorization-Dilation: Modeling Neural Collapse under Label Noise\" (ICLR 2023)",
}


def _experiments_of(spec: dict) -> list[str]:
    seen: list[str] = []
    for p in spec.get("panels", []):
        if p["experiment"] not in seen:
            seen.append(p["experiment"])
    return seen


def stand_ins(spec: dict, plan) -> dict[str, str]:
    """{stand-in dataset: real dataset} for the experiments a figure draws from."""
    out = {}
    for e in _experiments_of(spec):
        exp = plan.experiments[e]
        if exp["resolved_dataset"] != exp["dataset"]:
            out[exp["resolved_dataset"]] = exp["dataset"]
    return out


def figure_stem(fid: str, spec: dict, plan) -> str:
    """File stem under results/figures/: `<paper>/<name>`, plus `_standin` when any panel
    was trained on a stand-in dataset (DESIGN principle 4: never silently substitute)."""
    return fid + ("_standin" if stand_ins(spec, plan) else "")


def reduced_models(spec: dict, plan) -> bool:
    """Whether the scale's overlay changed any model of the figure (e.g. width at smoke)."""
    return any(plan.experiments[e]["model"] != plan.config["experiments"][e]["model"]
               for e in _experiments_of(spec))


def figure_title(spec: dict, plan) -> str:
    notes = [f"{plan.scale} scale"]
    subs = stand_ins(spec, plan)
    if subs:
        notes.append("STAND-IN data: " + ", ".join(f"{s} for {r}" for s, r in subs.items()))
    if reduced_models(spec, plan):
        notes.append("reduced models, see caption")
    return f"{spec['title']} [{'; '.join(notes)}]"


def _train_text(exp: dict) -> str:
    tr, opt = exp["train"], exp["train"]["optimizer"]
    sched = tr.get("schedule", {"name": "constant"})
    s = {k: v for k, v in sched.items() if k != "name"}
    opt_extra = ", ".join(f"{k} {v}" for k, v in opt.items() if k not in {"name", "lr"})
    return (f"{opt['name'].upper()} lr {opt['lr']}" + (f" ({opt_extra})" if opt_extra else "")
            + f", schedule {sched.get('name', 'constant')}" + (f" {s}" if s else "")
            + f", {tr['epochs']} epoch{'' if tr['epochs'] == 1 else 's'}, batch {tr['batch_size']}")


def figure_caption(fid: str, spec: dict, plan) -> str:
    paper = fid.split("/")[0]
    lines = [f"{PAPERS.get(paper, paper)}: {spec['title']}.",
             f"Rebuilt by memrepro at scale '{plan.scale}'."]
    for e in _experiments_of(spec):
        exp = plan.experiments[e]
        ds, real = exp["resolved_dataset"], exp["dataset"]
        data = ds if ds == real else f"{ds} (scikit-learn digits, a STAND-IN for {real})"
        model = ", ".join(f"{k}={v}" for k, v in exp["model"].items())
        noise = exp["noise"]
        lines.append(f"{e}: data {data}; model {model}; losses {', '.join(exp['losses'])}"
                     + (f" {exp['loss_params']}" if exp.get("loss_params") else "")
                     + (f"; a fixed subset of {exp['subset']} training examples"
                        if exp.get("subset") else "")
                     + f"; noise {noise['name']} eta in {noise['rates']}"
                     + (f" (drawn once with seed {noise['seed']})" if "seed" in noise else "")
                     + f"; seeds {exp['seeds']}; " + _train_text(exp) + ".")
    lines.append(KIND_NOTES.get(spec["kind"], CURVES_NOTE))
    return "\n".join(lines)


CURVES_NOTE = ("Training accuracy = J1 (accuracy on the noisy training labels); J2 = accuracy "
               "on the clean training labels; both measured in eval mode after each epoch "
               "(epoch 0 = initialisation). Inputs scaled to [0, 1] and normalised per "
               "channel; the authors' released code fed raw 0-255 pixels. No augmentation.")
KIND_NOTES = {
    "per_example_rates": (
        "Each network starts from its own initialisation and shuffling (its seed) on the same "
        "data; after one epoch, the misclassification rate of an example is the share of "
        "networks whose prediction (eval mode) differs from the label they trained on "
        "(randY: the random label). Rates of fixed training examples (the first of one seeded "
        "permutation), sorted. Dashed: sorted draws of Binomial(runs, mean rate) / runs, the "
        "curve if every example were equally hard. Inputs scaled to [0, 1] and normalised per "
        "channel; batch 128 (not stated in the paper)."),
}


def symmetry_caption(spec: dict, plan) -> str:
    return (f"{PAPERS['ps']}: Sec. 3 symmetry condition. For {spec.get('samples', 1000)} random "
            f"softmax outputs g (logits ~ N(0, 3^2), K = {spec.get('num_classes', 10)}), "
            "S = sum_j L(g, j) for each loss; a symmetric loss has the same S for every g "
            "(RLL: K log((1+alpha)/alpha); normalized MSE: 1). Computed in float64. "
            f"Scale '{plan.scale}' does not change this table.")
