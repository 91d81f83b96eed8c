"""Snakemake script: train one cell and write history.csv, model.pt, run.json."""

from pathlib import Path

import torch

from memrepro import io
from memrepro.engine import pick_device, to_device, train_cell
from memrepro.logs import to_log

sm = snakemake  # noqa: F821 - injected by Snakemake
log = to_log(sm.log)
torch.set_num_threads(sm.threads)
spec = dict(sm.params.spec)
device = pick_device(sm.params.device)
meta = io.read_json(sm.input.meta)
noise_meta = io.read_json(Path(sm.input.noise).with_suffix(".json"))
data = to_device(io.load_npz(sm.input.data), io.load_npz(sm.input.noise),
                 noise_meta["num_classes"], device, subset=spec.get("subset"))
log.info("training %s/%s on %s (%d threads)", spec["experiment"], spec["slug"], device,
         sm.threads)
history = train_cell(spec, data, Path(sm.output.history).parent)
run = io.read_json(sm.output.run)
run.update({"data": {"name": meta["name"], "sha256": meta["sha256"]}, "noise": noise_meta})
io.write_json(sm.output.run, run)
log.info("done: %s", history[-1])
