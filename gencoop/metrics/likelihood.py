"""Per-element summaries of a model's fit: reconstruction error and negative log-likelihood in bits per dimension."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor


def reconstruction_mse(x: Tensor, x_hat: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean squared error over all elements, batch and event alike: mean((x − x̂)²), a 0-dim tensor; with ``mask``
    (1 = counted, broadcastable to x), the mean over the counted entries only: Σ m·(x − x̂)² / Σ m.

    ``x`` and ``x_hat`` must have the same shape (no broadcasting). Differentiable; ``.item()`` for a number.
    """
    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat must have the same shape, got {tuple(x.shape)} and {tuple(x_hat.shape)}")
    if mask is None:
        return (x - x_hat).square().mean()
    m = mask.to(x).expand_as(x)
    if not m.sum() > 0:
        raise ValueError("mask: counts no entry")
    return ((x - x_hat).square() * m).sum() / m.sum()


def num_dims(event_shape_or_dims: int | Sequence[int]) -> int:
    """D = prod(event_shape), or the integer itself."""
    d = event_shape_or_dims if isinstance(event_shape_or_dims, int) else math.prod(event_shape_or_dims)
    if d < 1:
        raise ValueError(f"the number of dimensions must be ≥ 1, got {event_shape_or_dims}")
    return d


def bits_per_dim(nll_nats: Tensor | float, event_shape_or_dims: int | Sequence[int]) -> Tensor | float:
    """Convert a per-sample negative log-likelihood in nats to bits per dimension: bpd = nll / (D · ln 2).

    ``nll_nats`` is a float or a tensor of per-sample values ``(B,)`` (the result has the same type and shape;
    average it yourself); ``event_shape_or_dims`` is the event shape, e.g. ``(3, 32, 32)``, or D itself.

    The NLL must already be that of the data in the space being reported. Correcting for a rescaling of the data
    is the caller's job: a density fitted to x/256 ∈ [0, 1) instead of 8-bit values x ∈ {0, …, 255} needs
    nll + D·ln 256 (i.e. bpd + 8), and dequantisation noise must already be part of the model's NLL.
    """
    return nll_nats / (num_dims(event_shape_or_dims) * math.log(2))
