#!/usr/bin/env bash
# Every GPU figure of issue 26 in one device call of at most 8 minutes (each step has its own
# limit, so a slow step costs its own figures only). From the project's root, here:
#   bash ../shared/gpu/bundle.sh .gpu      # Ray and the wheels the GPU image lacks (once)
# then one device call:
#   run(command="bash bench/gpu_session.sh", carry=[".gpu"], timeout_s=540)
# Prints, in order: the fused stack at 16/64/256/1,024 members (samples/s, GPU busy share,
# device operations per step, peak memory) beside the plain loop; the 16-trial and 64-trial
# digits_mlp jobs three ways (gpu=1 per trial, gpu=1/16 per trial, fused on one GPU);
# resources.gpu: auto against gpu=1 on a job mixing small and large CNNs (bench/gpu_auto.py);
# bench/gpu_packing.py's cases (tune-jobs trials at gpu=1/k vs k plain processes).
# `bash bench/gpu_session.sh --smoke` runs each step tiny on the CPU, to check the script itself.
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
step() {  # step SECONDS TITLE COMMAND...: one figure set, cut off at its limit
  local limit=$1 title=$2; shift 2
  echo; echo "== $title (limit ${limit}s, at $(( $(date +%s) - started ))s)"
  timeout --signal=INT --kill-after=10 "$limit" "$@" 2>&1 | grep -v -e '^USDT' -e 'SyncActivityProfilerHandler' || true
}
if [ -f .gpu/setup.sh ]; then bash .gpu/setup.sh; fi
export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c "import torch, ray; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'ray', ray.__version__)"
CPUS=$(nproc)
if [ "${1:-}" = --smoke ]; then
  step 120 "fused stack (smoke, CPU)" python3 bench/fused_stack.py --device cpu --members 4 8 --epochs 1
  step 180 "job (smoke, CPU)" python3 bench/fused_job.py --trials 4 --fuse 4 --epochs 1 --repeats 1 --cpus "$CPUS"
  step 240 "packing (smoke, CPU)" python3 bench/gpu_packing.py --device cpu --smoke
  exit 0
fi
step 90 "fused stack, digits_mlp" python3 bench/fused_stack.py --members 16 64 256 1024 --epochs 3
step 100 "16-trial job: gpu=1, gpu=1/16, fused 16" \
  python3 bench/fused_job.py --trials 16 --fuse 16 --epochs 10 --repeats 1 --cpus "$CPUS" --gpu-shares 1 0.0625
# (the 64-trial job at gpu=1 would take about 4x the 16-trial one, past this call: left out)
step 110 "64-trial job: gpu=1/16, fused 64" \
  python3 bench/fused_job.py --trials 64 --fuse 64 --epochs 10 --repeats 1 --cpus "$CPUS" --gpu-shares 0.0625
step 90 "gpu: auto vs gpu=1, small and large CNNs" python3 bench/gpu_auto.py --trials 16 --epochs 3 --cpus "$CPUS"
step 60 "packing: tune-jobs trials at gpu=1/k vs k plain processes" python3 bench/gpu_packing.py
echo; echo "== done in $(( $(date +%s) - started ))s"
