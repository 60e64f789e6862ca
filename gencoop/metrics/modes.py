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
