"""Which CPU settings change the bits of a training run, and what each one costs.

    python benchmarks/bitwise.py --json benchmarks/results/bitwise_<cpu>.json   # ~2 min CPU
    python benchmarks/bitwise.py --settings default,pin-lowest --repeat 2     # a few, twice

A script, not a test. For each setting below it starts a fresh Python (the libraries read their
environment variables once, at load), which trains the smoke scale's models for a fixed number
of epochs with the memrepro engine (``memrepro.engine.GroupTrainer``, as a training job does)
on the smoke stand-in data, prepared in that process too (``memrepro.data.prepare``: the
digits16 resize is a torch interpolation, so the data stage is checked as well):

* ``ar_cnn``   AR's small CNN at smoke (width 16, dense 128-64, "same" padding) on digits16
  (3x16x16), SGD lr 0.01, momentum 0.9: the convnet whose AR-1 numbers moved across machines;
* ``resnet8``  the smoke stand-in for PS's ResNet-32 (depth 8, width 8; BatchNorm) on digits16,
  SGD lr 0.1, momentum 0.9, weight decay 1e-4;
* ``mlp64``    AR's smoke MLP (2 x 64) on digits (1x8x8), SGD lr 0.1;
* ``mlp512``   a wider MLP (2 x 512) on digits, so that the matrix products are BLAS-sized.

Per setting and workload it reports the training time (the epochs only; building, data and
the import are not timed) as a ratio to the default's, measured in the same run: CPU seconds
of the process (wall seconds too, in the JSON; on a shared machine the wall clock mostly
measures the other processes), the fastest of ``--repeat`` rounds; and the sha256 of the
initial and the final weights (the state_dict's tensors in key order, raw bytes), plus the
sha256 of the prepared data. Two settings with the same final sha256 trained bit-identically.
The child also records which instruction set oneDNN and MKL report (their verbose modes, for
one convolution and one matrix product) and ATen's CPU capability, so a setting that did not
take is visible.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Environment variables that select instruction sets or numerical paths: cleared in every
# child, so that only the setting's own ones apply
ISA_VARS = ("MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA",
            "ATEN_CPU_CAPABILITY", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
AVX2_CPU = {"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2",
            "ATEN_CPU_CAPABILITY": "avx2"}  # what a CPU without AVX-512 would run
PIN_AVX2 = {"MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
PIN_COMPATIBLE_AVX2 = {"MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "AVX2",
                       "ATEN_CPU_CAPABILITY": "avx2"}
PIN_LOWEST = {"MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "SSE41",
              "ATEN_CPU_CAPABILITY": "default"}
# name -> (environment, torch threads, deterministic algorithms). Training jobs run with one
# thread (params.yaml train_threads: 1; Snakemake sets OMP_NUM_THREADS and MKL_NUM_THREADS to
# the job's threads and workflow/scripts/train.py calls torch.set_num_threads): so does every
# setting here but threads-2.
SETTINGS: dict[str, tuple[dict[str, str], int, bool]] = {
    "default": ({}, 1, False),
    "threads-2": ({}, 2, False),
    "deterministic": ({}, 1, True),
    "mkl-cbwr-compatible": ({"MKL_CBWR": "COMPATIBLE"}, 1, False),
    "mkl-cbwr-avx2": ({"MKL_CBWR": "AVX2"}, 1, False),
    "mkl-avx2": ({"MKL_ENABLE_INSTRUCTIONS": "AVX2"}, 1, False),
    "onednn-avx2": ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, 1, False),
    "onednn-sse41": ({"ONEDNN_MAX_CPU_ISA": "SSE41"}, 1, False),
    "aten-avx2": ({"ATEN_CPU_CAPABILITY": "avx2"}, 1, False),
    "aten-default": ({"ATEN_CPU_CAPABILITY": "default"}, 1, False),
    "as-avx2-cpu": (AVX2_CPU, 1, False),
    "pin-avx2": (PIN_AVX2, 1, False),
    "pin-avx2-as-avx2-cpu": ({**AVX2_CPU, **PIN_AVX2}, 1, False),
    "pin-compatible-avx2": (PIN_COMPATIBLE_AVX2, 1, False),
    "pin-lowest": (PIN_LOWEST, 1, False),
    "default-again": ({}, 1, False),
}
# name -> (model, dataset, optimizer, epochs)
WORKLOADS = {
    "ar_cnn": ({"name": "ar_cnn", "width": 16, "dense": [128, 64], "padding": "same"},
               "digits16", {"name": "sgd", "lr": 0.01, "momentum": 0.9}, 3),
    "resnet8": ({"name": "resnet_cifar", "depth": 8, "width": 8}, "digits16",
                {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4}, 2),
    "mlp64": ({"name": "mlp", "hidden": 64, "depth": 2}, "digits",
              {"name": "sgd", "lr": 0.1}, 20),
    "mlp512": ({"name": "mlp", "hidden": 512, "depth": 2}, "digits",
               {"name": "sgd", "lr": 0.1}, 10),
}
DATASETS = {"digits": {"source": "sklearn", "name": "digits"},
            "digits16": {"source": "sklearn", "name": "digits", "resize": 16, "channels": 3}}


def weights_sha256(state: dict) -> str:
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def _verbose_isa() -> None:
    """One convolution under oneDNN's verbose mode and one matrix product under MKL's: their
    first lines name the instruction set in use (read by the parent from stdout)."""
    import torch

    x = torch.ones(8, 3, 16, 16)
    conv = torch.nn.Conv2d(3, 8, 3)
    with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
        conv(x)
    a = torch.ones(256, 256)
    with torch.backends.mkl.verbose(torch.backends.mkl.VERBOSE_ON):
        a @ a
    sys.stdout.flush()


def child(setting: str, out: Path) -> None:
    """Train every workload under ``setting`` (whose environment the parent has set)."""
    import numpy as np
    import torch

    from memrepro.data import load_prepared, prepare
    from memrepro.device_data import to_device
    from memrepro.engine import GroupTrainer

    _, threads, deterministic = SETTINGS[setting]
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)
    _verbose_isa()
    result = {"capability": torch.backends.cpu.get_cpu_capability(),
              "threads": torch.get_num_threads(), "deterministic": deterministic,
              "data": {}, "workloads": {}}
    arrays = {}
    with tempfile.TemporaryDirectory() as tmp:
        for ds, spec in DATASETS.items():
            meta = prepare(spec, tmp, Path(tmp) / f"{ds}.npz", Path(tmp) / f"{ds}.json")
            arrays[ds] = (load_prepared(Path(tmp) / f"{ds}.npz"), meta["num_classes"])
            result["data"][ds] = meta["sha256"]
    for name, (model, ds, optimizer, epochs) in WORKLOADS.items():
        a, classes = arrays[ds]
        noisy = {"labels": a["y_train"], "corrupted": np.zeros(len(a["y_train"]), dtype=bool)}
        data = to_device(a, noisy, classes, torch.device("cpu"))
        spec = {"model": model, "loss": {"name": "cce"}, "seed": 0, "slug": name,
                "train": {"epochs": epochs, "batch_size": 128, "optimizer": optimizer,
                          "schedule": {"name": "constant"}}}
        trainer = GroupTrainer([spec], [data])
        init = weights_sha256(trainer.group.state_dict(0))
        start, cpu_start = time.perf_counter(), time.process_time()
        for epoch in range(epochs):
            loss = trainer.train_epoch(epoch)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        result["workloads"][name] = {
            "epochs": epochs, "seconds": seconds, "cpu_seconds": cpu, "loss": float(loss[0]),
            "init_sha256": init, "final_sha256": weights_sha256(trainer.group.state_dict(0))}
    out.write_text(json.dumps(result))


# what oneDNN and MKL say about their instruction set in verbose mode: key -> pattern
ISA_PATTERNS = {
    "onednn_isa": r"onednn_verbose,[^\n]*isa:([^\n]*)",
    "onednn_conv": r"onednn_verbose,[^\n]*,exec,cpu,convolution,([^,]*),",
    "mkl": r"MKL_VERBOSE (oneMKL[^\n]*|Intel\(R\)[^\n]*)",
    "mkl_cnr": r"MKL_VERBOSE SGEMM[^\n]*?(CNR:\S+)",
}


def isa_lines(stdout: str) -> dict[str, str]:
    """What oneDNN and MKL said about their instruction set, from their verbose output."""
    found = {}
    for key, pattern in ISA_PATTERNS.items():
        if m := re.search(pattern, stdout):
            found[key] = m.group(1).strip()
    return found


def run_setting(setting: str) -> dict:
    env_vars, threads, _ = SETTINGS[setting]
    env = {k: v for k, v in os.environ.items() if k not in ISA_VARS}
    # as Snakemake sets them for a job of this many threads
    env.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), **env_vars})
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        proc = subprocess.run([sys.executable, __file__, "--child", setting, "--out", str(out)],
                              env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"setting {setting}: child failed\n{proc.stderr[-3000:]}")
        result = json.loads(out.read_text())
    return {"env": env_vars, **result, **isa_lines(proc.stdout)}


def other_cpu_load(before: tuple[float, float], after: tuple[float, float],
                   own_cpu: float) -> float:
    """Cores other processes kept busy meanwhile (all busy time from /proc/stat less ours)."""
    busy = after[0] - before[0]
    wall = after[1] - before[1]
    return max(busy - own_cpu, 0.0) / wall if wall > 0 else 0.0


def proc_busy() -> tuple[float, float]:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(f) for f in fields]
    idle = ticks[3] + ticks[4]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, time.monotonic()


def record(results: dict[str, dict], setting: str, run: dict) -> None:
    """Keep the first run of a setting; add a repeat's seconds, and note whether its final
    weights were the same bits as the first run's (``stable``: the machine is deterministic)."""
    if setting not in results:
        results[setting] = {**run, "repeats": 1}
        for w in run["workloads"].values():
            w["seconds_all"], w["cpu_seconds_all"] = [w["seconds"]], [w["cpu_seconds"]]
            w["stable"] = True
        return
    results[setting]["repeats"] += 1
    for name, w in results[setting]["workloads"].items():
        again = run["workloads"][name]
        for key in ("seconds", "cpu_seconds"):
            w[f"{key}_all"].append(again[key])
            w[key] = min(w[f"{key}_all"])
        w["stable"] = w["stable"] and again["final_sha256"] == w["final_sha256"]


