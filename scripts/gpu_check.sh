#!/usr/bin/env bash
# Everything GPU-only, in one run (for a session that is lent a GPU), each phase under its own time limit so that a
# slow phase cannot starve the next:
#   1. the CUDA tests of the fused sampler;
#   2. the sampler benchmark's GPU rows (then again with cuDNN autotuning in every column);
#   3. the tilting benchmark on MNIST-5k and Fashion-MNIST (six base → tilt pipelines at once on the one GPU).
# Tables and figures go to $OUT (default /tmp/gpu_check); the runs themselves stay in $RUNS (default
# /tmp/gpu_runs), so calling it again on a still-warm machine resumes them. Writes nothing in the tree.
#
#   OUT=/tmp/x bash scripts/gpu_check.sh            # limits in seconds: T_TESTS, T_SAMPLER, T_SAMPLER2, T_TILT
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/gpu_check}
runs=${RUNS:-/tmp/gpu_runs}
mkdir -p "$out" "$runs"
export PYTHONUNBUFFERED=1
phase() {  # phase NAME LIMIT CMD...: run CMD under LIMIT seconds, its output to the screen and $out/NAME.txt
  local name=$1 limit=$2
  shift 2
  echo "== $name (limit ${limit} s): $*"
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" 2>&1 | grep --line-buffered -v "triangular_solve" | tee "$out/$name.txt"
  echo "== $name: exit ${PIPESTATUS[0]} after $((SECONDS - t0)) s"
}
python3 -c 'import torch, triton; print("torch", torch.__version__, "cuda", torch.version.cuda, "triton",
triton.__version__, torch.cuda.get_device_name())' | tee "$out/env.txt"
phase tests "${T_TESTS:-120}" python3 -m pytest -q tests/test_fused_cuda.py -p no:cacheprovider
phase sampler_speed "${T_SAMPLER:-200}" python3 benchmarks/sampler_speed.py --device cuda --repeats 5
phase sampler_speed_autotuned "${T_SAMPLER2:-120}" python3 benchmarks/sampler_speed.py --device cuda --repeats 3 \
  --cudnn-benchmark
phase tilting "${T_TILT:-420}" python3 benchmarks/tilting.py --data mnist5k fashion --jobs 6 --threads 2 --resume \
  --out "$runs/tilting"
cp "$runs"/tilting/*.png "$out"/ 2>/dev/null
ls "$out"
