"""Small shipped classifiers whose penultimate features make image Fréchet distance work offline.

One classifier per data set, trained by ``benchmarks/train_feature_classifiers.py`` and shipped as float16 weights
in ``gencoop/metrics/weights/<name>.pt``:

* ``"digits"``: scikit-learn's 8x8 digits; ``"mnist5k"``: 28x28 MNIST digits (also serves full MNIST);
  ``"fashion-mnist"``: 28x28 Fashion-MNIST.

Conventions: images are in model units [−1, 1] (as :class:`~gencoop.data.ArrayDataset` stores them), shape
``(B, 1, H, W)``; ``(B, H, W)`` and flattened ``(B, H·W)`` are reshaped. Features are the ``(B, 128)`` ReLU
activations before the last linear layer. The networks have no batch norm, so a sample's features never depend on
the rest of its batch.

    fd = image_fd(samples, data.x, "mnist5k")                    # FD in the classifier's feature space
    fd = frechet_distance(samples, data.x, feature_extractor("digits"))   # the same, spelled out
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gencoop.metrics.frechet import frechet_distance

WEIGHTS_DIR = Path(__file__).with_name("weights")
TRAIN_SCRIPT = "python benchmarks/train_feature_classifiers.py"
FORMAT_VERSION = 1

ARCHITECTURES: dict[str, dict[str, Any]] = {
    "digits": {"image_size": 8, "channels": [32, 64, 64], "pools": [False, True, True], "features": 128},
    "mnist5k": {"image_size": 28, "channels": [32, 64, 64], "pools": [True, True, True], "features": 128},
    "fashion-mnist": {"image_size": 28, "channels": [32, 64, 64], "pools": [True, True, True], "features": 128},
}
"""Per data set: the settings of :class:`FeatureNet` (the weight files store their own copy)."""

NAMES: tuple[str, ...] = tuple(ARCHITECTURES)


class FeatureNet(nn.Module):
    """A small CNN classifier for ``(B, 1, S, S)`` images in [−1, 1]; no batch norm.

    Blocks of 3x3 convolution (padding 1) + ReLU, each followed by a 2x2 max-pool where ``pools`` says so, then
    a linear layer to ``features`` units + ReLU (the penultimate features), dropout, and a linear layer to the
    ``num_classes`` logits.
    """

    def __init__(self, image_size: int, channels: list[int], pools: list[bool], features: int = 128,
                 num_classes: int = 10, dropout: float = 0.3):
        super().__init__()
        if len(channels) != len(pools):
            raise ValueError(f"channels and pools must have the same length; got {channels} and {pools}")
        self.image_size = image_size
        layers: list[nn.Module] = []
        c_in, size = 1, image_size
        for c_out, pool in zip(channels, pools):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU()]
            if pool:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            c_in = c_out
        self.conv = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c_in * size * size, features), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(features, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features ``(B, F)`` of images ``x`` (any shape :func:`as_images` accepts)."""
        return self.head(self.conv(as_images(x, self.image_size)))

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, num_classes)``."""
        return self.out(self.dropout(self.features(x)))


class FeatureExtractor(nn.Module):
    """``x -> (B, F)`` penultimate features of a frozen, eval-mode :class:`FeatureNet`.

    Moves ``x`` to the network's device as float32; gradients flow to ``x`` (the weights need none).
    """

    def __init__(self, net: FeatureNet):
        super().__init__()
        self.net = net.eval().requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        p = next(self.net.parameters())
        return self.net.features(x.to(device=p.device, dtype=p.dtype))

    def train(self, mode: bool = True) -> FeatureExtractor:
        """Stays in eval mode (dropout off) whatever ``mode`` is."""
        return super().train(False)


def as_images(x: Tensor, size: int) -> Tensor:
    """``(B, 1, S, S)``, ``(B, S, S)`` or flattened ``(B, S·S)`` as ``(B, 1, S, S)``; else a ValueError."""
    if x.dim() == 4 and x.shape[1:] == (1, size, size):
        return x
    if (x.dim() == 3 and x.shape[1:] == (size, size)) or (x.dim() == 2 and x.shape[1] == size * size):
        return x.reshape(x.shape[0], 1, size, size)
    raise ValueError(f"expected images (B, 1, {size}, {size}), (B, {size}, {size}) or (B, {size * size}); "
                     f"got {tuple(x.shape)}")


def _check_name(name: str) -> str:
    if name not in ARCHITECTURES:
        raise ValueError(f"no feature classifier named {name!r}; valid names: {', '.join(NAMES)}")
    return name


def weights_path(name: str) -> Path:
    """Where the shipped weights of ``name`` live: ``gencoop/metrics/weights/<name>.pt``."""
    return WEIGHTS_DIR / f"{_check_name(name)}.pt"


@functools.lru_cache(maxsize=8)
def _load(path: Path, mtime_ns: int) -> dict[str, Any]:
    """A weight file read once per path and modification time (``mtime_ns`` is only part of the cache key)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def load_payload(name: str, path: str | Path | None = None) -> dict[str, Any]:
    """The stored dict of a weight file: ``format``, ``name``, ``config``, ``state_dict`` (float16),
    ``test_accuracy`` and ``trained_with`` (cached and shared: do not modify). A missing file raises
    FileNotFoundError telling how to make it."""
    _check_name(name)
    p = Path(path) if path is not None else weights_path(name)
    if not p.is_file():
        raise FileNotFoundError(f"no weights for the {name!r} feature classifier at {str(p)!r}; regenerate them "
                                f"from the repository root with `{TRAIN_SCRIPT} --only {name}`")
    payload = _load(p.resolve(), p.stat().st_mtime_ns)
    if payload.get("format") != FORMAT_VERSION or payload.get("name") != name:
        raise ValueError(f"{str(p)!r} is not a format-{FORMAT_VERSION} weight file for {name!r}; regenerate it "
                         f"with `{TRAIN_SCRIPT} --only {name}`")
    return payload


def classifier(name: str, device: torch.device | str | None = None, *,
               path: str | Path | None = None) -> FeatureNet:
    """The shipped classifier of ``name`` (logits ``(B, 10)``), float32, in eval mode, on ``device`` (CPU default).

    ``path`` loads another weight file of the same layout (default :func:`weights_path`).
    """
    payload = load_payload(name, path)
    net = FeatureNet(**payload["config"])
    net.load_state_dict({k: v.float() for k, v in payload["state_dict"].items()})
    return net.eval().to(device or "cpu")


def feature_extractor(name: str, device: torch.device | str | None = None) -> Callable[[Tensor], Tensor]:
    """Penultimate features of the shipped ``name`` classifier: images ``(B, 1, H, W)`` (or ``(B, H·W)``) in
    [−1, 1] -> ``(B, 128)`` float32 on ``device``. Frozen and in eval mode; pass it to
    :func:`~gencoop.metrics.frechet_distance` as ``features``."""
    return FeatureExtractor(classifier(name, device))


def image_fd(
    x: Tensor | Iterable[Tensor],
    y: Tensor | Iterable[Tensor],
    dataset_name: str,
    *,
    device: torch.device | str | None = None,
    batch_size: int = 256,
) -> float:
    """Fréchet distance between images ``x`` and ``y`` (tensors ``(N, 1, H, W)`` in [−1, 1] or iterables of
    batches) in the feature space of the ``dataset_name`` classifier; see :func:`frechet_distance`."""
    return frechet_distance(x, y, feature_extractor(dataset_name, device), batch_size=batch_size)
