"""A top-down latent variable model with an interchangeable prior (LFBM, LEBM, ABP) — one class for all three.

The model (DESIGN.md, "Latent variable model"):

    z ~ p_α(z),   x = g_β(z) + σ·ε,  ε ~ N(0, I)
    log p(x, z) = log p_α(z) + log N(x; g_β(z), σ² I)
                = log p_α(z) − ‖x − g_β(z)‖² / (2σ²) − D·log σ − (D/2)·log 2π

The prior is any :class:`~gencoop.interfaces.Prior`: a Flow gives LFBM, the energy-based prior exp(−E(z))·N(z; 0, I)
gives Pang et al.'s LEBM, N(0, I) gives ABP (Han et al.'s alternating back-propagation).

Learning is maximum likelihood: ∇ log p(x) = E_{p(z|x)}[∇ log p(x, z)], split by parameters:

    prior   α:  E_{p(z|x)}[∇α log p_α(z)]          → loss "prior"   = prior.fit_loss(z_post)
    decoder β:  E_{p(z|x)}[∇β log N(x; g_β(z), σ²I)] → loss "decoder" = −mean log p(x | z_post)

The posterior samples z_post come from the ``inference`` part:

* a :class:`~gencoop.interfaces.Sampler` (LFBM-MCMC): short-run Langevin on ℓ(z) = log p(x, z) started from
  z₀ ~ N(0, I) each time (``infer(x, z0=...)`` warm-starts it instead). The paper's step (ξ, √(2ξ)) is the
  sampler's s² = 2ξ.
* an :class:`~gencoop.interfaces.Encoder` q_φ(z|x) = N(μ(x), diag σ(x)²) (LFBM-VAE): z_post is one reparameterised
  draw. The encoder is its own parameter group, ``"encoder"``, with loss −ELBO(x) =
  −E_q[log p(x|z) + log p_α(z) − log q_φ(z|x)] (its own optimiser settings, ``train.groups.encoder``); the
  prior and decoder learn from its draws as above.

A group without trainable parameters (a fixed N(0, I) prior) is left out of ``parameter_groups`` and ``losses``.

Occluded data: hidden entries are NaN in the batch (:mod:`gencoop.data.occlusion`), or a ``mask`` is passed (1 =
observed). The likelihood then counts observed entries only, log N(x_obs; g(z)_obs, σ² I), in inference and in
learning alike, so the values behind the mask never matter.
"""

from __future__ import annotations

import functools
from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from gencoop.config import PartRef
from gencoop.data.occlusion import observed
from gencoop.hookspecs import hookimpl
from gencoop.interfaces import (
    Decoder,
    Encoder,
    Prior,
    Sampler,
    Shape,
    module_device,
    standard_normal_log_prob,
)
from gencoop.metrics.likelihood import reconstruction_mse
from gencoop.models.base import (
    Model,
    build_part,
    default_part,
    gaussian_log_likelihood,
    trainable,
)
from gencoop.samplers.common import records_trajectory


