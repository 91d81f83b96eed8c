# Download raw datasets (torchvision's files, md5-checked) and prepare uint8 NCHW .npz files.


rule download:
    output:
        f"{RAW_ROOT}/{{name}}/.complete.json",
    params:
        name=lambda wc: wc.name,
        root=RAW_ROOT,
        mirror=config["data"].get("mirror"),
    log:
        "logs/download/{name}.log",
    script:
        "../scripts/download.py"


def prepare_inputs(wc):
    spec = PLAN.datasets[wc.ds]
    if spec["source"] == "torchvision":
        return [f"{RAW_ROOT}/{spec.get('name', wc.ds)}/.complete.json"]
    if spec["source"] == "npz":
        return [spec["path"]]
    return []


rule prepare:
    input:
        prepare_inputs,
    output:
        npz="results/data/{ds}.npz",
        json="results/data/{ds}.json",
    params:
        spec=lambda wc: {"name": wc.ds, **PLAN.datasets[wc.ds]},
        root=RAW_ROOT,
    log:
        "logs/prepare/{ds}.log",
    script:
        "../scripts/prepare.py"
