"""Langevin: the update of DESIGN.md, its options, and its correctness on Gaussians."""

import pytest
import torch

import gencoop
from gencoop.samplers.langevin import Langevin

COV = torch.tensor([[1.0, 0.8], [0.8, 1.0]], dtype=torch.float64)
MEAN = torch.tensor([1.0, -0.5], dtype=torch.float64)
PREC = torch.linalg.inv(COV)


def gaussian_log_density(x):
    d = x - MEAN
    return -0.5 * ((d @ PREC) * d).sum(-1)


def _moments(sampler, steps, n=4000, seed=0):
    x0 = torch.randn(n, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + 1))
    x = sampler.sample(gaussian_log_density, x0, steps=steps, generator=torch.Generator().manual_seed(seed))
    return x.mean(0), torch.cov(x.T)


def test_one_step_is_the_documented_update():
    s, noise = 0.3, 0.7
    x0 = torch.randn(5, 2, dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    x1 = Langevin(step_size=s, noise=noise).sample(gaussian_log_density, x0, steps=1, generator=gen)
    eps = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    grad = -(x0 - MEAN) @ PREC
    torch.testing.assert_close(x1, x0 + 0.5 * s**2 * grad + noise * s * eps)


def test_ula_small_step_matches_stationary_moments():
    mean, cov = _moments(Langevin(step_size=0.1), steps=800)
    torch.testing.assert_close(mean, MEAN, atol=0.08, rtol=0)
    torch.testing.assert_close(cov, COV, atol=0.1, rtol=0)


def test_mala_is_exact_at_a_large_step_where_ula_is_biased():
    big = 0.8  # ULA's stationary covariance is inflated by ~50 % at this step
    _, cov_ula = _moments(Langevin(step_size=big), steps=400)
    assert cov_ula[0, 0] > 1.3
    mala = Langevin(step_size=big, metropolis=True)
    mean, cov = _moments(mala, steps=400)
    torch.testing.assert_close(mean, MEAN, atol=0.08, rtol=0)
    torch.testing.assert_close(cov, COV, atol=0.12, rtol=0)
    assert 0.2 < mala.last_acceptance.mean().item() < 0.95


def test_noise_zero_ascends_to_the_mode():
    x0 = torch.randn(64, 2, dtype=torch.float64) * 3
    x = Langevin(step_size=0.5, noise=0.0).sample(gaussian_log_density, x0, steps=500)
    torch.testing.assert_close(x, MEAN.expand_as(x), atol=1e-4, rtol=0)


def test_clip_bounds_each_drift_element_and_bounds_clamp():
    x0 = torch.full((16, 2), 50.0, dtype=torch.float64)
    x = Langevin(step_size=1.0, noise=0.0, clip=0.1).sample(gaussian_log_density, x0, steps=3)
    torch.testing.assert_close(x, x0 - 0.3)  # the raw drift is far larger than 0.1 per step
    y = Langevin(step_size=0.5, bounds=(-1.0, 1.0)).sample(gaussian_log_density, x0 * 0, steps=50)
    assert y.min() >= -1.0 and y.max() <= 1.0


def test_no_gradient_left_on_parameters_and_output_detached():
    energy = gencoop.create("energy", "mlp", dim=2, hidden=(8,))
    x = Langevin(steps=5).sample(lambda v: -energy(v), torch.randn(7, 2))
    assert not x.requires_grad
    assert all(p.grad is None and p.requires_grad for p in energy.parameters())


def test_non_finite_chain_raises_naming_chain_and_step():
    def log_density(x):
        lp = -0.5 * x.square().sum(-1)
        return torch.where(x[:, 0] > 2.5, torch.full_like(lp, float("nan")), lp)

    x0 = torch.zeros(4, 2)
    x0[2, 0] = 2.45
    with pytest.raises(FloatingPointError, match=r"chain\(s\) 2 at step 1"):
        Langevin(step_size=0.5, noise=0.0).sample(lambda x: log_density(x) + 10 * x[:, 0], x0, steps=5)


def test_bad_settings_name_the_field():
    with pytest.raises(gencoop.ConfigError, match="step_size"):
        gencoop.create("sampler", "langevin", step_size=-1)
    with pytest.raises(ValueError, match="bounds"):
        Langevin(bounds=(1.0, -1.0))
