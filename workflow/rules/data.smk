# Download raw datasets (torchvision's files, md5-checked) and prepare uint8 NCHW .npz files.
from memrepro.rehearsal.raw_formats import download_mirror, download_resources


rule download:
    output:
        f"{RAW_ROOT}/{{name}}/.complete.json",
    log:
        DOWNLOAD_LOG,
    conda:
        CONDA_ENV
    params:
        name=lambda wc: wc.name,
        root=lambda wc, output: str(Path(output[0]).parents[1]),
        # a rehearsal's mirror: a folder per dataset, its own md5s (memrepro.rehearsal)
        mirror=lambda wc: download_mirror(config["data"], wc.name, bool(REHEARSAL)),
        resources=lambda wc: download_resources(config["data"], wc.name, bool(REHEARSAL)),
    script:
        "../scripts/download.py"


rule prepare:
    input:
        prepare_inputs,
    output:
        npz="results/data/{ds}.npz",
        json="results/data/{ds}.json",
    log:
        PREPARE_LOG,
    conda:
        CONDA_ENV
    params:
        spec=lambda wc: {"name": wc.ds, **PLAN.datasets[wc.ds]},
        root=lambda wc, input: raw_root_of(input),
    script:
        "../scripts/prepare.py"
