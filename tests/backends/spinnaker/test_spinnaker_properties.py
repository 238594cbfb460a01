"""Random networks over several slices and chips: the emulator's spikes equal the reference's
exactly, and every routing table, compressed or not, sends every key to exactly the cores that
need it (checked by looking up every key, hop by hop, in plain Python)."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from snapdeploy.backends.spinnaker import map_network
from snapdeploy.backends.spinnaker.compression import compress
from snapdeploy.backends.spinnaker.emulator import Emulator
from snapdeploy.core.neuron import ReferenceNetwork
from tests.backends.spinnaker.cases import SETTINGS, fits, networks, tampered, walk


@SETTINGS
@given(networks(), st.integers(1, 3))
def test_emulated_spikes_equal_the_reference(case, batch) -> None:
    device, layers, rng = case
    assume(fits(device, layers))
    mapping = map_network([f"l{i}" for i in range(len(layers))], layers, device, "test")
    emulator = Emulator(mapping.board(), layers)
    spikes = rng.random((12, batch, layers[0].n_in)) < rng.choice([0.1, 0.5])
    want = ReferenceNetwork(layers).run(spikes, record_all=True)
    emulator.reset(batch)
    got = [emulator.step(s) for s in spikes]
    for layer, expected in enumerate(want):
        np.testing.assert_array_equal(np.stack([g[layer] for g in got]), expected)
    stats = emulator.stats
    assert stats.dropped == 0 and stats.misdelivered == 0
    senders = [spikes] + want[:-1]
    assert stats.packets_sent <= sum(int(s.sum()) for s in senders)


def deliveries(mapping, tables, source: int, key: int) -> list[tuple[int, int]]:
    """(chip, core) pairs a key sent by slice `source` reaches: a router at a time, first match."""
    board = dataclasses.replace(mapping.board(), tables=tables)
    trip = walk(board, key, int(mapping.placements.chip[source]))
    assert not trip.no_route, f"key {key:#x} has no route on its source chip"
    assert not trip.no_link, "a route leaves the board or goes to a chip that does not exist"
    return trip.reached


@SETTINGS
@given(networks())
def test_every_key_reaches_exactly_its_cores_compressed_or_not(case) -> None:
    device, layers, _ = case
    assume(fits(device, layers))
    mapping = map_network([f"l{i}" for i in range(len(layers))], layers, device, "test")
    graph, placed = mapping.graph, mapping.placements
    base = mapping.board().base
    compressed = [compress(t) for t in mapping.tables]
    assert all(len(c) <= len(t) for c, t in zip(compressed, mapping.tables))
    for s in range(graph.n_slices):
        targets = graph.edge_post[graph.edge_pre == s]
        want = sorted((int(placed.chip[t]), int(placed.core[t])) for t in targets)
        if not want:
            continue
        for neuron in range(int(graph.hi[s] - graph.lo[s])):
            key = int(base[s]) + neuron
            for tables in (mapping.tables, compressed):
                assert sorted(deliveries(mapping, tables, s, key)) == want


@SETTINGS
@given(networks(), st.integers(1, 3), st.sampled_from([None, 1, 3]), st.booleans())
def test_per_slice_tables_count_exactly_as_packets_do(case, batch, capacity, tamper) -> None:
    """The tabulated step equals the packet-level one in spikes and every count, also with
    link capacities (drops) and with scrambled core bits (misdeliveries, missing rows)."""
    device, layers, rng = case
    assume(fits(device, layers))
    mapping = map_network([f"l{i}" for i in range(len(layers))], layers, device, "test")
    board = dataclasses.replace(mapping.board(), link_capacity=capacity)
    if tamper:
        board = tampered(board, rng)
    spikes = rng.random((6, batch, layers[0].n_in)) < rng.choice([0.1, 0.5])
    fast, slow = Emulator(board, layers), Emulator(board, layers, packet_level=True)
    fast.reset(batch)
    slow.reset(batch)
    for s in spikes:
        for got, want in zip(fast.step(s), slow.step(s)):
            np.testing.assert_array_equal(got, want)
    assert fast.stats.to_json() == slow.stats.to_json()
    np.testing.assert_array_equal(fast.stats.link_load, slow.stats.link_load)
