"""The fused Triton Langevin kernels, run by Triton's interpreter on CPU (conftest sets TRITON_INTERPRET=1).
Kept small: the interpreter is slow."""

import os

import pytest
import torch

pytest.importorskip("triton")
if torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") != "1":
    pytest.skip("interpreter tests run on CPU-only machines", allow_module_level=True)

import gencoop  # noqa: E402
from gencoop.samplers.fused import fused_available  # noqa: E402
from gencoop.samplers.langevin import Langevin  # noqa: E402


def quadratic(x):
    return -0.5 * x.flatten(1).square().sum(-1)


@pytest.mark.parametrize("options", [{}, {"clip": 0.05}, {"bounds": (-1.0, 1.0)}, {"clip": 0.1, "bounds": (-2.0, 2.0)}])
def test_noise_free_fused_equals_eager(options):
    x0 = torch.randn(6, 3, generator=torch.Generator().manual_seed(0)) * 3
    eager = Langevin(step_size=0.3, noise=0.0, backend="eager", **options).sample(quadratic, x0, steps=8)
    fused = Langevin(step_size=0.3, noise=0.0, backend="fused", **options).sample(quadratic, x0, steps=8)
    torch.testing.assert_close(fused, eager, atol=1e-6, rtol=1e-6)


def test_noise_free_fused_equals_eager_on_an_image_energy():
    import gencoop

    energy = gencoop.create("energy", "conv", shape=(1, 4, 4), channels=2, blocks=1)
    x0 = torch.rand(3, 1, 4, 4)
    kw = dict(step_size=0.2, noise=0.0, clip=0.1, bounds=(-1.0, 1.0))
    eager = Langevin(backend="eager", **kw).sample(lambda v: -energy(v), x0, steps=4)
    fused = Langevin(backend="fused", **kw).sample(lambda v: -energy(v), x0, steps=4)
    torch.testing.assert_close(fused, eager, atol=1e-6, rtol=1e-6)


def test_fused_noise_has_the_right_moments_and_one_seed_reproduces():
    sampler = Langevin(step_size=0.5, backend="fused")
    x0 = torch.zeros(2000, 2)
    a = sampler.sample(quadratic, x0, steps=30, generator=torch.Generator().manual_seed(1))
    b = sampler.sample(quadratic, x0, steps=30, generator=torch.Generator().manual_seed(1))
    c = sampler.sample(quadratic, x0, steps=30, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # ULA on N(0, 1) with step s has stationary variance 1 / (1 − s²/4) ≈ 1.067 at s = 0.5
    torch.testing.assert_close(a.mean(0), torch.zeros(2), atol=0.08, rtol=0)
    torch.testing.assert_close(a.var(0), torch.full((2,), 1 / (1 - 0.25 / 4)), atol=0.1, rtol=0)


def test_fused_mala_targets_the_right_distribution():
    sampler = Langevin(step_size=1.2, metropolis=True, backend="fused")
    run = sampler.run(quadratic, torch.zeros(2000, 2), steps=30, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(run.x.var(0), torch.ones(2), atol=0.1, rtol=0)  # exact, unlike ULA at s = 1.2
    assert 0.3 < run.diagnostics["acceptance"].mean().item() < 0.95


def test_fused_raises_on_non_finite_chains():
    with pytest.raises(FloatingPointError, match="chain"):
        Langevin(step_size=0.1, backend="fused").sample(lambda v: quadratic(v) * float("nan"), torch.zeros(3, 2))


def test_backend_selection():
    assert fused_available(torch.zeros(1), explicit=True)[0]  # interpreter, asked for explicitly
    ok, why = fused_available(torch.zeros(1))  # auto never interprets on CPU
    assert not ok and "CUDA" in why


def test_image_chains_agree_with_eager_in_channels_last_layout():
    """The fused path runs 4-D states channels-last; every buffer must share that layout (noise 0, MALA terms)."""
    energy = gencoop.create("energy", "conv", shape=(3, 4, 4), channels=4, blocks=1)
    x0 = torch.randn(3, 3, 4, 4)
    kwargs = dict(steps=3, step_size=0.1, noise=0.0, clip=0.05)
    eager = Langevin(backend="eager", **kwargs).sample(lambda v: -energy(v), x0)
    fused = Langevin(backend="fused", **kwargs).sample(lambda v: -energy(v), x0)
    assert fused.is_contiguous()
    torch.testing.assert_close(fused, eager, rtol=1e-5, atol=1e-6)
    mala = Langevin(steps=3, step_size=0.1, metropolis=True, backend="fused").run(lambda v: -energy(v), x0)
    assert mala.x.shape == x0.shape and torch.isfinite(mala.x).all()


def test_bfloat16_precision_evaluates_the_energy_under_autocast():
    seen = []

    def log_density(v):
        seen.append(torch.is_autocast_enabled("cpu"))
        return -0.5 * v.square().sum(-1)

    x = Langevin(steps=2, step_size=0.1, precision="bfloat16", backend="eager").sample(log_density, torch.ones(4, 2))
    assert all(seen) and x.dtype == torch.float32
