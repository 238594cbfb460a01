"""A step's synaptic input, packet by packet: every spike a packet, routed, summed by the cores.

Each spike of a slice that sends becomes a multicast packet carrying its 32-bit key (the
slice's base key plus the neuron's index within the slice); the router (`router`) delivers
copies to cores; each core turns every packet it received into its synaptic row (the row of
its synaptic matrix for the sending neuron and, from a delay extension, its stage, found from
the key; per delay where the layer has delays) or, on a conv core, into its kernel's taps onto
the slice (`conv_synapses`), and adds it into the input for the next step (`synaptic_input`
makes that input); a delay-extension core keeps the spike to send it again later
(`delay_extension`). A packet reaching a core that has no synaptic row for its neuron (the
neuron's weights onto the slice are all zero, but others of its slice's are not) is counted
as `no_synaptic_row`, as a real core's empty row lookup, and one reaching a core that does not
use its population's packets, or one that runs nothing, as `misdelivered`, which correct tables
never do.

Rows and taps are summed in float64, exact because every sum stays far below 2**53
(|weight| <= 256 times the packets in one step).
"""

from __future__ import annotations

import numpy as np

from snapdeploy.backends.spinnaker.board import Board
from snapdeploy.backends.spinnaker.router import Deliveries, Router
from snapdeploy.backends.spinnaker.tables import LoadTables
from snapdeploy.backends.spinnaker.traffic import TrafficStats


class PacketLevel:
    """The board's cores and routers taking a step one packet at a time (vectorized)."""

    def __init__(self, board: Board, tables: LoadTables, router: Router):
        self.board = board
        self.tables = tables
        self.router = router
        self.base = board.base

    def input(self, spikes: list[np.ndarray], stats: TrafficStats) -> list[np.ndarray]:
        """Each layer's summed synaptic input, int64 [batch, n] (with delays [batch, delays
        used, n]), then each delay extension's received spikes, bool [batch, n], from every
        population's bool spikes [batch, n] (the input's first, the extensions' last),
        counting the traffic into `stats`."""
        item, key = self.emit(spikes, stats)
        delivered = self.router.route(item, key, stats, self.board.link_capacity)
        return self.accumulate(delivered, spikes[0].shape[0], stats)

    def emit(self, spikes: list[np.ndarray], stats: TrafficStats) -> tuple[np.ndarray, np.ndarray]:
        """One packet (batch item, key) per spike of every routing unit that sends."""
        board, tables = self.board, self.tables
        items, keys = [], []
        for p, fired in enumerate(spikes):
            item, neuron = np.nonzero(fired)
            number = tables.offsets[p] + neuron  # among all populations' neurons
            s = tables.slice_of_neuron[number]
            keep = board.sends[tables.unit_of_neuron[number]]
            items.append(item[keep])
            keys.append(self.base[s[keep]] + neuron[keep] - board.lo[s[keep]])
        stats.packets_sent += sum(len(k) for k in keys)
        return np.concatenate(items), np.concatenate(keys)

    def accumulate(
        self, delivered: Deliveries, batch: int, stats: TrafficStats
    ) -> list[np.ndarray]:
        """Each core adds the synapses of the packets it received into its layer's input
        ([batch, n], or [batch, delays used, n] for a layer with delays); each extension core
        keeps the spikes its packets bring (bool [batch, n] per extension, after the layers)."""
        board, tables, (item, target, key) = self.board, self.tables, delivered
        accum = [np.zeros(tables.sums_shape(i, batch), np.int64) for i in range(tables.n_layers)]
        n_chain = board.populations.n_chain
        held = [np.zeros((batch, n), bool) for n in tables.sizes[n_chain:]]
        receives, stages = board.populations.receives(), np.array(board.populations.stages)
        stats.deliveries += len(key)
        stats.misdelivered += int(np.count_nonzero(target < 0))  # a core that runs nothing
        src = self.router.slice_of_key(key)
        pre = board.lo[src] + (key & ((1 << board.layout.neuron_bits) - 1))
        order = np.argsort(target, kind="stable")
        bounds = np.searchsorted(target[order], np.arange(board.n_slices + 1))
        for s in np.flatnonzero(np.diff(bounds)).tolist():
            got = order[bounds[s] : bounds[s + 1]]
            p = int(board.population[s])
            wrong = ~receives[board.population[src[got]], p]
            stats.misdelivered += int(np.count_nonzero(wrong))
            got = got[~wrong]
            if not len(got):  # an input's core, or only wrong packets
                continue
            if p >= n_chain:  # a delay extension keeps what it received, to send it again
                held[p - n_chain][item[got], pre[got]] = True
                continue
            synapses = tables.rows[s]
            # a row per (stage, presynaptic neuron): an extension's packets name its stage
            staged = stages[board.population[src[got]]] * tables.sizes[p - 1] + pre[got]
            known = synapses.has_synapse(staged)
            stats.no_synaptic_row += int(np.count_nonzero(~known))
            accum[p - 1][..., board.lo[s] : board.hi[s]] += synapses.sums(
                item[got][known], staged[known], batch
            )
        return accum + held
