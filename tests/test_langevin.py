"""Langevin: the update of DESIGN.md, its options, and its correctness on Gaussians."""

from types import SimpleNamespace

import pytest
import torch

import gencoop
from gencoop.samplers import noise as noise_module
from gencoop.samplers.common import modules_of
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
    eps = torch.randn(1, 5, 2, dtype=torch.float64)
    x1 = Langevin(step_size=s, noise=noise).run(gaussian_log_density, x0, steps=1, noise=eps).x
    grad = -(x0 - MEAN) @ PREC
    torch.testing.assert_close(x1, x0 + 0.5 * s**2 * grad + noise * s * eps[0])


def test_drawn_noise_is_standard_normal_and_independent_across_steps():
    # log-density 0: the chain is x0 + s·Σε, so the increments are the drawn noise itself
    s, steps = 0.5, 6
    traj = Langevin(step_size=s).run(lambda x: x.sum(-1) * 0, torch.zeros(20000, 3), steps=steps,
                                     return_trajectory=1, generator=torch.Generator().manual_seed(0)).trajectory
    eps = (traj[1:] - traj[:-1]) / s  # (steps, B, 3)
    flat = eps.permute(1, 0, 2).reshape(20000, -1)  # one row per chain: 18 coordinates
    torch.testing.assert_close(flat.mean(0), torch.zeros(18), atol=0.03, rtol=0)
    torch.testing.assert_close(torch.cov(flat.T), torch.eye(18), atol=0.04, rtol=0)


def test_noise_drawn_ahead_on_a_helper_thread_changes_nothing(monkeypatch):
    monkeypatch.setattr(noise_module, "CHUNK_ELEMENTS", 30)  # chunks of 3 steps of 5×2: 3, 3, 1 for 7 steps
    x0 = torch.randn(5, 2, dtype=torch.float64)
    runs = [Langevin(steps=7, prefetch_noise=p).sample(gaussian_log_density, x0,
                                                       generator=torch.Generator().manual_seed(4))
            for p in (False, True)]
    assert torch.equal(*runs)
    stream = noise_module.NoiseStream(x0, 7, torch.Generator().manual_seed(4), prefetch=True)
    assert stream.prefetch and stream.chunk == 3 and len(list(stream)) == 7


def test_draws_that_the_log_density_makes_meanwhile_do_not_change_the_noise():
    # the noise has a generator of its own, seeded before ℓ runs: ℓ drawing from torch's (dropout, say) leaves it be
    def drawing(x):
        torch.rand(3)
        return gaussian_log_density(x)

    x0 = torch.randn(8, 2, dtype=torch.float64)
    runs = []
    for log_density in (gaussian_log_density, drawing):
        torch.manual_seed(11)
        runs.append(Langevin(steps=20).sample(log_density, x0))
    assert torch.equal(*runs)


def test_zero_steps_leave_the_generator_alone():
    gen = torch.Generator().manual_seed(2)
    state = gen.get_state()
    x0 = torch.randn(3, 2)
    assert torch.equal(Langevin().sample(gaussian_log_density, x0, steps=0, generator=gen), x0)
    assert torch.equal(gen.get_state(), state)


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
    x0 = torch.zeros(500, 2, dtype=torch.float64)
    acceptance = mala.run(gaussian_log_density, x0, steps=50).diagnostics["acceptance"]
    assert acceptance.shape == (500,) and 0.2 < acceptance.mean().item() < 0.95


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


def test_no_gradient_left_on_parameters_and_flags_restored():
    energy = gencoop.create("energy", "mlp", dim=2, hidden=(8,))
    energy.net[0].weight.requires_grad_(False)  # a caller's own choice must survive sampling
    seen = []

    def log_density(v):
        seen.append([p.requires_grad for p in energy.parameters()])
        return -energy(v)

    x = Langevin(steps=5).sample(log_density, torch.randn(7, 2))
    assert not x.requires_grad
    assert all(not any(flags) for flags in seen)  # no parameter graph is recorded while sampling
    assert [p.requires_grad for p in energy.parameters()] == [False, True, True, True]
    assert all(p.grad is None for p in energy.parameters())


GLOBAL_ENERGY = gencoop.create("energy", "mlp", dim=2, hidden=(8,))
energy = gencoop.create("energy", "mlp", dim=2, hidden=(8,))  # shares a name with an attribute read below


def test_parameters_reached_through_a_module_level_name_are_frozen_too():
    seen = []
    holder = SimpleNamespace(energy=GLOBAL_ENERGY)

    def log_density(v):  # reads the energy as a global, as a script's `lambda v: -energy(v)` does
        seen.append(any(p.requires_grad for p in GLOBAL_ENERGY.parameters()))
        return -GLOBAL_ENERGY(v) - 0 * holder.energy(v)

    assert modules_of(log_density) == [GLOBAL_ENERGY]  # `holder.energy` is an attribute: the global is not read
    Langevin(steps=3).sample(log_density, torch.randn(4, 2))
    assert seen and not any(seen)
    assert all(p.requires_grad and p.grad is None for p in GLOBAL_ENERGY.parameters())


