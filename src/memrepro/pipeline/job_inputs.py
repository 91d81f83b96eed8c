"""The files a job reads, from the plan: one definition for the Snakemake rules
(workflow/rules/common.smk) and for what `memrepro status` and the startup repair see as a
job's inputs (memrepro.pipeline.build_status), so the two cannot disagree."""

from __future__ import annotations

from memrepro.paths import cell_noise_path, dataset_files, partition_path


def group_inputs(cells: list[dict]) -> dict[str, str | list[str]]:
    """A training job's inputs by name: the prepared dataset (``data``, ``meta``), each cell's
    noise file and the partitions its cells train on a part of (``subset: {partition: ...}``)."""
    from memrepro.subsets import is_partition_subset

    data, meta = dataset_files(cells[0]["dataset"])
    parts = [partition_path(c["subset"]["partition"]) for c in cells
             if is_partition_subset(c.get("subset"))]
    return {"data": data, "meta": meta, "noise": [cell_noise_path(c) for c in cells],
            **({"partitions": list(dict.fromkeys(parts))} if parts else {})}


def figure_inputs(plan, fid: str, file_probes) -> list[str]:
    """The files a figure job reads: its runs' files, or the prepared dataset, and its kind's
    extra inputs."""
    from memrepro import catalog
    from memrepro.tables import entry_files, figure_entries

    spec = plan.figures[fid]
    kind = catalog.figure_kinds()[spec["kind"]]
    extra = list(kind.extra_inputs(spec, plan)) if kind.extra_inputs else []
    if kind.reads == "dataset":
        return [dataset_files(spec["resolved_dataset"])[0], *extra]
    if kind.reads == "none":
        return extra
    return entry_files(figure_entries(plan, fid, kind.reads, file_probes)) + extra
