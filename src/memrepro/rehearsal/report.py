"""The rehearsal's cost report: one row per training job of the real plan, from what its
rehearsal measured (memrepro.rehearsal.meter) and what the real job would do (the plan before
the rehearsal cut it: memrepro.rehearsal.plan.real_settings).

Per job: the real step count (epochs x minibatches of the real training set, for every cell of
a sequential job) and evaluation count (memrepro.epoch_plan.evaluation_due with the real probes);
measured here: seconds per step and per evaluated example, peak resident memory; counted here:
FLOPs, bytes and kernels per step and per evaluated example, activations saved for backward;
projected onto a GPU model (memrepro.rehearsal.devices): seconds per step, hours of the whole
job and its memory. A job whose projected memory exceeds the device's is flagged, with the
group size that fits.
"""

from __future__ import annotations

import csv
import io as _io
import math
from pathlib import Path

from memrepro import io
from memrepro.epoch_plan import evaluation_due
from memrepro.rehearsal.devices import CONTEXT_BYTES, assumptions, device, seconds

COLUMNS = ["job", "paper", "experiment", "model", "dataset", "cells", "mode", "n_train",
           "batch_size", "epochs", "steps", "evaluations", "cpu_s_per_step",
           "cpu_s_per_eval_example", "cpu_peak_rss_gib", "flops_per_step", "bytes_per_step",
           "kernels_per_step", "saved_activations_gib", "gpu_s_per_step", "bound",
           "gpu_hours", "gpu_memory_gib", "per_model_gib", "fits", "split_to", "disk_gib",
           "measured_on", "not_run"]
GIB = 2**30


def steps_per_epoch(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)


def evaluations(train: dict, probes: dict) -> int:
    """How many evaluations a real run of ``train.epochs`` epochs makes (epoch 0 included)."""
    epochs, every = int(train["epochs"]), int(train.get("eval_every", 1))
    return sum(evaluation_due(e, epochs, every, probes) for e in range(epochs + 1))


