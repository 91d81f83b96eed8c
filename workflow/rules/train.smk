# One training cell (experiment x loss x noise rate x seed) per job.


rule train:
    input:
        unpack(train_inputs),
    output:
        history="results/runs/{exp}/{cell}/history.csv",
        model="results/runs/{exp}/{cell}/model.pt",
        run="results/runs/{exp}/{cell}/run.json",
    params:
        spec=cell_of,
        device=config.get("device", "auto"),
    threads: config.get("train_threads", 1)
    resources:
        gpu=0 if config.get("device", "auto") == "cpu" else 1,
    log:
        "logs/train/{exp}/{cell}.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/train.py"
