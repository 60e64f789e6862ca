"""Langevin dynamics (eager): the one Langevin loop every composition samples with.

Update on a log-density ℓ (DESIGN.md):  x ← x + (s²/2)·∇ℓ(x) + noise·s·ε,  ε ~ N(0, I)

* s is ``step_size``; the LFBM form (ξ, √(2ξ)) is s² = 2ξ; the tilting form (ε/2, √ε) is s² = ε.
* ``noise=0`` is the CoopFlow reference code's gradient ascent; ``clip`` bounds each element of the drift
  (s²/2)·∇ℓ (that code uses 0.1); ``bounds`` clamps x after every step.
* ``metropolis=True`` is MALA: the proposal x' = x + drift(x) + noise·s·ε is accepted with probability
  min(1, exp(ℓ(x') − ℓ(x) + log q(x|x') − log q(x'|x))), q(a|b) = N(a; b + drift(b), (noise·s)² I).
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor

from gencoop.hookspecs import hookimpl
from gencoop.interfaces import LogDensity, Sampler


def value_and_grad(log_density: LogDensity, x: Tensor) -> tuple[Tensor, Tensor]:
    """ℓ(x) ``(B,)`` and ∇ₓℓ(x) ``(B, *event)``, both detached; no parameter receives a gradient."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        lp = log_density(x)
        (grad,) = torch.autograd.grad(lp.sum(), x)
    return lp.detach(), grad


class Langevin(Sampler):
    """Unadjusted Langevin (ULA) or, with ``metropolis=True``, MALA toward any differentiable log-density."""

    def __init__(
        self,
        steps: Annotated[int, Field(ge=0)] = 60,
        step_size: Annotated[float, Field(gt=0)] = 0.1,
        noise: Annotated[float, Field(ge=0)] = 1.0,
        clip: Annotated[float, Field(gt=0)] | None = None,
        bounds: tuple[float, float] | None = None,
        metropolis: bool = False,
    ):
        super().__init__()
        if bounds is not None and not bounds[0] < bounds[1]:
            raise ValueError(f"bounds: lower must be below upper, got {bounds}")
        if metropolis and noise == 0:
            raise ValueError("metropolis: MALA needs noise > 0 (a deterministic proposal is never reversible)")
        self.steps, self.step_size, self.noise = steps, step_size, noise
        self.clip, self.bounds, self.metropolis = clip, bounds, metropolis
        self.last_acceptance: Tensor | None = None  # per-chain acceptance rate of the last MALA run

    def extra_repr(self) -> str:
        return (f"steps={self.steps}, step_size={self.step_size}, noise={self.noise}, clip={self.clip}, "
                f"bounds={self.bounds}, metropolis={self.metropolis}")

    def _drift(self, grad: Tensor) -> Tensor:
        drift = grad * (0.5 * self.step_size**2)
        return drift.clamp(-self.clip, self.clip) if self.clip is not None else drift

    def sample(
        self,
        log_density: LogDensity,
        x0: Tensor,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        steps = self.steps if steps is None else steps
        sigma = self.noise * self.step_size  # std of the injected noise
        x = x0.detach().clone()
        if self.bounds is not None:
            x.clamp_(*self.bounds)
        lp, grad = value_and_grad(log_density, x)
        accepted = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
        for k in range(steps):
            _check_finite(lp, k)
            drift = self._drift(grad)
            proposal = x + drift
            if sigma > 0:
                proposal = proposal + sigma * torch.randn(
                    x.shape, generator=generator, device=x.device, dtype=x.dtype
                )
            if self.bounds is not None:
                proposal = proposal.clamp(*self.bounds)
            lp_new, grad_new = value_and_grad(log_density, proposal) if self.metropolis or k < steps - 1 else (lp, grad)
            if self.metropolis:
                forward = (proposal - x - drift).flatten(1).square().sum(-1)
                backward = (x - proposal - self._drift(grad_new)).flatten(1).square().sum(-1)
                log_alpha = lp_new - lp + (forward - backward) / (2 * sigma**2)
                u = torch.rand(x.shape[0], generator=generator, device=x.device, dtype=x.dtype)
                accept = torch.log(u) < log_alpha.nan_to_num(nan=-torch.inf)
                accepted += accept
                mask = accept.view(-1, *([1] * (x.dim() - 1)))
                x = torch.where(mask, proposal, x)
                lp, grad = torch.where(accept, lp_new, lp), torch.where(mask, grad_new, grad)
            else:
                x, lp, grad = proposal, lp_new, grad_new
        if self.metropolis:
            self.last_acceptance = accepted / max(steps, 1)
        _check_finite(x.flatten(1).sum(-1), steps)  # a non-finite element makes its chain's sum non-finite
        return x


def _check_finite(per_chain: Tensor, step: int) -> None:
    """Raise, naming chains and step, if any entry of the per-chain values ``(B,)`` is NaN or infinite."""
    bad = ~torch.isfinite(per_chain)
    if bad.any():
        chains = bad.nonzero().flatten().tolist()
        shown = ", ".join(map(str, chains[:10])) + (" …" if len(chains) > 10 else "")
        raise FloatingPointError(
            f"Langevin: non-finite values in chain(s) {shown} at step {step}; "
            "lower step_size, set clip or bounds"
        )


@hookimpl
def register_components(register) -> None:
    register("sampler", "langevin", Langevin,
             summary="Langevin dynamics: x += (s²/2)∇ℓ + noise·s·ε; clip, bounds, MALA",
             example={"steps": 5, "step_size": 0.1})
