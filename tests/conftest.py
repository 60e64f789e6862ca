import os

import torch

# Triton reads TRITON_INTERPRET when its kernels are defined: set it before gencoop.samplers.fused is imported,
# so that on a machine without CUDA the fused kernels' tests run in Triton's interpreter.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
from gencoop.testing import load_hypothesis_profile  # noqa: E402

load_hypothesis_profile()  # CI: few derandomised examples, no deadlines; dev: a few more

torch.set_num_threads(1)


import pytest  # noqa: E402


@pytest.fixture
def one_small_step():
    """--set overrides that make a full-size recipe take one cheap step (the paper-size recipes' smoke tests)."""
    return ["train.steps=1", "train.batch_size=4", "eval.samples=4", "eval.batch_size=4"]


@pytest.fixture
def cifar_npz(tmp_path):
    """A stand-in for a CIFAR-10 copy: 8 random 3×32×32 uint8 images in an npz file; returns its path."""
    import numpy as np

    path = tmp_path / "tiny.npz"
    np.savez(path, x=np.random.default_rng(0).integers(0, 256, (8, 3, 32, 32), dtype=np.uint8))
    return path
