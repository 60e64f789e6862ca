"""Built-in energies E(x) (p(x) ∝ exp(−E(x))): an MLP for vectors and a ConvNet for images."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated

from pydantic import Field
from torch import Tensor, nn

from gencoop.components.nets import Activation, make_activation, mlp
from gencoop.hookspecs import hookimpl
from gencoop.interfaces import Energy

Positive = Annotated[int, Field(ge=1)]


def ebm_loss(energy: Callable[[Tensor], Tensor], x_data: Tensor, x_model: Tensor, reg: float = 0.0) -> Tensor:
    """The maximum-likelihood loss of an energy E (any ``(B, *event) -> (B,)`` callable):
    E(x_data).mean() − E(x_model).mean() (+ reg·mean(E²) over both). Minimising it follows the MLE gradient
    ∇θL = E_data[−∇θE] − E_model[−∇θE]; x_model is detached."""
    e_data, e_model = energy(x_data), energy(x_model.detach())
    loss = e_data.mean() - e_model.mean()
    if reg:
        loss = loss + reg * (e_data.square().mean() + e_model.square().mean())
    return loss


class MLPEnergy(Energy):
    """E(x) = MLP(x) (+ ‖x‖²/(2·base_std²) with ``base_std``) for vectors ``(B, dim) -> (B,)``.

    The optional quadratic term is a Gaussian base measure: p(x) ∝ exp(−MLP(x))·N(x; 0, base_std² I). It keeps
    the density normalisable and stops Langevin chains from running off to where an MLP's energy falls linearly.
    ``bound`` is a base measure flat on the box [−bound, bound]^D (see :func:`box_penalty`).
    """

    def __init__(self, dim: Positive = 2, hidden: Sequence[int] = (128, 128), activation: Activation = "silu",
                 base_std: Annotated[float, Field(gt=0)] | None = None,
                 bound: Annotated[float, Field(gt=0)] | None = None):
        super().__init__()
        self.event_shape = (dim,)
        self.net = mlp(dim, 1, hidden, activation)
        self.base_std, self.bound = base_std, bound

    def forward(self, x: Tensor) -> Tensor:
        return _with_base(self.net(x).squeeze(-1), x, self.base_std, self.bound)


def box_penalty(x: Tensor, bound: float) -> Tensor:
    """‖(|x| − bound)₊‖² / (2·(0.1·bound)²), ``(B, *event) -> (B,)``: zero on the box [−bound, bound]^D, a Gaussian
    tail of std 0.1·bound outside it. As a base measure it leaves the energy's shape inside the data's range alone
    (a Gaussian one pulls every sample toward 0, e.g. images toward grey) and still stops chains leaving the box."""
    return (x.abs() - bound).clamp_min(0).flatten(1).square().sum(-1) / (2 * (0.1 * bound) ** 2)


def _with_base(e: Tensor, x: Tensor, base_std: float | None, bound: float | None = None) -> Tensor:
    """E(x) + ‖x‖²/(2·base_std²) (the Gaussian base measure N(0, base_std² I) that makes exp(−E) normalisable)
    + the box penalty of ``bound``; each only when set."""
    if base_std is not None:
        e = e + x.flatten(1).square().sum(-1) / (2 * base_std**2)
    return e if bound is None else e + box_penalty(x, bound)


class _ResDown(nn.Module):
    """h = conv3×3(act(conv3×3(x))) + conv1×1(x), then 2×2 average pooling."""

    def __init__(self, c_in: int, c_out: int, act: str):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1), make_activation(act), nn.Conv2d(c_out, c_out, 3, padding=1)
        )
        self.skip = nn.Conv2d(c_in, c_out, 1)
        self.act = make_activation(act)

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.avg_pool2d(self.act(self.body(x) + self.skip(x)), 2)


class ConvEnergy(Energy):
    """Short-run-EBM / CoopFlow style ConvNet energy for images ``(B, C, H, W) -> (B,)``.

    A 3×3 stem, ``blocks`` residual down-sampling blocks (channels doubling), then a 1×1 conv to one channel
    summed over positions: E(x) = Σ_ij h(x)_ij. No normalisation layers, so samples stay batch-independent.
    ``base_std`` adds ‖x‖²/(2·base_std²) (a Gaussian base measure): the energy then rises far from the data, so
    chains are not drawn to where a piecewise-linear net falls without bound. ``bound`` adds :func:`box_penalty`
    instead: flat on the pixel range [−bound, bound], rising outside it.
    """

    def __init__(
        self,
        shape: tuple[int, int, int] = (1, 28, 28),
        channels: Positive = 32,
        blocks: Positive = 3,
        activation: Activation = "leaky_relu",
        base_std: Annotated[float, Field(gt=0)] | None = None,
        bound: Annotated[float, Field(gt=0)] | None = None,
    ):
        super().__init__()
        self.base_std, self.bound = base_std, bound
        c, h, w = shape
        self.event_shape = tuple(shape)
        blocks = max(1, min(blocks, (min(h, w)).bit_length() - 2))  # keep at least 2×2 positions
        layers: list[nn.Module] = [nn.Conv2d(c, channels, 3, padding=1)]
        width = channels
        for i in range(blocks):
            layers.append(_ResDown(width, channels * 2 ** (i + 1), activation))
            width = channels * 2 ** (i + 1)
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(width, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return _with_base(self.head(self.features(x)).flatten(1).sum(-1), x, self.base_std, self.bound)


@hookimpl
def register_components(register) -> None:
    register("energy", "mlp", MLPEnergy, summary="MLP energy for vectors",
             example={"dim": 3, "hidden": (16, 16)})
    register("energy", "conv", ConvEnergy, summary="ConvNet energy with residual down-sampling (images)",
             example={"shape": (1, 8, 8), "channels": 4, "blocks": 2})
