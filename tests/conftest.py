import os

import torch

# Triton reads TRITON_INTERPRET when its kernels are defined: set it before gencoop.samplers.fused is imported,
# so that on a machine without CUDA the fused kernels' tests run in Triton's interpreter.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
from hypothesis import HealthCheck, settings

# CI: few examples, no deadlines (2 shared cores make timings meaningless). Dev: a few more examples.
settings.register_profile("ci", max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                          derandomize=True)
settings.register_profile("dev", max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

torch.set_num_threads(1)

