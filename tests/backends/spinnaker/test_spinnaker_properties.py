"""Random networks over several slices and chips: the emulator's spikes equal the reference's
exactly, and every routing table, compressed or not, sends every key to exactly the cores that
need it (checked by looking up every key, hop by hop, in plain Python)."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from snapdeploy.backends.spinnaker import map_network
from snapdeploy.backends.spinnaker.compression import compress
from snapdeploy.backends.spinnaker.emulator import Emulator
from snapdeploy.backends.spinnaker.mesh import LINK_STEPS
from snapdeploy.backends.spinnaker.routing import CORE_BIT0
from snapdeploy.core.neuron import LifLayerParams, ReferenceNetwork
from snapdeploy.targets.spec import SpiNNakerDevice
from tests.strategies import layer_widths, lif_layers

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def boards(draw) -> SpiNNakerDevice:
    if draw(st.booleans()) and draw(st.booleans()):
        shape = {"width": 8, "height": 8, "torus": False, "layout": "spinn5"}
    else:
        shape = {
            "width": draw(st.integers(1, 4)),
            "height": draw(st.integers(1, 4)),
            "torus": draw(st.booleans()),
        }
    return SpiNNakerDevice(
        name="board",
        cores_per_chip=draw(st.integers(1, 4)),
        neurons_per_core=draw(st.sampled_from([3, 4, 8, 16])),
        synapse_bytes_per_core=10**6,
        packet_energy_pj=1.0,
        hop_energy_pj=1.0,
        **shape,
    )


@st.composite
def networks(draw) -> tuple[SpiNNakerDevice, list[LifLayerParams], np.random.Generator]:
    """A board and 1-3 Dense + LIF layers of 1-40 neurons (halved until they fit it), with
    some all-zero weight blocks, saturating or not (see `lif_layer`)."""
    device = draw(boards())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    cores = len(device.chips()) * device.cores_per_chip
    sizes = draw(layer_widths(1, 40))
    while sum(-(-n // device.neurons_per_core) for n in sizes) > cores and max(sizes) > 1:
        sizes = [max(1, n // 2) for n in sizes]
    layers = draw(
        lif_layers(sizes, rng, saturating=draw(st.booleans()), densities=(0.05, 0.3, 1.0))
    )
    return device, layers, rng


def fits(device: SpiNNakerDevice, layers: list[LifLayerParams]) -> bool:
    sizes = [layers[0].n_in] + [p.n_out for p in layers]
    cores = len(device.chips()) * device.cores_per_chip
    return sum(-(-n // device.neurons_per_core) for n in sizes) <= cores


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
    mesh, cores_per_chip = mapping.mesh, mapping.device.cores_per_chip
    by_chip = {t.chip: t for t in tables}
    flying = [(int(mapping.placements.chip[source]), -1)]
    reached, hops = [], 0
    while flying:
        chip, came_by = flying.pop()
        hops += 1
        assert hops < 10 * mesh.n_chips, "a packet loops"
        table = by_chip[chip]
        route = next(
            (
                int(r)
                for k, m, r in zip(table.keys, table.masks, table.routes)
                if key & int(m) == int(k)
            ),
            None,
        )
        if route is None:
            assert came_by >= 0, f"key {key:#x} has no route on its source chip"
            route = 1 << came_by  # default route: straight on
        reached += [(chip, c) for c in range(cores_per_chip) if route >> (CORE_BIT0 + c) & 1]
        for link in range(6):
            if route >> link & 1:
                x, y = mesh.xy[chip] + LINK_STEPS[link]
                if mesh.torus:
                    x, y = x % mesh.width, y % mesh.height
                assert 0 <= x < mesh.width and 0 <= y < mesh.height, "a route leaves the board"
                nxt = int(mesh.index_of[x, y])
                assert nxt >= 0, "a route goes to a chip that does not exist"
                flying.append((nxt, link))
    return reached


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
        cores = np.uint64(((1 << device.cores_per_chip) - 1) << CORE_BIT0)
        tables = [
            dataclasses.replace(
                t,
                routes=(t.routes & ~cores)
                | (rng.integers(0, 1 << 30, len(t)).astype(np.uint64) & cores),
            )
            for t in board.tables
        ]
        board = dataclasses.replace(board, tables=tables)
    spikes = rng.random((6, batch, layers[0].n_in)) < rng.choice([0.1, 0.5])
    fast, slow = Emulator(board, layers), Emulator(board, layers, packet_level=True)
    fast.reset(batch)
    slow.reset(batch)
    for s in spikes:
        for got, want in zip(fast.step(s), slow.step(s)):
            np.testing.assert_array_equal(got, want)
    assert fast.stats.to_json() == slow.stats.to_json()
    np.testing.assert_array_equal(fast.stats.link_load, slow.stats.link_load)
