"""Occluded data: masks that hide pixels, and data sets whose hidden entries are NaN (missing).

Conventions:

* A mask is a float tensor of the data's shape ``(N, *event_shape)`` (or broadcastable to it) with 1 = observed
  and 0 = hidden. For images ``(N, C, H, W)`` a hidden pixel is hidden in every channel.
* In an occluded data set a hidden entry is stored as NaN, so the mask travels with the data through any batcher:
  ``mask = isfinite(x)``. A model that learns from occluded data (the latent variable model) evaluates its
  likelihood on the finite entries only.
* Salt-and-pepper occlusion hides each pixel independently with probability ``fraction``; square occlusion hides one
  ``size × size`` square per image at a uniformly random position (the whole square inside the image).

Both are reproducible from a seed and independent of everything else, so the same ``(seed, N)`` always gives the
same masks.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import Tensor

from gencoop.config import ConfigError, PartRef
from gencoop.data.dataset import ArrayDataset
from gencoop.hookspecs import hookimpl
from gencoop.interfaces import Shape

Occlusion = Literal["salt_pepper", "square"]


def salt_and_pepper_mask(n: int, event_shape: Shape, fraction: float,
                         generator: torch.Generator | None = None) -> Tensor:
    """``(n, *event_shape)`` mask hiding each pixel (all channels of it) with probability ``fraction``.

    For vectors ``(d,)`` each coordinate is a pixel.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction: must be in [0, 1) (the share of hidden pixels), got {fraction}")
    pixel_shape = (1, *event_shape[1:]) if len(event_shape) == 3 else tuple(event_shape)
    keep = torch.rand((n, *pixel_shape), generator=generator) >= fraction
    return keep.float().expand(n, *event_shape).contiguous()


def square_mask(n: int, event_shape: Shape, size: int, generator: torch.Generator | None = None) -> Tensor:
    """``(n, C, H, W)`` mask hiding one ``size × size`` square per image at a random position inside it."""
    if len(event_shape) != 3:
        raise ValueError(f"square: needs images (C, H, W), got events of shape {tuple(event_shape)}")
    c, h, w = event_shape
    if not 1 <= size <= min(h, w):
        raise ValueError(f"size: the square's side must be in 1..{min(h, w)} pixels for {h}×{w} images, got {size}")
    top = torch.randint(0, h - size + 1, (n,), generator=generator)
    left = torch.randint(0, w - size + 1, (n,), generator=generator)
    rows, cols = torch.arange(h), torch.arange(w)
    inside_r = (rows[None] >= top[:, None]) & (rows[None] < top[:, None] + size)  # (n, H)
    inside_c = (cols[None] >= left[:, None]) & (cols[None] < left[:, None] + size)  # (n, W)
    hidden = inside_r[:, :, None] & inside_c[:, None, :]  # (n, H, W)
    return (~hidden).float()[:, None].expand(n, c, h, w).contiguous()


def occlusion_mask(n: int, event_shape: Shape, kind: Occlusion, *, fraction: float = 0.5, size: int = 14,
                   seed: int = 0) -> Tensor:
    """``(n, *event_shape)`` masks of ``kind`` ("salt_pepper" uses ``fraction``, "square" uses ``size``)."""
    g = torch.Generator().manual_seed(seed)
    if kind == "salt_pepper":
        return salt_and_pepper_mask(n, event_shape, fraction, g)
    if kind == "square":
        return square_mask(n, event_shape, size, g)
    raise ValueError(f"kind: {kind!r} is not an occlusion; use 'salt_pepper' or 'square'")


