"""The demo's data: scikit-learn's 8x8 handwritten digits, which ship inside the package."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