def test_flags_restored_when_sampling_fails():
    energy = gencoop.create("energy", "mlp", dim=2, hidden=(8,))
    with pytest.raises(FloatingPointError):
        Langevin(steps=3).sample(lambda v: -energy(v) * float("nan"), torch.randn(4, 2))
    assert all(p.requires_grad for p in energy.parameters())


def test_reset_and_drop_handle_non_finite_chains():
    def log_density(x):  # NaN beyond x0 = 1: chains that walk there blow up
        lp = -0.5 * x.square().sum(-1)
        return torch.where(x[:, 0] > 1.0, torch.full_like(lp, float("nan")), lp)

    x0 = torch.zeros(6, 2)
    x0[1, 0] = x0[4, 0] = 0.99
    push = lambda x: log_density(x) + 20 * x[:, 0]  # noqa: E731  (drives every chain right)
    reset = Langevin(step_size=0.1, noise=0.0, on_nonfinite="reset").run(push, x0, steps=4)
    assert torch.isfinite(reset.x).all() and reset.x.shape == x0.shape
    assert reset.diagnostics["nonfinite"].tolist() == [False, True, False, False, True, False]
    dropped = Langevin(step_size=0.1, noise=0.0, on_nonfinite="drop").run(push, x0, steps=4)
    assert dropped.kept.tolist() == [0, 2, 3, 5] and dropped.x.shape == (4, 2)
    torch.testing.assert_close(dropped.x, reset.x[dropped.kept])


def test_schedules_anneal_the_step_size():
    lin = Langevin(step_size=0.4, schedule="linear", final_step_size=0.1).step_sizes(4)
    geo = Langevin(step_size=0.4, schedule="geometric", final_step_size=0.1).step_sizes(3)
    assert lin == pytest.approx([0.4, 0.3, 0.2, 0.1]) and geo == pytest.approx([0.4, 0.2, 0.1])
    with pytest.raises(ValueError, match="final_step_size"):
        Langevin(schedule="linear")
    # the schedule is what the loop uses: noise-free steps on ℓ = −x²/2 multiply x by (1 − s²/2)
    x = Langevin(step_size=0.4, schedule="linear", final_step_size=0.1, noise=0.0).sample(
        lambda v: -0.5 * v.square().sum(-1), torch.ones(1, 1), steps=4)
    expected = 1.0
    for s in lin:
        expected *= 1 - s * s / 2
    assert x.item() == pytest.approx(expected)


def test_trajectory_and_diagnostics():
    x0 = torch.full((3, 2), 4.0, dtype=torch.float64)
    run = Langevin(step_size=0.2).run(gaussian_log_density, x0, steps=10, return_trajectory=5, diagnostics=True)
    assert run.trajectory.shape == (3, 3, 2)  # x0, step 5, step 10
    torch.testing.assert_close(run.trajectory[0], x0)
    torch.testing.assert_close(run.trajectory[-1], run.x)
    d = run.diagnostics
    assert set(d) >= {"log_density_start", "log_density_end", "grad_norm"}
    assert (d["log_density_end"] > d["log_density_start"]).all()  # far from the mode: ℓ rises
    torch.testing.assert_close(d["log_density_end"], gaussian_log_density(run.x))
    assert (d["grad_norm"] > 0).all() and d["grad_norm"].shape == (3,)


def test_image_event_shapes_work():
    energy = gencoop.create("energy", "conv", shape=(1, 8, 8), channels=4, blocks=1)
    x = Langevin(steps=3, step_size=0.05, bounds=(-1.0, 1.0)).sample(lambda v: -energy(v), torch.rand(2, 1, 8, 8))
    assert x.shape == (2, 1, 8, 8) and x.abs().max() <= 1.0


def test_same_generator_seed_reproduces():
    x0 = torch.randn(16, 2, dtype=torch.float64)
    a = Langevin().sample(gaussian_log_density, x0, generator=torch.Generator().manual_seed(5))
    b = Langevin().sample(gaussian_log_density, x0, generator=torch.Generator().manual_seed(5))
    c = Langevin().sample(gaussian_log_density, x0, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_non_finite_chain_raises_naming_chain_and_step():
    def log_density(x):
        lp = -0.5 * x.square().sum(-1)
        return torch.where(x[:, 0] > 2.5, torch.full_like(lp, float("nan")), lp)

    x0 = torch.zeros(4, 2)
    x0[2, 0] = 2.45
    with pytest.raises(FloatingPointError, match=r"chain\(s\) 2 \(step 1\);"):
        Langevin(step_size=0.5, noise=0.0).sample(lambda x: log_density(x) + 10 * x[:, 0], x0, steps=2)


def test_bad_settings_name_the_field():
    with pytest.raises(gencoop.ConfigError, match="step_size"):
        gencoop.create("sampler", "langevin", step_size=-1)
    with pytest.raises(ValueError, match="bounds"):
        Langevin(bounds=(1.0, -1.0))
    with pytest.raises(ValueError, match="bounds: MALA"):
        Langevin(metropolis=True, bounds=(-1.0, 1.0))


def test_bfloat16_precision_is_refused_for_mala():
    with pytest.raises(ValueError, match="precision"):
        Langevin(metropolis=True, precision="bfloat16")
