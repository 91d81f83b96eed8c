"""One GPU per local training job on a multi-GPU machine.

Snakemake runs local jobs side by side but never tells a job which GPU is its own (its issue
#281): every job would see all GPUs and start on device 0. Two pieces fix that:

- the workflow profile (``profiles/default/config.yaml``, which Snakemake loads by itself
  for a Snakefile at the repository root) caps the jobs that hold
  ``resources: gpu=1`` at the number of GPUs of the machine (``gpu_count``);
- each such job claims one free device before CUDA starts (``claim_gpu``): an exclusive
  ``flock`` on ``<lock dir>/gpu-<id>.lock``, held until the process exits (the kernel drops it
  even after a crash), then ``CUDA_VISIBLE_DEVICES=<id>`` so the job sees exactly that GPU.

Under SLURM (``SLURM_JOB_ID`` set) the scheduler already assigns devices and nothing is done.
``MEMREPRO_GPU_COUNT`` overrides the detected count (tests simulate a machine with it);
``MEMREPRO_GPU_LOCK_DIR`` moves the lock files (default: one directory per user in /tmp, so
two workflows on one machine share the slots). No torch import here: CUDA must not start
before the device is chosen.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
import time
from pathlib import Path

_HELD: list[int] = []  # file descriptors of claimed slots: kept open for the process's life


def _listed(value: str) -> list[str]:
    ids = [v.strip() for v in value.split(",") if v.strip()]
    return [] if ids in ([], ["-1"]) else ids


def visible_devices() -> list[str]:
    """Device ids a job may claim: MEMREPRO_GPU_COUNT, else CUDA_VISIBLE_DEVICES, else every
    GPU that ``nvidia-smi -L`` lists (none when it is missing)."""
    if os.environ.get("MEMREPRO_GPU_COUNT", "").strip():
        return [str(i) for i in range(int(os.environ["MEMREPRO_GPU_COUNT"]))]
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return _listed(os.environ["CUDA_VISIBLE_DEVICES"])
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU")]


def gpu_count() -> int:
    return len(visible_devices())


def lock_dir() -> Path:
    default = Path(tempfile.gettempdir()) / f"memrepro-gpu-slots-{os.getuid()}"
    return Path(os.environ.get("MEMREPRO_GPU_LOCK_DIR") or default)


def claim_gpu(timeout: float = 600.0, poll: float = 0.5) -> str | None:
    """Claim a free GPU for the rest of this process and make it the only visible one.

    Returns the device id, or None where nothing is to be done (SLURM, or no GPU). Waits up
    to ``timeout`` seconds when every device is taken (more GPU jobs than GPUs: the cap in
    the profile was raised by hand), then fails naming the lock directory.
    """
    if os.environ.get("SLURM_JOB_ID"):
        return None
    devices = visible_devices()
    if not devices:
        return None
    folder = lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        for dev in devices:
            fd = os.open(folder / f"gpu-{dev}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            _HELD.append(fd)
            os.environ["CUDA_VISIBLE_DEVICES"] = dev
            return dev
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"no free GPU among {devices} after {timeout:.0f} s: every lock in {folder} "
                "is held. Run fewer GPU jobs at once (snakemake --resources gpu=N) or set "
                "MEMREPRO_GPU_COUNT to the number of GPUs.")
        time.sleep(poll)
