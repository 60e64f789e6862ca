"""2-D toy distributions, made in-process from a seed. Each returns ``(n, 2)`` float32 samples.

Mixtures also expose their component centers and std (``MIXTURES``) for mode-coverage metrics.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor


def _grid_centers() -> Tensor:
    r = torch.arange(-2.0, 3.0)
    return torch.cartesian_prod(r, r)  # 25 centers on {-2,…,2}²


def _ring_centers(k: int = 8, radius: float = 2.0) -> Tensor:
    a = torch.arange(k) * (2 * math.pi / k)
    return radius * torch.stack([a.cos(), a.sin()], -1)


MIXTURES: dict[str, tuple[Callable[[], Tensor], float]] = {
    "25gaussians": (_grid_centers, 0.05),
    "8gaussians": (_ring_centers, 0.05),
}


def _mixture(name: str, n: int, g: torch.Generator) -> Tensor:
    centers_fn, std = MIXTURES[name]
    centers = centers_fn()
    idx = torch.randint(len(centers), (n,), generator=g)
    return centers[idx] + std * torch.randn(n, 2, generator=g)


def _swiss_roll(n: int, g: torch.Generator) -> Tensor:
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=g))
    x = torch.stack([t * t.cos(), t * t.sin()], -1) / 5.0
    return x + 0.05 * torch.randn(n, 2, generator=g)


def _two_moons(n: int, g: torch.Generator) -> Tensor:
    t = math.pi * torch.rand(n, generator=g)
    upper = torch.rand(n, generator=g) < 0.5
    x = torch.where(upper[:, None], torch.stack([t.cos(), t.sin()], -1),
                    torch.stack([1 - t.cos(), 0.5 - t.sin()], -1))
    return (x - torch.tensor([0.5, 0.25])) * 1.5 + 0.05 * torch.randn(n, 2, generator=g)


def _rings(n: int, g: torch.Generator) -> Tensor:
    radius = 0.5 * torch.randint(1, 5, (n,), generator=g).float()  # 4 concentric rings, radii 0.5…2
    a = 2 * math.pi * torch.rand(n, generator=g)
    return radius[:, None] * torch.stack([a.cos(), a.sin()], -1) + 0.04 * torch.randn(n, 2, generator=g)


def _checkerboard(n: int, g: torch.Generator) -> Tensor:
    x1 = 4 * torch.rand(n, generator=g) - 2
    x2 = torch.rand(n, generator=g) - torch.randint(0, 2, (n,), generator=g) * 2.0
    x2 = x2 + torch.floor(x1) % 2
    return torch.stack([x1, x2], -1)


def _pinwheel(n: int, g: torch.Generator, arms: int = 5) -> Tensor:
    arm = torch.randint(arms, (n,), generator=g)
    radial = 1.0 + 0.3 * torch.randn(n, generator=g)
    tangential = 0.05 * torch.randn(n, generator=g)
    angle = arm * (2 * math.pi / arms) + 0.25 * torch.exp(radial)
    pts = torch.stack([radial, tangential], -1)
    c, s = angle.cos(), angle.sin()
    return torch.stack([c * pts[:, 0] - s * pts[:, 1], s * pts[:, 0] + c * pts[:, 1]], -1) * 1.2


TOYS: dict[str, Callable[[int, torch.Generator], Tensor]] = {
    "25gaussians": lambda n, g: _mixture("25gaussians", n, g),
    "8gaussians": lambda n, g: _mixture("8gaussians", n, g),
    "swissroll": _swiss_roll,
    "moons": _two_moons,
    "rings": _rings,
    "checkerboard": _checkerboard,
    "pinwheel": _pinwheel,
}


def sample_toy(name: str, n: int, seed: int = 0) -> Tensor:
    """``n`` samples ``(n, 2)`` of the toy ``name`` (one of ``TOYS``), reproducible from ``seed``."""
    if name not in TOYS:
        raise ValueError(f"unknown toy data set {name!r}; choose one of {', '.join(TOYS)}")
    return TOYS[name](n, torch.Generator().manual_seed(seed))