class LatentVariableModel(Model):
    """p(x, z) = p_α(z)·N(x; g_β(z), σ² I) with ``prior`` p_α, ``decoder`` g_β and ``inference`` (a Sampler for
    short-run posterior Langevin, or an Encoder for amortised inference); see the module doc for the losses.

    Shapes: x ``(B, *event_shape)``, z ``(B, *latent_shape)``; per-example scores ``(B,)``.
    """

    def __init__(self, prior: Prior, decoder: Decoder, inference: Sampler | Encoder, sigma: float = 0.3):
        super().__init__()
        if tuple(prior.latent_shape) != tuple(decoder.latent_shape):
            raise ValueError(f"prior: latent shape {tuple(prior.latent_shape)} differs from the decoder's "
                             f"{tuple(decoder.latent_shape)}; build both with the same latent_dim")
        if not isinstance(inference, (Sampler, Encoder)):
            raise TypeError(f"inference: expected a Sampler (posterior Langevin) or an Encoder (amortised), "
                            f"got {type(inference).__name__}")
        if isinstance(inference, Encoder) and (tuple(inference.latent_shape) != tuple(decoder.latent_shape)
                                               or tuple(inference.event_shape) != tuple(decoder.event_shape)):
            raise ValueError("inference: the encoder's latent_shape/event_shape must match the decoder's")
        if not sigma > 0:
            raise ValueError(f"sigma: the observation noise must be > 0, got {sigma}")
        self.prior, self.decoder, self.inference, self.sigma = prior, decoder, inference, float(sigma)
        self.event_shape: Shape = tuple(decoder.event_shape)
        self.latent_shape: Shape = tuple(decoder.latent_shape)

    @property
    def amortised(self) -> bool:
        """True when ``inference`` is an encoder (LFBM-VAE), False for posterior Langevin (LFBM-MCMC)."""
        return isinstance(self.inference, Encoder)

    # -- densities ------------------------------------------------------------------------------------------------
    def decode(self, z: Tensor) -> Tensor:
        """g_β(z): ``(B, *latent_shape) -> (B, *event_shape)``."""
        return self.decoder(z)

    def log_likelihood(self, x: Tensor, z: Tensor, mask: Tensor | None = None) -> Tensor:
        """log p_β(x | z) = log N(x_obs; g_β(z)_obs, σ² I): ``(B,)``; hidden entries (NaN or mask 0) are skipped."""
        x, mask = observed(x, mask)
        return gaussian_log_likelihood(x, self.decoder(z), self.sigma, mask)

    def log_joint(self, x: Tensor, z: Tensor, mask: Tensor | None = None) -> Tensor:
        """log p(x, z) = log p_α(z) + log p_β(x_obs | z): ``(B,)`` (unnormalised when the prior is)."""
        return self.prior.log_prob(z) + self.log_likelihood(x, z, mask)

    def _log_posterior(self, x: Tensor, mask: Tensor | None, z: Tensor) -> Tensor:
        # ℓ(z) = log p(z | x) + const = log p_α(z) + log N(x_obs; g(z)_obs, σ² I); x already filled, mask expanded
        return self.prior.log_prob(z) + gaussian_log_likelihood(x, self.decoder(z), self.sigma, mask)

    # -- inference ------------------------------------------------------------------------------------------------
    def _generator(self, seed: int | None) -> torch.Generator | None:
        if seed is None:
            return None
        return torch.Generator(device=module_device(self)).manual_seed(seed)

    def _chain_start(self, x: Tensor, z0: Tensor | None, g: torch.Generator | None) -> Tensor:
        """The posterior chain's start ``(B, *latent_shape)``: ``z0`` when given (warm start), else N(0, I)."""
        shape = (x.shape[0], *self.latent_shape)
        if z0 is None:
            return torch.randn(shape, generator=g, device=x.device, dtype=x.dtype)
        if tuple(z0.shape) != shape:
            raise ValueError(f"z0: expected shape {shape}, got {tuple(z0.shape)}")
        return z0

    def infer(self, x: Tensor, mask: Tensor | None = None, *, z0: Tensor | None = None, steps: int | None = None,
              seed: int | None = None) -> Tensor:
        """ẑ ``(B, *latent_shape)`` for ``x`` ``(B, *event_shape)``, detached, from the observed entries only
        (Langevin; an encoder sees the hidden entries as zeros).

        Langevin: K steps (``steps``, default the sampler's) on log p(x, z) from ``z0`` (default N(0, I): a fresh
        short run; pass the previous ẑ to warm-start). Encoder: the posterior mean μ(x) (``z0``, ``steps`` unused).
        ``seed`` makes z₀ and the chain's noise reproducible.
        """
        x, mask = observed(x, mask)
        if self.amortised:
            with torch.no_grad():
                return self.inference(x)[0]
        g = self._generator(seed)
        z0 = self._chain_start(x, z0, g)
        log_post = functools.partial(self._log_posterior, x, mask)
        return self.inference.sample(log_post, z0, steps=steps, generator=g)

    def posterior_chain(self, x: Tensor, mask: Tensor | None = None, *, z0: Tensor | None = None,
                        steps: int | None = None, seed: int | None = None, every: int = 1):
        """The posterior Langevin run with its trajectory ``(T, B, *latent)`` and per-chain diagnostics
        (:class:`~gencoop.samplers.langevin.LangevinResult`); needs a Langevin ``inference``."""
        if self.amortised or not records_trajectory(self.inference):
            raise TypeError("posterior_chain: needs a sampler that records trajectories (langevin) as inference")
        run = self.inference.run
        x, mask = observed(x, mask)
        g = self._generator(seed)
        z0 = self._chain_start(x, z0, g)
        return run(functools.partial(self._log_posterior, x, mask), z0, steps=steps, generator=g,
                   return_trajectory=every, diagnostics=True)

    # -- learning -------------------------------------------------------------------------------------------------
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        groups = {"decoder": trainable(self.decoder)}
        prior = trainable(self.prior)
        if prior:  # a fixed N(0, I) has nothing to learn: no group, no optimiser
            groups["prior"] = prior
        if self.amortised:
            groups["encoder"] = trainable(self.inference)
        return groups

    def losses(self, batch: Tensor, mask: Tensor | None = None) -> dict[str, Tensor]:
        """{"decoder": −mean log p(x_obs | z), "prior": prior.fit_loss(z) [learnable priors], "encoder": −ELBO
        [amortised]} with z drawn from the (approximate) posterior; hidden entries (NaN or mask 0) do not count.

        Amortised, the losses share one graph: back-propagate each into its own group with ``retain_graph=True``
        for all but the last (as the Trainer does)."""
        x, mask = observed(batch, mask)
        out: dict[str, Tensor] = {}
        if self.amortised:
            mean, log_std = self.inference(x)
            eps = torch.randn_like(mean)
            z = mean + log_std.exp() * eps  # z ~ q_φ(z|x), reparameterised
            log_lik = gaussian_log_likelihood(x, self.decoder(z), self.sigma, mask)
            # log q_φ(z|x) = log N(ε; 0, I) − Σ log σ_φ(x)
            log_q = standard_normal_log_prob(eps, self.latent_shape) - log_std.flatten(1).sum(-1)
            out["encoder"] = -(log_lik + self.prior.log_prob(z) - log_q).mean()  # −ELBO
            z_post = z.detach()
        else:
            z_post = self.infer(x, mask)
            log_lik = gaussian_log_likelihood(x, self.decoder(z_post), self.sigma, mask)
        out["decoder"] = -log_lik.mean()  # backward reaches the decoder's parameters only (its own group)
        if "prior" in self.parameter_groups():
            out["prior"] = self.prior.fit_loss(z_post)  # flow / learnable Gaussian: NLL; EBM: E(z_post) − E(z_prior)
        return out

    def sample(self, n: int) -> Tensor:
        """Ancestral samples g_β(z), z ~ p_α(z): ``(n, *event_shape)`` (the decoder's mean, no pixel noise)."""
        with torch.no_grad():
            z = self.prior.sample(n)
            return self.decoder(z)

    def metrics(self, x: Tensor) -> dict[str, float]:
        """Held-out reconstruction MSE (observed entries) and mean −log p(x, ẑ) at the inferred ẑ."""
        x_f, mask = observed(x)
        z = self.infer(x_f, mask, seed=0)
        with torch.no_grad():
            rec = self.decoder(z)
            mse = float(reconstruction_mse(x_f, rec, mask))
            nlj = float(-self.log_joint(x_f, z, mask).mean())
        return {"recon_mse": mse, "neg_log_joint": nlj}

    # -- tasks ----------------------------------------------------------------------------------------------------
    def reconstruct(self, x: Tensor, *, steps: int | None = None, seed: int | None = 0) -> Tensor:
        """g_β(ẑ) with ẑ inferred from ``x``: ``(B, *event) -> (B, *event)``."""
        z = self.infer(x, steps=steps, seed=seed)
        with torch.no_grad():
            return self.decoder(z)

    def recover(self, x: Tensor, mask: Tensor | None = None, *, steps: int | None = None,
                seed: int | None = 0) -> Tensor:
        """Occluded ``x`` (NaN or ``mask`` 0 where hidden) completed: m⊙x + (1 − m)⊙g_β(ẑ), ẑ inferred from the
        observed entries; ``(B, *event)``."""
        x_f, m = observed(x, mask)
        z = self.infer(x_f, m, steps=steps, seed=seed)
        with torch.no_grad():
            rec = self.decoder(z)
        return rec if m is None else m * x_f + (1 - m) * rec

    def inpaint(self, x: Tensor, mask: Tensor, n_init: int = 4, *, steps: int | None = None,
                seed: int | None = 0) -> Tensor:
        """``n_init`` completions of ``x`` from independent posterior runs on the observed entries (``mask`` 1):
        ``(n_init, B, *event)``, observed entries kept."""
        if n_init < 1:
            raise ValueError(f"n_init: needs at least one initialisation, got {n_init}")
        seeds = [None if seed is None else seed + 7919 * i for i in range(n_init)]
        return torch.stack([self.recover(x, mask, steps=steps, seed=s) for s in seeds])

    def anomaly_score(self, x: Tensor, mask: Tensor | None = None, *, steps: int | None = None,
                      seed: int | None = 0) -> Tensor:
        """−log p(x, ẑ) at the inferred ẑ: ``(B,)``; higher = more anomalous."""
        x_f, m = observed(x, mask)
        z = self.infer(x_f, m, steps=steps, seed=seed)
        with torch.no_grad():
            return -self.log_joint(x_f, z, m)


