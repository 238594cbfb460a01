"""What the SpiNNaker tests share: random boards and networks that fit them (Dense, or conv,
pool and delay layers), tables with scrambled core bits, a tiny two-chip board to edit by hand,
and `walk`, the oracle that routes one packet in plain Python, a router and a table entry at a
time."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from snapdeploy.backends.spinnaker import MAX_CORES_PER_CHIP, map_network
from snapdeploy.backends.spinnaker.board import Board
from snapdeploy.backends.spinnaker.mapping import Mapping
from snapdeploy.backends.spinnaker.mesh import LINK_STEPS, N_LINKS
from snapdeploy.backends.spinnaker.route_units import RouteUnits
from snapdeploy.backends.spinnaker.routing import CORE_BIT0
from snapdeploy.backends.spinnaker.slicing import SliceGraph, slice_network
from snapdeploy.backends.spinnaker.tables import LoadTables
from snapdeploy.core.conv import ConvLayerParams
from snapdeploy.core.neuron import LifLayerParams
from snapdeploy.targets.spec import SpiNNakerDevice
from tests.strategies import delay_layer, kinds_network, layer_widths, lif_layers, params

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


@st.composite
def kinds_boards(draw) -> tuple[SpiNNakerDevice, list[LifLayerParams | ConvLayerParams], tuple]:
    """A conv or pool network with a delay layer (`kinds_network`), on a board of a few chips
    with few neurons per core (so layers spread over many slices and chips) and just enough
    cores; also the input spikes and a step to split the run at."""
    layers, spikes, split = draw(kinds_network(steps=(1, 12)))
    device = SpiNNakerDevice(
        name="board",
        width=1,
        height=draw(st.integers(1, 2)),
        torus=draw(st.booleans()),
        cores_per_chip=1,
        neurons_per_core=draw(st.sampled_from([2, 5, 8, 32])),
        synapse_bytes_per_core=10**6,
        packet_energy_pj=1.0,
        hop_energy_pj=1.0,
    )
    slices = slice_network([f"l{i}" for i in range(len(layers))], layers, device).n_slices
    least = -(-slices // (MAX_CORES_PER_CHIP * device.height))
    width = max(least, draw(st.integers(1, 3)))
    cores = -(-slices // (width * device.height))
    return dataclasses.replace(device, width=width, cores_per_chip=cores), layers, (spikes, split)


@st.composite
def extension_boards(draw) -> tuple[SpiNNakerDevice, list[LifLayerParams], tuple]:
    """A wide delay layer (520-1200 neurons, delays up to 3, 20 or 62 steps), maybe another after it,
    on cores of 1024 or 2048 neurons, whose rings hold 16 or 8 slots, so longer delays need
    delay-extension stages; a board of one or two chips of few cores; the input spikes (up to
    70 steps, past every delay) and a step to split the run at."""
    n_in = draw(st.integers(1, 24))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    wide = draw(delay_layer(n_in=n_in, n_out=draw(st.integers(520, 1200))))
    longest = draw(st.sampled_from([3, 20, 62]))
    layers = [dataclasses.replace(wide, delays=rng.integers(0, longest + 1, wide.weights.shape))]
    if draw(st.booleans()):
        layers.append(draw(delay_layer(n_in=layers[0].n_out)))
    device = SpiNNakerDevice(
        name="wide",
        width=draw(st.integers(1, 2)),
        height=1,
        torus=False,
        cores_per_chip=1,
        neurons_per_core=draw(st.sampled_from([1024, 2048])),
        synapse_bytes_per_core=10**8,
        packet_energy_pj=1.0,
        hop_energy_pj=1.0,
    )
    slices = slice_network([f"l{i}" for i in range(len(layers))], layers, device).n_slices
    device = dataclasses.replace(device, cores_per_chip=-(-slices // device.width))
    steps = draw(st.integers(1, 70))
    spikes = rng.random((steps, draw(st.integers(1, 2)), n_in)) < draw(st.sampled_from([0.1, 0.5]))
    return device, layers, (spikes, draw(st.integers(0, steps)))


def fits(device: SpiNNakerDevice, layers: list[LifLayerParams]) -> bool:
    sizes = [layers[0].n_in] + [p.n_out for p in layers]
    cores = len(device.chips()) * device.cores_per_chip
    return sum(-(-n // device.neurons_per_core) for n in sizes) <= cores


def mapped(
    device: SpiNNakerDevice,
    layers: list[LifLayerParams | ConvLayerParams],
    route_block: int | None = None,
) -> Mapping:
    names = [f"l{i}" for i in range(len(layers))]
    return map_network(names, layers, device, "test", route_block=route_block)


#: Routing units a conv's input is cut into in the tests: the backend's choice, or 1-4 neurons
#: (blocks smaller than the boards' slices, so each slice has several).
ROUTE_BLOCKS = st.sampled_from([None, 1, 2, 4])


def unit_targets(
    graph: SliceGraph, tables: LoadTables, units: RouteUnits, u: int
) -> tuple[np.ndarray, list[int], list[int]]:
    """Where routing unit `u`'s packets should go, from the cores' synapses: (its neurons'
    synaptic row numbers, stage * n_in + neuron; the slices of the layer it feeds with a row
    for some neuron of it; the other slices its slice connects to: delay extensions)."""
    s, feeds = int(units.slice[u]), graph.populations.feeds
    p = int(graph.population[s])
    if feeds[p] < 0:
        return np.zeros(0, np.int64), [], []
    staged = graph.populations.stages[p] * tables.sizes[feeds[p] - 1]
    staged += np.arange(units.lo[u], units.hi[u])
    layer = graph.slices_of(feeds[p]).tolist()
    mirrors = [t for t in graph.edge_post[graph.edge_pre == s].tolist() if t not in layer]
    return staged, [t for t in layer if tables.rows[t].has_synapse(staged).any()], mirrors


def tampered(board: Board, rng: np.random.Generator) -> Board:
    """The board with random core bits in every route: packets go to wrong cores, or to cores
    that have no synaptic row for them, or to none."""
    cores = np.uint64(((1 << board.cores_per_chip) - 1) << CORE_BIT0)
    tables = [
        dataclasses.replace(
            t,
            routes=(t.routes & ~cores)
            | (rng.integers(0, 1 << 30, len(t)).astype(np.uint64) & cores),
        )
        for t in board.tables
    ]
    return dataclasses.replace(board, tables=tables)


def two_chips(torus: bool = False, link_capacity: int | None = None) -> Board:
    """Chips (0, 0) and (1, 0), one core each: 4 input neurons on chip 0 feed 4 neurons on chip
    1, so chip 0's table sends the input's key east and chip 1's delivers it to its core."""
    device = SpiNNakerDevice(
        name="two",
        width=2,
        height=1,
        torus=torus,
        cores_per_chip=1,
        neurons_per_core=4,
        synapse_bytes_per_core=10**6,
        packet_energy_pj=1.0,
        hop_energy_pj=1.0,
        link_capacity_per_step=link_capacity,
    )
    return mapped(device, two_chip_layers()).board()


