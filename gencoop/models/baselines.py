"""The baselines the papers compare against, as compositions: flow alone, VAE, GLF, short-run EBM.

The first three are generators (``prior``, ``latent_shape``, ``decode``), so exponential tilting can take them as
its base. The short-run EBM is CoopFlow with a fixed noise initialiser (:mod:`gencoop.models.coopflow`).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from gencoop.components.priors import GaussianPrior
from gencoop.config import PartRef
from gencoop.hookspecs import hookimpl
from gencoop.interfaces import Decoder, Encoder, Flow, Prior, Shape
from gencoop.metrics.likelihood import reconstruction_mse
from gencoop.models.base import Density, Model, build_part, default_part, gaussian_log_likelihood, trainable
from gencoop.models.coopflow import CoopFlow, coopflow_model

Positive = Annotated[int, Field(ge=1)]


class FlowModel(Model):
    """A normalizing flow trained by maximum likelihood: loss {"flow": −log q(x)}."""

    def __init__(self, flow: Flow):
        super().__init__()
        self.flow = flow
        self.event_shape = tuple(flow.event_shape)

    # a generator: z ~ N(0, I), x = g(z)
    @property
    def prior(self) -> Prior:
        return self.flow.prior

    @property
    def latent_shape(self) -> Shape:
        return self.event_shape

    def decode(self, z: Tensor) -> Tensor:
        return self.flow.decode(z)

    def log_prob(self, x: Tensor) -> Tensor:
        return self.flow.log_prob(x)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"flow": trainable(self.flow)}

    def losses(self, batch: Tensor) -> dict[str, Tensor]:
        return {"flow": self.flow.fit_loss(batch)}

    def sample(self, n: int) -> Tensor:
        return self.flow.sample(n)

    def prepare(self, x: Tensor) -> None:
        if hasattr(self.flow, "data_init"):
            self.flow.data_init(x)

    def densities(self) -> dict[str, Density]:
        return {"flow": Density(self.flow.log_prob, True)}

    def metrics(self, x: Tensor) -> dict[str, float]:
        """Mean −log q(x) in nats, in model units (evaluation adds bits per pixel level for quantised images)."""
        return {"nll": -self.flow.log_prob(x).mean().item()}


class VAE(Model):
    """q(z|x) = N(μ(x), diag σ(x)²), p(z) = N(0, I), p(x|z) = N(G(z), σ_x² I); loss {"vae": −ELBO}.

    −ELBO(x) = −E_q[log p(x|z)] + KL(q(z|x) ‖ N(0, I)), one reparameterised sample, KL in closed form.
    """

    def __init__(self, encoder: Encoder, decoder: Decoder, sigma: float = 0.1):
        super().__init__()
        self.encoder, self.decoder, self.sigma = encoder, decoder, sigma
        self.event_shape = tuple(decoder.event_shape)
        self.latent_shape = tuple(decoder.latent_shape)
        self.prior = GaussianPrior(self.latent_shape)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def negative_elbo(self, x: Tensor) -> Tensor:
        mean, log_std = self.encoder(x)
        z = mean + log_std.exp() * torch.randn_like(mean)
        recon = -gaussian_log_likelihood(x, self.decoder(z), self.sigma)
        kl = 0.5 * (mean.square() + (2 * log_std).exp() - 2 * log_std - 1).flatten(1).sum(-1)
        return recon + kl

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"vae": trainable(self.encoder, self.decoder)}

    def losses(self, batch: Tensor) -> dict[str, Tensor]:
        return {"vae": self.negative_elbo(batch).mean()}

    def sample(self, n: int) -> Tensor:
        return self.decoder(self.prior.sample(n))

    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x)[0])

    @torch.no_grad()
    def log_marginal(self, x: Tensor, prior_log_prob=None, *, samples: int = 64, batch_size: int = 256) -> Tensor:
        """log p(x) ``(B,)`` by importance sampling with the encoder (the IWAE estimate, K = ``samples``):
        log (1/K) Σ_k p(z_k) N(x; G(z_k), σ²I) / q(z_k|x), z_k ~ q(z|x). ``prior_log_prob`` (normalised, ``(N,
        *latent) -> (N,)``) replaces N(0, I), e.g. a tilted prior. A lower bound on log p(x) in expectation, tight
        as K grows."""
        prior_log_prob = prior_log_prob or self.prior.log_prob
        out = []
        for xb in x.split(batch_size):
            mean, log_std = self.encoder(xb)
            eps = torch.randn((samples, *mean.shape), device=mean.device, dtype=mean.dtype)
            z = (mean + log_std.exp() * eps).flatten(0, 1)  # (K·B, *latent), sample-major
            x_rep = xb.expand(samples, *xb.shape).flatten(0, 1)
            log_q = (-0.5 * eps.square() - log_std - 0.5 * math.log(2 * math.pi)).flatten(2).sum(-1)  # (K, B)
            log_w = (prior_log_prob(z) + gaussian_log_likelihood(x_rep, self.decoder(z), self.sigma)).view(
                samples, -1) - log_q
            out.append(torch.logsumexp(log_w, 0) - math.log(samples))
        return torch.cat(out)

    def densities(self) -> dict[str, Density]:
        return {"vae": Density(self.log_marginal, True)}

    def metrics(self, x: Tensor) -> dict[str, float]:
        return {"elbo": -self.negative_elbo(x).mean().item(),
                "recon_mse": reconstruction_mse(x, self.reconstruct(x)).item()}


class GLF(Model):
    """Generative latent flow: a deterministic autoencoder and a flow prior on its latents, trained jointly.

    Losses: {"autoencoder": ‖x − G(E(x))‖² (mean over elements), "flow": −log q_flow(sg[E(x)])}; the flow's NLL does
    not reach the encoder (stop-gradient), which keeps the latents from shrinking toward a degenerate density.
    """

    def __init__(self, encoder: Encoder, decoder: Decoder, flow: Flow):
        super().__init__()
        self.encoder, self.decoder, self.flow = encoder, decoder, flow
        self.event_shape = tuple(decoder.event_shape)
        self.latent_shape = tuple(decoder.latent_shape)

    @property
    def prior(self) -> Prior:
        return self.flow

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)[0]

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"autoencoder": trainable(self.encoder, self.decoder), "flow": trainable(self.flow)}

    def losses(self, batch: Tensor) -> dict[str, Tensor]:
        z = self.encode(batch)
        return {"autoencoder": reconstruction_mse(batch, self.decoder(z)), "flow": self.flow.fit_loss(z.detach())}

    def sample(self, n: int) -> Tensor:
        return self.decoder(self.flow.sample(n))

    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decoder(self.encode(x))

    def metrics(self, x: Tensor) -> dict[str, float]:
        z = self.encode(x)
        return {"recon_mse": reconstruction_mse(x, self.decoder(z)).item(),
                "latent_nll": -self.flow.log_prob(z).mean().item()}


# -- registered factories: parts named by registry name, sizes filled from the data's event shape -------------------

def flow_model(event_shape: Shape = (2,), flow: PartRef = PartRef(name="realnvp")) -> FlowModel:
    return FlowModel(build_part("flow", flow, event_shape))


def _autoencoder(event_shape, latent_dim, encoder, decoder) -> tuple[Encoder, Decoder]:
    enc = build_part("encoder", default_part(encoder, event_shape), event_shape, latent_dim=latent_dim)
    dec = build_part("decoder", default_part(decoder, event_shape), event_shape, latent_dim=latent_dim)
    return enc, dec


def vae_model(event_shape: Shape = (2,), latent_dim: Positive = 2, encoder: PartRef | None = None,
              decoder: PartRef | None = None, sigma: Annotated[float, Field(gt=0)] = 0.1) -> VAE:
    """VAE; encoder/decoder default to ``mlp`` for vectors and ``conv`` for images."""
    return VAE(*_autoencoder(event_shape, latent_dim, encoder, decoder), sigma=sigma)


def glf_model(event_shape: Shape = (2,), latent_dim: Annotated[int, Field(ge=2)] = 2,
              encoder: PartRef | None = None, decoder: PartRef | None = None,
              flow: PartRef = PartRef(name="realnvp")) -> GLF:
    """GLF; encoder/decoder default to ``mlp`` for vectors and ``conv`` for images; the flow acts on the latent."""
    enc, dec = _autoencoder(event_shape, latent_dim, encoder, decoder)
    return GLF(enc, dec, build_part("flow", flow, (latent_dim,)))


def ebm_model(event_shape: Shape = (2,), energy: PartRef | None = None,
              sampler: PartRef = PartRef(name="langevin", steps=60, step_size=0.05),
              init: Literal["gaussian", "uniform"] = "gaussian", init_scale: Annotated[float, Field(gt=0)] = 1.0,
              energy_reg: Annotated[float, Field(ge=0)] = 0.0) -> CoopFlow:
    """Short-run EBM (Nijkamp et al.): CoopFlow with a fixed noise initialiser in place of the flow; the energy
    defaults to ``mlp`` for vectors and ``conv`` for images."""
    return coopflow_model(event_shape, energy=energy, sampler=sampler, init=init, init_scale=init_scale,
                          energy_reg=energy_reg)


@hookimpl
def register_components(register) -> None:
    register("model", "flow", flow_model, summary="Normalizing flow by maximum likelihood (a generator)",
             example={"event_shape": (2,), "flow": {"name": "realnvp", "num_layers": 2, "hidden": 8}})
    register("model", "vae", vae_model, summary="VAE: Gaussian encoder, decoder, N(0, I) prior (a generator)",
             example={"event_shape": (2,), "latent_dim": 2, "encoder": {"name": "mlp", "hidden": (8,)},
                      "decoder": {"name": "mlp", "hidden": (8,)}})
    register("model", "glf", glf_model, summary="Generative latent flow: autoencoder + flow prior (a generator)",
             example={"event_shape": (2,), "latent_dim": 2, "encoder": {"name": "mlp", "hidden": (8,)},
                      "decoder": {"name": "mlp", "hidden": (8,)}, "flow": {"name": "realnvp", "num_layers": 2}})
    register("model", "ebm", ebm_model, summary="Short-run EBM: Langevin from fixed noise (Nijkamp et al.)",
             example={"event_shape": (2,), "energy": {"name": "mlp", "hidden": (8,)},
                      "sampler": {"name": "langevin", "steps": 3}})
