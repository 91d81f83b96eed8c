"""Snakemake script: noisy labels for one (dataset, noise, rate, seed)."""

from memrepro import io
from memrepro.noise import apply_noise
from memrepro.pipeline.logs import to_log
from memrepro.seeds import drawn_seed

sm = snakemake  # noqa: F821 - injected by Snakemake
log = to_log(sm.log)
data, meta = io.load_npz(sm.input.npz), io.read_json(sm.input.json)
p = sm.params
offset = getattr(p, "seed_offset", 0)
res = apply_noise(p.noise, data["y_train"], meta["num_classes"], p.rate,
                  drawn_seed(p.seed, offset))
io.write_npz(sm.output.npz, labels=res.labels, corrupted=res.corrupted, **res.extra)
io.write_json(sm.output.json, {
    "dataset": meta["name"], "noise": p.noise, "rate": p.rate, "seed": p.seed,
    "definition": res.definition, "n": int(res.labels.size), "num_classes": res.num_classes,
    "realised_flip_rate": res.flip_rate, "data_sha256": meta["sha256"],
    **({"seed_offset": offset} if offset else {}),
})
log.info("%s %s eta=%s seed=%s: realised flip rate %.4f", meta["name"], p.noise, p.rate, p.seed,
         res.flip_rate)
