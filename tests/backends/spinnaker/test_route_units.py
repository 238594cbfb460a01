"""Routing units: slices cut into aligned key blocks that tile them; every key of a conv's input
reaches exactly the cores some neuron of its block reaches, through the compiled tables (walked
entry by entry); compile takes the finest block whose tables fit every router, refusing with
both numbers where none does; and finer blocks waste fewer copies while delivering the same
useful ones, with the same spikes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapdeploy.backends.spinnaker import FINEST_ROUTE_BLOCK
from snapdeploy.backends.spinnaker.emulator import Emulator
from snapdeploy.backends.spinnaker.mapping import Mapping
from snapdeploy.backends.spinnaker.route_units import RouteUnits
from snapdeploy.backends.spinnaker.tables import LoadTables
from snapdeploy.backends.spinnaker.traffic import TrafficStats
from snapdeploy.core.conv import ConvLayerParams, ConvSynapse
from snapdeploy.core.errors import CapacityError, ParameterRangeError
from snapdeploy.core.neuron import LifLayerParams, ReferenceNetwork
from snapdeploy.targets.spec import SpiNNakerDevice
from tests.backends.spinnaker.cases import ROUTE_BLOCKS, kinds_boards, mapped, unit_targets, walk

SETTINGS = settings(max_examples=15, deadline=None)


@SETTINGS
@given(st.lists(st.tuples(st.integers(1, 40), st.integers(0, 6)), min_size=1, max_size=5))
def test_units_tile_each_slice_in_aligned_blocks_and_keys_find_their_unit(slices) -> None:
    widths, bits = (np.array(v, np.int64) for v in zip(*slices))
    lo = np.concatenate([[0], np.cumsum(widths)[:-1]])
    base = np.arange(len(widths), dtype=np.int64) << 6  # a core's keys: 6 neuron bits
    units = RouteUnits.of(lo, lo + widths, base, bits)
    for s, (first, width) in enumerate(zip(lo.tolist(), widths.tolist())):
        mine = np.flatnonzero(units.slice == s)
        starts = first + (np.arange(len(mine)) << bits[s])
        np.testing.assert_array_equal(units.lo[mine], starts)
        np.testing.assert_array_equal(
            units.hi[mine], np.minimum(starts + (1 << bits[s]), first + width)
        )
        for u in mine.tolist():
            keys = base[s] + np.arange(units.lo[u], units.hi[u]) - first
            assert np.all(units.of_keys(keys) == u)
            assert np.all((keys & units.mask[u]) == units.key[u])  # the mask spans the block
    np.testing.assert_array_equal(np.sort(units.of_keys(units.key)), np.arange(len(units)))


@SETTINGS
@given(kinds_boards(), ROUTE_BLOCKS)
def test_every_key_reaches_the_cores_its_block_reaches(case, route_block) -> None:
    device, layers, _ = case
    mapping = mapped(device, layers, route_block)
    board, graph = mapping.board(), mapping.graph
    tables, units = LoadTables.build(board, layers), board.units
    at = {(int(c), int(k)): s for s, (c, k) in enumerate(zip(board.chip, board.core))}
    for u, s in enumerate(units.slice.tolist()):
        _, targets, mirrors = unit_targets(graph, tables, units, u)
        want = sorted(targets + mirrors)
        assert board.sends[u] == bool(want)
        if want:
            keys = units.key[u] + np.arange(units.hi[u] - units.lo[u])
            for key in keys.tolist():
                assert sorted(at[r] for r in walk(board, key, int(board.chip[s])).reached) == want


def conv_network() -> list[ConvLayerParams]:
    """A 3x3 conv of a 16 x 16 x 2 input onto 4 channels (1024 neurons), every tap non-zero."""
    rng = np.random.default_rng(7)
    conv = ConvSynapse(2 * rng.integers(1, 60, (4, 3, 3, 2)), (16, 16, 2), padding=(1, 1))
    return [ConvLayerParams(conv, 0, 0, 40, np.zeros(conv.n_out, int), 0)]


BOARD = SpiNNakerDevice(
    name="grid",
    width=2,
    height=2,
    torus=False,
    cores_per_chip=4,
    neurons_per_core=128,
    synapse_bytes_per_core=10**6,
    packet_energy_pj=1.0,
    hop_energy_pj=1.0,
)


def fits(device: SpiNNakerDevice, layers: list[ConvLayerParams], block: int) -> bool:
    try:
        mapped(device, layers, block)
    except CapacityError:
        return False
    return True


def test_compile_takes_the_finest_block_whose_tables_fit() -> None:
    layers, blocks = conv_network(), (16, 32, 64, 128)
    assert FINEST_ROUTE_BLOCK == blocks[0]
    loose = dataclasses.replace(BOARD, router_entries=10**6)
    longest = [max(mapped(loose, layers, block).entries_before) for block in blocks]
    assert longest == sorted(longest, reverse=True) and longest[0] > longest[-1]
    # compression fits finer blocks than `longest` says: 3 fits only 128, 5 64, 8 16
    for limit in sorted({3, 5, *longest}):
        tight = dataclasses.replace(BOARD, router_entries=limit)
        finest = next(b for b in blocks if fits(tight, layers, b))
        chosen = mapped(tight, layers)
        assert set(chosen.route_bits[chosen.graph.population == 0]) == {finest.bit_length() - 1}
        assert max(len(t) for t in chosen.tables) <= limit
    with pytest.raises(
        CapacityError, match=r"entries after compression \(\d+ before\) but the router holds 2;"
    ):
        mapped(dataclasses.replace(BOARD, router_entries=2), layers)
    with pytest.raises(ParameterRangeError, match=r"route_block = 24: .* power of two"):
        mapped(BOARD, layers, 24)


def emulated(
    mapping: Mapping, layers: list[ConvLayerParams] | list[LifLayerParams], spikes: np.ndarray
) -> TrafficStats:
    """The traffic of running `spikes` [T, batch, n_in] on the fast path, its output checked
    equal to the reference's."""
    emulator = Emulator(mapping.board(), layers)
    assert emulator.fast_path is not None
    emulator.reset(spikes.shape[1])
    got = np.stack([emulator.step(s)[-1] for s in spikes])
    np.testing.assert_array_equal(got, ReferenceNetwork(layers).run(spikes)[0])
    return emulator.stats


