"""Data for the demo and the SNAP evaluation: scikit-learn's bundled 8x8 digits, and
Fashion-MNIST from Debian's `dataset-fashion-mnist` package (no download at run time)."""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snapdeploy.core.errors import SnapdeployError
from snapdeploy.core.extras import needs

with needs("train", __name__):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def digits(test_fraction: float = 0.25, seed: int = 0, limit: int | None = None) -> Split:
    """Digits scaled to [0, 1], stratified split; `limit` keeps the first N (tiny test runs)."""
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    if limit is not None:
        x, y = x[:limit], y[:limit]
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y if limit is None else None
    )
    return Split(x_tr, y_tr, x_te, y_te)


#: Where Debian's `dataset-fashion-mnist` package puts the Fashion-MNIST files.
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
IDX_MAGIC = {1: 2049, 3: 2051}  # idx file magic by rank: labels, images


class DatasetMissingError(SnapdeployError):
    """A dataset file is absent or not what its format promises."""


def read_idx(path: Path, rank: int) -> np.ndarray:
    """One gzipped idx file (LeCun's MNIST format: big-endian magic, sizes, then uint8s)."""
    if not path.is_file():
        raise DatasetMissingError(
            f"{path} does not exist; fix: `apt-get install -y dataset-fashion-mnist` (Debian; "
            f"`make test` installs it), or pass the folder that holds the idx files"
        )
    data = gzip.decompress(path.read_bytes())
    magic, *sizes = struct.unpack(f">{rank + 1}I", data[: 4 * (rank + 1)])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 * (rank + 1))
    if magic != IDX_MAGIC[rank] or body.size != int(np.prod(sizes)):
        raise DatasetMissingError(
            f"{path} is not a rank-{rank} idx file (magic {magic}, sizes {sizes}, "
            f"{body.size} values); fix: reinstall dataset-fashion-mnist"
        )
    return body.reshape(sizes)


def fashion_mnist(root: Path = FASHION_MNIST, limit: int | None = None) -> Split:
    """Fashion-MNIST's 60k/10k split as float32 [N, 1, 28, 28] in [0, 1] and int64 labels;
    `limit` keeps the first N of each split (quick runs)."""
    parts = []
    for split in ("train", "t10k"):
        images = read_idx(root / f"{split}-images-idx3-ubyte.gz", 3)[:limit]
        labels = read_idx(root / f"{split}-labels-idx1-ubyte.gz", 1)[:limit]
        parts += [(images[:, None] / np.float32(255)).astype(np.float32), labels.astype(np.int64)]
    return Split(*parts)
