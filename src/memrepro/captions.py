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
    for panel in spec.get("panels", []):
        for p in panel.get("series") or [panel]:
            if p["experiment"] not in seen:
                seen.append(p["experiment"])
    return seen


def stand_ins(spec: dict, plan) -> dict[str, str]:
    """{stand-in dataset: real dataset} for the experiments a figure draws from."""
    out = {}
    if spec.get("resolved_dataset", spec.get("dataset")) != spec.get("dataset"):
        out[spec["resolved_dataset"]] = spec["dataset"]
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


def _extras(exp: dict) -> str:
    """What else defines the runs: a sweep, training until fitted, adversarial training, CSR."""
    out, tr = [], exp["train"]
    if exp.get("sweep"):
        sw = exp["sweep"]
        out.append(f"sweep {sw['name']} over {sw.get('key') or sw.get('keys')} = {sw['values']}")
    if tr.get("stop_when_fit"):
        out.append("each run stops at 100% training accuracy (epochs = cap)")
    if tr.get("adversarial"):
        out.append(f"adversarial training on LASS critical samples {tr['adversarial']}")
    csr = (exp.get("probes") or {}).get("csr")
    if csr:
        out.append(f"CSR probe {csr}")
    return "".join(f"; {x}" for x in out)


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
                     + f"; seeds {exp['seeds']}; " + _train_text(exp) + _extras(exp) + ".")
    if "dataset" in spec:
        ds, real = spec["resolved_dataset"], spec["dataset"]
        lines.append(f"Data: {ds}" + (f" (scikit-learn digits, a STAND-IN for {real})"
                                      if ds != real else "")
                     + f"; settings {spec.get('settings', {})} (defaults and their reasons: "
                     "memrepro.ar_sensitivity).")
    lines.append(KIND_NOTES.get(spec["kind"], CURVES_NOTE)
                 + (PS_INPUT_NOTE if paper == "ps" and spec["kind"] == "curves" else ""))
    if paper == "ar" and spec["kind"] in AR_HISTORY_KINDS:
        lines.append(AR_NOTE)
    return "\n".join(lines)


CURVES_NOTE = ("Training accuracy = J1 (accuracy on the noisy training labels); J2 = accuracy "
               "on the clean training labels; both measured in eval mode after each epoch "
               "(epoch 0 = initialisation). Inputs scaled to [0, 1] and normalised per "
               "channel. No augmentation.")
PS_INPUT_NOTE = " (The authors' released code fed raw 0-255 pixels.)"
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


AR_HISTORY_KINDS = {"curves", "sweep", "series", "regularizers", "filters"}
AR_NOTE = ("Arpit et al. settings (params.yaml): the test set serves as the validation set; "
           "randX replaces a share eta of the training inputs by Gaussian noise with the "
           "data's per-channel mean and variance, randY a share eta of the labels by uniform "
           "draws. CSR: the share of the first `examples` test images for which LASS (alpha "
           "0.25, beta 0.2, box radius 0.3 on the 0-255 scale, at most max_iter steps) finds a "
           "point with another predicted class; a lower bound. Batch 128 (not stated).")
KIND_NOTES.update({
    "filters": ("Weights of the first convolution of the trained network (seed 0), each "
                "filter min-max scaled on its own; RGB where the input has three channels."),
    "sweep": ("x: the swept hyper-parameter (the run's `sweep`); y: per run, the best "
              "validation (test) accuracy over epochs, or the first epoch at which training "
              "accuracy on the labels trained on reaches 100% (runs stop there; runs that do "
              "not fit within the epoch cap are left out and counted in the panel); mean over "
              "seeds, bars min-max."),
    "series": ("One line per setting named in the legend (experiment, noise rate, sweep "
               "value); mean over seeds, band min-max. Training accuracy in eval mode after "
               "each epoch; training loss = mean minibatch loss in training mode (with the "
               "regularizer active)."),
    "regularizers": ("Per regularizer strength (labels at the points): x = final training "
                     "accuracy on randY (all labels random), y = best validation accuracy over "
                     "epochs on real labels, same network and schedule; flatter curves mean "
                     "memorization is held back without losing generalization."),
    "gini": ("Loss-sensitivity g_x^t = ||dL_t/dx||_1 back-propagated through the unrolled SGD "
             "steps, L_t the full-set mean cross-entropy after step t; Gini coefficient over "
             "examples of its running mean over steps. Random data: Gaussian inputs with the "
             "data's per-channel mean and variance (the only way 'random' differs from real "
             "in the one-class-per-example panel)."),
    "class_sensitivity": ("Cell (i, j): mean over training examples x of class j of the "
                          "time-averaged ||dL_t(y=i)/dx||_1, L_t(y=i) the class-i terms of the "
                          "cross-entropy; log colour scale shared by both panels. Random data: "
                          "Gaussian inputs with the data's per-channel mean and variance."),
})


def symmetry_caption(spec: dict, plan) -> str:
    return (f"{PAPERS['ps']}: Sec. 3 symmetry condition. For {spec.get('samples', 1000)} random "
            f"softmax outputs g (logits ~ N(0, 3^2), K = {spec.get('num_classes', 10)}), "
            "S = sum_j L(g, j) for each loss; a symmetric loss has the same S for every g "
            "(RLL: K log((1+alpha)/alpha); normalized MSE: 1). Computed in float64. "
            f"Scale '{plan.scale}' does not change this table.")
