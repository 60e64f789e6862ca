"""gencoop-hmc: the sampler conforms, leapfrog is reversible and second order, the chain keeps a correlated
Gaussian's moments, the Metropolis correction and the mass matter, step-size adaptation converges."""

import importlib.metadata
import json
import math

import gencoop_hmc
import pytest
import torch
from gencoop_hmc import HMC, leapfrog
from hypothesis import given
from hypothesis import strategies as st

import gencoop
from gencoop.cli import main
from gencoop.testing import check_registered, check_sampler, registered_parts, spec_id

DIST = "gencoop-hmc"
MU = torch.tensor([1.0, -2.0], dtype=torch.float64)
COV = torch.tensor([[1.0, 1.2], [1.2, 2.0]], dtype=torch.float64)  # correlation 0.85
PRECISION = torch.linalg.inv(COV)


def correlated_gaussian(x: torch.Tensor) -> torch.Tensor:
    """log N(x; MU, COV) up to a constant, ``(B, 2) -> (B,)``."""
    d = x - MU
    return -0.5 * ((d @ PRECISION) * d).sum(-1)


def run(sampler: HMC, log_density, x0: torch.Tensor, seed: int = 0) -> gencoop_hmc.HMCResult:
    return sampler.run(log_density, x0, generator=torch.Generator().manual_seed(seed))


def test_the_entry_point_registers_hmc():
    (spec,) = registered_parts(source=DIST)
    assert (spec.kind, spec.name, spec.version) == ("sampler", "hmc", gencoop_hmc.__version__)
    assert isinstance(gencoop.create("sampler", "hmc", steps=3, mass=[1.0, 2.0]), gencoop.Sampler)


@pytest.mark.parametrize("spec", registered_parts(source=DIST), ids=spec_id)
@given(data=st.data())
def test_registered_sampler_conforms(spec, data):
    check_registered(spec, data)


@pytest.mark.parametrize("settings", [dict(metropolis=False), dict(jitter=0.5, mass=[0.5, 2.0]),
                                      dict(target_accept=0.8, adapt_steps=10, steps=20)])
def test_every_variant_conforms(settings):
    check_sampler(HMC(**{"steps": 10, "step_size": 0.2, "leapfrog_steps": 5, **settings}))


def test_leapfrog_is_reversible_and_second_order():
    torch.manual_seed(0)
    x0, p0 = torch.randn(16, 2, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)
    inv_mass = torch.tensor([1.0, 0.5], dtype=torch.float64)

    def grad_fn(x):
        return correlated_gaussian(x), -(x - MU) @ PRECISION

    def energy_error(eps):
        n = round(1.0 / eps)  # the same trajectory length 1.0
        x, p, lp, _ = leapfrog(grad_fn, x0, p0, grad_fn(x0)[1], eps, n, inv_mass)
        h0 = -correlated_gaussian(x0) + 0.5 * (p0.square() * inv_mass).sum(-1)
        return (-lp + 0.5 * (p.square() * inv_mass).sum(-1) - h0).abs().max()

    x, p, _, g = leapfrog(grad_fn, x0, p0, grad_fn(x0)[1], 0.1, 10, inv_mass)
    x_back, p_back, _, _ = leapfrog(grad_fn, x, -p, g, 0.1, 10, inv_mass)
    torch.testing.assert_close(x_back, x0)
    torch.testing.assert_close(-p_back, p0)
    ratio = energy_error(0.1) / energy_error(0.05)
    assert 3.0 < ratio < 5.0  # |ΔH| = O(ε²): halving ε divides it by about 4


def test_stationary_moments_of_a_correlated_gaussian():
    """2000 chains from far away (x0 = (4, 4)) reach N(MU, COV): mean and covariance within ~4 standard errors."""
    x = run(HMC(steps=120, step_size=0.15, leapfrog_steps=10), correlated_gaussian,
            torch.full((2000, 2), 4.0, dtype=torch.float64)).x
    torch.testing.assert_close(x.mean(0), MU, atol=0.1, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), COV, atol=0.15, rtol=0)


