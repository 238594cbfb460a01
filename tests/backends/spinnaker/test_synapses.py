"""The compiled block synapses sum exactly what a dense product of the same blocks gives, for
random block layouts, batch sizes and spike densities, and refuse sums beyond int32."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapdeploy.backends.spinnaker.synapses import BlockSynapses, kernel
from snapdeploy.core.errors import BackendError


def dense_reference(blocks, n_neurons: int, fired: np.ndarray) -> np.ndarray:
    summed = np.zeros((fired.shape[0], n_neurons), np.int64)
    for out, first, w in blocks:
        summed[:, out : out + len(w)] = fired[:, first : first + w.shape[1]].astype(np.int64) @ w.T
    return summed


@settings(max_examples=60, deadline=None)
@given(
    n_blocks=st.integers(0, 12),
    batch=st.integers(1, 9),
    density=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_equals_the_dense_product(n_blocks, batch, density, seed) -> None:
    rng = np.random.default_rng(seed)
    rows_max = kernel().spinn_block_rows()
    n_neurons = 40 + rows_max * n_blocks
    blocks = []
    for b in range(n_blocks):  # disjoint outputs, as the emulator's blocks are
        rows, cols = int(rng.integers(1, rows_max + 1)), int(rng.integers(1, 41))
        weights = rng.integers(-512, 512, (rows, cols))  # copies x weight can exceed a byte
        blocks.append((40 + b * rows_max, int(rng.integers(0, n_neurons - cols + 1)), weights))
    fired = rng.random((batch, n_neurons)) < density
    got = BlockSynapses(blocks, n_neurons).input(fired)
    np.testing.assert_array_equal(got, dense_reference(blocks, n_neurons, fired))


def test_refuses_blocks_taller_than_the_kernel() -> None:
    rows = kernel().spinn_block_rows()
    with pytest.raises(BackendError, match=f"at most {rows} rows"):
        BlockSynapses([(0, 0, np.ones((rows + 1, 2), np.int64))], 2 * rows + 2)


def test_refuses_sums_beyond_int32() -> None:
    with pytest.raises(BackendError, match="int32"):
        BlockSynapses([(0, 0, np.full((1, 3), 2**30, np.int64))], 4)
