"""A step's synaptic input and traffic counts from per-slice tables, compiled, with no packets.

Routes depend only on the sending slice, so what a step's packets would do is fixed per slice
(`tables.SliceTraffic`): the step counts spikes per slice and multiplies them into the
counters, and the synaptic input is summed, event-driven and compiled (`synapses.cpp`), over
every receiving core's weight blocks. A step where some link would exceed its capacity is left
to the packet-level path: which packets a full link drops depends on their order.
"""

from __future__ import annotations

import itertools

import numpy as np

from snapdeploy.backends.spinnaker.synapses import BlockSynapses
from snapdeploy.backends.spinnaker.tables import PER_PACKET, LoadTables, SliceTraffic
from snapdeploy.backends.spinnaker.traffic import TrafficStats


class FastPath:
    """Steps the board by its per-slice tables; build it only where `synapses.available()`."""

    def __init__(self, tables: LoadTables, traffic: SliceTraffic, link_capacity: int | None):
        self.tables = tables
        self.traffic = traffic
        self.link_capacity = link_capacity
        self.synapses = BlockSynapses(traffic.blocks, int(tables.offsets[-1]))

    def input(self, fired: np.ndarray, stats: TrafficStats) -> list[np.ndarray] | None:
        """Each layer's summed synaptic input, int64 [batch, n], from the bool spikes [batch,
        global neuron] of every population, counting the traffic into `stats`; None, counting
        nothing, where some link would overflow."""
        per_slice = self.tables.spikes_per_slice(fired)
        if self.overflows(per_slice):
            return None
        self.count(per_slice, fired, stats)
        summed = self.synapses.input(fired)
        # each layer's neurons (the input's come first), C-contiguous as the compiled neuron
        # reads them, in one copy
        layers = itertools.pairwise(self.tables.offsets[1:])
        return [np.ascontiguousarray(summed[:, first:last]) for first, last in layers]

    def overflows(self, per_slice: np.ndarray) -> bool:
        """Whether some link would carry more than its capacity in some batch item this step."""
        capacity = self.link_capacity
        return capacity is not None and bool(
            (per_slice.astype(np.float64) @ self.traffic.load).max(initial=0) > capacity
        )

    def count(self, per_slice: np.ndarray, fired: np.ndarray, stats: TrafficStats) -> None:
        """Add a step's traffic counts from its spikes per slice [batch, slice] (slice_order)."""
        total = per_slice.sum(axis=0)
        for name, value in zip(PER_PACKET, (total @ self.traffic.counts).tolist()):
            setattr(stats, name, getattr(stats, name) + value)
        stats.no_synaptic_row += int(fired.sum(axis=0) @ self.traffic.no_row)
        stats.link_load += (total @ self.traffic.load).reshape(stats.link_load.shape)
