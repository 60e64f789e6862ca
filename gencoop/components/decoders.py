"""Built-in decoders (latent → data) and encoders (data → Gaussian posterior over the latent)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field
from torch import Tensor, nn

from gencoop.components.nets import Activation, make_activation, mlp
from gencoop.hookspecs import hookimpl
from gencoop.interfaces import Decoder, Encoder

Positive = Annotated[int, Field(ge=1)]
Output = Literal["identity", "tanh"]


def _output(kind: str) -> nn.Module:
    return nn.Tanh() if kind == "tanh" else nn.Identity()


class MLPDecoder(Decoder):
    """x = MLP(z): ``(B, latent_dim) -> (B, dim)``; ``output="tanh"`` keeps x in (−1, 1)."""

    def __init__(
        self,
        latent_dim: Positive = 2,
        dim: Positive = 2,
        hidden: Sequence[int] = (128, 128),
        activation: Activation = "gelu",
        output: Output = "identity",
    ):
        super().__init__()
        self.latent_shape, self.event_shape = (latent_dim,), (dim,)
        self.net = nn.Sequential(mlp(latent_dim, dim, hidden, activation), _output(output))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class MLPEncoder(Encoder):
    """q(z|x) = N(mean, diag(exp(log_std))²) with [mean, log_std] = MLP(x): ``(B, dim) -> 2 × (B, latent_dim)``."""

    def __init__(
        self,
        dim: Positive = 2,
        latent_dim: Positive = 2,
        hidden: Sequence[int] = (128, 128),
        activation: Activation = "gelu",
    ):
        super().__init__()
        self.latent_shape, self.event_shape = (latent_dim,), (dim,)
        self.net = mlp(dim, 2 * latent_dim, hidden, activation)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_std = self.net(x).chunk(2, dim=-1)
        return mean, log_std


def _halvings(h: int, w: int, most: int = 3) -> int:
    """How many times (≤ most) the spatial size halves exactly while staying ≥ 2 (28 → 2, 32 → 3, 8 → 2)."""
    n = 0
    while n < most and h % 2 ** (n + 1) == 0 and w % 2 ** (n + 1) == 0 and min(h, w) // 2 ** (n + 1) >= 2:
        n += 1
    return n


class ConvDecoder(Decoder):
    """DCGAN-style decoder ``(B, latent_dim) -> (B, C, H, W)`` with tanh output.

    A linear layer to (4·ch, H/2ⁿ, W/2ⁿ), then n stride-2 transposed convs (4×4) halving channels, then a 3×3 conv
    to C channels. No batch norm, so samples stay batch-independent.
    """

    def __init__(
        self,
        latent_dim: Positive = 16,
        shape: tuple[int, int, int] = (1, 28, 28),
        channels: Positive = 32,
        activation: Activation = "leaky_relu",
        output: Output = "tanh",
    ):
        super().__init__()
        c, h, w = shape
        self.latent_shape, self.event_shape = (latent_dim,), tuple(shape)
        n = _halvings(h, w)
        width = channels * 2**n
        self.start = (width, h // 2**n, w // 2**n)
        self.fc = nn.Sequential(nn.Linear(latent_dim, math.prod(self.start)), make_activation(activation))
        ups: list[nn.Module] = []
        for _ in range(n):
            ups += [nn.ConvTranspose2d(width, width // 2, 4, stride=2, padding=1), make_activation(activation)]
            width //= 2
        self.ups = nn.Sequential(*ups, nn.Conv2d(width, c, 3, padding=1), _output(output))

    def forward(self, z: Tensor) -> Tensor:
        return self.ups(self.fc(z).view(z.shape[0], *self.start))


class ConvEncoder(Encoder):
    """Conv encoder ``(B, C, H, W) -> (mean, log_std)``, each ``(B, latent_dim)``: stride-2 4×4 convs, then linear."""

    def __init__(
        self,
        shape: tuple[int, int, int] = (1, 28, 28),
        latent_dim: Positive = 16,
        channels: Positive = 32,
        activation: Activation = "leaky_relu",
    ):
        super().__init__()
        c, h, w = shape
        self.latent_shape, self.event_shape = (latent_dim,), tuple(shape)
        n = _halvings(h, w)
        layers: list[nn.Module] = [nn.Conv2d(c, channels, 3, padding=1), make_activation(activation)]
        width = channels
        for _ in range(n):
            layers += [nn.Conv2d(width, width * 2, 4, stride=2, padding=1), make_activation(activation)]
            width *= 2
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(width * (h // 2**n) * (w // 2**n), 2 * latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_std = self.head(self.features(x)).chunk(2, dim=-1)
        return mean, log_std





@hookimpl
def register_components(register) -> None:
    register("decoder", "mlp", MLPDecoder, summary="MLP decoder (vectors)",
             example={"latent_dim": 2, "dim": 3, "hidden": (16,)})
    register("decoder", "conv", ConvDecoder, summary="DCGAN-style transposed-conv decoder, tanh output (images)",
             example={"latent_dim": 4, "shape": (1, 8, 8), "channels": 4})
    register("encoder", "mlp", MLPEncoder, summary="MLP Gaussian encoder (vectors)",
             example={"dim": 3, "latent_dim": 2, "hidden": (16,)})
    register("encoder", "conv", ConvEncoder, summary="Strided-conv Gaussian encoder (images)",
             example={"shape": (1, 8, 8), "latent_dim": 4, "channels": 4})
