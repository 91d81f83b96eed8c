"""Figure captions and stand-in labels: what a reader needs to trust a figure.

Generic: the paper's citation and notes come from its index (``memrepro.paper.Paper``), the
method paragraph from the figure kind's ``note``; both are looked up through
``memrepro.catalog`` inside the functions, so importing this module loads no paper.
"""

from __future__ import annotations


def experiments_of(spec: dict) -> list[str]:
    seen: list[str] = []
    for panel in spec.get("panels", []):
        for p in panel.get("series") or [panel]:
            if p["experiment"] not in seen:
                seen.append(p["experiment"])
    return seen


def stand_ins(spec: dict, plan) -> dict[str, str]:
    """{real dataset: stand-in dataset} for the experiments a figure draws from (one stand-in
    may replace several real datasets: digits for MNIST and Fashion-MNIST)."""
    out = {}
    if spec.get("resolved_dataset", spec.get("dataset")) != spec.get("dataset"):
        out[spec["dataset"]] = spec["resolved_dataset"]
    for e in experiments_of(spec):
        exp = plan.experiments[e]
        if exp["resolved_dataset"] != exp["dataset"]:
            out[exp["dataset"]] = exp["resolved_dataset"]
    return out


def figure_stem(fid: str, spec: dict, plan) -> str:
    """File stem under results/figures/: `<paper>/<name>`, plus `_standin` when any panel
    was trained on a stand-in dataset (DESIGN principle 4: never silently substitute), and
    `_REHEARSAL` in a rehearsal (memrepro.rehearsal: a few steps, not a result)."""
    return (fid + ("_standin" if stand_ins(spec, plan) else "")
            + ("_REHEARSAL" if rehearsal(plan) else ""))


def rehearsal(plan) -> bool:
    """Whether ``plan`` is a rehearsal's (memrepro.rehearsal.plan)."""
    return bool(plan.config.get("rehearse"))


def reduced_models(spec: dict, plan) -> bool:
    """Whether the scale's overlay changed any model of the figure (e.g. width at smoke)."""
    return any(plan.experiments[e]["model"] != plan.config["experiments"][e]["model"]
               for e in experiments_of(spec))


def figure_title(spec: dict, plan) -> str:
    notes = [f"{plan.scale} scale"] + ([f"seed offset {plan.config['seed_offset']}"]
                                       if plan.config.get("seed_offset") else [])
    subs = stand_ins(spec, plan)
    if subs:
        notes.append("STAND-IN data: " + ", ".join(f"{s} for {r}" for r, s in subs.items()))
    if reduced_models(spec, plan):
        notes.append("reduced models, see caption")
    title = f"{spec['title']} [{'; '.join(notes)}]"
    return f"REHEARSAL, NOT A RESULT: {title}" if rehearsal(plan) else title


def _offset_text(plan) -> str:
    """The build's seed offset, when it is not 0 (memrepro.seeds)."""
    offset = plan.config.get("seed_offset", 0)
    from memrepro.seeds import SEED_OFFSET_STRIDE

    return (f" Seed offset {offset}: every cell draws from seed + {offset} x "
            f"{SEED_OFFSET_STRIDE:,}." if offset else "")


def _train_text(exp: dict) -> str:
    tr, opt = exp["train"], exp["train"]["optimizer"]
    sched = tr.get("schedule", {"name": "constant"})
    s = {k: v for k, v in sched.items() if k != "name"}
    opt_extra = ", ".join(f"{k} {v}" for k, v in opt.items() if k not in {"name", "lr"})
    return (f"{opt['name'].upper()} lr {opt['lr']}" + (f" ({opt_extra})" if opt_extra else "")
            + f", schedule {sched.get('name', 'constant')}" + (f" {s}" if s else "")
            + f", {tr['epochs']} epoch{'' if tr['epochs'] == 1 else 's'}, batch {tr['batch_size']}")


def _extras(exp: dict) -> str:
    """What else defines the runs: a sweep, training until fitted, a training objective, a
    paper's probe."""
    from memrepro import catalog

    out, tr = [], exp["train"]
    if exp.get("sweep"):
        sw = exp["sweep"]
        out.append(f"sweep {sw['name']} over {sw.get('key') or sw.get('keys')} = {sw['values']}")
    if tr.get("stop_when_fit"):
        out.append("each run stops at 100% training accuracy (epochs = cap)")
    objectives, probes = catalog.option_notes()
    out += [text.format(tr[name]) for name, text in objectives.items() if tr.get(name)]
    asked = exp.get("probes") or {}
    out += [text.format(asked[name]) for name, text in probes.items() if asked.get(name)]
    return "".join(f"; {x}" for x in out)


def rehearsal_text(spec: dict, plan) -> str:
    """The warning that opens a rehearsal's captions, with what the figure's runs did."""
    r = plan.config["rehearse"]
    exps = set(experiments_of(spec))
    capped = {c["train"]["probe_examples"] for (e, _), c in plan.cells.items()
              if e in exps and c["train"].get("probe_examples")}
    probes = (f"the first {min(capped)} examples where it wrote probe files" if capped
              else "every example where it wrote probe files")
    steps = spec.get("rehearsal_steps")
    cut = (f"; computed over {steps['run']} of the real {steps['real']} SGD steps"
           if steps else "")
    groups = [g for g in plan.groups.values() if g["experiment"] in exps]
    copied = sum(len(g["cells"]) for g in groups if g.get("copy_of"))
    if copied:
        cut += (f"; {copied} of its {sum(len(g['cells']) for g in groups)} runs are copies of "
                "a trained job of the same shapes (heavy jobs are trained once per signature)")
    return (f"REHEARSAL, NOT A RESULT: every run of this figure trained {r['epochs']} epoch(s) "
            f"of {r['steps']} minibatches at its real shapes and was evaluated on the first "
            f"{r['eval_examples']} examples of each split ({probes}){cut} (memrepro rehearse, "
            "docs/rehearsal.md): only the figure's form means anything.")


def figure_caption(fid: str, spec: dict, plan) -> str:
    """The figure's caption: its kind's own, or the generic one; first a warning in a
    rehearsal."""
    from memrepro import catalog

    kind = catalog.figure_kinds()[spec["kind"]]
    text = kind.caption(spec, plan) if kind.caption is not None else \
        _generic_caption(fid, spec, plan, kind)
    return f"{rehearsal_text(spec, plan)}\n{text}" if rehearsal(plan) else text


def _generic_caption(fid: str, spec: dict, plan, kind) -> str:
    from memrepro import catalog

    paper = catalog.paper_of(fid)
    lines = [f"{paper.citation if paper else fid.split('/')[0]}: {spec['title']}.",
             f"Rebuilt by memrepro at scale '{plan.scale}'." + _offset_text(plan)]
    for e in experiments_of(spec):
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
                     + f"; settings {spec.get('settings', {})}.")
    suffix = paper.kind_note_suffix.get(spec["kind"], "") if paper else ""
    lines.append(kind.note + suffix)
    if paper and paper.note and spec["kind"] in paper.note_kinds:
        lines.append(paper.note)
    return "\n".join(lines)
