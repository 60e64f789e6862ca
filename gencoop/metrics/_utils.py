"""Small helpers shared by the metrics: flattening event shapes, pairwise distances, argument checks."""

from __future__ import annotations

import torch
from torch import Tensor


def flatten_events(x: Tensor, name: str) -> Tensor:
    """``(B, *event_shape) -> (B, D)`` with D = prod(event_shape); a ``(B,)`` tensor becomes ``(B, 1)``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 0:
        raise ValueError(f"{name}: expected a batch (B, ...), got a 0-dim tensor")
    return x.reshape(x.shape[0], -1)


def flatten_pair(x: Tensor, y: Tensor, *, min_rows: int = 1) -> tuple[Tensor, Tensor]:
    """Flatten two batches to ``(n, D)`` and ``(m, D)``, promoted to one floating dtype; checks D and sizes."""
    x, y = flatten_events(x, "x"), flatten_events(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same number of elements per event, got {x.shape[1]} and "
                         f"{y.shape[1]}")
    for name, t in (("x", x), ("y", y)):
        if t.shape[0] < min_rows:
            raise ValueError(f"{name}: needs at least {min_rows} samples, got {t.shape[0]}")
    dtype = torch.promote_types(torch.promote_types(x.dtype, y.dtype), torch.float32)
    return x.to(dtype), y.to(dtype)


def batched_features(x: Tensor, features, batch_size: int = 500) -> Tensor:
    """``features`` (a ``(B, ...) -> (B, F)`` callable, or None for the events themselves) of ``x`` in batches,
    without gradients, as ``(N, F)`` on the CPU."""
    if features is None:
        return x.detach()
    with torch.no_grad():
        return torch.cat([features(b).reshape(b.shape[0], -1).cpu() for b in x.detach().split(batch_size)])


def pairwise_sq_dists(z: Tensor) -> Tensor:
    """Squared Euclidean distances ``(N, D) -> (N, N)``: ‖zᵢ − zⱼ‖² = ‖zᵢ‖² + ‖zⱼ‖² − 2 zᵢ·zⱼ, clamped at 0.

    The rows are centred first (distances are translation invariant), which limits cancellation in the expansion.
    Memory is O(N²); differentiable w.r.t. ``z``.
    """
    z = z - z.mean(0, keepdim=True).detach()
    sq = z.square().sum(-1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (z @ z.T)
    return d2.clamp_min(0.0)
