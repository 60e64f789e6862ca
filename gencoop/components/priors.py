"""Built-in priors over latents: Gaussian (fixed or learnable), any Flow, and an energy-based prior.

* Gaussian: log N(z; μ, diag σ²); learnable μ and log σ when ``learnable``; ``fit_loss`` is the NLL.
* Flow: a Flow is a Prior already (exact ``log_prob``, NLL ``fit_loss``); the ``flow`` prior builds one by name.
* Energy-based (Pang et al.): p(z) ∝ exp(−E(z))·N(z; 0, I), unnormalised; sampled by the sampler (Langevin from
  N(0, I)); ``fit_loss(z_post) = E(z_post).mean() − E(z_prior).mean()`` with z_prior drawn from the prior itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import torch
from pydantic import Field
from torch import Tensor, nn

from gencoop.components.energies import MLPEnergy, ebm_loss
from gencoop.components.nets import Activation
from gencoop.hookspecs import hookimpl
from gencoop.interfaces import Energy, Flow, Prior, Sampler, standard_normal_log_prob

Positive = Annotated[int, Field(ge=1)]


class GaussianPrior(Prior):
    """N(z; μ, diag σ²) on ``latent_shape``; μ = 0 and σ = 1 unless learnt (``learnable=True``)."""

    def __init__(self, latent_shape: int | tuple[int, ...] = 2, learnable: bool = False):
        super().__init__()
        self.latent_shape = (latent_shape,) if isinstance(latent_shape, int) else tuple(latent_shape)
        self.learnable = learnable
        zeros = torch.zeros(self.latent_shape)
        if learnable:
            self.loc, self.log_scale = nn.Parameter(zeros.clone()), nn.Parameter(zeros.clone())
        else:
            self.register_buffer("loc", zeros.clone(), persistent=False)
            self.register_buffer("log_scale", zeros.clone(), persistent=False)

    def log_prob(self, z: Tensor) -> Tensor:
        if not self.learnable:
            return standard_normal_log_prob(z, self.latent_shape)
        u = (z - self.loc) * torch.exp(-self.log_scale)
        return standard_normal_log_prob(u, self.latent_shape) - self.log_scale.sum()

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        eps = torch.randn((n, *self.latent_shape), generator=generator, device=self.loc.device, dtype=self.loc.dtype)
        return self.loc + torch.exp(self.log_scale) * eps

    def fit_loss(self, z: Tensor) -> Tensor:
        if not self.learnable:
            return z.new_zeros(())  # nothing to learn
        return super().fit_loss(z)


class EnergyPrior(Prior):
    """p(z) ∝ exp(−E(z))·N(z; 0, I) (unnormalised), sampled by ``sampler`` started at N(0, I)."""

    normalized = False

    def __init__(self, energy: Energy, sampler: Sampler):
        super().__init__()
        self.energy, self.sampler = energy, sampler
        self.latent_shape = tuple(energy.event_shape)

    def log_prob(self, z: Tensor) -> Tensor:
        return -self.energy(z) + standard_normal_log_prob(z, self.latent_shape)

    def sample(self, n: int, generator: torch.Generator | None = None, steps: int | None = None) -> Tensor:
        p = next(self.energy.parameters())
        z0 = torch.randn((n, *self.latent_shape), generator=generator, device=p.device, dtype=p.dtype)
        return self.sampler.sample(self.log_prob, z0, steps=steps, generator=generator)

    def fit_loss(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """E(z_post).mean() − E(z_model).mean() (:func:`ebm_loss`): its gradient is the negated MLE gradient of the
        prior."""
        return ebm_loss(self.energy, z, self.sample(z.shape[0], generator=generator))


def flow_prior(latent_dim: Annotated[int, Field(ge=2)] = 2, flow: str = "realnvp",
               flow_params: dict[str, Any] = {}) -> Flow:  # noqa: B006 (validated copy per call)
    """Any registered vector flow as the prior (LFBM). ``flow_params`` go to the flow's own settings."""
    from gencoop.registry import create

    return create("flow", flow, dim=latent_dim, **flow_params)


def energy_prior(
    latent_dim: Positive = 16,
    hidden: Sequence[int] = (200, 200),
    activation: Activation = "leaky_relu",
    steps: Annotated[int, Field(ge=1)] = 60,
    step_size: Annotated[float, Field(gt=0)] = 0.4,
) -> EnergyPrior:
    """Pang et al.'s latent EBM prior: an MLP energy (100-200-200-1 in the paper), Langevin s=0.4, 60 steps."""
    from gencoop.samplers.langevin import Langevin

    return EnergyPrior(MLPEnergy(latent_dim, hidden, activation), Langevin(steps=steps, step_size=step_size))


@hookimpl
def register_components(register) -> None:
    register("prior", "gaussian", GaussianPrior, summary="N(0, I), or N(μ, diag σ²) with learnable=True",
             example={"latent_shape": 3, "learnable": True})
    register("prior", "flow", flow_prior, summary="Any registered flow as a latent prior (LFBM)",
             example={"latent_dim": 3, "flow": "realnvp", "flow_params": {"num_layers": 2, "hidden": 8}})
    register("prior", "ebm", energy_prior, summary="Energy-based prior exp(-E(z))·N(z; 0, I), Langevin-sampled",
             example={"latent_dim": 3, "hidden": (16, 16), "steps": 5})
