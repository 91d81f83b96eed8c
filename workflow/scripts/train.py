"""Snakemake script: train one group of cells; write each cell's history.csv, model.pt and
run.json (with its data, noise and provenance record: memrepro.provenance, no time in it)."""

import json
from pathlib import Path

from memrepro.pipeline.gpuslots import claim_gpu
from memrepro.pipeline.watchdog import watch_snakemake

sm = snakemake  # noqa: F821 - injected by Snakemake
watch_snakemake()  # if Snakemake dies, checkpoint after this epoch and exit
# before CUDA starts: this job's own GPU on a multi-GPU machine (no-op under SLURM or on CPU)
gpu = claim_gpu() if sm.resources.gpu else None

import torch  # noqa: E402

from memrepro import catalog, io  # noqa: E402
from memrepro.data import load_prepared  # noqa: E402
from memrepro.device_data import pick_device, to_device_many  # noqa: E402
from memrepro.engine import group_mode, train_group  # noqa: E402
from memrepro.pipeline.logs import to_log  # noqa: E402
from memrepro.provenance import record  # noqa: E402
from memrepro.subsets import is_partition_subset  # noqa: E402

log = to_log(sm.log, keep_attempts=True)  # a rerun appends: earlier attempts kept
# a rehearsal's job also measures its steps and evaluations (memrepro.rehearsal.meter)
meter = None
if hasattr(sm.output, "cost"):
    from memrepro.rehearsal.meter import CostMeter, peak_rss_bytes

    meter, rss = CostMeter(), {"after_imports": peak_rss_bytes()}
if gpu is not None:
    log.info("claimed GPU %s (CUDA_VISIBLE_DEVICES)", gpu)
torch.set_num_threads(sm.threads)
specs = [dict(s) for s in sm.params.specs]
device = pick_device(sm.params.device)
meta = io.read_json(sm.input.meta)
noise_meta = [io.read_json(Path(f).with_suffix(".json")) for f in sm.input.noise]
# the prepared arrays, their dtypes and shapes checked (a damaged file fails here, clearly)
arrays, noises = load_prepared(sm.input.data), [io.load_npz(f) for f in sm.input.noise]
datas = [None] * len(specs)
# partitions the cells train on a part of (subset: {partition: <name>, take|drop: <part>})
partitions = {Path(f).stem: f for f in getattr(sm.input, "partitions", [])}
subsets = {json.dumps(s.get("subset"), sort_keys=True): s.get("subset") for s in specs}
for key, subset in subsets.items():  # a swept training-set size: one copy each
    idx = [i for i, s in enumerate(specs) if json.dumps(s.get("subset"), sort_keys=True) == key]
    part = partitions[subset["partition"]] if is_partition_subset(subset) else None
    for i, d in zip(idx, to_device_many(arrays, [noises[i] for i in idx],
                                        noise_meta[0]["num_classes"], device, subset=subset,
                                        partition=part), strict=True):
        datas[i] = d
if meter is not None:
    rss["after_data"] = peak_rss_bytes()
log.info("training %s: %d cell(s) on %s (%d threads), mode %s", sm.params.name, len(specs),
         device, sm.threads, sm.params.mode)
probes, objectives = catalog.training_hooks()
mode = sm.params.mode
if meter is not None:  # a rehearsal groups the models as a GPU run would (stacked MLPs)
    on_gpu = group_mode(specs, datas[0], mode, torch.device("cuda"))
    mode = "auto" if on_gpu == "single" else on_gpu
histories = train_group(specs, datas, [Path(h).parent for h in sm.output.history],
                        mode=mode, compile=sm.params.compile, desc=sm.params.name,
                        probes=probes, objectives=objectives, meter=meter)
if meter is not None:
    rss["peak"] = peak_rss_bytes()
    written = sum(Path(f).stat().st_size for k, fs in sm.output.items() if k != "cost"
                  for f in ([fs] if isinstance(fs, str) else fs))
    io.write_json(sm.output.cost, {"job": sm.params.name, "device": str(device),
                                   "threads": sm.threads, "rss_bytes": rss,
                                   "output_bytes": written, **meter.summary()})
for spec, run_file, nm, history in zip(specs, sm.output.run, noise_meta, histories, strict=True):
    run = io.read_json(run_file)
    run.update({"data": {"name": meta["name"], "sha256": meta["sha256"]}, "noise": nm,
                "provenance": record([spec], {meta["name"]: meta["sha256"]})})
    io.write_json(run_file, run)
    last = history[-1]
    log.info("done %s: epoch %d, loss %.4f, J1 %.3f, J2 %.3f, test %.3f", spec["slug"],
             last["epoch"], last["loss"], last["j1"], last["j2"], last["test_acc"])
