"""The router alone: every key goes where a plain walk through the tables sends it (copies,
hops, link load, lookups, drops), alone or with every other key at once; the first matching
entry wins; default routes run straight on to the board's edge; loops and masks over neuron
bits are refused; a full link drops the later packets of each batch item."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from snapdeploy.backends.spinnaker.board import Board
from snapdeploy.backends.spinnaker.mesh import N_LINKS
from snapdeploy.backends.spinnaker.router import Router, within_capacity
from snapdeploy.backends.spinnaker.routing import RoutingTable, core_bit, link_bit
from snapdeploy.backends.spinnaker.traffic import TrafficStats
from snapdeploy.core.errors import BackendError
from tests.backends.spinnaker.cases import fits, mapped, networks, tampered, two_chips, walk

EAST = 0


def send(board, keys, items=None, capacity=None):
    """Route packets of `keys` (batch item 0 unless `items` say) on a fresh router."""
    keys = np.asarray(keys, np.int64)
    items = np.zeros(len(keys), np.int64) if items is None else np.asarray(items, np.int64)
    stats = TrafficStats.zeros(board.mesh.n_chips)
    return Router(board).route(items, keys, stats, capacity), stats


def with_table(board: Board, chip: int, **entries: list[int]) -> Board:
    """The board with chip `chip`'s table replaced by `entries` (keys, masks, routes)."""
    table = RoutingTable(
        chip,
        np.array(entries.get("keys", []), np.uint32),
        np.array(entries.get("masks", []), np.uint32),
        np.array(entries.get("routes", []), np.uint64),
    )
    return dataclasses.replace(board, tables=[table if t.chip == chip else t for t in board.tables])


@settings(max_examples=40, deadline=None)
@given(networks(), st.booleans(), st.integers(0, 2**32 - 1))
def test_every_key_goes_where_a_walk_through_the_tables_sends_it(case, tamper, seed) -> None:
    device, layers, rng = case
    assume(fits(device, layers))
    board = mapped(device, layers).board()
    if tamper:
        board = tampered(board, rng)
    router = Router(board)
    slice_at = {(int(c), int(k)): s for s, (c, k) in enumerate(zip(board.chip, board.core))}
    senders = np.unique(board.units.slice[board.sends])  # Dense: one unit per slice
    source = np.repeat(senders, (board.hi - board.lo)[senders])
    neuron = np.arange(len(source)) - np.searchsorted(source, source)  # index within its slice
    keys = board.base[source] + neuron
    np.testing.assert_array_equal(router.slice_of_key(keys), source)
    want, total = [], TrafficStats.zeros(board.mesh.n_chips)
    items = np.random.default_rng(seed).integers(0, 3, len(keys))
    for key, item, s in zip(keys.tolist(), items.tolist(), source.tolist()):
        trip = walk(board, key, int(board.chip[s]))
        got, stats = send(board, [key], [item])
        targets = sorted(slice_at.get(r, -1) for r in trip.reached)
        assert sorted(got.target.tolist()) == targets
        assert set(got.key.tolist()) <= {key} and set(got.item.tolist()) <= {item}
        assert (stats.router_lookups, stats.hops) == (trip.lookups, len(trip.hops))
        assert (stats.dropped_no_route, stats.dropped_no_link) == (trip.no_route, trip.no_link)
        load = np.zeros_like(stats.link_load)
        np.add.at(load, tuple(np.array(trip.hops, np.int64).reshape(-1, 2).T), 1)
        np.testing.assert_array_equal(stats.link_load, load)
        want += [(item, t, key) for t in targets]
        total.router_lookups += stats.router_lookups
        total.hops += stats.hops
        total.link_load += stats.link_load
    got, stats = send(board, keys, items)  # all at once, vectorized
    assert sorted(zip(*(g.tolist() for g in got))) == sorted(want)
    assert (stats.router_lookups, stats.hops) == (total.router_lookups, total.hops)
    np.testing.assert_array_equal(stats.link_load, total.link_load)


