"""The fast path alone: for any spikes in every population (not only those the neuron would
fire), over compiled or scrambled tables, it sums and counts exactly what the packet-level path
does; a step that would overflow a link in some batch item is left to that path, counting
nothing, and one that fills a link exactly is not."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from snapdeploy.backends.spinnaker.fast_path import FastPath
from snapdeploy.backends.spinnaker.packet_level import PacketLevel
from snapdeploy.backends.spinnaker.router import Router
from snapdeploy.backends.spinnaker.tables import LoadTables, SliceTraffic
from snapdeploy.backends.spinnaker.traffic import TrafficStats
from tests.backends.spinnaker.cases import (
    fits,
    mapped,
    networks,
    tampered,
    two_chip_layers,
    two_chips,
)


def fast_path(board, layers) -> FastPath:
    tables = LoadTables.build(board, layers)
    traffic = SliceTraffic.build(board, layers, tables, Router(board))
    return FastPath(tables, traffic, board.link_capacity, layers)


@settings(max_examples=40, deadline=None)
@given(networks(), st.integers(1, 3), st.booleans())
def test_any_spikes_sum_and_count_as_the_packet_level_path(case, batch, tamper) -> None:
    device, layers, rng = case
    assume(fits(device, layers))
    board = mapped(device, layers).board()
    if tamper:
        board = tampered(board, rng)
    fast = fast_path(board, layers)
    packets = PacketLevel(board, fast.tables, Router(board))
    for density in (0.1, 0.6):
        spikes = [rng.random((batch, n)) < density for n in fast.tables.sizes]
        counted, want_counted = (TrafficStats.zeros(board.mesh.n_chips) for _ in range(2))
        got = fast.input(np.concatenate(spikes, axis=1), counted)
        want = packets.input(spikes, want_counted)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)
            assert g.flags.c_contiguous
        assert counted.to_json() == want_counted.to_json()
        np.testing.assert_array_equal(counted.link_load, want_counted.link_load)


def test_a_step_that_would_overflow_a_link_is_left_to_the_packet_level_path() -> None:
    fast = fast_path(two_chips(link_capacity=2), two_chip_layers())
    stats = TrafficStats.zeros(2)
    full = np.array([[1, 1, 0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0, 0, 0]], bool)
    assert fast.input(full, stats) is not None  # two packets east in each batch item
    assert stats.packets_sent == 4 and stats.link_load.sum() == 4
    before = stats.to_json()
    assert fast.input(full | np.eye(2, 8, k=2, dtype=bool), stats) is None
    assert stats.to_json() == before
