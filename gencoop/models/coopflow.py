"""CoopFlow: a normalizing flow proposes, a short-run Langevin flow revises toward an EBM (Xie et al., ICLR 2022).

Each training step (one call of :meth:`CoopFlow.losses`):

1. x̂ = g(z), z ~ N(0, I)                                  (the flow proposes)
2. x̃ = K_θ(x̂): ``sampler`` runs Langevin on ℓ(x) = −E(x)  (the Langevin flow revises)
3. flow loss  = −log q_α(x̃)                               (the flow learns from the revised samples)
4. energy loss = E(x_data).mean() − E(x̃).mean()          (the EBM's maximum-likelihood gradient)

With a fixed noise initialiser in place of the flow it is the short-run EBM of Nijkamp et al.; with a flow loaded
from a finished flow run it is CoopFlow(Pre); more Langevin steps give CoopFlow(Long).

As a latent variable model, x = F_θ(g_α(z), e) with e the Langevin noise: :meth:`reconstruct`, :meth:`inpaint`
and :meth:`interpolate` infer z by gradient descent on ‖x − F(g(z), e)‖² with e fixed, back-propagating through
the Langevin steps (the sampler's ``differentiable`` mode).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from gencoop.components.energies import ebm_loss
from gencoop.config import PartRef
from gencoop.hookspecs import hookimpl
from gencoop.interfaces import (
    Energy,
    Flow,
    Sampler,
    Shape,
    module_device,
    module_device_dtype,
    standard_normal_log_prob,
)
from gencoop.models.base import Density, Model, build_part, default_part, trainable
from gencoop.samplers.common import frozen_parameters


class NoiseInitializer(nn.Module):
    """Fixed initial distribution for short-run chains: N(0, scale² I) or U[−scale, scale]^d."""

    def __init__(self, event_shape: Shape, kind: Literal["gaussian", "uniform"] = "gaussian", scale: float = 1.0):
        super().__init__()
        self.event_shape, self.kind, self.scale = tuple(event_shape), kind, scale
        self.register_buffer("_ref", torch.zeros(()), persistent=False)  # follows .to(device, dtype)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        shape = (n, *self.event_shape)
        kw = dict(generator=generator, device=self._ref.device, dtype=self._ref.dtype)
        if self.kind == "uniform":
            return (2 * torch.rand(shape, **kw) - 1) * self.scale
        return torch.randn(shape, **kw) * self.scale

    def distribution(self) -> torch.distributions.Distribution:
        """The initial distribution as a torch Distribution over whole events (an AIS start for the EBM)."""
        if self.kind == "uniform":
            return box_uniform(self.event_shape, -self.scale, self.scale, self._ref)
        ref = self._ref.expand(self.event_shape)
        return torch.distributions.Independent(torch.distributions.Normal(ref, torch.full_like(ref, self.scale)),
                                               len(self.event_shape))


def box_uniform(event_shape: Shape, lo: float, hi: float, like: Tensor) -> torch.distributions.Distribution:
    """U[lo, hi]^event as one distribution over events, on ``like``'s device and dtype. No argument validation:
    outside the box its log-density is −inf, not an error."""
    ref = like.expand(tuple(event_shape))
    return torch.distributions.Independent(torch.distributions.Uniform(ref + lo, ref + hi, validate_args=False),
                                           len(event_shape))


class CoopFlow(Model):
    """Cooperative learning of a Langevin flow (``energy`` + ``sampler``) and an initialiser (a Flow or noise).

    ``flow_every``: update the flow every k steps; ``flow_frozen_steps``: no flow update during the first N steps
    (the EBM settles first); ``energy_reg``: weight of the energy-magnitude regulariser; ``flow_noise``: std of
    Gaussian noise added to the revised samples the flow learns from (0: none). Clamped chains pile pixels exactly
    on the bounds (half of the digits' pixels are background at −1); a flow fitting such point masses shrinks its
    scales there, and on digits it collapsed to one image within 500 steps. The noise dequantises them, as
    ``dequantize`` does the data. Ignored when no flow is learned (a noise initialiser or a frozen flow).

    ``independence_mh`` (a flow initialiser only): the chains persist across training steps (the ``chains``
    buffer, in checkpoints), and each step the flow's proposal x' ~ q replaces a chain's state x with the
    independence Metropolis–Hastings probability min(1, w(x')/w(x)), w = exp(−E)/q, before the Langevin revision.
    Short-run Langevin moves samples within a mode, not between modes, so without it each mode's share is the
    flow's and the EBM's gradient turns a share error into a wrong well depth; with it the chains target exp(−E)
    whatever the flow's shares, and the flow, learning from them, follows. ``sample_rounds``: rounds of proposal
    and revision when sampling (the first from the flow alone).
    """

    def __init__(self, energy: Energy, flow: Flow | NoiseInitializer, sampler: Sampler, *, flow_every: int = 1,
                 flow_frozen_steps: int = 0, energy_reg: float = 0.0, pretrained_flow: bool = False,
                 sample_steps: int | None = None, flow_noise: float = 0.0, independence_mh: bool = False,
                 sample_rounds: int = 1):
        super().__init__()
        if flow_noise < 0:
            raise ValueError(f"flow_noise: a standard deviation ≥ 0, got {flow_noise}")
        if (independence_mh or sample_rounds > 1) and not isinstance(flow, Flow):
            raise ValueError("independence_mh, sample_rounds: need a flow initialiser (its exact density weighs "
                             "the proposals); set init=flow, or independence_mh=false and sample_rounds=1")
        if sample_rounds < 1:
            raise ValueError(f"sample_rounds: at least 1, got {sample_rounds}")
        self.independence_mh, self.sample_rounds = independence_mh, sample_rounds
        self.acceptance = float("nan")  # the last training step's share of accepted proposals
        if independence_mh:  # the persistent chains; resized on loading a checkpoint of another batch size
            self.register_buffer("chains", torch.empty(0, *energy.event_shape))
            self.chain_buffers = ("chains",)
            self.register_load_state_dict_pre_hook(self._resize_chains)
        self.flow_noise = flow_noise
        self.sample_steps = sample_steps  # Langevin steps of sample() (default: the sampler's, as in training)
        self.energy, self.flow, self.sampler = energy, flow, sampler
        self.pretrained_flow = pretrained_flow
        self.event_shape = tuple(energy.event_shape)
        self.flow_every, self.flow_frozen_steps, self.energy_reg = flow_every, flow_frozen_steps, energy_reg
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))  # in checkpoints: resume stays exact

    @property
    def learns_flow(self) -> bool:
        return isinstance(self.flow, Flow) and any(p.requires_grad for p in self.flow.parameters())

    def log_density(self, x: Tensor) -> Tensor:
        """ℓ(x) = −E(x), the EBM's unnormalised log-density."""
        return -self.energy(x)

    def _log_weight(self, x: Tensor, log_q: Tensor | None = None) -> Tensor:
        """log w(x) = −E(x) − log q(x), ``(B,)``: the EBM over the flow."""
        return -self.energy(x) - (self.flow.log_prob(x) if log_q is None else log_q)

    @torch.no_grad()
    def propose(self, n: int, current: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Chain starts ``(n, *event_shape)`` and which are new proposals ``(n,)`` (bool).

        x' ~ the initialiser; given ``current`` states x (``independence_mh``), x' replaces x with probability
        min(1, w(x')/w(x)), w = exp(−E)/q: a Metropolis–Hastings step that leaves exp(−E) invariant."""
        if current is None or current.shape[0] != n:  # no chains to keep (or another batch size): all new
            return self.flow.sample(n), torch.ones(n, dtype=torch.bool, device=module_device(self))
        z = torch.randn_like(current)
        x_new, logdet = self.flow.forward(z)
        log_q_new = standard_normal_log_prob(z, self.event_shape) - logdet  # log q(g(z)) = log N(z) − log|∂g/∂z|
        log_ratio = self._log_weight(x_new, log_q_new) - self._log_weight(current)
        accept = torch.rand_like(log_ratio).log() < log_ratio  # NaN ratios reject
        return torch.where(accept.view(-1, *[1] * len(self.event_shape)), x_new, current), accept

    @torch.no_grad()
    def synthesize(self, n: int, steps: int | None = None, rounds: int = 1) -> tuple[Tensor, Tensor]:
        """(x̂, x̃): the chain starts and their Langevin revisions (``steps``, default the sampler's), each
        ``(n, *event_shape)``; ``rounds`` > 1 repeats proposal (independence MH) and revision from x̃."""
        x = None
        for _ in range(rounds):
            x_start = self.propose(n, x)[0]
            x = self.sampler.sample(self.log_density, x_start, steps=steps)
        return x_start, x

    def sample(self, n: int, steps: int | None = None) -> Tensor:
        """Revised samples ``(n, *event_shape)``; ``steps`` defaults to ``sample_steps`` (else the sampler's), in
        ``sample_rounds`` rounds."""
        return self.synthesize(n, steps if steps is not None else self.sample_steps, self.sample_rounds)[1]

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        groups = {"energy": trainable(self.energy)}
        if self.learns_flow:
            groups["flow"] = trainable(self.flow)
        return groups

    def _resize_chains(self, module, state_dict, prefix, *args) -> None:
        saved = state_dict.get(prefix + "chains")
        if saved is not None:
            self.chains = self.chains.new_empty(saved.shape)

    def losses(self, batch: Tensor) -> dict[str, Tensor]:
        x_start, accepted = self.propose(batch.shape[0], self.chains if self.independence_mh else None)
        x_revised = self.sampler.sample(self.log_density, x_start)
        if self.independence_mh:
            self.chains, self.acceptance = x_revised.detach(), accepted.float().mean().item()
        out = {"energy": ebm_loss(self.energy, batch, x_revised, self.energy_reg)}
        if self.learns_flow:
            step = int(self.updates)
            if step >= self.flow_frozen_steps and step % self.flow_every == 0:
                x_fit = x_revised + self.flow_noise * torch.randn_like(x_revised) if self.flow_noise else x_revised
                out["flow"] = self.flow.fit_loss(x_fit)  # NLL of the revised samples
            else:
                out["flow"] = batch.new_zeros(())  # no update this step
        self.updates += 1
        return out

    def prepare(self, x: Tensor) -> None:
        """ActNorm data initialisation of a fresh flow (a pretrained one, CoopFlow(Pre), keeps its weights)."""
        if self.learns_flow and not self.pretrained_flow and hasattr(self.flow, "data_init") and int(self.updates) == 0:
            self.flow.data_init(x)

    def log_density_on_box(self, x: Tensor) -> Tensor:
        """−E(x) inside the sampler's ``bounds``, −inf outside: the density clamped chains sample, ``(B,)``."""
        lo, hi = self.sampler.bounds
        inside = ((x >= lo) & (x <= hi)).flatten(1).all(-1)
        return torch.where(inside, -self.energy(x), -math.inf)

    def densities(self) -> dict[str, Density]:
        """The EBM's exp(−E) (unnormalised) and, when the initialiser is a flow, the flow's exact density.

        With the sampler's ``bounds`` (chains clamped to a box) the EBM is exp(−E) on that box, −inf outside, and
        its AIS start is uniform on the box; the 2-D quadrature box then covers it. Else the start is the
        initialiser: the flow or the noise."""
        out = {"flow": Density(self.flow.log_prob, True)} if isinstance(self.flow, Flow) else {}
        bounds = getattr(self.sampler, "bounds", None)
        if bounds is not None:
            device, dtype = module_device_dtype(self.energy)
            start = box_uniform(self.event_shape, *bounds, torch.zeros((), device=device, dtype=dtype))
            ebm = Density(self.log_density_on_box, False, start)
        else:
            start = self.flow if isinstance(self.flow, Flow) else self.flow.distribution()
            ebm = Density(self.log_density, False, start)
        return {"ebm": ebm, **out}

    def metrics(self, x: Tensor) -> dict[str, float]:
        out = {"energy_data": self.energy(x).mean().item()}
        if isinstance(self.flow, Flow):
            out["flow_nll"] = -self.flow.log_prob(x).mean().item()
        if self.independence_mh:
            out["mh_acceptance"] = self.acceptance
        return out

    # -- the two flows as a latent variable model: x = F(g(z), e) ------------------------------------------------
    def _langevin_map(self, x_hat: Tensor, noise: Tensor | None) -> Tensor:
        run = getattr(self.sampler, "run", None)
        if run is None:
            raise TypeError(f"reconstruction needs a sampler with a differentiable run (Langevin), "
                            f"not {type(self.sampler).__name__}")
        return run(self.log_density, x_hat, noise=noise, differentiable=True).x

    def _fixed_noise(self, shape: tuple[int, ...], seed: int) -> Tensor | None:
        steps, level = getattr(self.sampler, "steps", 0), getattr(self.sampler, "noise", 0.0)
        if not level:
            return None
        g = torch.Generator().manual_seed(seed)
        return torch.randn((steps, *shape), generator=g).to(module_device(self))

    @torch.enable_grad()  # gradient descent on z, also when called under torch.no_grad()
    def infer(self, x: Tensor, mask: Tensor | None = None, *, iters: int = 100, lr: float = 0.05,
              seed: int = 0) -> tuple[Tensor, Tensor]:
        """z minimising ‖m ⊙ (x − F(g(z), e))‖² by Adam from z ~ N(0, I), e fixed by ``seed``; returns (z, F(g(z), e)).

        ``mask`` (1 = observed, broadcastable to x) restricts the loss to observed entries (inpainting).
        """
        if not isinstance(self.flow, Flow):
            raise TypeError("reconstruction needs a normalizing flow as the initialiser (it has a latent z)")
        g = torch.Generator().manual_seed(seed + 1)
        z = torch.randn(x.shape, generator=g).to(x).requires_grad_(True)
        noise = self._fixed_noise(tuple(x.shape), seed)
        opt = torch.optim.Adam([z], lr=lr)
        mask = torch.ones_like(x) if mask is None else mask.to(x).expand_as(x)
        with frozen_parameters(self):
            for _ in range(iters):
                x_rec = self._langevin_map(self.flow.decode(z), noise)
                loss = ((x - x_rec) * mask).flatten(1).square().sum(-1).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            with torch.enable_grad():
                x_rec = self._langevin_map(self.flow.decode(z), noise)
        return z.detach(), x_rec.detach()

    def reconstruct(self, x: Tensor, **kw) -> Tensor:
        """F(g(ẑ), e) for the inferred ẑ: ``(B, *event) -> (B, *event)``."""
        return self.infer(x, **kw)[1]

    def inpaint(self, x: Tensor, mask: Tensor, n_init: int = 4, **kw) -> Tensor:
        """Completions from ``n_init`` initialisations, fitting observed entries only: ``(n_init, B, *event)``."""
        seed = kw.pop("seed", 0)
        return torch.stack([self.infer(x, mask, seed=seed + 7919 * i, **kw)[1] for i in range(n_init)])

    def interpolate(self, x_a: Tensor, x_b: Tensor, n: int = 8, seed: int = 0, **kw) -> Tensor:
        """Reconstruct both ends, interpolate z linearly, map back through both flows: ``(n, B, *event)``."""
        z_a, _ = self.infer(x_a, seed=seed, **kw)
        z_b, _ = self.infer(x_b, seed=seed, **kw)
        noise = self._fixed_noise(tuple(x_a.shape), seed)
        out = []
        with frozen_parameters(self):
            for t in torch.linspace(0, 1, n):
                x_hat = self.flow.decode(torch.lerp(z_a, z_b, t.item()))
                out.append(self.sampler.run(self.log_density, x_hat, noise=noise).x)
        return torch.stack(out)


# -- registered factory ---------------------------------------------------------------------------------------------


def coopflow_model(
    event_shape: Shape = (2,),
    energy: PartRef | None = None,
    flow: PartRef | None = None,
    sampler: PartRef = PartRef(name="langevin", steps=30, step_size=0.03, noise=0.0, clip=0.1),
    init: Literal["flow", "gaussian", "uniform"] = "flow",
    init_scale: Annotated[float, Field(gt=0)] = 1.0,
    flow_run: str | None = None,
    flow_every: Annotated[int, Field(ge=1)] = 1,
    flow_frozen_steps: Annotated[int, Field(ge=0)] = 0,
    energy_reg: Annotated[float, Field(ge=0)] = 0.0,
    sample_steps: Annotated[int, Field(ge=0)] | None = None,
    flow_noise: Annotated[float, Field(ge=0)] = 0.0,
    independence_mh: bool = False,
    sample_rounds: Annotated[int, Field(ge=1)] = 1,
) -> CoopFlow:
    """CoopFlow; ``init="gaussian"|"uniform"`` replaces the flow by fixed noise (the short-run EBM);
    ``flow_run`` loads the flow of a finished ``flow`` run (CoopFlow(Pre)). Energy and flow default to ``mlp`` /
    ``realnvp`` for vectors and ``conv`` / ``glow`` for images. The sampler defaults to the reference code's
    setting (30 steps, s = 0.03, no noise, drift clipped to ±0.1); ``sample_steps`` lengthens the revision when
    sampling (training keeps the sampler's steps); ``independence_mh`` keeps persistent chains that take the flow's
    proposals by independence Metropolis–Hastings (see :class:`CoopFlow`)."""
    energy_part = build_part("energy", default_part(energy, event_shape), event_shape)
    if init != "flow":
        initializer: Flow | NoiseInitializer = NoiseInitializer(event_shape, init, init_scale)
    elif flow_run is not None:
        from gencoop.train.runs import load_run

        base = load_run(flow_run).model
        initializer = getattr(base, "flow", base)
        if not isinstance(initializer, Flow) or tuple(initializer.event_shape) != tuple(event_shape):
            raise ValueError(f"flow_run: {flow_run} holds no flow on events of shape {tuple(event_shape)}")
    else:
        initializer = build_part("flow", default_part(flow, event_shape, "realnvp", "glow"), event_shape)
    return CoopFlow(energy_part, initializer, build_part("sampler", sampler), flow_every=flow_every,
                    flow_frozen_steps=flow_frozen_steps, energy_reg=energy_reg, pretrained_flow=flow_run is not None,
                    sample_steps=sample_steps, flow_noise=flow_noise, independence_mh=independence_mh,
                    sample_rounds=sample_rounds)


@hookimpl
def register_components(register) -> None:
    register("model", "coopflow", coopflow_model,
             summary="CoopFlow: flow proposes, Langevin revises toward the EBM; init=noise gives the short-run EBM",
             example={"event_shape": (2,), "energy": {"name": "mlp", "hidden": (8,)},
                      "flow": {"name": "realnvp", "num_layers": 2, "hidden": 8},
                      "sampler": {"name": "langevin", "steps": 3}})
