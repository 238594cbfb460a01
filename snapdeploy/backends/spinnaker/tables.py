"""What the emulator works out once, at load, from the board and the layers.

`LoadTables`: where each slice's and routing unit's neurons sit among all neurons (numbered
population after population, the input first), so a step counts its spikes per routing unit
(`route_units`) with one reduction; and
each core's synapses, as a real core stores them: a Dense core's synaptic rows, one per
presynaptic neuron (and delay stage) with any non-zero weight onto its slice, each a list of
synaptic words (the neuron and delay it feeds, its weight), or a conv core's shared kernel
(`conv_synapses`).

`SliceTraffic`: what one packet of each routing unit causes, found by routing one packet per
unit with no link capacity. Routes depend only on the sending unit (see `router`), so the
lookups, hops, per-link load and drops of a packet, and the copies each core receives, are
fixed per unit, and a step only multiplies them by its spikes per unit. Every receiving
Dense core's weights are cut into blocks of BLOCK_ROWS rows, each weight scaled by how many
copies of its neuron's packet the core gets (0 where none arrives, more with redundant routes),
for the compiled synapses (`synapses`); a layer with delays keeps its synaptic words instead
(a sum per delay and neuron, scaled alike); a conv layer is summed whole, which holds only
where each of its cores gets one copy of each packet that reaches it (`conv_copies_plain`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from snapdeploy.backends.spinnaker.board import Board
from snapdeploy.backends.spinnaker.conv_slicing import conv_of
from snapdeploy.backends.spinnaker.conv_synapses import ConvCore
from snapdeploy.backends.spinnaker.core_memory import ring_slots
from snapdeploy.backends.spinnaker.delay_extension import Populations, n_stages, staged_synapses
from snapdeploy.backends.spinnaker.mesh import N_LINKS
from snapdeploy.backends.spinnaker.router import Router
from snapdeploy.backends.spinnaker.synaptic_input import delays_used
from snapdeploy.backends.spinnaker.traffic import TrafficStats
from snapdeploy.core.conv import ConvLayerParams
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
    """A core's synaptic matrix as SpiNNaker holds it: one row per (delay stage, presynaptic
    neuron) with any weight onto the slice, of synaptic words (column, weight), a column per
    (delay used, neuron of the slice) (per neuron alone without delays)."""

    row_of: np.ndarray  # int64 [stages * presynaptic neurons]: the row, or -1 where none
    row_start: np.ndarray  # int64 [rows + 1]: where each row's words begin
    columns: np.ndarray  # int64 [words]: delay group * slice size + neuron
    weights: np.ndarray  # float64 [words]
    groups: int | None  # delays used; None without delays
    width: int  # neurons of the slice

    def has_synapse(self, pre: np.ndarray) -> np.ndarray:
        return self.row_of[pre] >= 0

    def sums(self, item: np.ndarray, pre: np.ndarray, batch: int) -> np.ndarray:
        """int64 [batch, slice size] (with delays [batch, delays used, slice size]): the rows
        of the packets (batch item, stage * n_in + presynaptic neuron with a row), word by
        word, summed exactly in float64."""
        rows = self.row_of[pre]
        first, lengths = self.row_start[rows], np.diff(self.row_start)[rows]
        ends = np.cumsum(lengths)
        # packet j's words, laid end to end: position i in [ends_j - len_j, ends_j) is word
        # first_j + i - (ends_j - len_j)
        word = np.repeat(first - ends + lengths, lengths) + np.arange(ends[-1] if len(ends) else 0)
        n_columns = (1 if self.groups is None else self.groups) * self.width
        flat = np.repeat(item, lengths) * n_columns + self.columns[word]
        summed = np.bincount(flat, self.weights[word], batch * n_columns).astype(np.int64)
        shape = (batch, self.width) if self.groups is None else (batch, self.groups, self.width)
        return summed.reshape(shape)


CoreSynapses = SynapticRows | ConvCore


def synaptic_rows(layer: LifLayerParams, lo: int, hi: int, ring: int) -> SynapticRows:
    """The rows of a Dense core running neurons [lo, hi) of `layer` with a ring of `ring`."""
    post, pre, group, stage, weight = staged_synapses(layer, lo, hi, ring)
    key, column = stage * layer.n_in + pre, group * (hi - lo) + post
    order = np.lexsort((column, key))
    key, column, weight = key[order], column[order], weight[order]
    keys, row_start = np.unique(key, return_index=True)
    row_of = np.full(n_stages(layer, ring) * layer.n_in, -1, np.int64)
    row_of[keys] = np.arange(len(keys))
    delays = delays_used(layer)
    return SynapticRows(
        row_of=row_of,
        row_start=np.append(row_start, len(key)).astype(np.int64),
        columns=column.astype(np.int64),
        weights=weight.astype(np.float64),
        groups=None if delays is None else len(delays),
        width=hi - lo,
    )


def layer_rings(board: Board, layers: list[LifLayerParams | ConvLayerParams]) -> list[int]:
    """Each layer's ring slots, as compile sized them from its widest slice."""
    widths = board.hi - board.lo
    return [
        ring_slots(layer, int(widths[board.population == i + 1].max()))
        for i, layer in enumerate(layers)
    ]


