"""Classifier two-sample test (C2ST): can a classifier tell model samples from data?

Accuracy of a classifier trained to separate ``samples`` (label 1) from ``data`` (label 0), estimated by
stratified k-fold cross-validation on balanced sets. 0.5 means indistinguishable; a model collapsed onto its modes,
or one that misses some, is told apart however close its MMD is. Lopez-Paz & Oquab (2017).

    acc = c2st(samples, data)                                     # k-NN on vectors
    acc = c2st(samples, data, features=feature_extractor("digits"))  # images, in classifier features
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn

from gencoop.metrics._utils import batched_features, flatten_pair


def _fold_ids(n: int, folds: int, g: torch.Generator) -> Tensor:
    """Fold index of each of ``n`` items of one class: a seeded shuffle dealt round-robin (class-stratified)."""
    ids = torch.empty(n, dtype=torch.long)
    ids[torch.randperm(n, generator=g)] = torch.arange(n) % folds
    return ids


def _knn_correct(train: Tensor, train_y: Tensor, test: Tensor, test_y: Tensor, k: int) -> Tensor:
    """Per test point: 1 if the majority of its k nearest training points has its label, 0 if not, ½ on a tie."""
    out = []
    for chunk, y in zip(test.split(1024), test_y.split(1024)):
        idx = torch.cdist(chunk, train).topk(k, largest=False).indices  # (b, k)
        vote = train_y[idx].mean(-1)  # share of neighbours labelled 1
        pred = torch.where(vote > 0.5, 1.0, torch.where(vote < 0.5, 0.0, 0.5))
        out.append(1.0 - (pred - y).abs())  # a tie (pred ½) scores ½ whatever the label
    return torch.cat(out)


def _mlp_correct(train: Tensor, train_y: Tensor, test: Tensor, test_y: Tensor, steps: int, seed: int) -> Tensor:
    """Per test point: 1 if a two-hidden-layer ReLU MLP (64 units, Adam, ``steps`` batches of 256) is right."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Linear(train.shape[1], 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
        net = net.to(train.dtype)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        for _ in range(steps):
            i = torch.randint(len(train), (min(256, len(train)),))
            loss = nn.functional.binary_cross_entropy_with_logits(net(train[i]).squeeze(-1), train_y[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            pred = (net(test).squeeze(-1) > 0).to(test_y.dtype)
    return (pred == test_y).to(test.dtype)


def c2st(
    samples: Tensor,
    data: Tensor,
    classifier: Literal["knn", "mlp"] = "knn",
    folds: int = 5,
    *,
    features: Callable[[Tensor], Tensor] | None = None,
    neighbours: int = 10,
    mlp_steps: int = 1000,
    seed: int = 0,
    batch_size: int = 500,
) -> float:
    """Cross-validated accuracy of a classifier telling ``samples: (n, ...)`` from ``data: (m, ...)``; 0.5 = same.

    Both sets are cut to ``min(n, m)`` rows (a seeded choice), so chance is exactly 0.5. ``features`` (a callable
    ``(B, ...) -> (B, F)``, e.g. the project's image classifier) is applied first; vectors are then standardised
    per coordinate with the pooled mean and std (labels unseen, so nothing leaks between folds).
    ``classifier="knn"``: majority vote of ``neighbours`` nearest training points (a tie counts ½);
    ``"mlp"``: a small ReLU network, ``mlp_steps`` Adam steps per fold. Deterministic given ``seed``.
    """
    if classifier not in ("knn", "mlp"):
        raise ValueError(f"classifier: 'knn' or 'mlp', got {classifier!r}")
    if folds < 2:
        raise ValueError(f"folds: at least 2, got {folds}")
    x, y = batched_features(samples, features, batch_size), batched_features(data, features, batch_size)
    x, y = flatten_pair(x.cpu(), y.cpu(), min_rows=folds)
    g = torch.Generator().manual_seed(seed)
    n = min(len(x), len(y))
    x, y = x[torch.randperm(len(x), generator=g)[:n]], y[torch.randperm(len(y), generator=g)[:n]]
    if classifier == "knn" and neighbours >= n * (folds - 1) // folds * 2:
        raise ValueError(f"neighbours: {neighbours} is not below the {n * (folds - 1) // folds * 2} training points "
                         "of a fold; pass more samples or fewer neighbours")
    z = torch.cat([x, y]).double()
    z = (z - z.mean(0)) / z.std(0).clamp_min(1e-12)
    labels = torch.cat([torch.ones(n), torch.zeros(n)]).double()
    fold = torch.cat([_fold_ids(n, folds, g), _fold_ids(n, folds, g)])
    correct = []
    for f in range(folds):
        tr, te = fold != f, fold == f
        if classifier == "knn":
            correct.append(_knn_correct(z[tr], labels[tr], z[te], labels[te], neighbours))
        else:
            correct.append(_mlp_correct(z[tr].float(), labels[tr].float(), z[te].float(), labels[te].float(),
                                        mlp_steps, seed + f))
    return float(torch.cat(correct).double().mean())
