#!/usr/bin/env bash
# One-time set-up, safe to re-run: the CPU build of torch first (a bare `torch`
# requirement would pull a multi-GB CUDA build), then gencoop with its dev extra.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.__version__.startswith("2.13.0") else 1)' 2>/dev/null; then
    "$PY" -m pip install -q torch==2.13.0
fi
"$PY" -m pip install -q -e ".[dev]"
