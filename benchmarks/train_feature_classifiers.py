"""Train the feature classifiers of :mod:`gencoop.metrics.features` and write their shipped weights.

One small CNN per data set (digits, mnist5k, fashion-mnist), seeded per data set, trained with AdamW, a one-cycle
learning rate (warm-up, then cosine decay) and random shifts of a pixel or two. Held-out accuracy is measured on
the float16 weights as shipped (reloaded through :func:`gencoop.metrics.features.classifier`); held-out sets: the
fixed test split of digits and mnist5k (20 %), Fashion-MNIST's own test files.

Cost: about 4.5 minutes on one thread (digits 16 s, mnist5k 80 s, fashion-mnist 160 s of training), measured on a
2-core machine whose other core was busy. The default is one thread: on a loaded machine two threads fighting for
a core ran 10x slower. The weights are bit-for-bit reproducible for a given seed and thread count; another
``--threads`` changes the rounding and so the last digits of the accuracies.

    python benchmarks/train_feature_classifiers.py                     # all three -> gencoop/metrics/weights/
    python benchmarks/train_feature_classifiers.py --only digits --out /tmp/w
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from gencoop.data import ArrayDataset, digits_dataset, fashion_mnist_dataset, mnist5k_dataset
from gencoop.metrics import features as feat


@dataclass(frozen=True)
class Recipe:
    """How one classifier is trained: epochs over the train split, batch size, peak learning rate, and the
    largest random shift in pixels (either axis; background −1 fills the border)."""

    epochs: int
    batch_size: int
    lr: float
    max_shift: int
    weight_decay: float = 1e-4


RECIPES: dict[str, Recipe] = {
    "digits": Recipe(epochs=60, batch_size=64, lr=2e-3, max_shift=1),
    "mnist5k": Recipe(epochs=30, batch_size=128, lr=2e-3, max_shift=2),
    "fashion-mnist": Recipe(epochs=6, batch_size=128, lr=2e-3, max_shift=1),
}


def random_shift(x: Tensor, max_shift: int, generator: torch.Generator) -> Tensor:
    """Each image of ``x`` ``(B, C, H, W)`` moved by its own integer offset in [−max_shift, max_shift]² (same shape;
    uncovered pixels are −1, the background in model units)."""
    if max_shift == 0:
        return x
    b, _, h, w = x.shape
    k = 2 * max_shift + 1
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)
    offset = torch.randint(0, k * k, (b,), generator=generator)  # (dy, dx) = divmod(offset, k)
    out = torch.empty_like(x)
    for o in offset.unique().tolist():  # one slice per offset in use: much faster than per-pixel gathers
        dy, dx = divmod(o, k)
        chosen = offset == o
        out[chosen] = padded[chosen, :, dy:dy + h, dx:dx + w]
    return out


def accuracy(net: torch.nn.Module, x: Tensor, labels: Tensor, batch_size: int = 1000) -> float:
    """Fraction of ``x`` ``(N, 1, H, W)`` whose argmax logit equals ``labels`` ``(N,)``; eval mode, no grad."""
    net.eval()
    with torch.no_grad():
        hits = sum((net(xb).argmax(1) == yb).sum().item() for xb, yb in zip(x.split(batch_size),
                                                                            labels.split(batch_size)))
    return hits / len(x)


def train(name: str, recipe: Recipe, x: Tensor, labels: Tensor, seed: int) -> feat.FeatureNet:
    """A :class:`FeatureNet` for ``name`` trained on ``x`` ``(N, 1, H, W)`` in [−1, 1] with ``labels``."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = feat.FeatureNet(**feat.ARCHITECTURES[name])
    opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    steps = recipe.epochs * math.ceil(len(x) / recipe.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=steps, pct_start=0.15)
    for epoch in range(recipe.epochs):
        net.train()
        order = torch.randperm(len(x), generator=gen)
        total, count = 0.0, 0
        for idx in order.split(recipe.batch_size):
            xb = random_shift(x[idx], recipe.max_shift, gen)
            loss = F.cross_entropy(net(xb), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total, count = total + loss.item() * len(idx), count + len(idx)
        if (epoch + 1) % max(1, recipe.epochs // 4) == 0 or epoch + 1 == recipe.epochs:
            print(f"  {name}: epoch {epoch + 1}/{recipe.epochs}  train loss {total / count:.4f}", flush=True)
    return net.eval()


def payload(name: str, net: feat.FeatureNet, test_accuracy: float, recipe: Recipe, seed: int,
            n_train: int, test_set: str) -> dict:
    """The weight-file dict (see :func:`gencoop.metrics.features.load_payload`): float16 weights + provenance."""
    return {
        "format": feat.FORMAT_VERSION,
        "name": name,
        "config": dict(feat.ARCHITECTURES[name], num_classes=10),
        "state_dict": {k: v.detach().to(torch.float16).contiguous() for k, v in net.state_dict().items()},
        "test_accuracy": test_accuracy,
        "trained_with": {"script": "benchmarks/train_feature_classifiers.py", "seed": seed,
                         "epochs": recipe.epochs, "batch_size": recipe.batch_size, "lr": recipe.lr,
                         "max_shift": recipe.max_shift, "train_size": n_train, "test_set": test_set,
                         "torch": str(torch.__version__)},
    }


DATASETS = {"digits": digits_dataset, "mnist5k": mnist5k_dataset, "fashion-mnist": fashion_mnist_dataset}
"""The dataset parts' factories (what ``gencoop.create("dataset", name, ...)`` calls), used directly."""


def data(name: str) -> tuple[ArrayDataset, ArrayDataset, str]:
    """Train and held-out ArrayDatasets of ``name`` and a description of the held-out set."""
    train_set = DATASETS[name](split="train")
    test_set = DATASETS[name](split="test")
    where = "official test files" if name == "fashion-mnist" else "fixed 20% test split"
    return train_set, test_set, where


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=feat.NAMES, default=list(feat.NAMES))
    parser.add_argument("--out", type=Path, default=feat.WEIGHTS_DIR, help="folder for <name>.pt")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, see the doc)")
    parser.add_argument("--epochs", type=int, default=None, help="override every recipe's epochs (smoke runs)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {args.threads} thread(s), "
          f"seed {args.seed}", flush=True)

    rows = []
    for name in args.only:
        recipe = RECIPES[name]
        if args.epochs is not None:
            recipe = Recipe(args.epochs, recipe.batch_size, recipe.lr, recipe.max_shift, recipe.weight_decay)
        train_set, test_set, where = data(name)
        start = time.perf_counter()
        net = train(name, recipe, train_set.x, train_set.labels, args.seed)
        seconds = time.perf_counter() - start
        acc32 = accuracy(net, test_set.x, test_set.labels)
        path = args.out / f"{name}.pt"
        torch.save(payload(name, net, acc32, recipe, args.seed, len(train_set), where), path)
        acc16 = accuracy(feat.classifier(name, path=path), test_set.x, test_set.labels)
        if acc16 != acc32:  # store what the shipped float16 weights achieve
            torch.save(payload(name, net, acc16, recipe, args.seed, len(train_set), where), path)
        rows.append((name, len(train_set), f"{len(test_set)} ({where})", recipe.epochs, acc32, acc16, seconds,
                     path.stat().st_size))

    header = ("data set", "train", "held-out", "epochs", "acc fp32", "acc shipped fp16", "train s", "file KiB")
    table = [header] + [(n, str(tr), te, str(ep), f"{a32:.2%}", f"{a16:.2%}", f"{s:.0f}", f"{b / 1024:.0f}")
                        for n, tr, te, ep, a32, a16, s, b in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    print()
    for i, r in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\nweights written to {args.out}")


if __name__ == "__main__":
    main()
