"""The build's manifest: the sha256 of every file under ``results/``, and the machine that made
them. Two builds compare file by file, so a build on another machine shows which outputs differ.

    python -m memrepro.pipeline.manifest write [RESULTS]        # RESULTS/manifest.json
    python -m memrepro.pipeline.manifest compare A.json B.json  # "identical" (exit 0), or diffs

The ``figures`` target writes ``results/manifest.json`` last (workflow/rules/manifest.smk). Left
out: the manifest itself, files that only exist while a build runs (hidden names: the temporary
files of ``memrepro.io.atomic_path``, NFS's ``.nfs*``, Snakemake's ``.snakemake_timestamp``;
``results/resume/``, the stores of ``memrepro.pipeline.resume``; a cell's ``checkpoint.pt`` and one
set
aside as unreadable, ``checkpoint.pt.corrupt-<n>``), and files other commands write into
``results/`` (the HTML report, replay.json). torch is imported only to describe the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from memrepro import io
from memrepro.paths import MANIFEST, RESULTS, RESUME_STORES, is_training_state

NAME = PurePosixPath(MANIFEST).name
# top-level folders and files of results/ that are no build output
TRANSIENT_DIRS = (PurePosixPath(RESUME_STORES).relative_to(RESULTS).as_posix(),)
OTHER_COMMANDS = ("report.html", "replay.json")
# Variables that choose instruction sets, numerical paths or thread counts of the libraries
ENV_VARS = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "MKL_DYNAMIC",
            "MKL_NUM_THREADS", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA",
            "ONEDNN_DEFAULT_FPMATH_MODE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
            "CUBLAS_WORKSPACE_CONFIG", "CUDA_VISIBLE_DEVICES", "PYTHONHASHSEED")
ISA_FLAG = re.compile(r"^(sse\d\w*|ssse3|avx\w*|fma\w*|amx\w*|f16c|bmi\d|sha_ni|vaes|neon|sve\w*)$")


def is_recorded(rel: PurePosixPath) -> bool:
    """Whether the file at ``rel`` (relative to the results folder) belongs in the manifest."""
    if any(part.startswith(".") for part in rel.parts):
        return False
    if len(rel.parts) == 1:
        return rel.name not in (NAME, *OTHER_COMMANDS)
    return rel.parts[0] not in TRANSIENT_DIRS and not is_training_state(rel.name)


def result_files(results: Path) -> list[PurePosixPath]:
    """Every recorded file under ``results``, relative to it, in sorted order."""
    files = []
    for dirpath, dirnames, filenames in os.walk(results):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel_dir = PurePosixPath(Path(dirpath).relative_to(results).as_posix())
        files += [rel_dir / f for f in filenames if is_recorded(rel_dir / f)]
    return sorted(files)


def file_digests(results: Path) -> dict[str, str]:
    return {str(rel): io.sha256(results / rel) for rel in result_files(results)}


# --- The machine ------------------------------------------------------------------------


def cpu_info(cpuinfo: str | None = None) -> dict[str, Any]:
    """CPU model, vendor, family/model numbers and instruction-set flags (``/proc/cpuinfo``,
    else ``lscpu``, else the platform module)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            if fields:
                break  # the first processor's block is enough
            continue
        fields.setdefault(key.strip(), value.strip())
    model = fields.get("model name") or _lscpu_model() or platform.processor() or "unknown"
    flags = fields.get("flags") or fields.get("Features") or ""
    return {"model_name": model, "vendor": fields.get("vendor_id"),
            "family": fields.get("cpu family"), "model": fields.get("model"),
            "isa_flags": sorted(f for f in set(flags.split()) if ISA_FLAG.match(f)),
            "logical_cpus": os.cpu_count(), "machine": platform.machine()}


def _lscpu_model() -> str | None:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"^Model name:\s*(.+)$", out, flags=re.M)
    return found.group(1).strip() if found else None


