"""Conv, pool and delay layers on random boards: the emulator's spikes and states (delay rings
included) equal the reference's over split runs, with the fast path taking the step; and the
packet-level path gives the same spikes, states and traffic counts as the fast path, over the
compiled tables or scrambled ones (where a conv core would get other than one copy of each
packet, the emulator leaves every step to the packet-level path); packet by packet, each layer
sums its weights per delay (a conv its kernel) and counts the copies that find no synapse."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from snapdeploy.backends.spinnaker.conv_slicing import conv_of
from snapdeploy.backends.spinnaker.emulator import Emulator
from snapdeploy.backends.spinnaker.packet_level import PacketLevel
from snapdeploy.backends.spinnaker.router import Router
from snapdeploy.backends.spinnaker.synaptic_input import delays_used
from snapdeploy.backends.spinnaker.tables import LoadTables
from snapdeploy.backends.spinnaker.traffic import TrafficStats
from snapdeploy.core.neuron import ReferenceNetwork
from snapdeploy.targets.spec import SpiNNakerDevice
from tests.backends.spinnaker.cases import (
    ROUTE_BLOCKS,
    kinds_boards,
    mapped,
    tampered,
    unit_targets,
)
from tests.strategies import params

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run(emulator: Emulator, spikes: np.ndarray, split: int) -> list[np.ndarray]:
    emulator.reset(spikes.shape[1])
    windows = [w for w in (spikes[:split], spikes[split:]) if len(w)]
    per_window = [emulator.advance(w) for w in windows]
    return [np.concatenate(layer) for layer in zip(*per_window)]


def assert_same_states(got, want) -> None:
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        for name in ("u", "v", "a_pending"):
            np.testing.assert_array_equal(getattr(g, name), getattr(w, name), f"layer {i} {name}")


@SETTINGS
@given(kinds_boards(), ROUTE_BLOCKS)
def test_conv_pool_and_delay_layers_equal_the_reference_on_any_board(case, route_block) -> None:
    device, layers, (spikes, split) = case
    emulator = Emulator(mapped(device, layers, route_block).board(), layers)
    assert emulator.fast_path is not None
    reference = ReferenceNetwork(layers)
    want = reference.run(spikes, record_all=True)
    got = run(emulator, spikes, split)
    for layer, (g, w) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_array_equal(g, w, f"layer {layer}")
    assert_same_states(emulator.layer_states(), reference.states)
    stats = emulator.stats
    assert stats.dropped == stats.misdelivered == 0


@SETTINGS
@given(kinds_boards(), st.booleans(), st.integers(0, 2**32 - 1), ROUTE_BLOCKS)
def test_the_packet_level_path_steps_as_the_fast_path(case, tamper, seed, route_block) -> None:
    device, layers, (spikes, split) = case
    board = mapped(device, layers, route_block).board()
    if tamper:
        board = tampered(board, np.random.default_rng(seed))
    fast, packets = Emulator(board, layers), Emulator(board, layers, packet_level=True)
    assert packets.fast_path is None
    if not tamper:
        assert fast.fast_path is not None
    event(f"fast path built: {fast.fast_path is not None}")
    for g, w in zip(run(fast, spikes, split), run(packets, spikes, split), strict=True):
        np.testing.assert_array_equal(g, w)
    assert_same_states(fast.layer_states(), packets.layer_states())
    assert fast.stats.to_json() == packets.stats.to_json()
    np.testing.assert_array_equal(fast.stats.link_load, packets.stats.link_load)


@SETTINGS
@given(kinds_boards(), st.integers(0, 2**32 - 1), ROUTE_BLOCKS)
def test_packets_sum_each_layers_weights_per_delay_and_count_rows_they_miss(
    case, seed, route_block
) -> None:
    """Over the compiled tables: a conv layer's input is its unshifted conv of the spikes, a
    delay layer's the spikes times its weights of each delay; a packet is delivered once over
    each edge of its routing unit, and every copy whose core has no synapse for its neuron
    counts as no_synaptic_row."""
    device, layers, _ = case
    mapping = mapped(device, layers, route_block)
    board, graph = mapping.board(), mapping.graph
    tables = LoadTables.build(board, layers)
    rng = np.random.default_rng(seed)
    spikes = [rng.random((2, n)) < 0.4 for n in tables.sizes]
    stats = TrafficStats.zeros(board.mesh.n_chips)
    summed = PacketLevel(board, tables, Router(board)).input(spikes, stats)
    for got, fired, layer in zip(summed, spikes[:-1], layers, strict=True):
        conv = conv_of(layer)
        if conv is not None:
            np.testing.assert_array_equal(got, conv.sums(fired) >> conv.weight_exp)
            continue
        for group, delay in enumerate(delays_used(layer).tolist()):
            weights = np.where(layer.delays == delay, layer.weights, 0)
            np.testing.assert_array_equal(got[:, group], fired.astype(np.int64) @ weights.T)
    deliveries = no_row = 0
    units = board.units
    for u, s in enumerate(units.slice.tolist()):
        staged, targets, mirrors = unit_targets(graph, tables, units, u)
        fired = spikes[graph.population[s]][:, units.lo[u] : units.hi[u]].sum(axis=0)
        deliveries += int(fired.sum()) * (len(targets) + len(mirrors))
        for t in targets:
            no_row += int(fired @ ~tables.rows[t].has_synapse(staged))
    assert (stats.deliveries, stats.no_synaptic_row) == (deliveries, no_row)
    assert stats.misdelivered == stats.dropped == 0


def test_a_delay_layer_whose_weights_are_all_zero_runs_on_its_bias_alone() -> None:
    """No delay is used, so its cores sum nothing, and its ring still moves on."""
    layer = dataclasses.replace(
        params(np.zeros((3, 4), int), vth=1, bias_mant=np.array([100, 0, 5])),
        delays=np.full((3, 4), 5),
    )
    board = mapped(SpiNNakerDevice.holding("dev", 8), [layer]).board()
    spikes = np.random.default_rng(0).random((6, 2, 4)) < 0.5
    reference = ReferenceNetwork([layer])
    want = reference.run(spikes)[0]
    assert want.any()
    for packet_level in (False, True):
        emulator = Emulator(board, [layer], packet_level=packet_level)
        np.testing.assert_array_equal(run(emulator, spikes, 2)[0], want)
        assert_same_states(emulator.layer_states(), reference.states)
