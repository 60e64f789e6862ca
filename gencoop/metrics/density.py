"""Normalising constants of energies, so that every EBM has a held-out NLL.

* :func:`grid_log_z` / :func:`grid_nll`: 2-D, by the midpoint rule on an n × n grid (exact up to the grid).
* :func:`ais_log_z`: any dimension, by annealed importance sampling (Neal, 2001) from a tractable start
  (a torch Distribution such as N(0, σ²I), or a Flow) to exp(ℓ), the transitions made by the project's sampler.

Held-out NLL of an energy E: mean E(x) + log Z, with Z = ∫ exp(−E(x)) dx (nats per sample; divide by D·ln 2 for
bits/dim).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from gencoop.interfaces import LogDensity
from gencoop.samplers.common import frozen_parameters, value_and_grad

Bounds = float | Sequence[float]


def _axis(lo: Bounds, hi: Bounds) -> tuple[tuple[float, float], tuple[float, float]]:
    lo2 = (float(lo), float(lo)) if isinstance(lo, (int, float)) else tuple(map(float, lo))
    hi2 = (float(hi), float(hi)) if isinstance(hi, (int, float)) else tuple(map(float, hi))
    if len(lo2) != 2 or len(hi2) != 2 or not (lo2[0] < hi2[0] and lo2[1] < hi2[1]):
        raise ValueError(f"lo, hi: a box in 2-D with lo < hi (numbers or pairs), got lo={lo}, hi={hi}")
    return lo2, hi2  # type: ignore[return-value]


def grid_log_density(energy: Callable[[Tensor], Tensor], lo: Bounds = -3.0, hi: Bounds = 3.0, n: int = 600, *,
                     batch_size: int = 65536, device: torch.device | str | None = None
                     ) -> tuple[Tensor, Tensor, float]:
    """(−E on the grid ``(n, n)`` indexed [i_x, i_y], the cell centres ``(n, n, 2)``, the cell area), float64.

    The grid has n cells per axis on [lo, hi]; E is evaluated at cell centres in batches under ``no_grad``.
    ``device`` is where the points go (default: the first parameter's of ``energy``, else the CPU).
    """
    if n < 2:
        raise ValueError(f"n: at least 2 cells per axis, got {n}")
    (lx, ly), (hx, hy) = _axis(lo, hi)
    if device is None:
        p = next(iter(getattr(energy, "parameters", lambda: iter(()))()), None)
        device = p.device if p is not None else "cpu"
    dx, dy = (hx - lx) / n, (hy - ly) / n
    xs = lx + dx * (torch.arange(n, dtype=torch.float64) + 0.5)
    ys = ly + dy * (torch.arange(n, dtype=torch.float64) + 0.5)
    centres = torch.stack(torch.meshgrid(xs, ys, indexing="ij"), -1)  # (n, n, 2)
    with torch.no_grad():
        flat = centres.reshape(-1, 2).float()
        neg_e = torch.cat([-energy(b.to(device)).double().cpu() for b in flat.split(batch_size)])
    return neg_e.reshape(n, n), centres, dx * dy


def grid_log_z(energy: Callable[[Tensor], Tensor], lo: Bounds = -3.0, hi: Bounds = 3.0, n: int = 600, **kw: Any
               ) -> float:
    """log ∫ exp(−E(x)) dx over the box [lo, hi]² (mass outside it is not counted), by the midpoint rule.

    ``energy``: ``(B, 2) -> (B,)``. A 600 × 600 grid on [−3, 3]² has cells 0.01 wide: fine enough for the toys'
    components of std 0.04–0.05.
    """
    neg_e, _, area = grid_log_density(energy, lo, hi, n, **kw)
    return float(torch.logsumexp(neg_e.flatten(), 0) + math.log(area))


def grid_nll(energy: Callable[[Tensor], Tensor], x: Tensor, lo: Bounds = -3.0, hi: Bounds = 3.0, n: int = 600,
             **kw: Any) -> float:
    """Held-out NLL in nats per sample of the density exp(−E)/Z on 2-D points ``x: (m, 2)``, Z by quadrature."""
    with torch.no_grad():
        e = torch.cat([energy(b).double() for b in x.split(kw.get("batch_size", 65536))])
    return float(e.mean()) + grid_log_z(energy, lo, hi, n, **kw)


# -- annealed importance sampling -------------------------------------------------------------------------------

class LogZ(NamedTuple):
    """An estimate of log Z and its standard error (delta method: std(w) / (√chains · mean(w)))."""

    log_z: float
    stderr: float


def _init_ops(init: Any) -> tuple[Callable[[int, torch.Generator | None], Tensor], Callable[[Tensor], Tensor],
                                  Callable[[Tensor], Tensor]]:
    """(draw n starts, log p₀, ∇log p₀) of a gencoop Prior/Flow (``sample(n, generator)``) or
    a torch Distribution; a diagonal Normal's gradient is written out, −(x − μ)/σ², not differentiated, and a box
    Uniform's is 0 (its log-density −inf outside the box, where MALA then refuses every proposal)."""
    if isinstance(init, torch.distributions.Distribution):
        def draw(n: int, g: torch.Generator | None) -> Tensor:
            with torch.random.fork_rng(devices=[]):
                if g is not None:
                    torch.manual_seed(int(torch.randint(2**62, (), generator=g)))
                return init.sample((n,))
        if isinstance(init, torch.distributions.Independent) and isinstance(init.base_dist, torch.distributions.Normal):
            loc, scale, dims = init.base_dist.loc, init.base_dist.scale, init.reinterpreted_batch_ndims
            const = (-scale.log() - 0.5 * math.log(2 * math.pi)).expand(init.event_shape).sum()

            def normal_log_prob(x: Tensor) -> Tensor:  # Independent(Normal).log_prob without argument validation
                return -0.5 * ((x - loc) / scale).square().flatten(x.dim() - dims).sum(-1) + const

            def normal_grad(x: Tensor) -> Tensor:
                with torch.no_grad():
                    return (loc - x) / scale.square()
            return draw, normal_log_prob, normal_grad
        uniform = isinstance(getattr(init, "base_dist", None), torch.distributions.Uniform)
        if isinstance(init, torch.distributions.Independent) and uniform:
            low, high, dims = init.base_dist.low, init.base_dist.high, init.reinterpreted_batch_ndims
            log_volume = (high - low).log().expand(init.event_shape).sum()

            def uniform_log_prob(x: Tensor) -> Tensor:  # −log volume inside the box, −inf outside; flat: ∇ = 0
                inside = ((x >= low) & (x <= high)).flatten(x.dim() - dims).all(-1)
                return torch.where(inside, -log_volume, -math.inf).to(x.dtype)

            return draw, uniform_log_prob, torch.zeros_like
        return draw, init.log_prob, lambda x: value_and_grad(init.log_prob, x)[1]
    if callable(getattr(init, "sample", None)) and callable(getattr(init, "log_prob", None)):
        return (lambda n, g: init.sample(n, generator=g)), init.log_prob, lambda x: value_and_grad(init.log_prob, x)[1]
    raise TypeError(f"init: a torch Distribution or a Prior/Flow with sample(n) and log_prob(x), "
                    f"not {type(init).__name__}")


def ais_schedule(steps: int, kind: str = "sigmoid") -> Tensor:
    """β_0 = 0 < β_1 < … < β_steps = 1 (float64): ``"sigmoid"`` (dense at both ends; Grosse et al., 2013),
    ``"geometric"`` (dense near 0) or ``"linear"``."""
    if steps < 1:
        raise ValueError(f"steps: at least 1, got {steps}")
    t = torch.linspace(0, 1, steps + 1, dtype=torch.float64)
    if kind == "linear":
        return t
    if kind == "geometric":
        b = torch.logspace(-4, 0, steps, dtype=torch.float64)
        return torch.cat([torch.zeros(1, dtype=torch.float64), b])
    if kind == "sigmoid":
        s = torch.sigmoid(8.0 * (2 * t - 1))
        return (s - s[0]) / (s[-1] - s[0])
    raise ValueError(f"kind: 'sigmoid', 'geometric' or 'linear', got {kind!r}")


class _Tempered:
    """ℓ_β(x) = (1 − β)·log p₀(x) + β·ℓ(x), keeping the two parts of its last evaluation (detached)."""

    def __init__(self, log_density: LogDensity, init_log_prob: Callable[[Tensor], Tensor]):
        self.log_density, self.init_log_prob, self.beta = log_density, init_log_prob, 0.0
        self.parts: tuple[Tensor, Tensor] | None = None

    def __call__(self, x: Tensor) -> Tensor:
        a, b = self.init_log_prob(x), self.log_density(x)
        self.parts = (a.detach(), b.detach())
        return (1 - self.beta) * a + self.beta * b


def ais_log_z(
    log_density: LogDensity,
    init: Any,
    *,
    steps: int = 1000,
    chains: int = 256,
    sampler: Any = None,
    schedule: str = "sigmoid",
    step_size: float | None = None,
    target_acceptance: float = 0.6,
    generator: torch.Generator | None = None,
) -> LogZ:
    """log Z of exp(ℓ), Z = ∫ exp(ℓ(x)) dx, by annealed importance sampling from ``init`` through
    ℓ_β = (1 − β) log p₀ + β ℓ, one transition per β of the schedule (``steps`` of them).

    * ``init``: a torch Distribution with a batch-free event (``Independent(Normal(0, σ), 1)``) or a gencoop
      Prior / Flow; its density must be normalised and cover exp(ℓ) (a wider start is safer than a narrower one).
    * ``sampler``: a :class:`~gencoop.samplers.langevin.Langevin` with ``metropolis=True`` (MALA leaves each ℓ_β
      invariant, which AIS needs to be unbiased); by default MALA whose step size is tuned per β toward
      ``target_acceptance`` on a pilot run of its own (a quarter of the chains, at least 16, through a quarter of
      the temperatures; not reused), so the step sizes of the reported run are fixed before it starts. A given
      sampler runs at its own step size.
    * Each transition costs one evaluation of ℓ and ∇ℓ at the proposal (the state's gradient for the next β is
      rescaled from the last one, not recomputed), plus log p₀ and its gradient at the proposal and ∇log p₀ at
      the new state (closed form for a Normal start; two passes of a Flow start).

    Returns :class:`LogZ` ``(log_z, stderr)``: log of the mean importance weight (Z's estimate is unbiased; its
    log is biased low by about stderr²/2) and the standard error from the chains' weights.
    """
    from gencoop.samplers.langevin import Langevin

    if chains < 2:
        raise ValueError(f"chains: at least 2 (the standard error needs them), got {chains}")
    betas = ais_schedule(steps, schedule).tolist()
    ops = _init_ops(init)
    if sampler is None:
        sampler = Langevin(steps=1, step_size=step_size or 0.1, metropolis=True)
        pilot_betas = ais_schedule(max(10, steps // 4), schedule)
        _, pilot_sizes = _anneal(log_density, ops, pilot_betas.tolist(), max(16, chains // 4), sampler, generator,
                                 adapt=target_acceptance)
        # the pilot's step size at the first of its β at or above each β of the run
        at = torch.searchsorted(pilot_betas[1:], torch.tensor(betas[1:], dtype=torch.float64)).clamp_max(
            len(pilot_sizes) - 1)
        sizes = [pilot_sizes[i] for i in at.tolist()]
    else:
        if not (callable(getattr(sampler, "init", None)) and callable(getattr(sampler, "step", None))):
            raise TypeError(f"sampler: AIS makes one transition at a time through sampler.init/step (Langevin has "
                            f"them); {type(sampler).__name__} has not")
        if getattr(sampler, "metropolis", True) is False or getattr(sampler, "noise", 1.0) != 1.0:
            raise ValueError("sampler: AIS needs transitions that leave each annealed density invariant: a Langevin "
                             "with metropolis=True and noise=1 (MALA); an unadjusted chain biases Z")
        sizes = None
    log_w, _ = _anneal(log_density, ops, betas, chains, sampler, generator, sizes=sizes)
    log_w = log_w.double()
    if not torch.isfinite(log_w).all():
        raise FloatingPointError("ais_log_z: non-finite importance weights; lower the step size or widen init")
    log_mean = torch.logsumexp(log_w, 0) - math.log(len(log_w))
    w = torch.exp(log_w - log_w.max())
    stderr = float(w.std() / (math.sqrt(len(w)) * w.mean()))
    return LogZ(float(log_mean), stderr)


def _anneal(log_density: LogDensity, ops, betas: list[float], chains: int, sampler: Any,
            generator: torch.Generator | None, *, sizes: list[float] | None = None, adapt: float | None = None
            ) -> tuple[Tensor, list[float]]:
    """Run AIS chains through ``betas``; the log-weights ``(chains,)`` and the step size used at each β.

    ``adapt``: tune the step size toward this acceptance rate as the chains go (the pilot run)."""
    draw, init_log_prob, init_grad = ops
    target = _Tempered(log_density, init_log_prob)
    x = draw(chains, generator).detach()
    step = sizes[0] if sizes else getattr(sampler, "step_size", None)
    used: list[float] = []
    with frozen_parameters(log_density), frozen_parameters(init_log_prob):
        a, ga = init_log_prob(x).detach(), init_grad(x)
        b, gb = value_and_grad(log_density, x)
        log_w = torch.zeros_like(a, dtype=torch.float64)
        state = None
        for t in range(1, len(betas)):
            beta = betas[t]
            log_w = log_w + (beta - betas[t - 1]) * (b - a).double()  # weight of the state before its transition at β_t
            target.beta = beta
            # ℓ_β and ∇ℓ_β of the current state from its parts: ∇ℓ_β = (1 − β)∇log p₀ + β∇ℓ
            state = type(state)(x, (1 - beta) * a + beta * b, (1 - beta) * ga + beta * gb) if state is not None \
                else sampler.init(target, x)
            if sizes is not None:
                step = sizes[t - 1]
            state, accept = sampler.step(target, state, step_size=step, generator=generator)
            used.append(step)
            a_new, b_new = target.parts
            x = state.x
            a, b = torch.where(accept, a_new, a), torch.where(accept, b_new, b)
            ga = init_grad(x)
            # ∇ℓ = (∇ℓ_β − (1 − β)∇log p₀)/β at the new state (the sampler computed ∇ℓ_β there, or kept the old
            # one); its rounding error, ~ε|∇log p₀|/β, is multiplied by the next β before it is used
            gb = (state.grad - (1 - beta) * ga) / beta
            if adapt is not None:
                rate = float(accept.double().mean())
                step = step * math.exp(0.5 * (rate - adapt))  # a slow Robbins–Monro walk on log s
    return log_w, used
