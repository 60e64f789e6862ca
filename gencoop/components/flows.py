"""Normalizing flows built from nflows transforms (wrapped, not forked).

nflows' transforms map data to noise; gencoop's Flow generates (x = g(z)). :class:`NflowsFlow` therefore uses the
wrapped transform's ``inverse`` for ``forward`` and vice versa, and each direction returns the log-det of its own
Jacobian (gencoop's single convention). The latent z always has the event's shape: a multi-scale transform's flat
output is reshaped, which is a fixed permutation of coordinates and keeps the base N(0, I).

ActNorm layers are marked initialised at construction so that no call silently re-initialises them from a batch;
:meth:`NflowsFlow.data_init` does Glow's data-dependent initialisation on purpose.
"""

from __future__ import annotations

import math
import warnings
from typing import Annotated, Literal

import torch
from nflows import transforms as T
from pydantic import Field
from torch import Tensor

from gencoop.components.nets import Activation, conv_net, mlp
from gencoop.hookspecs import hookimpl
from gencoop.interfaces import Flow, Shape

# nflows 0.14's LU layers call the deprecated torch.triangular_solve; the results are right.
warnings.filterwarnings("ignore", message="torch.triangular_solve is deprecated", category=UserWarning)

Dim = Annotated[int, Field(ge=2, description="event size (coupling needs at least 2)")]
Positive = Annotated[int, Field(ge=1)]


class NflowsFlow(Flow):
    """A gencoop Flow around an nflows ``Transform`` that maps data (``event_shape``) to noise."""

    def __init__(self, transform: T.Transform, event_shape: Shape):
        super().__init__()
        self.transform = transform
        self.event_shape = tuple(event_shape)
        for m in self.modules():
            if isinstance(m, T.ActNorm):
                m.initialized.fill_(True)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        b = z.shape[0]
        x, logdet = self.transform.inverse(z.reshape(b, *self._noise_shape()))
        return x.reshape(b, *self.event_shape), logdet

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        b = x.shape[0]
        z, logdet = self.transform(x)
        return z.reshape(b, *self.event_shape), logdet

    def _noise_shape(self) -> Shape:
        # a multi-scale transform emits (and takes back) flat noise; every other transform keeps the shape
        if isinstance(self.transform, T.MultiscaleCompositeTransform):
            return (math.prod(self.event_shape),)
        return self.event_shape

    @torch.no_grad()
    def data_init(self, x: Tensor) -> None:
        """Data-dependent ActNorm initialisation (Glow): each ActNorm standardises its input on batch ``x``."""
        actnorms = [m for m in self.modules() if isinstance(m, T.ActNorm)]
        was_training = self.training
        for m in actnorms:
            m.initialized.fill_(False)
        self.train()
        try:
            self.inverse(x)
        finally:
            self.train(was_training)
            for m in actnorms:
                m.initialized.fill_(True)


def _alternating_mask(features: int, parity: int) -> Tensor:
    return (torch.arange(features) + parity) % 2


def _invertible_linear(dim: int, kind: str) -> T.Transform:
    return T.LULinear(dim, identity_init=True) if kind == "lu" else T.ReversePermutation(dim)


class RealNVP(NflowsFlow):
    """Affine coupling flow for vectors: ``num_layers`` × [ActNorm, invertible linear, affine coupling].

    With ``zero_init=True`` each coupling network's last layer starts at zero: this is LFBM's latent prior flow
    (ActNorm + invertible linear + affine coupling with a zero-initialised MLP of width 64, 5 layers).
    """

    def __init__(
        self,
        dim: Dim = 2,
        num_layers: Positive = 4,
        hidden: Positive = 64,
        depth: Positive = 2,
        activation: Activation = "relu",
        actnorm: bool = True,
        linear: Literal["lu", "permutation"] = "lu",
        zero_init: bool = False,
    ):
        layers: list[T.Transform] = []
        for i in range(num_layers):
            if actnorm:
                layers.append(T.ActNorm(dim))
            layers.append(_invertible_linear(dim, linear))
            layers.append(
                T.AffineCouplingTransform(
                    _alternating_mask(dim, i),
                    lambda i_, o_: mlp(i_, o_, [hidden] * depth, activation, zero_last=zero_init),
                )
            )
        super().__init__(T.CompositeTransform(layers), (dim,))


