"""Threshold-free detection scores: AUROC and AUPRC (average precision).

Conventions: ``labels`` are 1 for positives (anomalies) and 0 for negatives; a higher score means more anomalous.
``scores`` and ``labels`` are 1-D (any shape is flattened), tensors, arrays or lists; results are Python floats.

Ties are handled without looking at the input order, so a permutation of the inputs never changes the result:

* AUROC counts a tied (positive, negative) pair as one half: AUROC = P(s₊ > s₋) + ½·P(s₊ = s₋) (Mann–Whitney,
  via mid-ranks). This equals the trapezoidal area under the ROC curve whose points are taken at distinct scores.
* AUPRC treats all samples with one score as a single threshold: AP = Σₖ (Rₖ − Rₖ₋₁)·Pₖ over the distinct scores
  in decreasing order, with Pₖ, Rₖ the precision and recall of "score ≥ k-th distinct score" and R₀ = 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

ArrayLike = Tensor | Sequence[float]


def _check(scores: ArrayLike, labels: ArrayLike) -> tuple[Tensor, Tensor]:
    """Flatten to float64 scores ``(N,)`` and bool labels ``(N,)``; labels must be 0/1 (or bool)."""
    s = torch.as_tensor(scores).detach().flatten().double().cpu()
    y = torch.as_tensor(labels).detach().flatten().cpu()
    if s.shape != y.shape:
        raise ValueError(f"scores and labels must have the same number of elements, got {s.numel()} and {y.numel()}")
    if not torch.isfinite(s).all():
        raise ValueError("scores must be finite")
    if not ((y == 0) | (y == 1)).all():
        raise ValueError("labels must be 0 (negative) or 1 (positive)")
    return s, y.bool()


def midranks(s: Tensor) -> Tensor:
    """1-based ranks of ``s: (N,)`` in increasing order, tied values sharing the mean of their ranks."""
    _, inverse, counts = torch.unique(s, sorted=True, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()  # rank of the last member of each tied group
    return (ends - (counts.double() - 1) / 2)[inverse]  # mean of ranks end−c+1 … end


def auroc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the ROC curve; 1 = every positive scores above every negative, 0.5 = chance, 0 = reversed.

    AUROC = (R₊ − n₊(n₊+1)/2) / (n₊ n₋), R₊ = sum of the positives' mid-ranks. Needs both classes.
    """
    s, y = _check(scores, labels)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"auroc needs both classes, got {n_pos} positives and {n_neg} negatives")
    r_pos = midranks(s)[y].sum().item()
    return (r_pos - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def auprc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Average precision, the step-wise area under the precision–recall curve (ties: one threshold per score).

    AP = Σₖ (Rₖ − Rₖ₋₁)·Pₖ; equals 1 for perfect separation and the positive fraction for a constant score.
    Needs at least one positive.
    """
    s, y = _check(scores, labels)
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ValueError("auprc needs at least one positive label")
    # group by distinct score, highest first: positives and totals per group, then cumulative counts
    values, inverse = torch.unique(s, sorted=True, return_inverse=True)
    g = len(values)
    pos = torch.zeros(g, dtype=torch.float64).index_add_(0, inverse, y.double()).flip(0)
    tot = torch.bincount(inverse, minlength=g).double().flip(0)
    tp, predicted = pos.cumsum(0), tot.cumsum(0)
    precision = tp / predicted  # Pₖ at "score ≥ k-th largest distinct score"
    return (pos / n_pos * precision).sum().item()  # Rₖ − Rₖ₋₁ = (positives in group k) / n₊
