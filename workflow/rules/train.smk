# Training: one job per group of cells (memrepro.config.make_groups; by default the cells of
# an experiment that differ only by seed). A job imports torch once, keeps one copy of the
# data on the device and writes every cell's files. A group's outputs are known when the
# Snakefile is parsed, so each group is its own rule (named train_<experiment>_<group>).

from memrepro.pipeline.folded import cells_label, fold

TRAIN_GPUS = train_gpus()

for _gid, _group in PLAN.groups.items():
    if _group.get("copy_of"):

        # a rehearsal's job that copies the outputs of the job trained for it (same signature,
        # or the first models of a job too big for the machine: memrepro.rehearsal.plan)
        rule:
            name:
                rule_name(_gid)
            input:
                **group_outputs(_group["copy_cells"], FILE_PROBES),
            output:
                **train_outputs(_group),
            log:
                TRAIN_LOG.format(group=_gid),
            params:
                src=group_outputs(_group["copy_cells"], FILE_PROBES),
                dst=group_outputs(_group["cells"], FILE_PROBES),
                slugs=[c["slug"] for c in _group["cells"]],
            script:
                "../scripts/copy_runs.py"

        continue

    rule:
        name:
            rule_name(_gid)
        input:
            **group_inputs(_group),
        output:
            **train_outputs(_group),
            # a rehearsal's measurements of the job (memrepro.rehearsal.meter)
            **({"cost": rehearsal_cost_path(_gid)} if REHEARSAL else {}),
        log:
            TRAIN_LOG.format(group=_gid),
        conda:
            CONDA_ENV
        threads: config.get("train_threads", 1)
        resources:
            gpu=TRAIN_GPUS,
            # a rehearsal's memory by accounting; `memrepro rehearse` caps the sum
            rehearsal_mb=rehearsal.memory_mb(_group, PLAN.datasets) if REHEARSAL else 0,
        params:
            # the cells' specs, shown and recorded by a digest (memrepro.pipeline.folded): a change
            # in any cell reruns the group, and the reason fits on a line
            specs=lambda wc, cells=_group["cells"]: fold(cells, cells_label(cells)),
            mode=_group["mode"],
            name=_gid,
            device=config.get("device", "auto"),
            compile=config.get("compile", False),
        script:
            "../scripts/train.py"
