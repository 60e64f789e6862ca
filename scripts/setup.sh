#!/usr/bin/env bash
# One-time set-up, safe to re-run: the CPU build of torch first (a bare `torch`
# requirement would pull a multi-GB CUDA build), then gencoop with its dev, data and cuda
# (Triton; its interpreter runs the fused kernels' tests on CPU) extras.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.__version__.startswith("2.13.0") else 1)' 2>/dev/null; then
    "$PY" -m pip install -q torch==2.13.0
fi
"$PY" -m pip install -q -e ".[dev,data,cuda]"
# The plugin packages in plugins/ (separate distributions, found through their `gencoop` entry points); their
# tests are in pytest's testpaths. Editable, so `make test` checks the working tree; zuko comes from PyPI.
"$PY" -m pip install -q -e ./plugins/gencoop-zuko -e ./plugins/gencoop-hmc
# Fashion-MNIST as IDX files (Debian); optional: its tests skip without it.
if [ ! -d /usr/share/datasets/fashion-mnist ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
        || echo "setup: could not install dataset-fashion-mnist; its tests will skip" >&2
fi
