"""FID through Inception, for users who already have the network: gencoop ships no Inception weights.

Pass the path of a TorchScript Inception feature network (for example the ``inception-2015-12-05.pt`` file the
StyleGAN2-ADA / clean-fid tools distribute). Its contract, as those files implement it: ``forward(x)`` takes
``(B, 3, 299, 299)`` float images with values in [0, 255] and returns ``(B, 2048)`` pool features. gencoop maps
model-unit images in [−1, 1] to that: grey images are repeated to 3 channels, sizes are bilinearly resized to
299×299, values are scaled to [0, 255].

    fid = inception_fid(samples, data.x, "inception-2015-12-05.pt")
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from gencoop.metrics.frechet import frechet_distance

SIZE = 299


class InceptionFeatures(nn.Module):
    """``(B, C, H, W)`` images in [−1, 1] → the TorchScript network's features ``(B, F)``."""

    def __init__(self, network: torch.jit.ScriptModule):
        super().__init__()
        self.network = network

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"Inception FID needs images (B, 1 or 3, H, W); got shape {tuple(x.shape)}")
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        x = nn.functional.interpolate(x.float(), size=(SIZE, SIZE), mode="bilinear", align_corners=False)
        return self.network((x.clamp(-1, 1) + 1) * 127.5).flatten(1).float()


def inception_features(path: str | Path, device: torch.device | str | None = None) -> Callable[[Tensor], Tensor]:
    """Load the user's TorchScript Inception from ``path`` as a feature extractor."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no Inception network at {path}; FID needs a TorchScript Inception file you "
                                "already have (gencoop does not download or ship one)")
    with warnings.catch_warnings():  # the files are TorchScript; torch 2.13 marks the loader deprecated
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.load` is deprecated", category=DeprecationWarning)
        network = torch.jit.load(str(path), map_location=device or "cpu")
    return InceptionFeatures(network).eval()


def inception_fid(x: Tensor, y: Tensor, path: str | Path, batch_size: int = 100) -> float:
    """FID between image sets ``x`` and ``y`` (model units) in the features of the Inception at ``path``."""
    return frechet_distance(x, y, inception_features(path), batch_size=batch_size)
