"""Pipeline plumbing: what runs the jobs, not what they compute.

Snakemake and DVC glue (``figure_jobs``, ``job_inputs``, ``jobenv``, ``folded``, ``terminal``,
``snakemake_locks``, ``dvcplots``), recovery after an interrupt (``resume``, ``restore``,
``watchdog``, ``integrity``), progress and logs (``progress``, ``logs``, ``build_status``),
GPU slots (``gpuslots``) and the build's ``manifest``. The science (data, noise, models,
losses, engine, probes, claims) and the figures stay at the top of ``memrepro``.
"""
