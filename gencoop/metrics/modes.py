"""Mode coverage of samples from a model of a known Gaussian mixture (the 8- and 25-Gaussian toys)."""

from __future__ import annotations

import torch
from torch import Tensor

from gencoop.metrics._utils import flatten_events


def nearest_center(samples: Tensor, centers: Tensor) -> tuple[Tensor, Tensor]:
    """Index ``(n,)`` of each sample's nearest center and the Euclidean distance ``(n,)`` to it.

    ``samples: (n, d)``, ``centers: (k, d)``. An exact tie goes to the lower center index.
    """
    d = torch.cdist(samples, centers)  # (n, k) Euclidean distances
    dist, idx = d.min(dim=1)
    return idx, dist


def mode_coverage(
    samples: Tensor,
    centers: Tensor,
    std: float,
    *,
    threshold: float = 3.0,
    min_count: int = 1,
) -> dict:
    """How many mixture components the samples reach, and how many samples are near any component.

    * A sample is *high quality* when its Euclidean distance to the nearest center is ≤ ``threshold · std``
      (inclusive). ``hq_fraction`` = (#high-quality samples) / n.
    * A center is *covered* when at least ``min_count`` high-quality samples have it as their nearest center.
      The default ``min_count=1`` counts any hit; protocols with a fixed sample budget use more (e.g. 20 of 2,500
      samples in the VEEGAN/PacGAN evaluations) so that stray samples do not count as a captured mode.

    ``samples: (n, d)`` and ``centers: (k, d)`` (event shapes are flattened); ``std`` is the components' common
    standard deviation. Returns ``{"hq_fraction": float, "modes_covered": int, "modes_total": int,
    "hq_per_mode": list[int]}`` (``hq_per_mode[j]``: high-quality samples assigned to center j), JSON-ready.
    """
    if std <= 0 or threshold <= 0:
        raise ValueError(f"std and threshold must be > 0, got std={std}, threshold={threshold}")
    if min_count < 1:
        raise ValueError(f"min_count: must be ≥ 1, got {min_count}")
    s = flatten_events(samples, "samples").detach().double()
    c = flatten_events(centers, "centers").detach().to(s)
    if s.shape[1] != c.shape[1]:
        raise ValueError(f"samples have dimension {s.shape[1]} but centers {c.shape[1]}")
    if s.shape[0] == 0 or c.shape[0] == 0:
        raise ValueError("samples and centers must be non-empty")
    idx, dist = nearest_center(s, c)
    hq = dist <= threshold * std
    per_mode = torch.bincount(idx[hq], minlength=c.shape[0])  # (k,) high-quality samples per center
    return {
        "hq_fraction": hq.double().mean().item(),
        "modes_covered": int((per_mode >= min_count).sum()),
        "modes_total": c.shape[0],
        "hq_per_mode": per_mode.tolist(),
    }


def mode_spread(
    samples: Tensor,
    centers: Tensor,
    std: float,
    *,
    threshold: float = 3.0,
) -> dict:
    """How each mixture component's samples are spread, and how evenly the components are weighted.

    Samples within ``threshold · std`` of their nearest center are assigned to it (as in :func:`mode_coverage`).

    * ``spread_ratio``: the median over components of the within-component std (about the component's own sample
      mean, pooled over coordinates) divided by ``std``. About 0.97 for data at 3σ (the cut trims the tails); a
      model that collapses its modes to points scores near 0, one with blurred modes above 1. Components with
      fewer than 2 assigned samples are left out (``spread_per_mode`` holds NaN for them).
    * ``min_mode_share``: the smallest component's share of the assigned samples, times k (1 = uniform, 0 = a
      dropped mode). ``mode_chi2`` / ``mode_chi2_p``: Pearson's χ² of the per-component counts against uniform
      weights, with its p-value on k − 1 degrees of freedom (assumes equally weighted components, as the toys).

    ``samples: (n, d)``, ``centers: (k, d)``; returns a JSON-ready dict.
    """
    if std <= 0 or threshold <= 0:
        raise ValueError(f"std and threshold must be > 0, got std={std}, threshold={threshold}")
    s = flatten_events(samples, "samples").detach().double()
    c = flatten_events(centers, "centers").detach().to(s)
    if s.shape[1] != c.shape[1]:
        raise ValueError(f"samples have dimension {s.shape[1]} but centers {c.shape[1]}")
    idx, dist = nearest_center(s, c)
    hq = dist <= threshold * std
    s, idx = s[hq], idx[hq]
    k, d = c.shape
    counts = torch.bincount(idx, minlength=k).double()
    spreads = torch.full((k,), float("nan"), dtype=s.dtype)
    for j in range(k):
        pts = s[idx == j]
        if len(pts) >= 2:
            spreads[j] = ((pts - pts.mean(0)).square().sum() / ((len(pts) - 1) * d)).sqrt() / std
    total = counts.sum()
    expected = total / k
    chi2 = ((counts - expected).square() / expected).sum() if total > 0 else torch.tensor(float("nan"))
    p = torch.special.gammaincc(torch.tensor((k - 1) / 2, dtype=s.dtype), chi2 / 2) if k > 1 else chi2.new_ones(())
    finite = spreads[~spreads.isnan()]
    return {
        "spread_ratio": float(finite.quantile(0.5)) if len(finite) else float("nan"),
        "spread_per_mode": spreads.tolist(),
        "min_mode_share": float(counts.min() / expected) if total > 0 else 0.0,
        "mode_chi2": float(chi2),
        "mode_chi2_p": float(p),
    }
