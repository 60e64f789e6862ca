import os

import torch

# Triton reads TRITON_INTERPRET when its kernels are defined: set it before gencoop.samplers.fused is imported,
# so that on a machine without CUDA the fused kernels' tests run in Triton's interpreter.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
from gencoop.testing import load_hypothesis_profile  # noqa: E402

load_hypothesis_profile()  # CI: few derandomised examples, no deadlines; dev: a few more

torch.set_num_threads(1)