def summarise(results: dict[str, dict]) -> dict[str, dict]:
    """Per setting and workload: the CPU seconds of its fastest run / the default's fastest
    (CPU time: on a shared machine the wall clock mostly measures the other processes; the
    training runs on one thread but in threads-2), the same for wall seconds, and whether the
    final weights equal the default's."""
    base = results["default"]["workloads"]
    table = {}
    for setting, r in results.items():
        table[setting] = {
            name: {"ratio": round(w["cpu_seconds"] / base[name]["cpu_seconds"], 3),
                   "wall_ratio": round(w["seconds"] / base[name]["seconds"], 3),
                   "same_bits_as_default": w["final_sha256"] == base[name]["final_sha256"]}
            for name, w in r["workloads"].items()}
    return table


def print_table(results: dict[str, dict], table: dict[str, dict]) -> None:
    names = list(WORKLOADS)
    finals = {n: {} for n in names}  # workload -> final sha -> a short label (A, B, ...)
    for r in results.values():
        for n in names:
            sha = r["workloads"][n]["final_sha256"]
            finals[n].setdefault(sha, chr(ord("A") + len(finals[n])))
    head = f"{'setting':<22}{'capability':<11}" + "".join(f"{n:>16}" for n in names)
    print(head + "   oneDNN convolution")
    for setting, r in results.items():
        letters = {n: finals[n][r["workloads"][n]["final_sha256"]] for n in names}
        cells = "".join(f"{table[setting][n]['ratio']:>10.2f}x {letters[n]:<4}" for n in names)
        print(f"{setting:<22}{r['capability']:<11}{cells}   {r.get('onednn_conv', '?')}")
    print("letters: final weights; the same letter in a column = bit-identical; times: the "
          "fastest of each setting's runs / the default's fastest, in CPU seconds")
    unstable = [f"{s} {n}" for s, r in results.items() for n, w in r["workloads"].items()
                if not w["stable"]]
    print(f"repeats of a setting gave other bits: {unstable}" if unstable else
          "every repeat of a setting gave the same bits")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path, help="write every number here (atomically)")
    ap.add_argument("--settings", help="comma-separated subset of: " + ", ".join(SETTINGS))
    ap.add_argument("--repeat", type=int, default=1,
                    help="run the settings this many rounds, in turn (timing: the fastest)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.out)
        return 0
    chosen = args.settings.split(",") if args.settings else list(SETTINGS)
    unknown = [s for s in chosen if s not in SETTINGS]
    if unknown:
        ap.error(f"--settings: unknown {unknown}; allowed: {', '.join(SETTINGS)}")
    if "default" not in chosen:
        chosen.insert(0, "default")
    results, t0 = {}, time.perf_counter()
    cpu0, load0 = os.times(), proc_busy()
    for round_ in range(1, args.repeat + 1):
        for setting in chosen:
            record(results, setting, run_setting(setting))
            print(f"round {round_}, {setting}: done ({time.perf_counter() - t0:.0f} s)",
                  file=sys.stderr)
    cpu1, load1 = os.times(), proc_busy()
    own = (cpu1.children_user + cpu1.children_system) - (cpu0.children_user + cpu0.children_system)
    table = summarise(results)
    print_table(results, table)
    other = other_cpu_load(load0, load1, own)
    print(f"wall {time.perf_counter() - t0:.0f} s, children's CPU {own:.0f} s, other processes "
          f"kept {other:.2f} cores busy meanwhile")
    if args.json:
        import platform

        from memrepro.io import write_json
        from memrepro.pipeline.manifest import machine_info

        write_json(args.json, {
            "machine": machine_info(), "python": platform.python_version(),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "workloads": {n: {"model": m, "dataset": d, "optimizer": o, "epochs": e}
                          for n, (m, d, o, e) in WORKLOADS.items()},
            "wall_s": round(time.perf_counter() - t0, 1), "children_cpu_s": round(own, 1),
            "other_load_cores": round(other, 2), "summary": table, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
