#!/usr/bin/env bash
# The one-shot GPU check (issue 20): every number the README lacks about a GPU, in one
# command, in about 8 minutes on one H100. Run it from the repository root with the venv
# active, on a machine with one CUDA GPU and no network:
#
#     bash benchmarks/gpu_check.sh [OUT_DIR]      # default: gpu_check/
#
# 1. benchmarks/engine.py --device cuda: the engine against a plain loop (workloads 1-3),
#    then the MD workload at paper width (2048) with its bandwidth against the peak;
# 2. the rehearsal slice (one experiment per paper at paper shapes) on CUDA, bf16 autocast:
#    its cost report, measured on the GPU this time;
# 3. a short quick-scale run: LLJ Fig. 2's MNIST MLP with turn-over dropout for 3 epochs,
#    seconds per epoch from its log.
# Everything lands in OUT_DIR (JSON, the rehearsal's report, logs); the summary is printed.
# Each step has its own time limit, so one hang cannot eat the budget.
set -uo pipefail
OUT="${1:-gpu_check}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
step() { echo; echo "=== $1 ($(date -u +%H:%M:%S))"; }

step "device"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$OUT/device.txt"

step "1a. engine benchmark, workloads 1-3 (limit 150 s)"
timeout 150 python benchmarks/engine.py --device cuda --epochs 2 --json "$OUT/engine_cuda.json" \
  2>&1 | tee "$OUT/engine_cuda.log" | tail -n 20

step "1b. MD workload at paper width 2048, groups 1/16/40 (limit 120 s)"
timeout 120 python benchmarks/engine.py --md --device cuda --md-groups 1,16,40 --md-width 2048 \
  --epochs 2 --json "$OUT/md_cuda.json" 2>&1 | tee "$OUT/md_cuda.log" | tail -n 20

step "2. rehearsal slice at paper shapes on CUDA (limit 150 s)"
timeout 150 memrepro rehearse --scale paper --cores 1 \
  --only ps_resnet32_cifar10 ar_mnist_randy llj_tod_mnist md_mnist 2>&1 | tail -n 5
cp rehearsal/paper/results/rehearsal.csv rehearsal/paper/results/rehearsal.md "$OUT/" 2>/dev/null
head -n 30 "$OUT/rehearsal.md" 2>/dev/null

step "3. quick scale: LLJ Fig. 2's MLP on MNIST, 3 epochs (limit 90 s)"
# the real MNIST is not reachable offline: the rehearsal's full-size MNIST files stand in
# (same shapes, so the same seconds per epoch); every minibatch and example of 3 epochs
timeout 90 memrepro rehearse --scale quick --cores 1 --only llj_tod_mnist --epochs 3 \
  --steps 100000 --eval-examples 100000 --probe-examples 0 > "$OUT/quick_llj.log" 2>&1
grep -h "s/epoch" rehearsal/quick/logs/train/llj_tod_mnist/loss-cce_eta-0.0.log | tail -n 3

step "done: $OUT"
ls -l "$OUT"
