# Partitions (params.yaml `partitions:`; memrepro.subsets): the easy and difficult examples of
# one scoring run, by the score its file probe recorded (LLJ's TOD memorization score). Between
# the scoring run's training job and the jobs that train on a part of it.


rule partition:
    input:
        probe=lambda wc: partition_of(wc)["probe_file"],
        data=lambda wc: dataset_files(partition_of(wc)["dataset"])[0],
    output:
        PARTITION_NPZ,
    log:
        PARTITION_LOG,
    wildcard_constraints:
        name="|".join(re.escape(n) for n in PLAN.partitions) or "(?!)",
    conda:
        CONDA_ENV
    params:
        spec=partition_spec,
    script:
        "../scripts/partition.py"


# every partition: the runs stage of dvc.yaml builds them with the runs (those only a figure
# reads included)
rule partitions:
    input:
        [p["path"] for p in PLAN.partitions.values()],