def test_metropolis_correction_removes_the_leapfrog_bias():
    """Near the leapfrog stability limit (ε = 0.8; 2·min sd ≈ 0.89) unadjusted HMC inflates the variance; the
    Metropolis test keeps the target and rejects a share of the proposals."""
    x0 = torch.zeros(2000, 2, dtype=torch.float64)
    exact = run(HMC(steps=100, step_size=0.8, leapfrog_steps=10), correlated_gaussian, x0)
    biased = run(HMC(steps=100, step_size=0.8, leapfrog_steps=10, metropolis=False), correlated_gaussian, x0)
    torch.testing.assert_close(torch.cov(exact.x.T), COV, atol=0.15, rtol=0)
    assert float(torch.cov(biased.x.T)[0, 0]) > COV[0, 0] + 0.3
    assert 0.6 < float(exact.diagnostics["acceptance"].mean()) < 0.97
    assert float(biased.diagnostics["acceptance"].mean()) == 1.0


def test_acceptance_falls_as_the_step_grows():
    x0 = torch.zeros(500, 2, dtype=torch.float64)
    rates = [float(run(HMC(steps=20, step_size=eps, leapfrog_steps=10), correlated_gaussian, x0)
                   .diagnostics["acceptance"].mean()) for eps in (0.01, 0.5, 0.85, 1.2)]
    assert rates[0] > 0.999 and rates == sorted(rates, reverse=True) and rates[-1] < 0.2


def test_a_diagonal_mass_matched_to_the_scales_mixes_a_badly_scaled_target():
    """Variances 100 and 0.01: with m = 1/Var one ε suits both axes; with unit mass the same ε is unstable."""
    var = torch.tensor([100.0, 0.01], dtype=torch.float64)

    def log_density(x):
        return -0.5 * (x.square() / var).sum(-1)

    x0 = torch.zeros(1000, 2, dtype=torch.float64)
    matched = run(HMC(steps=60, step_size=0.5, leapfrog_steps=8, mass=(1 / var).tolist()), log_density, x0)
    unit = run(HMC(steps=60, step_size=0.5, leapfrog_steps=8), log_density, x0)
    assert float(matched.diagnostics["acceptance"].mean()) > 0.8
    torch.testing.assert_close(matched.x.var(0) / var, torch.ones(2, dtype=torch.float64), atol=0.15, rtol=0)
    assert float(unit.diagnostics["acceptance"].mean()) < 0.05


def test_step_size_adaptation_reaches_the_same_step_from_both_sides():
    x0 = torch.zeros(500, 2, dtype=torch.float64)
    ends = {}
    for target in (0.8, 0.95):
        for eps0 in (0.01, 1.5):
            res = run(HMC(steps=120, step_size=eps0, leapfrog_steps=10, target_accept=target, adapt_steps=100),
                      correlated_gaussian, x0)
            ends[target, eps0] = float(res.diagnostics["step_size"].median())
            assert float(res.diagnostics["acceptance"].mean()) > target - 0.05  # at least the target, after adapting
    for target in (0.8, 0.95):
        low, high = ends[target, 0.01], ends[target, 1.5]
        assert 0.2 < low < 0.89 and abs(math.log(low / high)) < 0.2  # same ε from a tiny and an unstable start
    assert ends[0.8, 0.01] > ends[0.95, 0.01]  # a lower target takes a longer step


def test_bad_settings_are_refused():
    with pytest.raises(gencoop.ConfigError) as info:
        gencoop.create("sampler", "hmc", step_size=0.0, leapfrog_steps=0)
    assert [f for f, _ in info.value.problems] == ["step_size", "leapfrog_steps"]
    with pytest.raises(ValueError, match="target_accept"):
        HMC(adapt_steps=10)
    with pytest.raises(ValueError, match="mass: 3 values"):
        HMC(mass=[1.0, 1.0, 1.0]).sample(correlated_gaussian, torch.zeros(4, 2))
    with pytest.raises(FloatingPointError, match="not finite at x0"):
        HMC().sample(lambda x: torch.log(x[:, 0]), -torch.ones(4, 2))


