"""The GPU models a rehearsal's cost report projects onto, and how (a roofline with a launch
floor; the assumptions are printed in the report).

A training step or an evaluation takes the longest of:

- compute: its FLOPs at ``COMPUTE_EFFICIENCY`` of the device's dense bf16 tensor-core peak (the
  engine trains under bf16 autocast on CUDA);
- memory: its bytes (every op reading its inputs and writing its outputs once) at
  ``MEMORY_EFFICIENCY`` of the device's memory bandwidth;
- launches: ``LAUNCH_S`` per kernel (eager PyTorch: one kernel per op).

Peaks are the vendors' published figures for the SXM boards (dense, no sparsity).
"""

from __future__ import annotations

from memrepro.specs import not_allowed

COMPUTE_EFFICIENCY = 0.4
MEMORY_EFFICIENCY = 0.7
LAUNCH_S = 8e-6
CONTEXT_BYTES = 1 << 30  # the CUDA context, cuBLAS/cuDNN workspaces: about 1 GiB

DEVICES = {
    "h100-80gb": {"name": "NVIDIA H100 SXM 80 GB", "memory_bytes": 80 * 10**9,
                  "bf16_flops": 989e12, "bandwidth": 3.35e12},
    "h200": {"name": "NVIDIA H200 SXM 141 GB", "memory_bytes": 141 * 10**9,
             "bf16_flops": 989e12, "bandwidth": 4.8e12},
    "a100-80gb": {"name": "NVIDIA A100 SXM 80 GB", "memory_bytes": 80 * 10**9,
                  "bf16_flops": 312e12, "bandwidth": 2.039e12},
}


def device(name: str) -> dict:
    if name not in DEVICES:
        raise ValueError(not_allowed("rehearse.device_model", name, sorted(DEVICES)))
    return DEVICES[name]


def seconds(flops: float, nbytes: float, kernels: float, dev: dict) -> tuple[float, str]:
    """Projected seconds of work with these counts on ``dev``, and what bounds it."""
    parts = {"compute": flops / (dev["bf16_flops"] * COMPUTE_EFFICIENCY),
             "memory": nbytes / (dev["bandwidth"] * MEMORY_EFFICIENCY),
             "launch": kernels * LAUNCH_S}
    bound = max(parts, key=parts.get)
    return parts[bound], bound


def assumptions(dev: dict) -> list[str]:
    """The projection's assumptions, as report lines."""
    return [f"device: {dev['name']}, {dev['memory_bytes'] / 1e9:.0f} GB, "
            f"{dev['bf16_flops'] / 1e12:.0f} TFLOP/s dense bf16, "
            f"{dev['bandwidth'] / 1e12:.2f} TB/s",
            f"compute at {COMPUTE_EFFICIENCY:.0%} of the bf16 peak; memory traffic at "
            f"{MEMORY_EFFICIENCY:.0%} of the bandwidth, every op reading its inputs and "
            f"writing its outputs once (no cache reuse); {LAUNCH_S * 1e6:.0f} us per kernel "
            "launch; a step takes the longest of the three",
            "memory: weights, gradients and optimizer state in float32, the activations "
            "saved for backward as measured in float32 (bf16 autocast keeps less), the data "
            f"on the device, the evaluation's logits, and {CONTEXT_BYTES / 2**30:.0f} GiB of "
            "CUDA context"]
