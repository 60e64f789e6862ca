"""The five part interfaces (plus the encoder used for amortised inference).

Conventions kept by every part (DESIGN.md, "The math in one place"):

* Batches come first: a tensor of events has shape ``(B, *event_shape)``; per-sample scalars have shape ``(B,)``.
* Parts keep the dtype and device of their inputs and are batch-independent: row ``i`` of an output depends only
  on row ``i`` of the input.
* An :class:`Energy` returns E(x); the model density is p(x) ∝ exp(−E(x)) (the papers' f(x) is −E(x)).
* A :class:`Flow` generates: ``forward(z) -> (x, log|det ∂x/∂z|)`` with z ~ N(0, I) of the same shape as x;
  ``inverse(x) -> (z, log|det ∂z/∂x|)``. There is one log-det convention: each direction returns the log-det of
  its own Jacobian, so the two cancel.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

Shape = tuple[int, ...]
LogDensity = Callable[[Tensor], Tensor]
"""Any callable mapping a batch ``(B, *event_shape)`` to log-densities ``(B,)``, normalised or not."""


def sum_event(t: Tensor, event_shape: Shape) -> Tensor:
    """Sum a ``(B, *event_shape)`` tensor over its event dimensions, giving ``(B,)``."""
    return t.flatten(start_dim=t.dim() - len(event_shape)).sum(-1) if event_shape else t


def standard_normal_log_prob(z: Tensor, event_shape: Shape) -> Tensor:
    """log N(z; 0, I) summed over the event: ``(B, *event_shape) -> (B,)``."""
    d = math.prod(event_shape)
    return -0.5 * sum_event(z.square(), event_shape) - 0.5 * d * math.log(2 * math.pi)


def module_device_dtype(module: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Where a module lives: its first parameter's device and dtype, else its first floating buffer's, else the
    CPU and the default dtype."""
    for t in module.parameters():
        return t.device, t.dtype
    for t in module.buffers():
        if t.is_floating_point():
            return t.device, t.dtype
    return torch.device("cpu"), torch.get_default_dtype()


def module_device(module: nn.Module) -> torch.device:
    """The device of :func:`module_device_dtype`."""
    return module_device_dtype(module)[0]


class Energy(nn.Module, abc.ABC):
    """Scalar energy E(x) on ``event_shape``; the model is p(x) ∝ exp(−E(x)).

    ``forward(x: (B, *event_shape)) -> (B,)``.
    """

    event_shape: Shape

    @abc.abstractmethod
    def forward(self, x: Tensor) -> Tensor: ...


