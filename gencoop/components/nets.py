"""Small network builders shared by every built-in part (one MLP, one activation table)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from torch import Tensor, nn

Activation = Literal["relu", "leaky_relu", "elu", "silu", "gelu", "tanh", "softplus"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "silu": nn.SiLU,  # swish
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
}


class Net(nn.Sequential):
    """A Sequential that ignores nflows' ``context`` argument (gencoop's flows are unconditional)."""

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        return super().forward(x)


def make_activation(name: str) -> nn.Module:
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2)
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(_ACTIVATIONS)}") from None


def mlp(
    in_features: int,
    out_features: int,
    hidden: Sequence[int],
    act: str = "silu",
    zero_last: bool = False,
) -> Net:
    """Linear → act → … → Linear. ``zero_last`` zero-initialises the output layer (identity couplings)."""
    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), make_activation(act)]
        width = h
    last = nn.Linear(width, out_features)
    if zero_last:
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
    layers.append(last)
    net = Net(*layers)
    net.hidden_features = width  # nflows' spline couplings scale their softmax inputs by √hidden_features
    return net


def conv_net(in_channels: int, out_channels: int, hidden: int, act: str = "relu", zero_last: bool = True) -> Net:
    """3×3 → act → 1×1 → act → 3×3 (Glow's coupling network); the last conv zero-initialised by default."""
    last = nn.Conv2d(hidden, out_channels, 3, padding=1)
    if zero_last:
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
    return Net(
        nn.Conv2d(in_channels, hidden, 3, padding=1),
        make_activation(act),
        nn.Conv2d(hidden, hidden, 1),
        make_activation(act),
        last,
    )
