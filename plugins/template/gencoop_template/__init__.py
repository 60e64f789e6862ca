"""A gencoop plugin: one part (an Energy), its factory, and the hook that registers it.

Add parts by writing a class that subclasses one of gencoop's interfaces (Energy, Flow, Decoder, Encoder, Prior,
Sampler) and one more ``register(...)`` line below; the conformance test in tests/ picks it up with no new test.
"""

from __future__ import annotations

import math
from typing import Annotated, Callable

import torch
from pydantic import Field
from torch import Tensor, nn

import gencoop

__version__ = "0.1.0"

__all__ = ["GaussianEnergy", "register_components", "__version__"]


class GaussianEnergy(gencoop.Energy):
    """E(x) = ½ Σᵢ ((xᵢ − μᵢ)/σᵢ)² on events ``(dim,)``, with learnable μ and log σ; ``(B, dim) -> (B,)``.

    exp(−E) is N(μ, diag σ²) up to its normalising constant.
    """

    def __init__(self, dim: Annotated[int, Field(ge=1)] = 2, scale: Annotated[float, Field(gt=0)] = 1.0):
        super().__init__()
        self.event_shape = (dim,)
        self.mean = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.full((dim,), math.log(scale)))

    def forward(self, x: Tensor) -> Tensor:
        return 0.5 * ((x - self.mean) * torch.exp(-self.log_scale)).square().sum(-1)


@gencoop.hookimpl
def register_components(register: Callable[..., None]) -> None:
    """Called once by gencoop: register each part as (kind, name, factory). The settings model is derived from
    the factory's signature; ``example`` is the small configuration the conformance tests build."""
    register("energy", "template-gaussian", GaussianEnergy,
             summary="E(x) = ½‖(x − μ)/σ‖², learnable μ and σ", example={"dim": 3})