def job_row(gid: str, measured: dict, real: dict, dev: dict) -> dict:
    """The report's row of one training job."""
    g, tr, ev = measured["group"], measured["train"], measured["eval"]
    trainers = 1 if real["mode"] != "sequential" and measured["trainers"] == 1 \
        else real["cells"]
    batch = int(real["train"]["batch_size"])
    steps = int(real["train"]["epochs"]) * steps_per_epoch(g["n_train"], batch) * trainers
    evals = evaluations(real["train"], real["probes"]) * trainers
    eval_examples = evals * g["models"] * (g["n_train"] + g["n_test"])
    step_s, bound = seconds(tr["flops_per_section"], tr["bytes_per_section"],
                            tr["kernels_per_section"], dev)
    eval_s, _ = seconds(ev["flops_per_example"] or 0, ev["bytes_per_example"] or 0,
                        ev["kernels_per_example"] or 0, dev)
    memory = gpu_memory(g, tr["saved_bytes"])
    per_model = (memory - CONTEXT_BYTES - g["data_bytes"]) / max(g["models"], 1)
    fits = memory <= dev["memory_bytes"]
    room = dev["memory_bytes"] - CONTEXT_BYTES - g["data_bytes"]
    return {
        "job": gid, "paper": real["paper"], "experiment": real["experiment"],
        "model": real["model"], "dataset": real["dataset"], "cells": real["cells"],
        "mode": g["mode"] if trainers == 1 else "sequential", "n_train": g["n_train"],
        "batch_size": batch,
        "epochs": f"<= {real['train']['epochs']}" if real["train"].get("stop_when_fit")
        else int(real["train"]["epochs"]),
        "steps": steps, "evaluations": evals,
        "cpu_s_per_step": tr["seconds_per_section"],
        "cpu_s_per_eval_example": ev["seconds_per_example"],
        "cpu_peak_rss_gib": measured["rss_bytes"]["peak"] / GIB,
        "flops_per_step": tr["flops_per_section"], "bytes_per_step": tr["bytes_per_section"],
        "kernels_per_step": tr["kernels_per_section"],
        "saved_activations_gib": tr["saved_bytes"] / GIB,
        "gpu_s_per_step": step_s, "bound": bound,
        "gpu_hours": (steps * step_s + eval_examples * eval_s) / 3600,
        "gpu_memory_gib": memory / GIB, "per_model_gib": per_model / GIB, "fits": fits,
        "split_to": "" if fits else max(int(room // max(per_model, 1)), 0),
        "disk_gib": measured.get("output_bytes", 0) / GIB,
    }


def gpu_memory(group: dict, saved_bytes: float) -> float:
    """Projected device bytes of one trainer: weights, gradients and optimizer state, the
    saved activations, the data, the evaluation's logits and the CUDA context."""
    state = group["parameter_bytes"] * (2 + group["optimizer_states"])
    logits = group["models"] * max(group["n_train"], group["n_test"]) * group["num_classes"] * 4
    return state + saved_bytes + group["data_bytes"] + logits + CONTEXT_BYTES


def rows_of(cost_files: list[str], real: dict[str, dict], dev: dict) -> list[dict]:
    """A row per real job, each from what its own rehearsal, or the job run for it (same
    signature: memrepro.rehearsal.plan), measured."""
    measured = {m["job"]: m for m in map(io.read_json, cost_files)}
    rows = []
    for gid, settings in real.items():
        by = settings.get("represented_by", gid)
        if by in measured:
            m, on = to_group_size(measured[by], settings["cells"]), by
            if m is not measured[by]:
                on += (f" (its first {measured[by]['group']['models']} of {settings['cells']} "
                       "models, scaled)")
            rows.append({**job_row(gid, m, settings, dev), "measured_on": on, "not_run": ""})
    return sorted(rows, key=lambda r: r["job"])


def to_group_size(measured: dict, cells: int) -> dict:
    """A stacked job's measurements on its first models (memrepro.rehearsal.plan: a job too
    big for the machine), scaled to all ``cells`` models by accounting: parameters, FLOPs,
    bytes moved, saved activations and files written grow with the models; kernels and data
    do not.
    Anything else is returned as it is."""
    g = measured["group"]
    if g["mode"] != "stacked" or g["models"] >= cells:
        return measured
    r = cells / g["models"]
    group = {**g, "models": cells, "parameters": g["parameters"] * r,
             "parameter_bytes": g["parameter_bytes"] * r}
    train = {**measured["train"], **{k: measured["train"][k] * r for k in
                                     ("flops_per_section", "bytes_per_section", "saved_bytes")}}
    return {**measured, "group": group, "train": train,
            "output_bytes": measured.get("output_bytes", 0) * r}


def not_run(real: dict[str, dict]) -> dict[str, str]:
    """{job: why} of the jobs the rehearsal could not run on this machine."""
    return {gid: s["not_run"] for gid, s in real.items() if s.get("not_run")}


def totals_by(rows: list[dict], key: str) -> dict[str, dict]:
    """Per value of ``key``: jobs, projected GPU-hours, the largest projected memory, jobs that
    do not fit, and the CPU-hours the real jobs would take here at the measured rates."""
    out: dict[str, dict] = {}
    for r in rows:
        t = out.setdefault(r[key], {"jobs": 0, "gpu_hours": 0.0, "max_gpu_memory_gib": 0.0,
                                    "flagged": 0, "steps": 0})
        t["jobs"] += 1
        t["gpu_hours"] += r["gpu_hours"]
        t["max_gpu_memory_gib"] = max(t["max_gpu_memory_gib"], r["gpu_memory_gib"])
        t["flagged"] += not r["fits"]
        t["steps"] += r["steps"]
    return out


def write_report(cost_files: list[str], real: dict[str, dict], scale: str, settings: dict,
                 csv_path: str | Path, md_path: str | Path) -> dict:
    """Write the CSV (one row per job) and the Markdown summary; return the totals."""
    dev = device(settings.get("device_model", "h100-80gb"))
    rows = rows_of(cost_files, real, dev)
    buf = _io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    io.write_text(csv_path, buf.getvalue())
    io.write_text(md_path, markdown(rows, scale, settings, dev, real))
    return {"jobs": len(rows), "gpu_hours": sum(r["gpu_hours"] for r in rows),
            "flagged": [r["job"] for r in rows if not r["fits"]]}


def _table(header: list[str], lines: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(str(x) for x in line) + " |" for line in lines]


def markdown(rows: list[dict], scale: str, settings: dict, dev: dict,
             real: dict[str, dict]) -> str:
    """The report for people: assumptions, totals per paper and experiment, flagged jobs."""
    total = sum(r["gpu_hours"] for r in rows)
    lines = [f"# Rehearsal of the {scale} plan: projected cost", "",
             f"PROJECTIONS, not measurements on a GPU: {len(rows)} training jobs, "
             f"{len({r['measured_on'] for r in rows})} of them rehearsed on this machine (one "
             "per signature stands for the jobs that differ from it only in loss, noise rate "
             f"or seeds), {settings.get('epochs')} epoch(s) of {settings.get('steps')} "
             "minibatches each at the real shapes, projected onto the full runs.", "",
             f"**Total: {total:,.1f} GPU-hours** on one {dev['name']}"
             + (f", without the {len(not_run(real))} job(s) not rehearsed" if not_run(real)
                else "") + ".", "",
             "Assumptions:", *[f"- {a}" for a in assumptions(dev)], "",
             "## Per paper", ""]
    lines += _table(["paper", "jobs", "GPU-hours", "largest job memory (GiB)", "flagged"],
                    [[p, t["jobs"], f"{t['gpu_hours']:.2f}", f"{t['max_gpu_memory_gib']:.1f}",
                      t["flagged"]] for p, t in totals_by(rows, "paper").items()])
    lines += ["", "## Per experiment", ""]
    lines += _table(["experiment", "jobs", "steps", "GPU-hours", "largest job memory (GiB)",
                     "flagged"],
                    [[e, t["jobs"], f"{t['steps']:,}", f"{t['gpu_hours']:.2f}",
                      f"{t['max_gpu_memory_gib']:.1f}", t["flagged"]]
                     for e, t in totals_by(rows, "experiment").items()])
    skipped = not_run(real)
    lines += ["", "## Jobs not rehearsed on this machine", ""]
    lines += [f"- {gid}: {why} (by accounting: weights, gradients, optimizer state); "
              "run it where it fits" for gid, why in skipped.items()] or ["None."]
    flagged = [r for r in rows if not r["fits"]]
    lines += ["", "## Jobs that do not fit the device", ""]
    lines += [f"- {r['job']}: {r['gpu_memory_gib']:.1f} GiB projected for {r['cells']} "
              f"cells; split it: `group: {{size: {r['split_to']}}}` in its experiment"
              for r in flagged] or ["None."]
    lines += ["", "Every job's numbers: rehearsal.csv (measured here: cpu_*, counted here: "
              "flops/bytes/kernels per step, saved activations; projected: gpu_*)."]
    return "\n".join(lines) + "\n"
