"""Langevin dynamics: the one Langevin loop every composition samples with.

Update on a log-density ℓ (DESIGN.md), step k with step size s_k:

    x ← x + (s_k²/2)·∇ℓ(x) + noise·s_k·ε,   ε ~ N(0, I)

* s is ``step_size``; the LFBM form (ξ, √(2ξ)) is s² = 2ξ; the tilting form (ε/2, √ε) is s² = ε.
* ``noise=0`` is the CoopFlow reference code's gradient ascent; ``clip`` bounds each element of the drift
  (s²/2)·∇ℓ (that code uses 0.1); ``bounds`` clamps x after every step.
* ``metropolis=True`` is MALA: the proposal x' is accepted with probability
  min(1, exp(ℓ(x') − ℓ(x) + log q(x|x') − log q(x'|x))), q(a|b) = N(a; b + drift(b), (noise·s)² I).
* ``schedule`` anneals s from ``step_size`` to ``final_step_size``: constant, linear or geometric.

Backends: ``eager`` runs the loop below on any device; ``fused`` (CUDA + Triton, :mod:`gencoop.samplers.fused`)
replaces the element-wise update by one Triton kernel per step and captures the chain in a CUDA graph;
``auto`` picks fused on CUDA tensors when Triton imports, else eager.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import Tensor

from gencoop.hookspecs import hookimpl
from gencoop.interfaces import LogDensity, Sampler
from gencoop.samplers.common import LangevinResult, frozen_parameters, mh_select, raise_if_nonfinite, value_and_grad
from gencoop.samplers.noise import NoiseStream


@dataclass
class LangevinState:
    """Chains between transitions: states ``x`` ``(B, *event)``, ℓ(x) ``(B,)`` and ∇ℓ(x) ``(B, *event)``."""

    x: Tensor
    log_density: Tensor
    grad: Tensor


class Langevin(Sampler):
    """Unadjusted Langevin (ULA) or, with ``metropolis=True``, MALA toward any differentiable log-density.

    ``precision="bfloat16"`` evaluates ℓ and ∇ℓ under ``torch.autocast`` (tensor cores on a GPU; the gradient
    drives a noisy chain, so its rounding is far below the injected noise); the chain itself stays in x's dtype.
    The fused CUDA backend hands 4-D states to the log-density channels-last: reshape them with ``reshape``, not
    ``view``. On a CPU the eager loop's noise comes from a generator seeded by one draw from ``generator`` (the
    caller's generator also drives MALA's accept test), and ``prefetch_noise`` draws it on a helper thread
    (:mod:`gencoop.samplers.noise`); the default, None, does so when torch's threads leave a core idle. It never
    changes the result, and off a CPU it is ignored.
    """

    def __init__(
        self,
        steps: Annotated[int, Field(ge=0)] = 60,
        step_size: Annotated[float, Field(gt=0)] = 0.1,
        noise: Annotated[float, Field(ge=0)] = 1.0,
        clip: Annotated[float, Field(gt=0)] | None = None,
        bounds: tuple[float, float] | None = None,
        metropolis: bool = False,
        schedule: Literal["constant", "linear", "geometric"] = "constant",
        final_step_size: Annotated[float, Field(gt=0)] | None = None,
        on_nonfinite: Literal["raise", "reset", "drop"] = "raise",
        backend: Literal["auto", "eager", "fused"] = "auto",
        cuda_graph: bool = True,
        precision: Literal["float32", "bfloat16"] = "float32",
        prefetch_noise: bool | None = None,
    ):
        super().__init__()
        if bounds is not None and not bounds[0] < bounds[1]:
            raise ValueError(f"bounds: lower must be below upper, got {bounds}")
        if metropolis and bounds is not None:
            raise ValueError("bounds: MALA with clamped proposals targets the wrong distribution; "
                             "drop bounds or metropolis")
        if metropolis and noise == 0:
            raise ValueError("metropolis: MALA needs noise > 0 (a deterministic proposal is not reversible)")
        if metropolis and precision != "float32":
            raise ValueError("precision: MALA's accept test compares values of ℓ, which bfloat16 rounds by far more "
                             "than the test can bear; use precision='float32' with metropolis=True")
        if schedule != "constant" and final_step_size is None:
            raise ValueError(f"final_step_size: required by schedule={schedule!r} (the step size at the last step)")
        self.steps, self.step_size, self.noise = steps, step_size, noise
        self.clip, self.bounds, self.metropolis = clip, bounds, metropolis
        self.schedule, self.final_step_size = schedule, final_step_size
        self.on_nonfinite, self.backend, self.cuda_graph = on_nonfinite, backend, cuda_graph
        self.precision, self.prefetch_noise = precision, prefetch_noise
        # ℓ and ∇ℓ under autocast when not float32; the chain state, drift and noise stay in x's dtype
        self.autocast = None if precision == "float32" else getattr(torch, precision)

    def extra_repr(self) -> str:
        return (f"steps={self.steps}, step_size={self.step_size}, noise={self.noise}, clip={self.clip}, "
                f"bounds={self.bounds}, metropolis={self.metropolis}, schedule={self.schedule!r}")

    def step_sizes(self, steps: int) -> list[float]:
        """s_0 … s_{K−1}: constant, or annealed linearly / geometrically to ``final_step_size``."""
        s0, s1 = self.step_size, self.final_step_size
        if self.schedule == "constant" or steps < 2:
            return [s0] * steps
        t = [k / (steps - 1) for k in range(steps)]
        if self.schedule == "linear":
            return [s0 + (s1 - s0) * tk for tk in t]
        return [s0 * (s1 / s0) ** tk for tk in t]

    # -- the Sampler interface ---------------------------------------------------------------------------------
    def sample(
        self,
        log_density: LogDensity,
        x0: Tensor,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        return self.run(log_density, x0, steps=steps, generator=generator).x

    def run(
        self,
        log_density: LogDensity,
        x0: Tensor,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
        return_trajectory: int = 0,
        diagnostics: bool = False,
        noise: Tensor | None = None,
        differentiable: bool = False,
    ) -> LangevinResult:
        """Run the chains from ``x0`` ``(B, *event)``; see :class:`LangevinResult` for what comes back.

        ``noise`` ``(steps, B, *event)`` fixes the injected ε (the Langevin flow as a deterministic map F(x0, e));
        ``differentiable=True`` keeps the graph, so ``result.x`` can be differentiated w.r.t. ``x0`` (ULA only).
        """
        steps = self.steps if steps is None else steps
        if noise is not None and tuple(noise.shape) != (steps, *x0.shape):
            raise ValueError(f"noise: expected shape {(steps, *x0.shape)} (steps, *x0.shape), got {tuple(noise.shape)}")
        if differentiable and (self.metropolis or self.on_nonfinite != "raise"):
            raise ValueError("differentiable: only plain Langevin (no metropolis, on_nonfinite='raise') is a "
                             "smooth map")
        plain = not (return_trajectory or diagnostics or differentiable or noise is not None)
        with frozen_parameters(log_density):
            # the fused path covers plain runs; everything else runs eagerly
            if plain and self.on_nonfinite == "raise" and self._use_fused(x0):
                from gencoop.samplers.fused import run_fused

                return run_fused(self, log_density, x0, steps, generator)
            return self._run_eager(log_density, x0, steps, generator, return_trajectory, diagnostics,
                                   noise, differentiable)

    def _use_fused(self, x: Tensor) -> bool:
        if self.backend == "eager":
            return False
        from gencoop.samplers.fused import fused_available

        ok, why = fused_available(x, explicit=self.backend == "fused")
        if self.backend == "fused" and not ok:
            raise RuntimeError(f"backend='fused' is not available here: {why}; use backend='auto' or 'eager'")
        return ok

    # -- the eager loop ----------------------------------------------------------------------------------------
    def _run_eager(self, log_density: LogDensity, x0: Tensor, steps: int, generator: torch.Generator | None,
                   every: int, want_diag: bool, given_noise: Tensor | None = None,
                   differentiable: bool = False) -> LangevinResult:
        x = x0 if differentiable else x0.detach().clone()
        if self.bounds is not None:
            x = x.clamp(*self.bounds)
        sizes = self.step_sizes(steps)
        noise = None
        if self.noise > 0:
            drawn = NoiseStream(x, steps, generator, self.prefetch_noise) if given_noise is None else given_noise
            noise = iter(drawn)
        lp, grad = value_and_grad(log_density, x, differentiable, self.autocast)
        start = (x, lp, grad)  # where "reset" sends a chain back to
        lps = [lp]  # per-step log-densities: the non-finite check costs nothing per step
        trajectory = [x] if every else None
        accepted = torch.zeros_like(lp) if self.metropolis else None
        grad_norm = torch.zeros_like(lp) if want_diag else None
        bad = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device) if self.on_nonfinite != "raise" else None
        for k, s in enumerate(sizes):
            if bad is not None:
                x, lp, grad = self._reset_nonfinite(x, lp, grad, start, bad)
            if grad_norm is not None:
                grad_norm += grad.flatten(1).norm(dim=-1)
            c, sigma = 0.5 * s * s, self.noise * s
            proposal = self._propose(x, grad, c, sigma, next(noise) if noise is not None else None, differentiable)
            if self.metropolis:
                lp_new, grad_new = value_and_grad(log_density, proposal, autocast=self.autocast)
                x, lp, grad, acc = self._mala_accept(x, lp, grad, proposal, lp_new, grad_new, c, sigma, generator)
                accepted += acc
            elif k < steps - 1 or want_diag or bad is not None:
                x = proposal
                lp, grad = value_and_grad(log_density, x, differentiable, self.autocast)
            else:
                x = proposal  # the last state needs no gradient
            lps.append(lp)
            if every and (k + 1) % every == 0:
                trajectory.append(x)
        kept = None
        if bad is not None:
            x, lp, grad = self._reset_nonfinite(x, lp, grad, start, bad)
            if self.on_nonfinite == "drop":
                kept = (~bad).nonzero().flatten()
        else:
            raise_if_nonfinite(x, lps)
        diag: dict[str, Tensor] = {}
        if want_diag:
            diag = {"log_density_start": lps[0], "log_density_end": lp, "grad_norm": grad_norm / max(steps, 1)}
        if accepted is not None:
            diag["acceptance"] = accepted / max(steps, 1)
        if bad is not None:
            diag["nonfinite"] = bad
        traj = torch.stack(trajectory) if trajectory is not None else None
        if kept is not None:
            x = x[kept]
            traj = traj[:, kept] if traj is not None else None
            diag = {k: v[kept] if k != "nonfinite" else v for k, v in diag.items()}
        return LangevinResult(x, traj, diag, kept)

    def _propose(self, x: Tensor, grad: Tensor, c: float, sigma: float, eps: Tensor | None,
                 differentiable: bool = False) -> Tensor:
        """x + drift + σ·ε, clamped to ``bounds``: in place on a fresh tensor unless a graph is kept."""
        proposal = torch.add(x, grad, alpha=c) if self.clip is None else x + self._drift(grad, c)
        if eps is not None:
            proposal = proposal + sigma * eps if differentiable else proposal.add_(eps, alpha=sigma)
        if self.bounds is not None:
            proposal = proposal.clamp(*self.bounds) if differentiable else proposal.clamp_(*self.bounds)
        return proposal

    # -- one transition at a time (annealed importance sampling, adaptive schemes) -----------------------------
    def init(self, log_density: LogDensity, x: Tensor) -> LangevinState:
        """The state of chains at ``x`` ``(B, *event)``: x with ℓ(x) ``(B,)`` and ∇ℓ(x), for :meth:`step`."""
        lp, grad = value_and_grad(log_density, x, autocast=self.autocast)
        return LangevinState(x.detach(), lp, grad)

    def step(self, log_density: LogDensity, state: LangevinState, *, step_size: float | None = None,
             generator: torch.Generator | None = None) -> tuple[LangevinState, Tensor]:
        """One transition of every chain from ``state``: the new state and the accept mask ``(B,)`` (all True
        without ``metropolis``). One evaluation of ℓ and ∇ℓ, at the proposal. ``state`` must hold ℓ and ∇ℓ of
        this ``log_density`` (a caller that changes the target between steps recomputes or rescales them). The
        caller freezes the parameters ℓ reaches (:func:`~gencoop.samplers.common.frozen_parameters`) if it wants
        no parameter graph; no ``.grad`` is written either way."""
        s = self.step_size if step_size is None else step_size
        c, sigma = 0.5 * s * s, self.noise * s
        x, lp, grad = state.x, state.log_density, state.grad
        eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype) if self.noise > 0 else None
        proposal = self._propose(x, grad, c, sigma, eps)
        lp_new, grad_new = value_and_grad(log_density, proposal, autocast=self.autocast)
        if not self.metropolis:
            return LangevinState(proposal, lp_new, grad_new), torch.ones_like(lp_new, dtype=torch.bool)
        x, lp, grad, accept = self._mala_accept(x, lp, grad, proposal, lp_new, grad_new, c, sigma, generator)
        return LangevinState(x, lp, grad), accept

    def _drift(self, grad: Tensor, c: float) -> Tensor:
        drift = grad * c
        return drift.clamp(-self.clip, self.clip) if self.clip is not None else drift

    def _mala_accept(self, x, lp, grad, proposal, lp_new, grad_new, c, sigma, generator):
        """Metropolis–Hastings test for the Langevin proposal; returns the new (x, ℓ, ∇ℓ) and the accept mask."""
        forward = (proposal - x - self._drift(grad, c)).flatten(1).square().sum(-1)  # −2σ² log q(x'|x)
        backward = (x - proposal - self._drift(grad_new, c)).flatten(1).square().sum(-1)  # −2σ² log q(x|x')
        u = torch.rand(lp.shape, generator=generator, device=lp.device, dtype=lp.dtype)
        return mh_select(x, lp, grad, proposal, lp_new, grad_new, forward, backward, sigma, u)

    @staticmethod
    def _reset_nonfinite(x, lp, grad, start, bad):
        """Send chains whose ℓ or ∇ℓ is non-finite back to their start (recorded in ``bad``, in place)."""
        now = ~torch.isfinite(lp) | ~torch.isfinite(grad).flatten(1).all(-1) | ~torch.isfinite(x).flatten(1).all(-1)
        bad |= now
        mask = now.view(-1, *([1] * (x.dim() - 1)))
        return torch.where(mask, start[0], x), torch.where(now, start[1], lp), torch.where(mask, start[2], grad)


@hookimpl
def register_components(register: Callable[..., None]) -> None:
    register("sampler", "langevin", Langevin,
             summary="Langevin dynamics: x += (s²/2)∇ℓ + noise·s·ε; clip, bounds, MALA, annealing; fused CUDA",
             example={"steps": 5, "step_size": 0.1})
    register("sampler", "mala", _mala, summary="Metropolis-adjusted Langevin (Langevin with metropolis=True)",
             example={"steps": 5, "step_size": 0.5})


def _mala(
    steps: Annotated[int, Field(ge=0)] = 60,
    step_size: Annotated[float, Field(gt=0)] = 0.1,
    schedule: Literal["constant", "linear", "geometric"] = "constant",
    final_step_size: Annotated[float, Field(gt=0)] | None = None,
    on_nonfinite: Literal["raise", "reset", "drop"] = "raise",
    backend: Literal["auto", "eager", "fused"] = "auto",
) -> Langevin:
    return Langevin(steps=steps, step_size=step_size, metropolis=True, schedule=schedule,
                    final_step_size=final_step_size, on_nonfinite=on_nonfinite, backend=backend)