def core_synapses(
    board: Board, layers: list[LifLayerParams | ConvLayerParams], rings: list[int], s: int
) -> CoreSynapses | None:
    """What slice `s`'s core keeps to turn packets into input: its synaptic rows, or a conv's
    kernel; None for a core that receives nothing (the input's, a delay extension's)."""
    p = int(board.population[s])
    if p == 0 or p >= board.populations.n_chain:
        return None
    layer, lo, hi = layers[p - 1], int(board.lo[s]), int(board.hi[s])
    conv = conv_of(layer)
    if conv is not None:
        return ConvCore(conv, lo, hi)
    return synaptic_rows(layer, lo, hi, rings[p - 1])


@dataclass(frozen=True)
class LoadTables:
    """Neuron numbering, slice order, each core's synapses, and where each layer's sums sit
    (see the module docstring)."""

    sizes: tuple[int, ...]  # neurons per population: the input, the layers, the extensions
    offsets: np.ndarray  # int64 [populations + 1]: each population's first global neuron
    slice_of_neuron: np.ndarray  # int64 [neurons]: the slice running each global neuron
    unit_order: np.ndarray  # int64 [units]: routing units by their first global neuron
    unit_starts: np.ndarray  # int64 [units]: the first global neuron of each, in that order
    unit_of_neuron: np.ndarray  # int64 [neurons]: the routing unit sending each global neuron
    rows: list[CoreSynapses | None]  # per slice
    populations: Populations  # which population feeds which; the delay extensions
    rings: list[int]  # per layer: its cores' ring slots
    groups: tuple[int | None, ...]  # per layer: delays used, None without delays
    sum_offsets: np.ndarray  # int64 [layers + 1]: each layer's first sum, (delay, neuron) order

    @classmethod
    def build(cls, board: Board, layers: list[LifLayerParams | ConvLayerParams]) -> LoadTables:
        chain = (layers[0].n_in, *(p.n_out for p in layers))
        mirrored = board.populations.mirrors[len(chain) :]
        sizes = (*chain, *(chain[m] for m in mirrored))
        offsets = np.cumsum((0, *sizes))
        starts = offsets[board.population] + board.lo
        order = np.argsort(starts)
        units = board.units
        unit_starts = offsets[board.population[units.slice]] + units.lo
        unit_order = np.argsort(unit_starts)
        groups = tuple(None if d is None else len(d) for d in map(delays_used, layers))
        sums = [(1 if g is None else g) * p.n_out for g, p in zip(groups, layers)]
        rings = layer_rings(board, layers)
        return cls(
            sizes=sizes,
            offsets=offsets,
            # slices cover each population without gaps or overlap (emitting packets relies on
            # it), and units each slice
            slice_of_neuron=np.repeat(order, (board.hi - board.lo)[order]),
            unit_order=unit_order,
            unit_starts=unit_starts[unit_order],
            unit_of_neuron=np.repeat(unit_order, (units.hi - units.lo)[unit_order]),
            rows=[core_synapses(board, layers, rings, s) for s in range(board.n_slices)],
            populations=board.populations,
            rings=rings,
            groups=groups,
            sum_offsets=np.cumsum((0, *sums)),
        )

    @property
    def n_layers(self) -> int:
        return len(self.groups)

    def sums_shape(self, layer: int, batch: int) -> tuple[int, ...]:
        """Shape of a layer's summed input: [batch, n], with delays [batch, delays used, n]."""
        group = self.groups[layer]
        n = self.sizes[layer + 1]
        return (batch, n) if group is None else (batch, group, n)

    def spikes_per_unit(self, fired: np.ndarray) -> np.ndarray:
        """int64 [batch, routing unit] (in unit_order) from bool [batch, global neuron]."""
        return np.add.reduceat(fired, self.unit_starts, axis=1, dtype=np.int64)


