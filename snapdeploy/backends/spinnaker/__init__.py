"""The SpiNNaker-style many-core backend: slice, place, route, compress, then emulate packets.

`compile` runs PACMAN's steps as separate functions (slicing, placement, routing, compression,
one module each), refuses a network that does not fit (cores, synaptic memory, DTCM for
kernels and delay rings, key bits, router entries) with the numbers before writing anything,
and writes readable files: placements.json, routing_tables.json and mesh.png (the chip mesh,
each link drawn by how many keys are routed over it). `load` rebuilds the board from those
files and runs it in the packet-level emulator, whose spikes equal the reference's bit for
bit. Dense layers (with per-synapse delays in each core's ring, and delay-extension cores past
it), conv and pool layers (a shared kernel per core, as sPyNNaker's convolution connector)
run on it. A slice whose neurons reach different cores (a conv's or pool's input, a banded or
sparse Dense layer's) is routed in blocks of its neurons with key/mask entries of their own
(`route_units`), the finest whose tables fit the routers, so a core gets the packets of the
neurons that reach it rather than of every neuron of their slices.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from snapdeploy.backends.base import CompiledPartition, SpikingBackend
from snapdeploy.backends.reference import NetworkExecutor
from snapdeploy.backends.spinnaker.compression import fit_tables
from snapdeploy.backends.spinnaker.emulator import Emulator, TrafficStats
from snapdeploy.backends.spinnaker.keys import KeyLayout
from snapdeploy.backends.spinnaker.mapping import Mapping, read_board
from snapdeploy.backends.spinnaker.mesh import N_LINKS, Mesh
from snapdeploy.backends.spinnaker.placement import Placements, place_slices
from snapdeploy.backends.spinnaker.plot import plot_mesh
from snapdeploy.backends.spinnaker.route_units import RouteUnits, split_helps, unit_edges
from snapdeploy.backends.spinnaker.routing import build_routes
from snapdeploy.backends.spinnaker.slicing import SliceGraph, slice_network
from snapdeploy.core.conv import ConvLayerParams
from snapdeploy.core.errors import CapacityError, ParameterRangeError
from snapdeploy.core.neuron import LayerState, LifLayerParams
from snapdeploy.partition.partitions import SpikingPartition
from snapdeploy.targets.spec import SpiNNakerDevice

MESH_PLOT = "mesh.png"
#: A route word holds 6 link bits and one bit per core in 64 bits.
MAX_CORES_PER_CHIP = 64 - N_LINKS
#: The finest routing unit tried for a slice that gains by it, in neurons: on the
#: bench's PilotNet conv1 (tools/spinnaker_conv_waste.py) 16-neuron entries cut the copies no
#: core can use from 70% to 17% of deliveries with 397 of spinn-5's 1023 entries on the busiest
#: chip; 8 would cut them to 9% but take 790, leaving little room for the other layers of a
#: whole network routed through the same chips.
FINEST_ROUTE_BLOCK = 16


def route_bit_choices(
    graph: SliceGraph, layout: KeyLayout, route_block: int | None
) -> list[np.ndarray]:
    """Per-slice route bits to try, finest first: a slice some block of which reaches fewer
    cores than the whole slice (`split_helps`: a conv's or pool's input, a banded or sparse
    Dense layer's) gets blocks of FINEST_ROUTE_BLOCK neurons, doubling up to the whole neuron
    field (one entry per slice), or of `route_block` alone; every other slice one unit."""
    whole = layout.neuron_bits
    if route_block is None:
        sizes = range(min(FINEST_ROUTE_BLOCK.bit_length() - 1, whole), whole + 1)
    else:
        if route_block < 1 or route_block & (route_block - 1):
            raise ParameterRangeError(
                f"route_block = {route_block}: a routing unit is a power of two of neurons (a "
                f"mask clears whole key bits); fix: 16, 32, 64, ..."
            )
        sizes = [route_block.bit_length() - 1]
    split = split_helps(graph, min(sizes[0], whole))
    choices = [np.where(split, min(bits, whole), whole) for bits in sizes]
    return choices if split.any() else choices[-1:]


def map_network(
    names: list[str],
    layers: list[LifLayerParams | ConvLayerParams],
    device: SpiNNakerDevice,
    where: str,
    placements: Placements | None = None,
    route_block: int | None = None,
) -> Mapping:
    """Slice, place (the heuristic, unless `placements` are given), route and fit the tables,
    with the finest routing units whose tables fit every router (`route_bit_choices`; the
    coarsest one's refusal, naming the chip and both numbers, if none does)."""
    if device.cores_per_chip > MAX_CORES_PER_CHIP:
        raise CapacityError(
            f"device '{device.name}': cores_per_chip = {device.cores_per_chip} but a route word "
            f"holds {MAX_CORES_PER_CHIP} cores; fix: at most {MAX_CORES_PER_CHIP} cores per chip"
        )
    layout = KeyLayout.of(device)
    mesh = Mesh.of(device)
    graph = slice_network(names, layers, device)
    if placements is None:
        placements = place_slices(graph, mesh, device.cores_per_chip, where)
    base = layout.base(mesh.xy[placements.chip, 0], mesh.xy[placements.chip, 1], placements.core)
    choices = route_bit_choices(graph, layout, route_block)
    for tried, bits in enumerate(choices, 1):
        units = RouteUnits.of(graph.lo, graph.hi, base.astype(np.int64), bits)
        edges = unit_edges(graph, units)
        routes = build_routes(units, edges, placements, mesh)
        try:
            tables = fit_tables(routes.tables, device.router_entries, mesh, where)
            break
        except CapacityError:
            if tried == len(choices):
                raise
    return Mapping(
        device=device,
        mesh=mesh,
        layout=layout,
        graph=graph,
        placements=placements,
        tables=tables,
        entries_before=[len(t) for t in routes.tables],
        keys_per_link=routes.keys_per_link,
        route_bits=bits,
        sends=np.isin(np.arange(len(units)), edges[0]),
    )


class SpiNNakerExecutor(NetworkExecutor):
    """Runs the emulated board like the reference runs its network (the emulator has the same
    `n_in`, `n_out`, `states`, `reset(batch)` and `advance`); adds the emulator's traffic counts."""

    @property
    def stats(self) -> TrafficStats:
        return self.network.stats

    def _layer_states(self) -> list[LayerState]:
        """As the reference holds them: a delay layer's pending activation is Lava's buffer,
        the cores' rings plus what the delay extensions still hold."""
        return [
            LayerState(s.u.copy(), s.v.copy(), s.a_pending.copy())
            for s in self.network.layer_states()
        ]


def device_fields(device: SpiNNakerDevice) -> dict[str, Any]:
    return {f.name: getattr(device, f.name) for f in dataclasses.fields(device) if f.init}


class SpiNNakerBackend(SpikingBackend):
    """Maps spiking partitions onto a SpiNNaker-style board and runs them in its emulator."""

    kind = "spinnaker"
    #: Its cores update with core's LIF, which resets either way; Dense cores keep synaptic
    #: rows (with a delay per synapse and a delay ring; delay-extension cores send spikes
    #: again for delays past the ring), conv and pool cores a shared kernel.
    layer_kinds = frozenset({"dense", "delay", "conv", "pool", "subtract_reset"})

    def neuron_capacity(self, device: SpiNNakerDevice) -> int:
        return device.neurons

    def prepare(self, partition: SpikingPartition, device: SpiNNakerDevice) -> Mapping:
        """Slice, place, route and compress; refused with the numbers if it does not fit."""
        names = [op.name for op in partition.ops]
        where = f"partition '{partition.name}' on device '{device.name}'"
        return map_network(names, partition.layers, device, where)

    def emit(
        self, prepared: Mapping, partition: SpikingPartition, device: SpiNNakerDevice, out: Path
    ) -> dict[str, Any]:
        prepared.write(out)
        cores_used = np.bincount(prepared.placements.chip, minlength=prepared.mesh.n_chips)
        plot_mesh(
            prepared.mesh,
            cores_used,
            prepared.keys_per_link,
            f"{partition.name} on {device.name}: {prepared.graph.n_slices} cores",
            out / MESH_PLOT,
        )
        return {
            "device_spec": device_fields(device),
            "cores_used": prepared.graph.n_slices,
            "max_dtcm_bytes": int(prepared.graph.dtcm_bytes.max()),
            "max_table_entries_before": max(prepared.entries_before),
            "max_table_entries_after": max(len(t) for t in prepared.tables),
        }

    def open(self, compiled: CompiledPartition, partition: SpikingPartition) -> SpiNNakerExecutor:
        device = SpiNNakerDevice(**compiled.meta["device_spec"])
        board = read_board(compiled.path, device)
        return SpiNNakerExecutor(Emulator(board, partition.layers))
