"""What the emulator works out once, at load, from the board and the layers.

`LoadTables`: where each slice's neurons sit among all neurons (numbered population after
population, the input first), so a step counts its spikes per slice with one reduction; and
each core's synaptic rows, as a real core stores them: one row per presynaptic neuron with any
non-zero weight onto its slice.

`SliceTraffic`: what one packet of each sending slice causes, found by routing one packet per
slice with no link capacity. Routes depend only on the sending slice (see `router`), so the
lookups, hops, per-link load and drops of a packet, and the copies each core receives, are
fixed per slice, and a step only multiplies them by its spikes per slice. Every receiving
core's weights are cut into blocks of BLOCK_ROWS rows, each weight scaled by how many copies of
its neuron's packet the core gets (0 where none arrives, more with redundant routes), for the
compiled synapses (`synapses`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from snapdeploy.backends.spinnaker.board import Board
from snapdeploy.backends.spinnaker.mesh import N_LINKS
from snapdeploy.backends.spinnaker.router import Router
from snapdeploy.backends.spinnaker.traffic import TrafficStats
from snapdeploy.core.neuron import LifLayerParams

#: The TrafficStats counts each packet of a slice adds, in the columns of `SliceTraffic.counts`.
PER_PACKET = (
    "packets_sent",
    "router_lookups",
    "hops",
    "deliveries",
    "dropped_no_route",
    "dropped_no_link",
    "misdelivered",
)

#: Rows of a core's weights per synaptic block: blocks of a few rows keep only the columns those
#: rows use (a banded matrix's band), and their sums fit in registers.
BLOCK_ROWS = 32


class SynapticRows(NamedTuple):
    """A core's synaptic matrix, one row per presynaptic neuron that has any weight onto it."""

    row_of: np.ndarray  # int64 [presynaptic neurons]: the neuron's row, or -1 where it has none
    rows: np.ndarray  # float64 [rows, slice size]


def synaptic_rows(board: Board, layers: list[LifLayerParams], s: int) -> SynapticRows | None:
    """The synaptic rows of slice `s`'s core; None for an input slice, which receives nothing."""
    p = int(board.population[s])
    if p == 0:
        return None
    weights = layers[p - 1].weights[board.lo[s] : board.hi[s]]
    pre = np.flatnonzero(np.any(weights != 0, axis=0))
    row_of = np.full(layers[p - 1].n_in, -1, np.int64)
    row_of[pre] = np.arange(len(pre))
    return SynapticRows(row_of, np.ascontiguousarray(weights[:, pre].T, dtype=np.float64))


@dataclass(frozen=True)
class LoadTables:
    """Neuron numbering, slice order and synaptic rows (see the module docstring)."""

    sizes: tuple[int, ...]  # neurons per population, the input first
    offsets: np.ndarray  # int64 [populations + 1]: each population's first global neuron
    slice_order: np.ndarray  # int64 [n_slices]: slices by their first global neuron
    slice_starts: np.ndarray  # int64 [n_slices]: the first global neuron of each, in that order
    slice_of_neuron: np.ndarray  # int64 [neurons]: the slice running each global neuron
    rows: list[SynapticRows | None]  # per slice

    @classmethod
    def build(cls, board: Board, layers: list[LifLayerParams]) -> LoadTables:
        sizes = (layers[0].n_in, *(p.n_out for p in layers))
        offsets = np.cumsum((0, *sizes))
        starts = offsets[board.population] + board.lo
        order = np.argsort(starts)
        return cls(
            sizes=sizes,
            offsets=offsets,
            slice_order=order,
            slice_starts=starts[order],
            # slices cover each population without gaps or overlap (emitting packets relies on it)
            slice_of_neuron=np.repeat(order, (board.hi - board.lo)[order]),
            rows=[synaptic_rows(board, layers, s) for s in range(board.n_slices)],
        )

    def spikes_per_slice(self, fired: np.ndarray) -> np.ndarray:
        """int64 [batch, slice] (in slice_order) from bool [batch, global neuron]."""
        return np.add.reduceat(fired, self.slice_starts, axis=1, dtype=np.int64)


def route_one_packet_each(
    board: Board, router: Router
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Route one packet per sending slice, uncapped: (int64 [slice, len(PER_PACKET)] counts,
    int64 [slice, chip * link] load, int64 [slice, target slice] copies delivered, the last
    column counting cores that run nothing). The misdelivered column is left 0 here."""
    n, base = board.n_slices, board.base
    counts = np.zeros((n, len(PER_PACKET)), np.int64)
    load = np.zeros((n, board.mesh.n_chips * N_LINKS), np.int64)
    copies = np.zeros((n, n + 1), np.int64)
    for s in np.flatnonzero(board.sends).tolist():
        stats = TrafficStats.zeros(board.mesh.n_chips)
        target = router.route(np.zeros(1, np.int64), base[s : s + 1], stats).target
        copies[s] = np.bincount(np.where(target < 0, n, target), minlength=n + 1)
        stats.packets_sent, stats.deliveries = 1, len(target)
        counts[s] = [getattr(stats, name) for name in PER_PACKET]
        load[s] = stats.link_load.ravel()
    return counts, load, copies


@dataclass(frozen=True)
class SliceTraffic:
    """What one packet of each slice causes (rows in `LoadTables.slice_order`), and the weight
    blocks of every receiving core (see the module docstring)."""

    counts: np.ndarray  # int64 [slice, len(PER_PACKET)]
    load: np.ndarray  # int64 [slice, chip * link]
    no_row: np.ndarray  # int64 [global neuron]: copies of its packet that find no synaptic row
    blocks: list[tuple[int, int, np.ndarray]]  # as `BlockSynapses` takes them

    @classmethod
    def build(
        cls, board: Board, layers: list[LifLayerParams], tables: LoadTables, router: Router
    ) -> SliceTraffic:
        counts, load, copies = route_one_packet_each(board, router)
        pop, lo, hi, offsets = board.population, board.lo, board.hi, tables.offsets
        n = board.n_slices
        # copies that reach a core of the next population, the only ones a core can use
        valid = copies[:, :n] * ((pop[None, :] > 0) & (pop[None, :] - 1 == pop[:, None]))
        counts[:, PER_PACKET.index("misdelivered")] = copies.sum(axis=1) - valid.sum(axis=1)
        no_row = np.zeros(offsets[-1], np.int64)
        blocks = []
        for t in np.flatnonzero(pop > 0).tolist():
            p, row_of = int(pop[t]), tables.rows[t].row_of
            first = offsets[p - 1]
            # copies of each presynaptic neuron's packet this core receives
            got = valid[tables.slice_of_neuron[first : offsets[p]], t]
            no_row[first : offsets[p]] += got * (row_of < 0)
            weights = layers[p - 1].weights[lo[t] : hi[t]] * got[None, :]
            for r in range(0, len(weights), BLOCK_ROWS):
                cols = np.flatnonzero(np.any(weights[r : r + BLOCK_ROWS] != 0, axis=0))
                if len(cols):
                    chunk = weights[r : r + BLOCK_ROWS, cols[0] : cols[-1] + 1]
                    blocks.append((offsets[p] + lo[t] + r, first + cols[0], chunk))
        return cls(counts[tables.slice_order], load[tables.slice_order], no_row, blocks)
