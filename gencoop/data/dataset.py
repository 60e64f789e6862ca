"""``ArrayDataset``: an in-memory data set in model units, with the inverse of its scaling and dequantisation.

Conventions:

* ``x`` is a float32 tensor ``(N, *event_shape)``; ``labels`` (optional) is an int64 tensor ``(N,)``.
* ``scale="images"``: pixels with ``levels`` integer values ``v`` in ``0..levels-1`` are stored as
  ``x = 2·p − 1`` with ``p = v / (levels − 1)`` in [0, 1], so ``x`` lies in [−1, 1] (the range of a tanh decoder).
  :meth:`ArrayDataset.to_data_units` gives ``p`` back; :meth:`ArrayDataset.from_data_units` maps ``p`` to ``x``.
* ``scale="none"``: ``x`` is stored as given (toys, vectors); both unit maps are the identity.
* Dequantisation (``dequantize=True``, images only): :meth:`ArrayDataset.batch` replaces level ``v`` by
  ``p̃ = (v + u) / levels`` with ``u ~ U[0, 1)``, i.e. uniform noise one pixel level wide inside the level's bin.
  ``p̃`` stays in [0, 1), differs from ``p`` by less than one level (``1 / (levels − 1)``), and
  ``floor(levels · p̃) == v`` gives the level back. ``__getitem__`` always returns the clean sample.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from gencoop.interfaces import Shape

Scale = Literal["none", "images"]
Index = int | slice | Sequence[int] | Tensor | np.ndarray


class ArrayDataset(Dataset):
    """Samples ``x`` ``(N, *event_shape)`` in model units, optional ``labels`` ``(N,)``, and how to undo the scaling.

    ``modes`` ``(k, d)`` and ``mode_std`` describe a Gaussian-mixture toy (for mode-coverage metrics);
    ``class_names[label]`` names a label when the source has names.
    """

    def __init__(
        self,
        x: Tensor | np.ndarray,
        labels: Tensor | np.ndarray | None = None,
        *,
        name: str = "",
        scale: Scale = "none",
        levels: int | None = None,
        dequantize: bool = False,
        modes: Tensor | None = None,
        mode_std: float | None = None,
        class_names: Sequence[str] | None = None,
    ):
        self.x = torch.as_tensor(x, dtype=torch.float32)
        if self.x.dim() < 2:
            raise ValueError(f"x must have shape (N, *event_shape) with a non-empty event; got {tuple(self.x.shape)}")
        self.labels = None if labels is None else torch.as_tensor(labels, dtype=torch.int64)
        if self.labels is not None and self.labels.shape != (len(self.x),):
            raise ValueError(f"labels must have shape ({len(self.x)},); got {tuple(self.labels.shape)}")
        if scale not in ("none", "images"):
            raise ValueError(f"scale must be 'none' or 'images'; got {scale!r}")
        if scale == "images" and (levels is None or levels < 2):
            raise ValueError("scale='images' needs the number of pixel levels (levels >= 2)")
        if dequantize and scale != "images":
            raise ValueError("dequantize=True needs quantised images (scale='images')")
        self.name = name
        self.scale: Scale = scale
        self.levels = levels
        self.dequantize = dequantize
        self.modes = None if modes is None else torch.as_tensor(modes, dtype=torch.float32)
        self.mode_std = mode_std
        self.class_names = None if class_names is None else list(class_names)

    @classmethod
    def from_levels(cls, values: np.ndarray | Tensor, levels: int, labels=None, **kwargs) -> ArrayDataset:
        """Images from integer pixel values in ``0..levels-1`` (any shape ``(N, ...)``), scaled to [−1, 1]."""
        v = torch.as_tensor(np.asarray(values)).to(torch.float32)
        if v.numel() and (v.min() < 0 or v.max() > levels - 1 or not torch.equal(v, v.round())):
            raise ValueError(f"pixel values must be integers in 0..{levels - 1}")
        return cls(v * (2.0 / (levels - 1)) - 1.0, labels, scale="images", levels=levels, **kwargs)

    @property
    def event_shape(self) -> Shape:
        return tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> Tensor:
        """The clean sample ``index``, shape ``event_shape`` (no dequantisation noise)."""
        return self.x[index]

    def __repr__(self) -> str:
        extra = f", levels={self.levels}, dequantize={self.dequantize}" if self.scale == "images" else ""
        labelled = "labelled" if self.labels is not None else "unlabelled"
        return f"ArrayDataset({self.name!r}, n={len(self)}, event_shape={self.event_shape}, {labelled}{extra})"

    def batch(self, indices: Index, generator: torch.Generator | None = None) -> Tensor:
        """Samples ``indices`` ``(B, *event_shape)``, dequantised when ``dequantize`` is set (see module doc)."""
        x = self.x[torch.as_tensor(indices) if not isinstance(indices, (int, slice)) else indices]
        if not self.dequantize:
            return x
        if x.dim() == len(self.event_shape):  # a single int index
            return self._dequantize(x[None], generator)[0]
        return self._dequantize(x, generator)

    def _dequantize(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        assert self.levels is not None
        v = torch.round(self.to_data_units(x) * (self.levels - 1))
        u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return self.from_data_units((v + u) / self.levels)

    def iter_batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        generator: torch.Generator | None = None,
    ) -> Iterator[Tensor]:
        """One epoch of :meth:`batch` results ``(batch_size, *event_shape)``, in a random order when ``shuffle``."""
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            yield self.batch(order[start:start + batch_size].to(self.x.device), generator=generator)

    def to_data_units(self, x: Tensor) -> Tensor:
        """Model units to data units: ``p = (x + 1) / 2`` in [0, 1] for images; the identity otherwise."""
        return (x + 1.0) / 2.0 if self.scale == "images" else x

    def from_data_units(self, p: Tensor) -> Tensor:
        """Data units to model units: ``x = 2·p − 1`` for images; the identity otherwise."""
        return 2.0 * p - 1.0 if self.scale == "images" else p

    def to(self, device: torch.device | str) -> ArrayDataset:
        """Move ``x``, ``labels`` and ``modes`` to ``device`` (in place); returns ``self``."""
        self.x = self.x.to(device)
        self.labels = None if self.labels is None else self.labels.to(device)
        self.modes = None if self.modes is None else self.modes.to(device)
        return self
