"""Hamiltonian Monte Carlo as a gencoop Sampler (registered as ``hmc``).

Target: any differentiable log-density ℓ(x), ``(B, *event) -> (B,)``, unnormalised. Each of the B chains runs
independently. With a diagonal mass matrix M = diag(m) (``mass``: a scalar or one value per event element):

    p ~ N(0, M)                          H(x, p) = −ℓ(x) + ½ Σ p²/m
    leapfrog, L steps of size ε:         p ← p + (ε/2)∇ℓ(x);  x ← x + ε p/m;  p ← p + (ε/2)∇ℓ(x)
    Metropolis correction:               accept (x', p') with probability min(1, exp(H(x, p) − H(x', p')))

A proposal whose ℓ or H is NaN/Inf is rejected (a diverging trajectory), so a chain never leaves finite ground
once it starts there. M⁻¹ should approximate the target's covariance (m_i ≈ 1/Var(x_i)) for good mixing: then
one ε suits every coordinate.

``step_size`` is ε, ``leapfrog_steps`` is L, ``steps`` is the number of HMC iterations (each costs L + 1 gradient
evaluations). ``jitter`` draws each iteration's ε uniformly in [ε(1 − jitter), ε(1 + jitter)] (breaks the
periodic orbits of a fixed trajectory length). With ``target_accept`` set, the first ``adapt_steps`` iterations
adapt each chain's own ε toward that mean acceptance probability by Nesterov dual averaging (Hoffman and Gelman,
2014, §3.2: μ = log 10ε₀, γ = 0.05, t₀ = 10, κ = 0.75), then fix it at the averaged value; the chain is a valid
MCMC chain only after adaptation ends. ``metropolis=False`` gives unadjusted HMC (biased by the leapfrog error).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor

import gencoop
from gencoop.interfaces import LogDensity
from gencoop.samplers.common import frozen_parameters, value_and_grad

__version__ = "0.1.0"

__all__ = ["HMC", "HMCResult", "leapfrog", "register_components", "__version__"]

GradFn = Callable[[Tensor], tuple[Tensor, Tensor]]


@dataclass
class HMCResult:
    """Output of :meth:`HMC.run`: final states ``x`` ``(B, *event)`` and per-chain diagnostics ``(B,)``:
    ``acceptance`` (mean Metropolis acceptance probability over the iterations after adaptation, or over the
    adaptation when nothing followed it), ``step_size`` (each chain's final ε) and ``log_density`` (ℓ at ``x``)."""

    x: Tensor
    diagnostics: dict[str, Tensor] = field(default_factory=dict)


def leapfrog(grad_fn: GradFn, x: Tensor, p: Tensor, grad: Tensor, step_size: Tensor | float, n: int,
             inv_mass: Tensor | float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``n`` leapfrog steps of the Hamiltonian −ℓ(x) + ½ pᵀM⁻¹p from (x, p), where ``grad`` = ∇ℓ(x).

    ``grad_fn(x) -> (ℓ(x), ∇ℓ(x))``; ``step_size``: a float or per-chain ``(B,)`` tensor; ``inv_mass``: M⁻¹'s
    diagonal, broadcastable to x. Returns the end point (x', p', ℓ(x'), ∇ℓ(x')). Volume-preserving and
    reversible: from (x', −p') it returns to (x, −p) up to rounding. ``n`` must be ≥ 1.
    """
    if isinstance(step_size, Tensor) and step_size.dim() == 1:
        step_size = step_size.view(-1, *([1] * (x.dim() - 1)))
    p = p + 0.5 * step_size * grad
    lp = None
    for i in range(n):
        x = x + step_size * inv_mass * p
        lp, grad = grad_fn(x)
        p = p + (step_size if i < n - 1 else 0.5 * step_size) * grad
    return x, p, lp, grad


class HMC(gencoop.Sampler):
    """Hamiltonian Monte Carlo with leapfrog integration, a diagonal mass and a Metropolis correction.

    See the module docstring for the update and the meaning of each setting. ``mass`` is a scalar or a sequence of
    ``prod(event_shape)`` values (row-major over the event), checked against x at sampling time.
    """

    def __init__(
        self,
        steps: Annotated[int, Field(ge=0)] = 20,
        step_size: Annotated[float, Field(gt=0)] = 0.1,
        leapfrog_steps: Annotated[int, Field(ge=1)] = 10,
        mass: Annotated[float, Field(gt=0)] | list[Annotated[float, Field(gt=0)]] = 1.0,
        metropolis: bool = True,
        jitter: Annotated[float, Field(ge=0, lt=1)] = 0.0,
        target_accept: Annotated[float, Field(gt=0, lt=1)] | None = None,
        adapt_steps: Annotated[int, Field(ge=0)] = 0,
    ):
        super().__init__()
        if adapt_steps and target_accept is None:
            raise ValueError("adapt_steps: step-size adaptation needs target_accept (e.g. 0.8)")
        if adapt_steps and not metropolis:
            raise ValueError("adapt_steps: adaptation targets the Metropolis acceptance rate; needs metropolis=True")
        self.steps, self.step_size, self.leapfrog_steps = steps, step_size, leapfrog_steps
        self.metropolis, self.jitter = metropolis, jitter
        self.target_accept, self.adapt_steps = target_accept, adapt_steps
        mass_t = torch.as_tensor(mass, dtype=torch.float64)
        if mass_t.dim() > 1 or not bool((mass_t > 0).all()):
            raise ValueError("mass: a positive scalar or a flat sequence of positive values, one per event element")
        self.register_buffer("mass", mass_t, persistent=True)

    def extra_repr(self) -> str:
        return (f"steps={self.steps}, step_size={self.step_size}, leapfrog_steps={self.leapfrog_steps}, "
                f"metropolis={self.metropolis}, jitter={self.jitter}, target_accept={self.target_accept}")

    def _mass_like(self, x: Tensor) -> Tensor:
        """The mass diagonal shaped to broadcast against x ``(B, *event)``."""
        m = self.mass.to(device=x.device, dtype=x.dtype)
        if m.dim() == 0:
            return m
        event = tuple(x.shape[1:])
        if m.numel() != math.prod(event):
            raise ValueError(f"mass: {m.numel()} values for events of shape {event} ({math.prod(event)} elements)")
        return m.reshape(event)

    # -- the Sampler interface ---------------------------------------------------------------------------------
    def sample(self, log_density: LogDensity, x0: Tensor, *, steps: int | None = None,
               generator: torch.Generator | None = None) -> Tensor:
        return self.run(log_density, x0, steps=steps, generator=generator).x

    @torch.no_grad()
    def run(self, log_density: LogDensity, x0: Tensor, *, steps: int | None = None,
            generator: torch.Generator | None = None) -> HMCResult:
        """Run B chains from ``x0`` ``(B, *event)`` for ``steps`` iterations (default ``self.steps``); x0 is not
        modified and no parameter the log-density reaches gets a gradient or keeps a changed ``requires_grad``."""
        steps = self.steps if steps is None else steps
        x = x0.detach().clone()
        mass = self._mass_like(x)
        inv_mass = 1.0 / mass
        sqrt_mass = mass.sqrt()
        b = x.shape[0]
        kw = dict(device=x.device, dtype=x.dtype)
        log_eps = torch.full((b,), math.log(self.step_size), **kw)
        adapt = _DualAveraging(log_eps, self.target_accept) if self.adapt_steps else None
        accept_adapt, accept_after = torch.zeros(b, **kw), torch.zeros(b, **kw)
        with frozen_parameters(log_density):
            def grad_fn(v: Tensor) -> tuple[Tensor, Tensor]:
                return value_and_grad(log_density, v)

            lp, grad = grad_fn(x)
            if not bool(torch.isfinite(lp).all()):
                bad = (~torch.isfinite(lp)).nonzero().flatten().tolist()[:10]
                raise FloatingPointError(f"HMC: the log-density is not finite at x0 for chain(s) {bad}")
            for k in range(steps):
                eps = log_eps.exp()
                if self.jitter:
                    u = torch.rand(b, generator=generator, **kw)
                    eps = eps * (1 + self.jitter * (2 * u - 1))
                p = torch.randn(x.shape, generator=generator, **kw) * sqrt_mass
                x_new, p_new, lp_new, grad_new = leapfrog(grad_fn, x, p, grad, eps, self.leapfrog_steps, inv_mass)
                if self.metropolis:
                    h_old = -lp + 0.5 * _sum_event(p.square() * inv_mass)
                    h_new = -lp_new + 0.5 * _sum_event(p_new.square() * inv_mass)
                    log_alpha = (h_old - h_new).nan_to_num(nan=-math.inf).clamp(max=0.0)
                    log_u = torch.rand(b, generator=generator, **kw).log()
                    accept = (log_u < log_alpha) & torch.isfinite(lp_new)
                    alpha = log_alpha.exp()
                else:  # unadjusted: keep every finite proposal
                    accept = torch.isfinite(lp_new) & torch.isfinite(x_new).flatten(1).all(-1)
                    alpha = accept.to(x.dtype)
                mask = accept.view(-1, *([1] * (x.dim() - 1)))
                x = torch.where(mask, x_new, x)
                lp = torch.where(accept, lp_new, lp)
                grad = torch.where(mask, grad_new, grad)
                if adapt is not None and k < self.adapt_steps:
                    log_eps = adapt.update(alpha)
                    if k == self.adapt_steps - 1:  # adaptation ends: fix ε at its running average
                        log_eps = adapt.final()
                    accept_adapt += alpha
                else:
                    accept_after += alpha
        after = steps - min(steps, self.adapt_steps)
        acceptance = accept_after / after if after else accept_adapt / max(steps, 1)
        diagnostics = {"acceptance": acceptance, "step_size": log_eps.exp(), "log_density": lp}
        return HMCResult(x, diagnostics)


class _DualAveraging:
    """Per-chain dual averaging of log ε toward a target acceptance probability (Hoffman and Gelman, 2014)."""

    def __init__(self, log_eps0: Tensor, target: float, gamma: float = 0.05, t0: float = 10.0, kappa: float = 0.75):
        self.mu = log_eps0 + math.log(10.0)
        self.target, self.gamma, self.t0, self.kappa = target, gamma, t0, kappa
        self.h_bar = torch.zeros_like(log_eps0)
        self.log_eps_bar = torch.zeros_like(log_eps0)
        self.t = 0

    def update(self, alpha: Tensor) -> Tensor:
        """Take the acceptance probabilities ``(B,)`` of one iteration; return the next iteration's log ε."""
        self.t += 1
        t = self.t
        self.h_bar = (1 - 1 / (t + self.t0)) * self.h_bar + (self.target - alpha) / (t + self.t0)
        log_eps = self.mu - math.sqrt(t) / self.gamma * self.h_bar
        w = t ** -self.kappa
        self.log_eps_bar = w * log_eps + (1 - w) * self.log_eps_bar
        return log_eps

    def final(self) -> Tensor:
        """The averaged log ε, used once adaptation ends."""
        return self.log_eps_bar


def _sum_event(t: Tensor) -> Tensor:
    return t.flatten(1).sum(-1)


@gencoop.hookimpl
def register_components(register: Callable[..., None]) -> None:
    """Register HMC as the sampler ``hmc``."""
    register("sampler", "hmc", HMC,
             summary="Hamiltonian Monte Carlo: leapfrog, Metropolis correction, diagonal mass, step-size adaptation",
             example={"steps": 5, "step_size": 0.3, "leapfrog_steps": 5})
