"""Fréchet distance between Gaussians fitted to features of two sample sets (FID with a pluggable extractor).

FD = ‖μ₁ − μ₂‖² + tr(S₁ + S₂ − 2 (S₁^{1/2} S₂ S₁^{1/2})^{1/2}), in float64, with symmetric eigendecompositions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor

FeatureFn = Callable[[Tensor], Tensor]
"""Any callable ``(B, *event_shape) -> (B, F)``: an Inception network, a classifier's penultimate layer, …"""


def _features(batch: Tensor, features: FeatureFn | None) -> Tensor:
    """Features of one batch as float64 ``(B, F)``; ``None`` flattens the events."""
    f = batch if features is None else features(batch)
    if f.dim() < 1 or f.shape[0] != batch.shape[0]:
        raise ValueError(f"features must map (B, ...) to (B, F); got {tuple(f.shape)} for batch {batch.shape[0]}")
    return f.reshape(f.shape[0], -1).double()


def _batches(x: Tensor | Iterable[Tensor], batch_size: int) -> Iterable[Tensor]:
    return x.split(batch_size) if isinstance(x, Tensor) else x


def gaussian_stats(
    x: Tensor | Iterable[Tensor],
    features: FeatureFn | None = None,
    *,
    batch_size: int = 256,
) -> tuple[Tensor, Tensor]:
    """Mean ``(F,)`` and unbiased covariance ``(F, F)`` (divisor N − 1), float64, of ``features`` over ``x``.

    ``x`` is a tensor ``(N, ...)`` (split into ``batch_size`` chunks) or any iterable of batches (a DataLoader
    yielding tensors). ``features`` runs under ``torch.no_grad()``; put a network in eval mode and on the data's
    device first. Batches are merged with the pairwise (Chan et al.) update, so nothing of size N is stored.
    """
    n, mean, m2 = 0, None, None
    with torch.no_grad():
        for batch in _batches(x, batch_size):
            f = _features(batch, features)
            nb = f.shape[0]
            if nb == 0:
                continue
            mb = f.mean(0)
            c = f - mb
            m2b = c.T @ c  # Σ (f − f̄)(f − f̄)ᵀ within the batch
            if mean is None:
                n, mean, m2 = nb, mb, m2b
                continue
            delta = mb - mean
            tot = n + nb
            mean = mean + delta * (nb / tot)
            m2 = m2 + m2b + torch.outer(delta, delta) * (n * nb / tot)  # M2 = M2ₐ + M2_b + δδᵀ·nₐn_b/n
            n = tot
    if n < 2:
        raise ValueError(f"need at least 2 samples to estimate a covariance, got {n}")
    return mean, m2 / (n - 1)


def _sqrt_psd(s: Tensor) -> Tensor:
    """Symmetric square root of a PSD matrix: V diag(√max(λ, 0)) Vᵀ."""
    lam, v = torch.linalg.eigh(0.5 * (s + s.T))
    return (v * lam.clamp_min(0).sqrt()) @ v.T


def frechet_from_stats(mu1: Tensor, s1: Tensor, mu2: Tensor, s2: Tensor) -> float:
    """Fréchet distance between N(μ₁, S₁) and N(μ₂, S₂), computed in float64.

    tr((S₁^{1/2} S₂ S₁^{1/2})^{1/2}) = Σ √λᵢ over the eigenvalues of the symmetric PSD matrix S₁^{1/2} S₂ S₁^{1/2}
    (equal to tr((S₁S₂)^{1/2})). Negative eigenvalues from rounding are clamped to 0, and so is the result.
    """
    mu1, mu2, s1, s2 = (torch.as_tensor(t).double() for t in (mu1, mu2, s1, s2))
    f = mu1.shape[-1]
    if mu1.shape != (f,) or mu2.shape != (f,) or s1.shape != (f, f) or s2.shape != (f, f):
        raise ValueError(f"shapes must be (F,), (F, F), (F,), (F, F); got {tuple(mu1.shape)}, {tuple(s1.shape)}, "
                         f"{tuple(mu2.shape)}, {tuple(s2.shape)}")
    mu2, s1, s2 = mu2.to(mu1.device), s1.to(mu1.device), s2.to(mu1.device)
    r1 = _sqrt_psd(s1)
    m = r1 @ s2 @ r1
    tr_cross = torch.linalg.eigvalsh(0.5 * (m + m.T)).clamp_min(0).sqrt().sum()  # tr (S₁^{1/2} S₂ S₁^{1/2})^{1/2}
    fd = (mu1 - mu2).square().sum() + s1.trace() + s2.trace() - 2.0 * tr_cross
    return max(fd.item(), 0.0)


