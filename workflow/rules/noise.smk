# Noisy labels per (dataset, noise, rate, seed): computed once, shared by every run using them.


rule noise:
    input:
        npz="results/data/{ds}.npz",
        json="results/data/{ds}.json",
    output:
        npz=NOISE_NPZ,
        json=NOISE_JSON,
    log:
        NOISE_LOG,
    conda:
        CONDA_ENV
    # seed_offset only when set: a default build's noise jobs keep their recorded params
    params:
        **({"seed_offset": config["seed_offset"]} if config.get("seed_offset") else {}),
        noise=lambda wc: wc.noise,
        rate=lambda wc: float(wc.rate),
        seed=lambda wc: int(wc.seed),
    script:
        "../scripts/noise.py"
