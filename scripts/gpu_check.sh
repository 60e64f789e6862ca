#!/usr/bin/env bash
# Everything GPU-only, in one run (for a session that is lent a GPU): the CUDA tests of the fused sampler, then the
# sampler benchmark with its GPU rows. Prints both; writes nothing in the tree.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
python3 -c 'import torch, triton; print("torch", torch.__version__, "cuda", torch.version.cuda, "triton", triton.__version__, torch.cuda.get_device_name())'
python3 -m pytest -q tests/test_fused_cuda.py -p no:cacheprovider
python3 benchmarks/sampler_speed.py --device cuda --repeats 5
