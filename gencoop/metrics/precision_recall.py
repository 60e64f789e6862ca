"""Precision and recall of a generative model in feature space (Kynkäänniemi et al., 2019, k-NN manifolds).

Each set's manifold is the union of balls around its points, each ball's radius the distance to that point's k-th
nearest neighbour in its own set. Precision: the share of samples inside the data's manifold (are samples
realistic?). Recall: the share of data inside the samples' manifold (is the data covered?). A model that collapses
onto a few modes, or replays a memorised handful of training images, keeps its precision and loses its recall; a
blurry model keeps recall and loses precision. FD alone mixes the two.

Recall counts data inside the samples' balls, so a few outlying samples with huge k-NN radii can buy it; density
and coverage (Naeem et al., 2020) build every ball on the data instead. Density: the mean number of data balls
holding a sample, over k (1 for samples spread as the data; above 1 for samples piled where data is dense).
Coverage: the share of data balls holding at least one sample.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from gencoop.metrics._utils import batched_features, flatten_pair


def _kth_neighbour_radius(z: Tensor, k: int, chunk: int = 1024) -> Tensor:
    """Distance of each row of ``z: (n, F)`` to its k-th nearest other row, ``(n,)``."""
    return torch.cat([torch.cdist(c, z).topk(k + 1, largest=False).values[:, -1] for c in z.split(chunk)])


def _inside(points: Tensor, centres: Tensor, radii: Tensor, chunk: int = 1024) -> Tensor:
    """Per point ``(n,)``: whether it lies in any ball (centre, radius), boundary included."""
    return torch.cat([(torch.cdist(c, centres) <= radii).any(-1) for c in points.split(chunk)])


def _prepared(samples: Tensor, data: Tensor, features, k: int, batch_size: int) -> tuple[Tensor, Tensor]:
    if k < 1:
        raise ValueError(f"k: at least 1, got {k}")
    f = [batched_features(s, features, batch_size).cpu() for s in (samples, data)]
    x, y = flatten_pair(f[0], f[1], min_rows=k + 1)
    return x.double(), y.double()


def precision_recall(
    samples: Tensor,
    data: Tensor,
    *,
    features: Callable[[Tensor], Tensor] | None = None,
    k: int = 3,
    batch_size: int = 500,
) -> dict[str, float]:
    """``{"precision": float, "recall": float}`` of ``samples: (n, ...)`` against ``data: (m, ...)``.

    ``features`` (``(B, ...) -> (B, F)``, e.g. the project's image classifier) maps both sets first; None uses the
    flattened events. ``k`` = 3 is the paper's choice. Use equal set sizes: radii shrink as a set grows.
    """
    x, y = _prepared(samples, data, features, k, batch_size)
    precision = _inside(x, y, _kth_neighbour_radius(y, k)).double().mean()
    recall = _inside(y, x, _kth_neighbour_radius(x, k)).double().mean()
    return {"precision": float(precision), "recall": float(recall)}


def density_coverage(
    samples: Tensor,
    data: Tensor,
    *,
    features: Callable[[Tensor], Tensor] | None = None,
    k: int = 5,
    batch_size: int = 500,
    chunk: int = 1024,
) -> dict[str, float]:
    """``{"density": float, "coverage": float}`` of ``samples: (n, ...)`` against ``data: (m, ...)``, both from
    balls around the data (radius: the k-th neighbour distance; k = 5 is the paper's choice). ``features`` as in
    :func:`precision_recall`."""
    x, y = _prepared(samples, data, features, k, batch_size)
    radii = _kth_neighbour_radius(y, k)
    held = torch.cat([(torch.cdist(c, y) <= radii).sum(-1) for c in x.split(chunk)])  # data balls per sample
    covered = torch.cat([(torch.cdist(c, x).min(-1).values <= r) for c, r in zip(y.split(chunk), radii.split(chunk))])
    return {"density": float(held.double().sum() / (k * len(x))), "coverage": float(covered.double().mean())}
