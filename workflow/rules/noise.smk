# Noisy labels per (dataset, noise, rate, seed): computed once, shared by every run using them.


rule noise:
    input:
        npz="results/data/{ds}.npz",
        json="results/data/{ds}.json",
    output:
        npz="results/noise/{ds}/{noise}_eta-{rate}/seed{seed}.npz",
        json="results/noise/{ds}/{noise}_eta-{rate}/seed{seed}.json",
    log:
        "logs/noise/{ds}/{noise}_eta-{rate}_seed{seed}.log",
    conda:
        CONDA_ENV
    params:
        noise=lambda wc: wc.noise,
        rate=lambda wc: float(wc.rate),
        seed=lambda wc: int(wc.seed),
    script:
        "../scripts/noise.py"
