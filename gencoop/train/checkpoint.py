"""Checkpoints: written atomically, read back with ``torch.load(weights_only=True)`` (tensors and plain data only)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"


def save_atomic(obj: dict[str, Any], path: str | Path) -> Path:
    """torch.save to a temporary file beside ``path``, flush it to disk, then rename over ``path`` (atomic on POSIX):
    a run killed mid-write leaves the previous checkpoint intact."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    return torch.load(path, map_location=map_location, weights_only=True)