def observed(x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """``(x_filled, mask)``: hidden entries of ``x`` set to 0, and the mask expanded to ``x``'s shape.

    Without ``mask`` the hidden entries are the non-finite ones; when every entry is finite the mask is None
    (fully observed). ``x_filled`` never contains NaN, so gradients through it stay finite.
    """
    if mask is None:
        finite = torch.isfinite(x)
        if bool(finite.all()):
            return x, None
        mask = finite.to(x.dtype)
    else:
        try:
            mask = mask.to(device=x.device, dtype=x.dtype).expand_as(x)
        except RuntimeError:
            raise ValueError(f"mask: shape {tuple(mask.shape)} does not broadcast to the data's {tuple(x.shape)}; "
                             "pass (B, *event_shape) or (1, *event_shape) with 1 = observed") from None
        mask = mask * torch.isfinite(x).to(x.dtype)  # a NaN entry is never observed
    return torch.where(mask > 0, x, torch.zeros((), dtype=x.dtype, device=x.device)), mask


class OccludedDataset(ArrayDataset):
    """An :class:`ArrayDataset` whose hidden entries are NaN; ``clean`` keeps the originals and ``mask`` the masks
    ``(N, *event_shape)`` (1 = observed), for measuring recovery."""

    def __init__(self, base: ArrayDataset, mask: Tensor, name: str):
        x = torch.where(mask > 0, base.x, torch.full((), float("nan")))
        super().__init__(x, base.labels, name=name, scale=base.scale, levels=base.levels,
                         dequantize=base.dequantize, modes=base.modes, mode_std=base.mode_std,
                         class_names=base.class_names)
        self.clean, self.mask = base.x, mask

    def to(self, device: torch.device | str) -> OccludedDataset:
        super().to(device)
        self.clean, self.mask = self.clean.to(device), self.mask.to(device)
        return self


def occluded_dataset(
    data: PartRef = PartRef(name="mnist5k"),
    kind: Occlusion = "salt_pepper",
    fraction: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.5,
    size: Annotated[int, Field(ge=1)] = 14,
    seed: int = 0,
    split: Literal["train", "test", "all"] = "train",
    occlude_test: bool = False,
) -> ArrayDataset:
    """The data set ``data`` with pixels hidden (NaN): salt-and-pepper (``fraction`` of the pixels) or one square of
    side ``size`` per image. ``split`` goes to ``data``; the test split stays clean unless ``occlude_test`` (so
    held-out evaluation compares with clean images)."""
    from gencoop.registry import get
    from gencoop.train.runs import held_out_params

    spec = get("dataset", data.name)
    if split == "test":
        params = held_out_params(spec, data.params)  # its test split, or (toys) a fresh draw
    else:
        params = data.params
        if "split" in spec.config.model_fields:
            params["split"] = split
    try:
        base = spec.create(**params)
    except ConfigError as exc:
        raise ConfigError("dataset 'occluded'", [(f"data.{f}", m) for f, m in exc.problems]) from None
    if split == "test" and not occlude_test:
        return base
    mask = occlusion_mask(len(base), base.event_shape, kind, fraction=fraction, size=size, seed=seed)
    return OccludedDataset(base, mask, name=base.name)  # the base's name keeps its FD classifier features


def lifted_toy(
    toy: str = "8gaussians",
    dim: Annotated[int, Field(ge=2)] = 8,
    n: Annotated[int, Field(ge=1)] = 10_000,
    noise: Annotated[float, Field(ge=0.0)] = 0.05,
    seed: int = 0,
) -> ArrayDataset:
    """A 2-D toy placed in ``dim`` dimensions: x = A·t + noise·ε with t the toy's samples and A a fixed
    ``(dim, 2)`` matrix with orthonormal columns (drawn from seed 1234, the same for every split), ε ~ N(0, I).

    The data lie near a 2-D plane, so a latent variable model with a 2-D latent fits them; the toy's clusters make
    the latent density non-Gaussian (what an informative prior is for).
    """
    from gencoop.data.toy import TOYS, sample_toy

    if toy not in TOYS:
        raise ConfigError("dataset 'lifted'", [("toy", f"unknown toy {toy!r}; choose one of {', '.join(TOYS)}")])
    t = sample_toy(toy, n, seed)
    a, _ = torch.linalg.qr(torch.randn(dim, 2, generator=torch.Generator().manual_seed(1234)))
    g = torch.Generator().manual_seed(seed + 1)
    x = t @ a.T + noise * torch.randn(n, dim, generator=g)
    return ArrayDataset(x, name=f"{toy}-in-{dim}d")


__all__ = ["OccludedDataset", "lifted_toy", "observed", "occluded_dataset", "occlusion_mask",
           "salt_and_pepper_mask", "square_mask"]


@hookimpl
def register_components(register) -> None:
    register("dataset", "occluded", occluded_dataset,
             summary="A data set with hidden pixels stored as NaN: salt-and-pepper or a square per image",
             example={"data": {"name": "8gaussians", "n": 50}, "fraction": 0.3})
    register("dataset", "lifted", lifted_toy, summary="A 2-D toy placed near a plane in dim dimensions (8-D toy)",
             example={"n": 100})
