"""The packet-level step alone: every spike of a sending slice is one packet keyed by its slice
and neuron; over the compiled tables each layer's summed input is its weights times the spikes
before it, with the deliveries and missing rows of the slice-level edges; a packet at a core
that runs nothing, an input's core or a core of the wrong population is misdelivered and adds
nothing."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from snapdeploy.backends.spinnaker.packet_level import PacketLevel
from snapdeploy.backends.spinnaker.router import Deliveries, Router
from snapdeploy.backends.spinnaker.tables import LoadTables
from snapdeploy.backends.spinnaker.traffic import TrafficStats
from tests.backends.spinnaker.cases import fits, mapped, networks, two_chips
from tests.strategies import params

SETTINGS = settings(max_examples=40, deadline=None)


def packet_level(board, layers) -> PacketLevel:
    return PacketLevel(board, LoadTables.build(board, layers), Router(board))


def random_spikes(layers, batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Spikes of every population, drawn freely rather than fired by the neuron."""
    sizes = [layers[0].n_in] + [p.n_out for p in layers]
    return [rng.random((batch, n)) < rng.choice([0.2, 0.7]) for n in sizes]


@SETTINGS
@given(networks(), st.integers(1, 3))
def test_every_spike_of_a_sending_unit_is_one_packet_keyed_by_it(case, batch) -> None:
    device, layers, rng = case
    assume(fits(device, layers))
    board = mapped(device, layers).board()
    spikes = random_spikes(layers, batch, rng)
    stats = TrafficStats.zeros(board.mesh.n_chips)
    item, key = packet_level(board, layers).emit(spikes, stats)
    want = []
    for p, fired in enumerate(spikes):
        for b, neuron in zip(*np.nonzero(fired)):
            s = np.flatnonzero(
                (board.population == p) & (board.lo <= neuron) & (neuron < board.hi)
            ).item()
            units = board.units
            unit = (units.slice == s) & (units.lo <= neuron) & (neuron < units.hi)
            if board.sends[unit].item():
                want.append((int(b), int(board.base[s] + neuron - board.lo[s])))
    assert sorted(zip(item.tolist(), key.tolist())) == sorted(want)
    assert stats.packets_sent == len(want)


@SETTINGS
@given(networks(), st.integers(1, 3))
def test_over_the_compiled_tables_each_layer_gets_its_weights_times_the_spikes(case, batch) -> None:
    device, layers, rng = case
    assume(fits(device, layers))
    mapping = mapped(device, layers)
    board, graph = mapping.board(), mapping.graph
    spikes = random_spikes(layers, batch, rng)
    stats = TrafficStats.zeros(board.mesh.n_chips)
    summed = packet_level(board, layers).input(spikes, stats)
    for got, fired, layer in zip(summed, spikes[:-1], layers, strict=True):
        np.testing.assert_array_equal(got, fired.astype(np.int64) @ layer.weights.T)
    deliveries = no_row = 0
    for a, b in zip(graph.edge_pre.tolist(), graph.edge_post.tolist()):
        p = int(graph.population[a])
        fired = spikes[p][:, graph.lo[a] : graph.hi[a]].sum(axis=0)
        weights = layers[p].weights[graph.lo[b] : graph.hi[b], graph.lo[a] : graph.hi[a]]
        deliveries += int(fired.sum())
        no_row += int(fired @ ~np.any(weights != 0, axis=0))
    assert (stats.deliveries, stats.no_synaptic_row) == (deliveries, no_row)
    assert stats.misdelivered == stats.dropped == 0


def test_misdelivered_packets_are_counted_and_add_nothing() -> None:
    board = two_chips()  # slice 0: the input on chip 0 (keys 0-3); slice 1: the layer (keys 4-7)
    weights = 2 * np.arange(1, 17).reshape(4, 4) * (np.arange(4) != 3)  # neuron 3: no row
    cores = packet_level(board, [params(weights)])
    stats = TrafficStats.zeros(board.mesh.n_chips)
    delivered = Deliveries(
        item=np.array([0, 0, 0, 1, 1]),
        target=np.array([-1, 0, 1, 1, 1]),  # nothing runs there, the input, the layer
        key=np.array([0, 1, 5, 2, 3]),  # key 5: a neuron of the layer itself
    )
    (summed,) = cores.accumulate(delivered, 2, stats)
    np.testing.assert_array_equal(summed, [[0, 0, 0, 0], weights[:, 2]])
    assert (stats.deliveries, stats.misdelivered, stats.no_synaptic_row) == (5, 3, 1)