def test_the_first_matching_entry_wins() -> None:
    board = two_chips()
    source = board.tables[0]
    anything = {"keys": [0], "masks": [0], "routes": [0]}  # matches every key, goes nowhere
    first = with_table(board, 0, **{k: v + list(getattr(source, k)) for k, v in anything.items()})
    got, stats = send(first, [1])
    assert len(got.target) == 0 and stats.router_lookups == 1 and stats.dropped == 0
    last = with_table(board, 0, **{k: list(getattr(source, k)) + v for k, v in anything.items()})
    got, stats = send(last, [1])
    assert got.target.tolist() == [1] and stats.router_lookups == 2 and stats.hops == 1
    assert stats.link_load[0, EAST] == 1 and stats.link_load.sum() == 1


def test_an_entry_matching_part_of_a_routing_unit_is_refused_when_its_packets_arrive() -> None:
    """Chip 0's only entry matches key 1 alone of the input slice's keys 0-3 (one unit)."""
    board = with_table(two_chips(), 0, keys=[1], masks=[0xFFFFFFFF], routes=[link_bit(EAST)])
    router = Router(board)  # built: no packet has come yet
    for key in (0, 1):
        with pytest.raises(BackendError, match="matches only part of that key's routing unit"):
            router.route(np.zeros(1, np.int64), np.array([key]), TrafficStats.zeros(2))
    # a whole unit's mask of the neuron field's top bit: keys 0-1 and 2-3 go apart
    halves = dataclasses.replace(board, route_bits=np.array([1, 1]))
    split = with_table(halves, 0, keys=[0], masks=[0xFFFFFFFE], routes=[link_bit(EAST)])
    split = with_table(split, 1, keys=[0], masks=[0xFFFFFFFE], routes=[core_bit(0)])
    got, stats = send(split, [0, 1, 2, 3])
    assert sorted(got.key.tolist()) == [0, 1] and stats.dropped_no_route == 2


def test_a_default_route_runs_straight_on_to_the_edge() -> None:
    got, stats = send(with_table(two_chips(), 1), [2])
    assert len(got.target) == 0
    assert (stats.router_lookups, stats.hops, stats.dropped_no_link) == (2, 1, 1)
    assert stats.dropped_no_route == 0


def test_a_packet_from_a_core_with_no_entry_is_dropped() -> None:
    got, stats = send(with_table(two_chips(), 0), [2])
    assert len(got.target) == 0
    assert (stats.router_lookups, stats.hops, stats.dropped_no_route) == (1, 0, 1)


def test_a_default_route_around_a_torus_is_refused_as_a_loop() -> None:
    board = with_table(two_chips(torus=True), 1)
    with pytest.raises(BackendError, match="loop between chips for ever"):
        send(board, [0])


def test_a_full_link_drops_the_later_packets_of_each_batch_item() -> None:
    got, stats = send(two_chips(), [0, 1, 2, 3], items=[0, 0, 0, 1], capacity=2)
    assert sorted(zip(got.item.tolist(), got.key.tolist())) == [(0, 0), (0, 1), (1, 3)]
    assert stats.dropped_link_capacity == 1 and stats.link_load[0, EAST] == stats.hops == 3


@given(
    st.lists(st.integers(0, N_LINKS - 1), max_size=40),
    st.lists(st.integers(0, 3), min_size=N_LINKS, max_size=N_LINKS),
    st.integers(1, 4),
)
def test_within_capacity_keeps_the_first_packets_of_each_link(links, before, capacity) -> None:
    load = np.array(before, np.int64)
    keep = within_capacity(load, np.array(links, np.int64), capacity)
    carried = list(before)
    for link, kept in zip(links, keep.tolist()):
        assert kept == (carried[link] < capacity)
        carried[link] += kept
    assert load.tolist() == carried