def torch_info() -> dict[str, Any]:
    """What torch runs on and with: its version, the CPU capability ATen dispatches to, thread
    counts, and the BLAS and oneDNN builds it reports (``torch.__config__.show()``)."""
    import torch

    shown = torch.__config__.show()

    def line(pattern: str) -> str | None:
        found = re.search(pattern, shown)
        return found.group(1).strip() if found else None

    return {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
            "blas": line(r"BLAS_INFO=([^,\s]+)"),
            "mkl": line(r"(Intel\(R\) (?:oneAPI )?Math Kernel Library[^\n]*)"),
            "onednn": line(r"(?:MKL-DNN|oneDNN) (v[\d.]+)"),
            "mkldnn_available": torch.backends.mkldnn.is_available(),
            "cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available()}


def machine_info() -> dict[str, Any]:
    import numpy as np

    return {"cpu": cpu_info(), "python": platform.python_version(), "numpy": np.__version__,
            "platform": platform.platform(),
            "env": {k: os.environ.get(k) for k in ENV_VARS},
            "libraries": torch_info()}


# --- Writing and comparing ---------------------------------------------------------------


def manifest_of(results: str | Path = RESULTS, build: dict | None = None) -> dict[str, Any]:
    """The manifest of ``results``; ``build``: what the workflow adds (scale, training
    threads), kept under ``machine.build`` so a comparison shows it."""
    results = Path(results)
    if not results.is_dir():
        raise FileNotFoundError(f"results folder {str(results)!r} does not exist")
    files = file_digests(results)
    machine = {**machine_info(), **({"build": build} if build else {})}
    return {"files": files, "count": len(files), "machine": machine}


def write(results: str | Path = RESULTS, out: str | Path | None = None,
          build: dict | None = None) -> Path:
    """Write the manifest of ``results`` (to ``results/manifest.json`` unless ``out``),
    atomically, keys sorted."""
    out = Path(out) if out is not None else Path(results) / NAME
    io.write_json(out, manifest_of(results, build))
    return out


def group_of(path: str) -> str:
    """The experiment a file belongs to: its first two path parts (``runs/<experiment>``,
    ``noise/<dataset>``, ``metrics/<paper>``, ``figures/<paper>``); a file at the top level
    is its own group."""
    parts = PurePosixPath(path).parts
    return "/".join(parts[:2]) if len(parts) > 2 else parts[0] if len(parts) == 2 \
        else path


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for k, v in d.items():
        if isinstance(v, dict):
            flat.update(_flatten(v, f"{prefix}{k}."))
        else:
            flat[f"{prefix}{k}"] = v
    return flat


def compare(a: dict, b: dict) -> dict[str, Any]:
    """Files whose sha256 differs, files in one manifest only, and the machine settings that
    differ (flattened keys, e.g. ``cpu.model_name``)."""
    fa, fb = a.get("files", {}), b.get("files", {})
    ma, mb = _flatten(a.get("machine", {})), _flatten(b.get("machine", {}))
    return {"differ": sorted(p for p in fa.keys() & fb.keys() if fa[p] != fb[p]),
            "only_a": sorted(fa.keys() - fb.keys()), "only_b": sorted(fb.keys() - fa.keys()),
            "same": sum(fa[p] == fb[p] for p in fa.keys() & fb.keys()),
            "machine": {k: (ma.get(k), mb.get(k)) for k in sorted(ma.keys() | mb.keys())
                        if ma.get(k) != mb.get(k)}}


def _grouped(title: str, paths: list[str], total: Counter, show: int) -> list[str]:
    if not paths:
        return []
    lines = [f"{title}: {len(paths)} file(s)"]
    groups: dict[str, list[str]] = {}
    for p in paths:
        groups.setdefault(group_of(p), []).append(p)
    for group, members in sorted(groups.items()):
        lines.append(f"  {group}: {len(members)} of {total[group]}")
        lines += [f"    {p}" for p in members[:show]]
        if len(members) > show:
            lines.append(f"    ... and {len(members) - show} more")
    return lines


def report(diff: dict, a: dict, b: dict, names: tuple[str, str] = ("A", "B"),
           show: int = 3) -> list[str]:
    """The comparison as lines: "identical", or the differing files grouped by experiment
    (count of differing / files in the group, the first ``show`` named), then the files in one
    manifest only, then how the machines differ."""
    files = {**a.get("files", {}), **b.get("files", {})}
    total = Counter(group_of(p) for p in files)
    if not (diff["differ"] or diff["only_a"] or diff["only_b"]):
        lines = [f"identical: {diff['same']} files"]
    else:
        lines = [f"{len(diff['differ'])} file(s) differ, {diff['same']} identical"]
        lines += _grouped("differ", diff["differ"], total, show)
        lines += _grouped(f"only in {names[0]}", diff["only_a"], total, show)
        lines += _grouped(f"only in {names[1]}", diff["only_b"], total, show)
    if diff["machine"]:
        lines.append("machines differ:")
        lines += [f"  {k}: {va!r} vs {vb!r}" for k, (va, vb) in diff["machine"].items()]
    return lines


def load(path: str | Path) -> dict:
    data = io.read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise ValueError(f"{path}: not a memrepro manifest (no 'files' mapping)")
    return data


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m memrepro.pipeline.manifest",
                                 description="Write or compare manifests of results/.")
    sub = ap.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="write RESULTS/manifest.json")
    w.add_argument("results", nargs="?", default=RESULTS)
    w.add_argument("--out", help="write here instead of RESULTS/manifest.json")
    c = sub.add_parser("compare", help="compare two manifests; exit 1 when they differ")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--show", type=int, default=3, help="files named per group (default 3)")
    args = ap.parse_args(list(argv) if argv is not None else None)
    if args.command == "write":
        try:
            out = write(args.results, args.out)
        except FileNotFoundError as err:
            print(f"memrepro.pipeline.manifest: {err}", file=sys.stderr)
            return 2
        print(f"{out}: {load(out)['count']} files")
        return 0
    try:
        a, b = load(args.a), load(args.b)
    except (OSError, ValueError) as err:
        print(f"memrepro.pipeline.manifest: {err}", file=sys.stderr)
        return 2
    diff = compare(a, b)
    print("\n".join(report(diff, a, b, (args.a, args.b), args.show)))
    return 0 if not (diff["differ"] or diff["only_a"] or diff["only_b"]) else 1


if __name__ == "__main__":
    sys.exit(main())