def two_chip_layers() -> list[LifLayerParams]:
    """The layer `two_chips` maps: 4 inputs to 4 neurons, every weight non-zero."""
    return [params(2 * np.arange(1, 17).reshape(4, 4))]


@dataclass
class Trip:
    """Where one packet went: every copy delivered, every hop, and what was dropped."""

    reached: list[tuple[int, int]] = field(default_factory=list)  # (chip, core)
    hops: list[tuple[int, int]] = field(default_factory=list)  # (chip, link) left by
    lookups: int = 0
    no_route: int = 0
    no_link: int = 0


def walk(board: Board, key: int, chip: int) -> Trip:
    """Route a packet sent from a core on `chip`: at each router the first entry whose masked
    key matches, else straight on by the default route (a local core's packet has none)."""
    mesh, trip = board.mesh, Trip()
    by_chip = {t.chip: t for t in board.tables}
    flying = [(chip, -1)]
    while flying:
        chip, came_by = flying.pop()
        trip.lookups += 1
        assert trip.lookups < 10 * mesh.n_chips, "a packet loops"
        table = by_chip[chip]
        route = next(
            (
                int(r)
                for k, m, r in zip(table.keys, table.masks, table.routes)
                if key & int(m) == int(k)
            ),
            None,
        )
        if route is None and came_by < 0:
            trip.no_route += 1
            continue
        route = 1 << came_by if route is None else route
        trip.reached += [
            (chip, c) for c in range(board.cores_per_chip) if route >> (CORE_BIT0 + c) & 1
        ]
        for link in range(N_LINKS):
            if route >> link & 1:
                x, y = mesh.xy[chip] + LINK_STEPS[link]
                if mesh.torus:
                    x, y = x % mesh.width, y % mesh.height
                inside = 0 <= x < mesh.width and 0 <= y < mesh.height
                nxt = int(mesh.index_of[x, y]) if inside else -1
                if nxt < 0:
                    trip.no_link += 1
                    continue
                trip.hops.append((chip, link))
                flying.append((nxt, link))
    return trip
