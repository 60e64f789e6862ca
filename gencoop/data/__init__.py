"""Data sets: 2-D toys made in-process, image sets (digits, mnist5k, IDX files, Fashion-MNIST, folders) and npz.

Each is an :class:`ArrayDataset` in model units (images ``(N, C, H, W)`` in [−1, 1]); the dataset parts are
registered (kind ``dataset``) by :mod:`gencoop.data.datasets`, e.g. ``gencoop.create("dataset", "digits")``.
"""

from gencoop.data.dataset import ArrayDataset
from gencoop.data.datasets import (
    digits_dataset,
    fashion_mnist_dataset,
    folder_dataset,
    idx_dataset,
    mnist5k_dataset,
    npz_dataset,
    toy_dataset,
)
from gencoop.data.idx import read_idx
from gencoop.data.sources import MissingDependencyError
from gencoop.data.toy import MIXTURES, TOYS, sample_toy

__all__ = [
    "MIXTURES",
    "TOYS",
    "ArrayDataset",
    "MissingDependencyError",
    "digits_dataset",
    "fashion_mnist_dataset",
    "folder_dataset",
    "idx_dataset",
    "mnist5k_dataset",
    "npz_dataset",
    "read_idx",
    "sample_toy",
    "toy_dataset",
]