def test_image_shaped_states_and_a_per_element_mass():
    """Events of any shape: a (1, 2, 2) Gaussian with a per-element mass; shape and dtype are kept."""
    var = torch.tensor([0.5, 1.0, 2.0, 4.0]).reshape(1, 2, 2)
    out = run(HMC(steps=60, step_size=0.3, leapfrog_steps=6, jitter=0.2, mass=(1 / var).flatten().tolist()),
              lambda x: -0.5 * (x.square() / var).flatten(1).sum(-1), torch.zeros(800, 1, 2, 2))
    assert out.x.shape == (800, 1, 2, 2) and out.x.dtype == torch.float32
    torch.testing.assert_close(out.x.var(0) / var, torch.ones(1, 2, 2), atol=0.2, rtol=0)


def test_list_components_shows_the_distribution_and_version(capsys):
    assert main(["list-components", "--kind", "sampler", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert (rows["hmc"]["source"], rows["hmc"]["version"]) == (DIST, importlib.metadata.version(DIST))
    assert "langevin" in rows


# -- HMC in place of Langevin inside a composition: exponential tilting ---------------------------------------------

class IdentityGenerator(torch.nn.Module):
    """A frozen generator with prior N(0, I) on (2,) and decode = identity: the tilted latent is then known exactly."""

    latent_shape = (2,)

    def __init__(self):
        super().__init__()
        from gencoop.components.priors import GaussianPrior

        self.prior = GaussianPrior((2,))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z


class QuadraticEnergy(gencoop.Energy):
    """E(x) = ½ (x − a)ᵀ A (x − a) + bᵀx, ``(B, 2) -> (B,)``; A fixed, a and b learnable."""

    event_shape = (2,)

    def __init__(self, a, b, precision):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(a))
        self.b = torch.nn.Parameter(torch.tensor(b))
        self.register_buffer("precision", torch.tensor(precision))

    def forward(self, x):
        d = x - self.a
        return 0.5 * ((d @ self.precision) * d).sum(-1) + x @ self.b


def test_tilting_samples_its_exact_tilted_latent_with_hmc():
    """p(z) ∝ N(z; 0, I)·exp(−E(z)) with quadratic E is N((I + A)⁻¹(A a − b), (I + A)⁻¹): HMC, as tilting's
    sampler, reaches its mean and covariance."""
    from gencoop.models import ExponentialTilting

    a, b, prec = [1.0, -1.0], [0.5, 0.0], [[2.0, 0.9], [0.9, 1.0]]
    model = ExponentialTilting(IdentityGenerator(), QuadraticEnergy(a, b, prec),
                               HMC(steps=60, step_size=0.3, leapfrog_steps=8, jitter=0.2), energy_reg=0.0)
    cov = torch.linalg.inv(torch.eye(2) + torch.tensor(prec))
    mean = cov @ (torch.tensor(prec) @ torch.tensor(a) - torch.tensor(b))
    torch.manual_seed(0)
    z = model.sample_latent(2000)
    torch.testing.assert_close(z.mean(0), mean, atol=0.05, rtol=0)
    torch.testing.assert_close(torch.cov(z.T), cov, atol=0.05, rtol=0)
    assert all(p.grad is None for p in model.energy.parameters())  # sampling left no gradients


def test_tilting_learns_with_hmc_in_place_of_langevin():
    """A linear energy E(x) = bᵀx tilts N(0, I) to N(−b, I): training by the EBM gradient with HMC's model samples
    moves −b to the data mean."""
    from gencoop.models import ExponentialTilting

    energy = QuadraticEnergy([0.0, 0.0], [0.0, 0.0], [[0.0, 0.0], [0.0, 0.0]])
    energy.a.requires_grad_(False)
    model = ExponentialTilting(IdentityGenerator(), energy, HMC(steps=10, step_size=0.4, leapfrog_steps=5),
                               energy_reg=0.0)
    assert set(model.parameter_groups()) == {"energy"}
    torch.manual_seed(0)
    target = torch.tensor([1.5, -1.0])
    opt = torch.optim.Adam(model.parameter_groups()["energy"], lr=0.05)
    for _ in range(80):
        loss = model.losses(target + torch.randn(256, 2))["energy"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    torch.testing.assert_close(-energy.b.detach(), target, atol=0.2, rtol=0)
    torch.testing.assert_close(model.sample(2000).mean(0), target, atol=0.2, rtol=0)