def frechet_distance(
    x: Tensor | Iterable[Tensor],
    y: Tensor | Iterable[Tensor],
    features: FeatureFn | None = None,
    *,
    batch_size: int = 256,
) -> float:
    """Fréchet distance between Gaussians fitted to ``features`` of ``x`` and of ``y`` (see :func:`gaussian_stats`).

    ``features=None`` uses the flattened samples themselves. To compare many models against one data set,
    compute the data's :func:`gaussian_stats` once and call :func:`frechet_from_stats`.
    """
    if isinstance(x, Tensor) and isinstance(y, Tensor) and max(len(x), len(y)) < x[0].numel():
        with torch.no_grad():  # fewer samples than pixels (FD on raw images): work in sample space
            fx = torch.cat([_features(b, features) for b in x.split(batch_size)])
            fy = torch.cat([_features(b, features) for b in y.split(batch_size)])
        if fx.shape[1] < max(len(fx), len(fy)):  # features smaller than the sample: the covariance path is cheaper
            return frechet_from_stats(*_stats_of(fx), *_stats_of(fy))
        return _frechet_low_rank(fx, fy)
    mu1, s1 = gaussian_stats(x, features, batch_size=batch_size)
    mu2, s2 = gaussian_stats(y, features, batch_size=batch_size)
    if mu1.shape != mu2.shape:
        raise ValueError(f"x and y give features of different sizes: {mu1.shape[0]} and {mu2.shape[0]}")
    return frechet_from_stats(mu1, s1, mu2, s2)


def _stats_of(f: Tensor) -> tuple[Tensor, Tensor]:
    return gaussian_stats(f, None, batch_size=max(len(f), 1))


def _frechet_low_rank(fx: Tensor, fy: Tensor) -> float:
    """FD from feature matrices ``(n₁, F)``, ``(n₂, F)`` with F > n, never forming an F × F matrix.

    With centred A, B: S₁ = AᵀA/(n₁−1), S₂ = BᵀB/(n₂−1). The non-zero eigenvalues of S₁S₂ are those of
    (ABᵀ)(ABᵀ)ᵀ/((n₁−1)(n₂−1)), so tr((S₁^{1/2} S₂ S₁^{1/2})^{1/2}) = ‖ABᵀ‖_* / √((n₁−1)(n₂−1)) (nuclear norm).
    """
    if fx.shape[1] != fy.shape[1]:
        raise ValueError(f"x and y give features of different sizes: {fx.shape[1]} and {fy.shape[1]}")
    if len(fx) < 2 or len(fy) < 2:
        raise ValueError(f"need at least 2 samples to estimate a covariance, got {min(len(fx), len(fy))}")
    a, b = fx - fx.mean(0), fy - fy.mean(0)
    n1, n2 = len(a) - 1, len(b) - 1
    tr_cross = torch.linalg.svdvals(a @ b.T).sum() / (n1 * n2) ** 0.5
    fd = (fx.mean(0) - fy.mean(0)).square().sum() + a.square().sum() / n1 + b.square().sum() / n2 - 2 * tr_cross
    return max(fd.item(), 0.0)
