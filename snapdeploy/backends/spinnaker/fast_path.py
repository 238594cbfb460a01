"""A step's synaptic input and traffic counts from per-slice tables, compiled, with no packets.

Routes depend only on the sending routing unit (a slice, or a block of its neurons), so what a
step's packets would do is fixed per unit (`tables.SliceTraffic`): the step counts spikes per
unit and multiplies them into the counters (a delay extension keeps the spikes of its
mirror's units that reach it), and the
synaptic input is summed, event-driven and compiled, over every receiving
Dense core's weight blocks or, with delays, its synaptic rows (`synapses.cpp`, one sum per
neuron and delay) and, for a conv or
pool layer, as the layer's whole convolution (`conv_synapses.layer_sums`), which is what its
cores add up when each gets one copy of every packet that reaches it. The emulator takes this
path only where that holds and the kernels build. A step where some link would exceed its
capacity is left to the packet-level path: which packets a full link drops depends on their
order.
"""

from __future__ import annotations

import numpy as np

from snapdeploy.backends.spinnaker.conv_slicing import conv_of
from snapdeploy.backends.spinnaker.conv_synapses import layer_sums
from snapdeploy.backends.spinnaker.synapses import BlockSynapses, RowSynapses
from snapdeploy.backends.spinnaker.tables import PER_PACKET, LoadTables, SliceTraffic
from snapdeploy.backends.spinnaker.traffic import TrafficStats
from snapdeploy.core.conv import ConvLayerParams
from snapdeploy.core.neuron import LifLayerParams


class FastPath:
    """Steps the board by its per-slice tables; build it only where `synapses.available()`,
    and, with conv layers, `conv_native.available()` and `traffic.conv_copies_plain`."""

    def __init__(
        self,
        tables: LoadTables,
        traffic: SliceTraffic,
        link_capacity: int | None,
        layers: list[LifLayerParams | ConvLayerParams],
    ):
        self.tables = tables
        self.traffic = traffic
        self.link_capacity = link_capacity
        self.synapses = BlockSynapses(
            traffic.blocks, int(tables.offsets[-1]), int(tables.sum_offsets[-1])
        )
        self.rows = RowSynapses(*traffic.rows)
        self.convs = [None if conv_of(p) is None else layer_sums(conv_of(p)) for p in layers]
        # the links each unit's packet crosses, and how often: a few per unit, so a step's
        # link load is a sparse sum, not a product with the whole [unit, link] table
        self.load_unit, self.load_link = np.nonzero(traffic.load)
        self.load_count = traffic.load[self.load_unit, self.load_link].astype(np.float64)
        self.n_links = traffic.load.shape[1]

    def input(self, fired: np.ndarray, stats: TrafficStats) -> list[np.ndarray] | None:
        """Each layer's summed synaptic input, int64 [batch, n] (with delays [batch, delays
        used, n]), then each delay extension's received spikes, bool [batch, n], from the
        bool spikes [batch, global neuron] of every population, counting the traffic into
        `stats`; None, counting nothing, where some link would overflow."""
        per_unit = self.tables.spikes_per_unit(fired)
        loads = self.link_loads(per_unit)
        if self.link_capacity is not None and loads.max(initial=0) > self.link_capacity:
            return None
        self.count(per_unit, loads, fired, stats)
        summed = self.synapses.input(fired)
        self.rows.add(fired, summed)
        tables, batch = self.tables, fired.shape[0]
        out = []
        for i, conv in enumerate(self.convs):
            if conv is not None:
                out.append(conv(fired[:, tables.offsets[i] : tables.offsets[i + 1]]))
                continue
            # C-contiguous, as the compiled neuron reads them, in one copy
            part = summed[:, tables.sum_offsets[i] : tables.sum_offsets[i + 1]]
            out.append(np.ascontiguousarray(part).reshape(tables.sums_shape(i, batch)))
        offsets, held = tables.offsets, self.traffic.held
        for e, mirrored in enumerate(tables.populations.mirrors):  # what each extension keeps
            if mirrored >= 0:
                source = fired[:, offsets[mirrored] : offsets[mirrored + 1]]
                out.append(source & held[offsets[e] : offsets[e + 1]])
        return out

    def link_loads(self, per_unit: np.ndarray) -> np.ndarray:
        """int64 [batch, chip * link]: the packets each link carries this step, from the
        spikes per routing unit [batch, unit] (unit_order); summed in float64, exact far
        below 2**53."""
        batch = per_unit.shape[0]
        flat = np.arange(batch)[:, None] * self.n_links + self.load_link[None, :]
        weights = per_unit[:, self.load_unit] * self.load_count[None, :]
        summed = np.bincount(flat.ravel(), weights.ravel(), batch * self.n_links)
        return summed.astype(np.int64).reshape(batch, self.n_links)

    def count(
        self, per_unit: np.ndarray, loads: np.ndarray, fired: np.ndarray, stats: TrafficStats
    ) -> None:
        """Add a step's traffic counts from its spikes per routing unit [batch, unit]
        (unit_order) and its link loads (`link_loads`)."""
        total = per_unit.sum(axis=0)
        for name, value in zip(PER_PACKET, (total @ self.traffic.counts).tolist()):
            setattr(stats, name, getattr(stats, name) + value)
        stats.no_synaptic_row += int(fired.sum(axis=0) @ self.traffic.no_row)
        stats.link_load += loads.sum(axis=0).reshape(stats.link_load.shape)