class Sampler(nn.Module, abc.ABC):
    """MCMC toward any differentiable log-density ℓ.

    ``sample(log_density, x0: (B, *event_shape), *, steps=None, generator=None) -> (B, *event_shape)``, detached.
    ``log_density`` maps ``(B, *event_shape) -> (B,)``; ``steps=None`` uses the sampler's own default.
    """

    @abc.abstractmethod
    def sample(
        self,
        log_density: LogDensity,
        x0: Tensor,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor: ...


class Prior(nn.Module, abc.ABC):
    """A distribution over latents ``latent_shape`` that can learn from posterior samples.

    * ``log_prob(z: (B, *latent_shape)) -> (B,)``; unnormalised when ``normalized`` is False.
    * ``sample(n, generator=None) -> (n, *latent_shape)``.
    * ``fit_loss(z) -> ()``: a scalar whose gradient w.r.t. the prior's parameters is the (negated) MLE gradient
      given posterior samples z. A prior without parameters returns a zero that needs no gradient.
    """

    latent_shape: Shape
    normalized: bool = True

    @abc.abstractmethod
    def log_prob(self, z: Tensor) -> Tensor: ...

    @abc.abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor: ...

    def fit_loss(self, z: Tensor) -> Tensor:
        """Negative log-likelihood of ``z`` (mean over the batch); energy-based priors override this."""
        return -self.log_prob(z).mean()


class StandardNormal(Prior):
    """N(0, I) on ``latent_shape``, parameter-free: a Flow's base. The registered ``gaussian`` prior
    (:class:`gencoop.components.priors.GaussianPrior`) adds a learnable mean and scale."""

    def __init__(self, latent_shape: Shape):
        super().__init__()
        self.latent_shape = tuple(latent_shape)
        self.register_buffer("_ref", torch.zeros(()), persistent=False)  # follows .to(device, dtype)

    def log_prob(self, z: Tensor) -> Tensor:
        return standard_normal_log_prob(z, self.latent_shape)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.randn((n, *self.latent_shape), generator=generator, device=self._ref.device,
                           dtype=self._ref.dtype)

    def fit_loss(self, z: Tensor) -> Tensor:
        return z.new_zeros(())  # nothing to learn


class Flow(Prior):
    """Bijection x = g(z) with a standard-normal base z ~ N(0, I) and ``z.shape == x.shape``.

    * ``forward(z) -> (x, logdet)`` with logdet = log|det ∂g/∂z|, shape ``(B,)``.
    * ``inverse(x) -> (z, logdet)`` with logdet = log|det ∂g⁻¹/∂x|, shape ``(B,)``.
    * ``log_prob(x) = log N(g⁻¹(x); 0, I) + log|det ∂g⁻¹/∂x|``.

    A Flow is also a :class:`Prior` (exact ``log_prob``; ``fit_loss`` is the NLL) and a generator: its ``prior`` is
    N(0, I) on ``latent_shape == event_shape`` and ``decode(z)`` is ``forward(z)[0]``.
    """

    event_shape: Shape

    @property
    def latent_shape(self) -> Shape:  # type: ignore[override]
        return self.event_shape

    @abc.abstractmethod
    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]: ...

    @abc.abstractmethod
    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]: ...

    def log_prob(self, x: Tensor) -> Tensor:
        z, logdet = self.inverse(x)
        return standard_normal_log_prob(z, self.event_shape) + logdet

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        device, dtype = module_device_dtype(self)
        z = torch.randn((n, *self.event_shape), generator=generator, device=device, dtype=dtype)
        return self.forward(z)[0]

    # -- a flow as a generator ---------------------------------------------------------------------------------
    @property
    def prior(self) -> Prior:
        """The base distribution N(0, I) on ``event_shape``: a :class:`StandardNormal`."""
        device, dtype = module_device_dtype(self)
        cache = self.__dict__.setdefault("_priors", {})  # one per (device, dtype), not a submodule: a new one per
        if (device, dtype) not in cache:  # call would copy host memory, which breaks CUDA graph capture
            cache[(device, dtype)] = StandardNormal(self.event_shape).to(device=device, dtype=dtype)
        return cache[(device, dtype)]

    def decode(self, z: Tensor) -> Tensor:
        return self.forward(z)[0]


class Decoder(nn.Module, abc.ABC):
    """Top-down map ``forward(z: (B, *latent_shape)) -> x: (B, *event_shape)``."""

    latent_shape: Shape
    event_shape: Shape

    @abc.abstractmethod
    def forward(self, z: Tensor) -> Tensor: ...


class Encoder(nn.Module, abc.ABC):
    """Amortised Gaussian posterior q(z|x) = N(mean, diag(exp(log_std))²).

    ``forward(x: (B, *event_shape)) -> (mean, log_std)``, each ``(B, *latent_shape)``.
    """

    latent_shape: Shape
    event_shape: Shape

    @abc.abstractmethod
    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]: ...


@runtime_checkable
class Generator(Protocol):
    """Anything with a latent prior and a decoder: a Flow, a VAE, a GLF, a trained latent variable model."""

    prior: Prior
    latent_shape: Shape

    def decode(self, z: Tensor) -> Tensor: ...


__all__ = [
    "Shape",
    "LogDensity",
    "Energy",
    "Flow",
    "Decoder",
    "Encoder",
    "Prior",
    "Sampler",
    "Generator",
    "sum_event",
    "standard_normal_log_prob",
]
