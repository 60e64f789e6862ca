"""Two-sample distances between sample sets: squared MMD (multi-scale RBF) and energy distance.

Both take ``x: (n, *event_shape)`` and ``y: (m, *event_shape)``, flatten the events to vectors, and return a
0-dim tensor in the promoted floating dtype (at least float32) that is differentiable w.r.t. ``x`` and ``y``
(use ``.item()`` for a number). Both are unbiased U-statistics: they can be slightly negative when the two sets
come from the same distribution, and are exactly ``O(1/n)`` below zero for ``y`` identical to ``x``.
Memory is O((n + m)²): the pooled pairwise-distance matrix is formed once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from gencoop.metrics._utils import flatten_pair, pairwise_sq_dists

DEFAULT_BANDWIDTHS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
"""Multipliers of the median pairwise distance (with ``scale="median"``): five scales, a factor 2 apart."""


def _block_means(k: Tensor, n: int) -> tuple[Tensor, Tensor, Tensor]:
    """Split a pooled ``(n+m, n+m)`` matrix into U-statistic means: off-diagonal xx, off-diagonal yy, all of xy."""
    m = k.shape[0] - n
    kxx, kyy, kxy = k[:n, :n], k[n:, n:], k[:n, n:]
    # Σ_{i≠j} = Σ_{i,j} − Σ_i (the diagonal), divided by the n(n−1) off-diagonal pairs
    mean_xx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    mean_yy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return mean_xx, mean_yy, kxy.mean()


def median_distance(z: Tensor, d2: Tensor | None = None) -> Tensor:
    """Median Euclidean distance over the distinct pairs i < j of ``z: (N, D)`` (no gradient), a 0-dim tensor."""
    with torch.no_grad():
        d2 = pairwise_sq_dists(z) if d2 is None else d2.detach()
        upper = torch.ones_like(d2, dtype=torch.bool).triu(1)  # a bool mask: N² bytes, not 2 int64 index rows
        return d2[upper].median().sqrt()


def mmd(
    x: Tensor,
    y: Tensor,
    bandwidths: Sequence[float] = DEFAULT_BANDWIDTHS,
    *,
    scale: Literal["median"] | float = "median",
) -> Tensor:
    """Unbiased squared MMD between ``x: (n, ...)`` and ``y: (m, ...)`` with a sum of RBF kernels.

    k(a, b) = Σ_s exp(−‖a − b‖² / (2 σ_s²)),  σ_s = bandwidths[s] · scale.

    ``scale="median"`` (the default) is the median pairwise Euclidean distance of the pooled set x ∪ y, treated as
    a constant (no gradient), so the default bandwidths are relative and the value is invariant to rescaling the
    data; a float makes ``bandwidths`` absolute (``scale=1.0``: σ_s = bandwidths[s]).

    MMD²_u = 1/(n(n−1)) Σ_{i≠j} k(xᵢ,xⱼ) + 1/(m(m−1)) Σ_{i≠j} k(yᵢ,yⱼ) − 2/(nm) Σ_{i,j} k(xᵢ,yⱼ).
    Needs n, m ≥ 2. The kernel is a sum (not a mean), so values grow with the number of bandwidths.
    """
    if len(bandwidths) == 0 or any(b <= 0 for b in bandwidths):
        raise ValueError(f"bandwidths: need at least one, all > 0, got {tuple(bandwidths)}")
    x, y = flatten_pair(x, y, min_rows=2)
    z = torch.cat([x, y])
    d2 = pairwise_sq_dists(z)
    if scale == "median":
        med = median_distance(z, d2)
        s = med if med > 0 else torch.ones_like(med)  # all points equal: fall back to absolute bandwidths
    elif isinstance(scale, (int, float)) and scale > 0:
        s = torch.tensor(float(scale), dtype=z.dtype, device=z.device)
    else:
        raise ValueError(f"scale: 'median' or a positive number, got {scale!r}")
    k = sum(torch.exp(-d2 / (2.0 * (b * s) ** 2)) for b in bandwidths)  # Σ_s exp(−d²/(2σ_s²)), one (N, N) at a time
    kxx, kyy, kxy = _block_means(k, x.shape[0])
    return kxx + kyy - 2.0 * kxy


def energy_distance(x: Tensor, y: Tensor) -> Tensor:
    """Energy distance (Székely) between ``x: (n, ...)`` and ``y: (m, ...)``, unbiased within each set.

    E = 2·E‖X − Y‖ − E‖X − X′‖ − E‖Y − Y′‖ (≥ 0, zero iff the distributions agree; it is the squared form,
    not its square root). The within-set means run over i ≠ j. Needs n, m ≥ 2.
    """
    x, y = flatten_pair(x, y, min_rows=2)
    d2 = pairwise_sq_dists(torch.cat([x, y]))
    # clamp before sqrt: the (excluded) zero diagonal would otherwise give 0·∞ = NaN gradients
    d = d2.clamp_min(torch.finfo(d2.dtype).tiny).sqrt()
    dxx, dyy, dxy = _block_means(d, x.shape[0])
    return 2.0 * dxy - dxx - dyy