def route_one_packet_each(
    board: Board, router: Router
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Route one packet per routing unit of a sending slice, uncapped: (int64 [unit,
    len(PER_PACKET)] counts, int64 [unit, chip * link] load, int64 [unit, target slice] copies
    delivered, the last column counting cores that run nothing). The misdelivered column is
    left 0 here."""
    n, units = board.n_slices, board.units
    counts = np.zeros((len(units), len(PER_PACKET)), np.int64)
    load = np.zeros((len(units), board.mesh.n_chips * N_LINKS), np.int64)
    copies = np.zeros((len(units), n + 1), np.int64)
    for u in np.flatnonzero(board.sends).tolist():
        stats = TrafficStats.zeros(board.mesh.n_chips)
        target = router.route(np.zeros(1, np.int64), units.key[u : u + 1], stats).target
        copies[u] = np.bincount(np.where(target < 0, n, target), minlength=n + 1)
        stats.packets_sent, stats.deliveries = 1, len(target)
        counts[u] = [getattr(stats, name) for name in PER_PACKET]
        load[u] = stats.link_load.ravel()
    return counts, load, copies


def weight_blocks(
    weights: np.ndarray, first_sum: int, first_pre: int
) -> list[tuple[int, int, np.ndarray]]:
    """A core's weights [slice, n_in] cut into BLOCK_ROWS rows, each with the band of columns
    its rows use: (first sum fed, first global neuron read, weights)."""
    blocks = []
    for r in range(0, len(weights), BLOCK_ROWS):
        cols = np.flatnonzero(np.any(weights[r : r + BLOCK_ROWS] != 0, axis=0))
        if len(cols):
            chunk = weights[r : r + BLOCK_ROWS, cols[0] : cols[-1] + 1]
            blocks.append((first_sum + r, first_pre + cols[0], chunk))
    return blocks


def synaptic_words(
    words: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n_neurons: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(presynaptic global neuron, sum, weight) words gathered into rows per neuron."""
    if words:
        pre, target, weight = (np.concatenate(part) for part in zip(*words))
    else:
        pre = target = weight = np.zeros(0, np.int64)
    order = np.argsort(pre, kind="stable")
    row_start = np.searchsorted(pre[order], np.arange(n_neurons + 1))
    return row_start, target[order], weight[order]


@dataclass(frozen=True)
class SliceTraffic:
    """What one packet of each routing unit causes (rows in `LoadTables.unit_order`), and the
    weight blocks of every receiving Dense core (see the module docstring)."""

    counts: np.ndarray  # int64 [unit, len(PER_PACKET)]
    load: np.ndarray  # int64 [unit, chip * link]
    no_row: np.ndarray  # int64 [global neuron]: copies of its packet that find no synaptic row
    blocks: list[tuple[int, int, np.ndarray]]  # as `BlockSynapses` takes them
    #: the delay layers' synaptic words, as `RowSynapses` takes them: (row_start, target, weight)
    rows: tuple[np.ndarray, np.ndarray, np.ndarray]
    #: every conv core gets exactly one copy of each packet whose neuron reaches it, so a conv
    #: layer's input is its whole convolution (`conv_synapses.layer_sums`)
    conv_copies_plain: bool
    held: np.ndarray  # bool [global neuron]: an extension neuron gets its mirror's packets

    @classmethod
    def build(
        cls,
        board: Board,
        layers: list[LifLayerParams | ConvLayerParams],
        tables: LoadTables,
        router: Router,
    ) -> SliceTraffic:
        counts, load, copies = route_one_packet_each(board, router)
        pop, lo, hi, offsets = board.population, board.lo, board.hi, tables.offsets
        feeds, stages = np.array(board.populations.feeds), board.populations.stages
        n = board.n_slices
        # copies that reach a core that uses them, the only ones a core can use
        sender = pop[board.units.slice]
        valid = copies[:, :n] * board.populations.receives()[sender[:, None], pop[None, :]]
        counts[:, PER_PACKET.index("misdelivered")] = copies.sum(axis=1) - valid.sum(axis=1)
        no_row = np.zeros(offsets[-1], np.int64)
        blocks, words = [], []
        plain = True
        for t in np.flatnonzero([r is not None for r in tables.rows]).tolist():
            p, synapses = int(pop[t]), tables.rows[t]
            layer, n_in, n_out = layers[p - 1], tables.sizes[p - 1], tables.sizes[p]
            for source in np.flatnonzero(feeds == p).tolist():
                first, stage = offsets[source], stages[source]
                # copies of each presynaptic neuron's packet this core receives
                got = valid[tables.unit_of_neuron[first : first + n_in], t]
                reach = synapses.has_synapse(stage * n_in + np.arange(n_in))
                no_row[first : first + n_in] += got * ~reach
                if isinstance(synapses, ConvCore):
                    plain &= bool(np.all(got[reach] == 1))
                elif synapses.groups is None:
                    blocks += weight_blocks(layer.weights[lo[t] : hi[t]] * got[None, :],
                                            tables.sum_offsets[p - 1] + lo[t], first)  # fmt: skip
                else:
                    post, pre, group, at, weight = staged_synapses(
                        layer, lo[t], hi[t], tables.rings[p - 1]
                    )
                    mine = (at == stage) & (got[pre] > 0)
                    target = tables.sum_offsets[p - 1] + group * n_out + lo[t] + post
                    words.append((first + pre[mine], target[mine], (weight * got[pre])[mine]))
        held = np.zeros(offsets[-1], bool)
        for e, mirrored in enumerate(board.populations.mirrors):
            if mirrored >= 0:  # an extension keeps what its mirror's packets bring it
                ext = tables.slice_of_neuron[offsets[e] : offsets[e + 1]]
                src = tables.unit_of_neuron[offsets[mirrored] : offsets[mirrored + 1]]
                held[offsets[e] : offsets[e + 1]] = valid[src, ext] > 0
        order = tables.unit_order
        rows = synaptic_words(words, int(offsets[-1]))
        return cls(counts[order], load[order], no_row, blocks, rows, plain, held)