class MAF(NflowsFlow):
    """Masked autoregressive flow: ``num_layers`` × [masked affine autoregressive (MADE), reverse permutation]."""

    def __init__(
        self,
        dim: Dim = 2,
        num_layers: Positive = 5,
        hidden: Positive = 64,
        num_blocks: Positive = 2,
    ):
        layers: list[T.Transform] = []
        for _ in range(num_layers):
            layers.append(
                T.MaskedAffineAutoregressiveTransform(
                    features=dim, hidden_features=hidden, num_blocks=num_blocks, use_residual_blocks=True
                )
            )
            layers.append(T.ReversePermutation(dim))
        super().__init__(T.CompositeTransform(layers), (dim,))


class NSF(NflowsFlow):
    """Neural spline flow: ``num_layers`` × [invertible linear, rational-quadratic spline coupling].

    Inside ``[-tail_bound, tail_bound]`` each coupled coordinate goes through a monotone rational-quadratic spline
    of ``num_bins`` bins; outside it the map is the identity (linear tails).
    """

    def __init__(
        self,
        dim: Dim = 2,
        num_layers: Positive = 4,
        hidden: Positive = 64,
        depth: Positive = 2,
        num_bins: Positive = 8,
        tail_bound: Annotated[float, Field(gt=0)] = 4.0,
        activation: Activation = "relu",
        linear: Literal["lu", "permutation"] = "lu",
    ):
        layers: list[T.Transform] = []
        for i in range(num_layers):
            layers.append(_invertible_linear(dim, linear))
            layers.append(
                T.PiecewiseRationalQuadraticCouplingTransform(
                    _alternating_mask(dim, i),
                    lambda i_, o_: mlp(i_, o_, [hidden] * depth, activation, zero_last=True),
                    num_bins=num_bins,
                    tails="linear",
                    tail_bound=tail_bound,
                )
            )
        super().__init__(T.CompositeTransform(layers), (dim,))


class Glow(NflowsFlow):
    """Multi-scale Glow for images ``(C, H, W)``.

    Each level: squeeze (C, H, W) → (4C, H/2, W/2), then ``steps_per_level`` × [ActNorm, invertible 1×1
    convolution, affine coupling with a conv net]; then half of the channels is factored out to the base.
    ``levels`` is capped by how often H and W halve (1×28×28 allows 2, 3×32×32 allows 5).
    """

    def __init__(
        self,
        shape: tuple[int, int, int] = (1, 28, 28),
        levels: Positive = 3,
        steps_per_level: Positive = 4,
        hidden_channels: Positive = 64,
        activation: Activation = "relu",
    ):
        c, h, w = shape
        possible = 0
        while h % 2 ** (possible + 1) == 0 and w % 2 ** (possible + 1) == 0:
            possible += 1
        if possible == 0:
            raise ValueError(f"shape: Glow needs even height and width, got {tuple(shape)}")
        levels = min(levels, possible)
        multiscale = T.MultiscaleCompositeTransform(levels, split_dim=1)
        for _ in range(levels):
            c, h, w = 4 * c, h // 2, w // 2
            steps: list[T.Transform] = [T.SqueezeTransform()]
            for k in range(steps_per_level):
                steps += [
                    T.ActNorm(c),
                    T.OneByOneConvolution(c, identity_init=True),
                    T.AffineCouplingTransform(
                        _alternating_mask(c, k),
                        lambda i_, o_: conv_net(i_, o_, hidden_channels, activation, zero_last=True),
                    ),
                ]
            next_shape = multiscale.add_transform(T.CompositeTransform(steps), (c, h, w))
            if next_shape is not None:
                c, h, w = next_shape
        super().__init__(multiscale, tuple(shape))
        self.levels = levels


@hookimpl
def register_components(register) -> None:
    register("flow", "realnvp", RealNVP, summary="Affine coupling + ActNorm + LU linear (vectors)",
             example={"dim": 3, "num_layers": 2, "hidden": 8})
    register("flow", "maf", MAF, summary="Masked affine autoregressive flow (vectors)",
             example={"dim": 3, "num_layers": 2, "hidden": 8})
    register("flow", "nsf", NSF, summary="Rational-quadratic spline coupling flow (vectors)",
             example={"dim": 3, "num_layers": 2, "hidden": 8, "num_bins": 4})
    register("flow", "glow", Glow, summary="Multi-scale Glow: squeeze, ActNorm, 1x1 conv, affine coupling (images)",
             example={"shape": (1, 4, 4), "levels": 2, "steps_per_level": 1, "hidden_channels": 4})
