"""snapdeploy.data: Fashion-MNIST read from Debian's idx files, and named refusals."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from snapdeploy.data import FASHION_MNIST, DatasetMissingError, fashion_mnist, read_idx


def write_idx(path, magic: int, array: np.ndarray) -> None:
    head = struct.pack(f">{array.ndim + 1}I", magic, *array.shape)
    path.write_bytes(gzip.compress(head + array.astype(np.uint8).tobytes()))


def fake_dataset(root, n: int) -> np.ndarray:
    images = np.arange(n * 28 * 28).reshape(n, 28, 28) % 256
    for split in ("train", "t10k"):
        write_idx(root / f"{split}-images-idx3-ubyte.gz", 2051, images)
        write_idx(root / f"{split}-labels-idx1-ubyte.gz", 2049, np.arange(n) % 10)
    return images


def test_idx_files_become_scaled_images_and_labels(tmp_path):
    images = fake_dataset(tmp_path, 5)
    split = fashion_mnist(tmp_path, limit=3)
    assert split.x_train.shape == (3, 1, 28, 28) and split.x_train.dtype == np.float32
    assert np.allclose(split.x_test[:, 0] * 255, images[:3])
    assert split.y_train.tolist() == [0, 1, 2] and split.y_test.dtype == np.int64


def test_a_missing_file_names_the_package(tmp_path):
    with pytest.raises(DatasetMissingError, match="apt-get install -y dataset-fashion-mnist"):
        fashion_mnist(tmp_path)


def test_a_foreign_file_is_refused(tmp_path):
    write_idx(tmp_path / "x.gz", 2049, np.zeros((2, 2)))  # a labels magic on a rank-2 array
    with pytest.raises(DatasetMissingError, match="not a rank-3 idx file"):
        read_idx(tmp_path / "x.gz", 3)


@pytest.mark.skipif(not FASHION_MNIST.is_dir(), reason="dataset-fashion-mnist not installed")
def test_the_installed_dataset_has_its_documented_sizes():
    split = fashion_mnist(limit=10)
    assert split.x_train.shape == (10, 1, 28, 28) and 0 <= split.x_train.min() <= 1
    assert set(split.y_test.tolist()) <= set(range(10))