# -- registered factory ---------------------------------------------------------------------------------------------



def lvm_model(
    event_shape: Shape = (2,),
    latent_dim: Annotated[int, Field(ge=1)] = 2,
    prior: PartRef = PartRef(name="flow"),
    decoder: PartRef | None = None,
    inference: Literal["mcmc", "vae"] = "mcmc",
    sampler: PartRef = PartRef(name="langevin", steps=20, step_size=0.1),
    encoder: PartRef | None = None,
    sigma: Annotated[float, Field(gt=0)] = 0.3,
) -> LatentVariableModel:
    """Latent variable model: ``prior`` "flow" (LFBM), "ebm" (LEBM) or "gaussian" (ABP) on a ``latent_dim`` latent;
    ``inference`` "mcmc" (posterior Langevin with ``sampler``; the paper's s = 0.1, 20 steps) or "vae" (a jointly
    trained ``encoder``). Decoder and encoder default to ``mlp`` for vectors and ``conv`` for images."""
    prior_part = build_part("prior", prior, None, latent_dim=latent_dim, latent_shape=latent_dim)
    dec = build_part("decoder", default_part(decoder, event_shape), event_shape,
                     latent_dim=latent_dim)
    if inference == "vae":
        inf = build_part("encoder", default_part(encoder, event_shape), event_shape,
                         latent_dim=latent_dim)
    else:
        inf = build_part("sampler", sampler)
    return LatentVariableModel(prior_part, dec, inf, sigma)


@hookimpl
def register_components(register) -> None:
    register("model", "lvm", lvm_model,
             summary="Latent variable model g(z) + σε with a flow (LFBM), EBM (LEBM) or Gaussian (ABP) prior; "
                     "posterior Langevin or an encoder",
             example={"event_shape": (3,), "latent_dim": 2, "decoder": {"name": "mlp", "hidden": (8,)},
                      "prior": {"name": "flow", "flow_params": {"num_layers": 2, "hidden": 8}},
                      "sampler": {"name": "langevin", "steps": 3}})