def test_finer_blocks_waste_fewer_copies_and_deliver_the_same_useful_ones() -> None:
    layers = conv_network()
    spikes = np.random.default_rng(8).random((20, 2, layers[0].n_in)) < 0.2
    counted = {}
    for block in (128, 16):
        stats = emulated(mapped(BOARD, layers, block), layers, spikes)
        counted[block] = (stats.deliveries - stats.no_synaptic_row, stats.no_synaptic_row)
    assert counted[16][0] == counted[128][0]
    assert counted[16][1] < counted[128][1] / 2


def dense(n_in: int, n_out: int, band: int | None) -> LifLayerParams:
    """Random non-zero weights; with `band`, only inputs within `band` of the neuron's place."""
    rng = np.random.default_rng(9)
    weights = 2 * rng.integers(1, 100, (n_out, n_in))
    if band is not None:
        place = np.arange(n_in)[None, :] * n_out - np.arange(n_out)[:, None] * n_in
        weights = weights * (np.abs(place) <= band * n_out)
    return LifLayerParams(weights, 0, 400, 200, 300, rng.integers(0, 64, n_out), 2)


def test_a_banded_dense_layer_is_routed_in_blocks_and_a_fully_connected_one_per_slice() -> None:
    spikes = np.random.default_rng(10).random((10, 1, 1024)) < 0.2
    wasted = {}
    for band in (None, 100):
        layers = [dense(1024, 512, band)]
        mapping = mapped(BOARD, layers)
        inputs = mapping.graph.population == 0
        stats = emulated(mapping, layers, spikes)
        wasted[band] = stats.no_synaptic_row / stats.deliveries
        if band is None:  # every block reaches every core: one entry per slice
            assert set(mapping.route_bits[inputs].tolist()) == {7}
            assert wasted[band] == 0
        else:
            # blocks, where some block of the slice reaches fewer cores than the slice
            assert 4 in mapping.route_bits[inputs]
            whole = emulated(mapped(BOARD, layers, 128), layers, spikes)
            before = whole.no_synaptic_row / whole.deliveries
            assert wasted[band] < before / 2
