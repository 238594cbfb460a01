"""The compiled block synapses sum exactly what a dense product of the same blocks gives, for
random block layouts, batch sizes and spike densities, and refuse sums beyond int32; the
compiled synaptic rows add each fired neuron's words; without the kernel the emulator steps
packet by packet to the same result."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapdeploy.backends.spinnaker import emulator as emulator_module
from snapdeploy.backends.spinnaker import map_network
from snapdeploy.backends.spinnaker.synapses import BlockSynapses, RowSynapses, kernel
from snapdeploy.core.errors import BackendError
from snapdeploy.targets import load_target
from tests.strategies import params


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
    got = BlockSynapses(blocks, n_neurons, n_neurons).input(fired)
    np.testing.assert_array_equal(got, dense_reference(blocks, n_neurons, fired))


def test_refuses_blocks_taller_than_the_kernel() -> None:
    rows = kernel().spinn_block_rows()
    with pytest.raises(BackendError, match=f"at most {rows} rows"):
        BlockSynapses([(0, 0, np.ones((rows + 1, 2), np.int64))], 2 * rows + 2, 2 * rows + 2)


def test_refuses_sums_beyond_int32() -> None:
    with pytest.raises(BackendError, match="int32"):
        BlockSynapses([(0, 0, np.full((1, 3), 2**30, np.int64))], 4, 4)


def test_without_the_kernel_every_step_is_packet_level_and_the_same(monkeypatch) -> None:
    """Where synapses.cpp cannot be built the emulator still builds and runs, packet by
    packet, giving the spikes and counts the compiled step gives."""
    rng = np.random.default_rng(2)
    layers = [
        params(2 * rng.integers(-20, 100, (300, 40)), du=200, dv=100, vth=30),
        params(2 * rng.integers(-20, 100, (50, 300)), du=200, dv=100, vth=30),
    ]
    device = load_target("spinn-3").device("board")
    board = map_network(["l0", "l1"], layers, device, "test").board()
    compiled = emulator_module.Emulator(board, layers)
    monkeypatch.setattr(emulator_module, "block_kernel_builds", lambda: False)
    fallback = emulator_module.Emulator(board, layers)
    assert compiled.block_synapses is not None and fallback.block_synapses is None
    for emulator in (compiled, fallback):
        emulator.reset(3)
    for s in rng.random((8, 3, 40)) < 0.4:
        for got, want in zip(fallback.step(s), compiled.step(s), strict=True):
            np.testing.assert_array_equal(got, want)
    assert fallback.stats.to_json() == compiled.stats.to_json()
    assert compiled.stats.packets_sent > 0


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 5), density=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1))
def test_rows_add_each_fired_neurons_words(batch, density, seed) -> None:
    """A delay layer's rows: each fired neuron adds its (sum, weight) words, repeats included."""
    rng = np.random.default_rng(seed)
    n_neurons, n_sums = int(rng.integers(1, 60)), int(rng.integers(1, 90))
    lengths = rng.integers(0, 6, n_neurons)
    row_start = np.concatenate([[0], np.cumsum(lengths)])
    target = rng.integers(0, n_sums, row_start[-1])
    weight = rng.integers(-512, 512, row_start[-1])
    fired = rng.random((batch, n_neurons)) < density
    summed = np.full((batch, n_sums), 7, np.int64)  # rows add to what is there
    RowSynapses(row_start, target, weight).add(fired, summed)
    want = np.full((batch, n_sums), 7, np.int64)
    for b, n in zip(*np.nonzero(fired)):
        np.add.at(
            want[b],
            target[row_start[n] : row_start[n + 1]],
            weight[row_start[n] : row_start[n + 1]],
        )
    np.testing.assert_array_equal(summed, want)
