#!/usr/bin/env bash
# Everything GPU-only (for a session that is lent a GPU), each phase under a time limit so that a slow phase cannot
# starve the next, the whole within $TOTAL seconds (default 570: one device command may run 600):
#   sampler: the CUDA tests of the fused sampler; the sampler benchmark's GPU rows; the same rows with cuDNN
#            autotuning (cudnn.benchmark) in every column;
#   tilting: the tilting benchmark on MNIST-5k and Fashion-MNIST, six base → tilt pipelines at once on the one GPU,
#            each model read on three draws, with whatever time the phases before it left.
# Tables and figures go to $OUT (default /tmp/gpu_check); the runs stay in $RUNS (default /tmp/gpu_runs), so a second
# call on a still-warm machine resumes them. Writes nothing in the tree. Exits non-zero when a phase failed.
#
#   OUT=/tmp/x bash scripts/gpu_check.sh                 # both
#   bash scripts/gpu_check.sh tilting                   # one of them; limits: T_TESTS, T_SAMPLER, T_SAMPLER2, TOTAL
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/gpu_check}
runs=${RUNS:-/tmp/gpu_runs}
total=${TOTAL:-570}
phases=${*:-sampler tilting}
mkdir -p "$out" "$runs"
export PYTHONUNBUFFERED=1
status=0
phase() {  # phase NAME LIMIT CMD...: run CMD under LIMIT seconds, its output to the screen and $out/NAME.txt
  local name=$1 limit=$2
  shift 2
  if ((limit < 30)); then
    echo "== $name: skipped, ${limit} s left of TOTAL=$total"
    status=1
    return
  fi
  echo "== $name (limit ${limit} s): $*"
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" 2>&1 | grep --line-buffered -v "triangular_solve" | tee "$out/$name.txt"
  local rc=${PIPESTATUS[0]}
  echo "== $name: exit $rc after $((SECONDS - t0)) s"
  ((rc == 0)) || status=1
}
left() { echo $((total - SECONDS - 15)); }  # seconds left, less a margin for copying the results
python3 -c 'import torch, triton; print("torch", torch.__version__, "cuda", torch.version.cuda, "triton",
triton.__version__, torch.cuda.get_device_name())' | tee "$out/env.txt"
if [[ " $phases " == *" sampler "* ]]; then
  phase tests "${T_TESTS:-60}" python3 -m pytest -q tests/test_fused_cuda.py -p no:cacheprovider
  phase sampler_speed "${T_SAMPLER:-150}" python3 benchmarks/sampler_speed.py --device cuda --repeats 5 --min-seconds 1
  phase sampler_speed_autotuned "${T_SAMPLER2:-90}" python3 benchmarks/sampler_speed.py --device cuda --repeats 3 --min-seconds 0.5 \
    --cudnn-benchmark
fi
if [[ " $phases " == *" tilting "* ]]; then
  phase tilting "$(left)" python3 benchmarks/tilting.py --data mnist5k fashion --jobs 6 --threads 2 --resume \
    --draws 3 --out "$runs/tilting"
  cp "$runs"/tilting/*.png "$out"/ 2>/dev/null
fi
ls "$out"
exit $status
