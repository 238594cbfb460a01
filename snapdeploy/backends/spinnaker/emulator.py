"""A packet-level emulator of the board: cores update their slices, routers forward by their tables.

One time step, as a SpiNNaker timer tick:
1. every core updates its slice with the integer neuron (`core.neuron.lif_step`, compiled by
   `core.lif_native` where it builds) from the
   input it accumulated during the previous step (Dense's one-step delay); injector cores
   take this step's input spikes;
2. each spike becomes a multicast packet carrying its 32-bit key; packets move hop by hop,
   all of them at once (vectorized over packets and batch items): at each chip the router
   finds the first table entry matching the key; with none, a packet that came in on a link
   leaves by the opposite one (default route) and one from a local core is dropped; the
   route word's link bits send copies to neighbouring chips, its core bits deliver copies;
3. each core turns every packet it received into its synaptic row (the row of its synaptic
   matrix for the sending neuron, found from the key) and adds it into the input for the
   next step, shifted by the layer's weight_exp once summed.
All packets are delivered within their step. A link can carry `link_capacity` packets per step
and per batch item; the rest are dropped and counted, as are packets with no route; a
packet reaching a core that has no synaptic row for its neuron (the neuron's weights onto the
slice are all zero, but others of its slice's are not) is counted as `no_synaptic_row`, as a
real core's empty row lookup, and one reaching a core of the wrong population as
`misdelivered`, which correct tables never do.

Why lookups are resolved per source slice: every entry's mask clears the neuron field (the
keys of one core differ only there, and merging entries only clears more bits; checked when
the board is built), so a router's first match for a key depends only on which core sent it.
Each table is matched once against each slice's key, and packets then route by indexing.
On the packet-level path synaptic rows are summed by a float64 matrix product, exact because
every sum stays far below 2**53 (|weight| <= 256 times the packets in one step).

Why a step is usually not packet by packet: since routes depend only on the sending slice, what
one packet causes (lookups, hops, per-link load, drops, the copies each core receives) is fixed
per slice, and is found once at load by routing one packet per slice. A step then counts spikes
per slice and multiplies them into the counters, and the synaptic input is summed, event-driven
and compiled (`synapses.cpp`), over every receiving core's weight blocks, each weight scaled by
how many copies of its neuron's packet the core gets (0 where none arrives, more with redundant
routes). The packet-level path still runs a step where some link would exceed its capacity
(its drops depend on packet order), when the emulator is built with `packet_level` (for
tests), and where the kernel cannot be built.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from snapdeploy.backends.spinnaker.keys import KeyLayout
from snapdeploy.backends.spinnaker.mesh import N_LINKS, Mesh
from snapdeploy.backends.spinnaker.routing import CORE_BIT0, RoutingTable
from snapdeploy.backends.spinnaker.synapses import BlockSynapses
from snapdeploy.backends.spinnaker.synapses import available as block_kernel_builds
from snapdeploy.core import lif_native
from snapdeploy.core.errors import BackendError
from snapdeploy.core.neuron import LayerState, LifLayerParams, bias_value, lif_step, shift


@dataclass(frozen=True)
class Board:
    """Everything the emulator needs, as compile wrote it: slices on cores, and the tables."""

    mesh: Mesh
    layout: KeyLayout
    cores_per_chip: int
    link_capacity: int | None
    population: np.ndarray  # int64 [n_slices]
    lo: np.ndarray  # int64 [n_slices]
    hi: np.ndarray  # int64 [n_slices]
    chip: np.ndarray  # int64 [n_slices]
    core: np.ndarray  # int64 [n_slices]
    sends: np.ndarray  # bool [n_slices]: the slice's spikes are sent as packets
    tables: list[RoutingTable]

    @property
    def base(self) -> np.ndarray:
        return self.layout.base(
            self.mesh.xy[self.chip, 0], self.mesh.xy[self.chip, 1], self.core
        ).astype(np.int64)


@dataclass
class TrafficStats:
    """Counts since the last reset, summed over batch items."""

    packets_sent: int = 0
    router_lookups: int = 0
    hops: int = 0
    deliveries: int = 0
    dropped_link_capacity: int = 0
    dropped_no_route: int = 0
    dropped_no_link: int = 0
    no_synaptic_row: int = 0
    misdelivered: int = 0
    link_load: np.ndarray = field(default_factory=lambda: np.zeros((0, N_LINKS), np.int64))

    @property
    def dropped(self) -> int:
        return self.dropped_link_capacity + self.dropped_no_route + self.dropped_no_link

    def to_json(self) -> dict[str, int]:
        counts = {k: int(v) for k, v in vars(self).items() if k != "link_load"}
        return counts | {"dropped": self.dropped}


def first_matches(board: Board) -> np.ndarray:
    """int64 [chip, source slice]: the route word of the first entry matching its keys, or -1."""
    neuron_field = (1 << board.layout.neuron_bits) - 1
    base = board.base
    route = np.full((board.mesh.n_chips, len(base)), -1, np.int64)
    for table in (t for t in board.tables if len(t)):
        masks = table.masks.astype(np.int64)
        if np.any(masks & neuron_field):
            raise BackendError(
                f"chip {board.mesh.xy[table.chip].tolist()}: a routing entry's mask covers "
                f"neuron bits, which this emulator's per-core lookup cannot honour; fix: "
                f"compile the partition again"
            )
        hit = (base[:, None] & masks[None, :]) == table.keys.astype(np.int64)[None, :]
        any_hit = hit.any(axis=1)
        route[table.chip, any_hit] = table.routes.astype(np.int64)[np.argmax(hit[any_hit], axis=1)]
    return route


def fanouts(words: np.ndarray, n_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR of the bits set in each route word: (count, start, bits), so packets expand by indexing."""
    bits = ((words[:, None] >> np.arange(n_bits)[None, :]) & 1).astype(bool)
    count = bits.sum(axis=1)
    return count, np.cumsum(count) - count, np.nonzero(bits)[1]


#: The TrafficStats counts fixed per sent packet of a slice, in the columns of `Emulator.per_packet`.
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


class Emulator:
    """Runs the board over time steps; state and traffic counts persist until `reset`."""

    def __init__(self, board: Board, layers: list[LifLayerParams], packet_level: bool = False):
        self.board = board
        self.packet_level = packet_level
        self.layers = layers
        self.biases = [bias_value(p.bias_mant, p.bias_exp) for p in layers]
        self.native = lif_native.available()
        self.sizes = [layers[0].n_in] + [p.n_out for p in layers]
        self.neighbours = board.mesh.neighbours()
        words = first_matches(board)
        defaults = np.left_shift(1, np.arange(N_LINKS, dtype=np.int64))
        unique = np.unique(np.concatenate([words[words >= 0], defaults, [0]]))
        self.route_id = np.where(words >= 0, np.searchsorted(unique, words), -1)
        # indexed by the link a packet came in on; -1 (from a local core) gets the empty route
        self.default_id = np.searchsorted(unique, np.append(defaults, 0))
        self.fan_count, self.fan_start, self.fan_bits = fanouts(
            unique, CORE_BIT0 + board.cores_per_chip
        )
        base = board.base
        self.key_order = np.argsort(base >> board.layout.neuron_bits)
        self.sorted_prefix = (base >> board.layout.neuron_bits)[self.key_order]
        self.base = base
        self.core_slice = np.full((board.mesh.n_chips, board.cores_per_chip), -1, np.int64)
        self.core_slice[board.chip, board.core] = np.arange(len(base))
        self.synapses = [self._synaptic_matrix(s) for s in range(len(base))]
        self.offsets = np.cumsum([0] + self.sizes)  # each population's first global neuron
        starts = self.offsets[board.population] + board.lo
        self.slice_order = np.argsort(starts)
        self.slice_starts = starts[self.slice_order]
        # slices cover each population without gaps or overlap, as `_emit` also relies on
        self.slice_of_neuron = np.repeat(self.slice_order, (board.hi - board.lo)[self.slice_order])
        self._tabulate(*self._route_one_packet_each())
        self.states: list[LayerState] = []
        self.stats = TrafficStats()

    def _route_one_packet_each(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Route one packet per sending slice, uncapped: (int64 [slice, len(PER_PACKET)] counts,
        int64 [slice, chip * link] load, int64 [slice, target slice] copies delivered)."""
        n, n_chips = len(self.base), self.board.mesh.n_chips
        counts = np.zeros((n, len(PER_PACKET)), np.int64)
        load = np.zeros((n, n_chips * N_LINKS), np.int64)
        copies = np.zeros((n, n + 1), np.int64)  # last column: cores that run nothing
        for s in np.flatnonzero(self.board.sends).tolist():
            self.reset(1)
            _, target, _ = self._route(np.zeros(1, np.int64), self.base[s : s + 1], 1, None)
            copies[s] = np.bincount(np.where(target < 0, n, target), minlength=n + 1)
            self.stats.packets_sent, self.stats.deliveries = 1, len(target)
            counts[s] = [getattr(self.stats, name) for name in PER_PACKET]
            load[s] = self.stats.link_load.ravel()
        return counts, load, copies

    def _tabulate(self, counts: np.ndarray, load: np.ndarray, copies: np.ndarray) -> None:
        """Turn per-packet traffic into step tables: counts and load per slice (in slice_order),
        no_synaptic_row per global neuron, and the weight blocks of every receiving core."""
        pop, lo, hi = self.board.population, self.board.lo, self.board.hi
        n = len(pop)
        valid = copies[:, :n] * ((pop[None, :] > 0) & (pop[None, :] - 1 == pop[:, None]))
        counts[:, PER_PACKET.index("misdelivered")] = copies.sum(axis=1) - valid.sum(axis=1)
        self.per_packet = counts[self.slice_order]
        self.per_packet_load = load[self.slice_order]
        self.no_row = np.zeros(self.offsets[-1], np.int64)
        blocks = []
        for t in np.flatnonzero(pop > 0).tolist():
            p, (row_of, _) = int(pop[t]), self.synapses[t]
            first = self.offsets[p - 1]
            # copies of each presynaptic neuron's packet this core receives
            got = valid[self.slice_of_neuron[first : self.offsets[p]], t]
            self.no_row[first : self.offsets[p]] += got * (row_of < 0)
            weights = self.layers[p - 1].weights[lo[t] : hi[t]] * got[None, :]
            for r in range(0, len(weights), BLOCK_ROWS):
                cols = np.flatnonzero(np.any(weights[r : r + BLOCK_ROWS] != 0, axis=0))
                if len(cols):
                    chunk = weights[r : r + BLOCK_ROWS, cols[0] : cols[-1] + 1]
                    blocks.append((self.offsets[p] + lo[t] + r, first + cols[0], chunk))
        # None where the kernel does not build: every step then runs at packet level
        self.block_synapses = (
            BlockSynapses(blocks, int(self.offsets[-1])) if block_kernel_builds() else None
        )

    def _synaptic_matrix(self, s: int) -> tuple[np.ndarray, np.ndarray] | None:
        """A core's rows: (row of each presynaptic neuron or -1, float64 [rows, slice size])."""
        p = int(self.board.population[s])
        if p == 0:
            return None
        weights = self.layers[p - 1].weights[self.board.lo[s] : self.board.hi[s]]
        pre = np.flatnonzero(np.any(weights != 0, axis=0))
        row_of = np.full(self.sizes[p - 1], -1, np.int64)
        row_of[pre] = np.arange(len(pre))
        return row_of, np.ascontiguousarray(weights[:, pre].T, dtype=np.float64)

    def reset(self, batch: int) -> None:
        self.states = [LayerState.zeros(batch, n) for n in self.sizes[1:]]
        self.stats = TrafficStats(link_load=np.zeros((self.board.mesh.n_chips, N_LINKS), np.int64))

    def slice_of_key(self, keys: np.ndarray) -> np.ndarray:
        prefix = keys >> self.board.layout.neuron_bits
        return self.key_order[np.searchsorted(self.sorted_prefix, prefix)]

    @property
    def n_in(self) -> int:
        return self.sizes[0]

    @property
    def n_out(self) -> int:
        return self.sizes[-1]

    def step(self, spikes_in: np.ndarray) -> list[np.ndarray]:
        """One time step for bool [batch, n_in]; returns each layer's bool spikes [batch, n]."""
        spikes = [spikes_in] + [
            lif_native.lif_step(state, state.a_pending, params, bias)
            if self.native
            else lif_step(state, state.a_pending, params)
            for state, params, bias in zip(self.states, self.layers, self.biases)
        ]
        fired = np.concatenate(spikes, axis=1)
        per_slice = np.add.reduceat(fired, self.slice_starts, axis=1, dtype=np.int64)
        if self.packet_level or self.block_synapses is None or self._overflows(per_slice):
            items, keys = self._emit(spikes)
            d_item, d_slice, d_key = self._route(
                items, keys, spikes_in.shape[0], self.board.link_capacity
            )
            self._accumulate(d_item, d_slice, d_key)
        else:
            self._count(per_slice, fired)
            self._synaptic_input(fired)
        return spikes[1:]

    def _overflows(self, per_slice: np.ndarray) -> bool:
        """Whether some link would carry more than its capacity in some batch item this step."""
        capacity = self.board.link_capacity
        return capacity is not None and bool(
            (per_slice.astype(np.float64) @ self.per_packet_load).max(initial=0) > capacity
        )

    def _count(self, per_slice: np.ndarray, fired: np.ndarray) -> None:
        """Add a step's traffic counts from its spikes per slice [batch, slice] (slice_order)."""
        total = per_slice.sum(axis=0)
        for name, value in zip(PER_PACKET, (total @ self.per_packet).tolist()):
            setattr(self.stats, name, getattr(self.stats, name) + value)
        self.stats.no_synaptic_row += int(fired.sum(axis=0) @ self.no_row)
        self.stats.link_load += (total @ self.per_packet_load).reshape(self.stats.link_load.shape)

    def _synaptic_input(self, fired: np.ndarray) -> None:
        """Every core's input for next step, from the spikes of every global neuron."""
        summed = self.block_synapses.input(fired)
        for state, params, first, last in zip(
            self.states, self.layers, self.offsets[1:], self.offsets[2:]
        ):
            # C-contiguous, as the compiled neuron reads it, in one copy
            state.a_pending = shift(np.ascontiguousarray(summed[:, first:last]), params.weight_exp)

    def advance(self, spikes_in: np.ndarray) -> list[np.ndarray]:
        """T steps for bool [T, batch, n_in]; each layer's bool spikes [T, batch, n]."""
        steps = [self.step(s) for s in spikes_in.astype(bool)]
        return [
            np.stack([step[i] for step in steps])
            if steps
            else np.zeros((0, spikes_in.shape[1], n), dtype=bool)
            for i, n in enumerate(self.sizes[1:])
        ]

    def _emit(self, spikes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """One packet (batch item, key) per spike of every slice that sends."""
        items, keys = [], []
        for p, fired in enumerate(spikes):
            item, neuron = np.nonzero(fired)
            slices = np.flatnonzero(self.board.population == p)
            s = slices[np.searchsorted(self.board.lo[slices], neuron, side="right") - 1]
            keep = self.board.sends[s]
            items.append(item[keep])
            keys.append(self.base[s[keep]] + neuron[keep] - self.board.lo[s[keep]])
        self.stats.packets_sent += sum(len(k) for k in keys)
        return np.concatenate(items), np.concatenate(keys)

    def _route(self, item: np.ndarray, key: np.ndarray, batch: int, capacity: int | None):
        """Move packets hop by hop until none is in flight; return the deliveries.

        A copy's next hop depends only on its source slice, chip and incoming link, so one still
        flying after n_chips * (N_LINKS + 1) hops has repeated that state and loops for ever.
        """
        chip = self.board.chip[self.slice_of_key(key)]
        arrived = np.full(len(key), -1, np.int64)
        n_chips = self.board.mesh.n_chips
        load = np.zeros(batch * n_chips * N_LINKS, np.int64) if capacity else None
        delivered: list[tuple[np.ndarray, ...]] = []
        for hop in itertools.count():
            if not len(key):
                break
            if hop > n_chips * (N_LINKS + 1):
                raise BackendError(
                    f"packets from the slices of keys {np.unique(key).tolist()[:4]} loop between "
                    f"chips for ever; fix: compile the partition again"
                )
            self.stats.router_lookups += len(key)
            rid = self.route_id[chip, self.slice_of_key(key)]
            unmatched = rid < 0
            self.stats.dropped_no_route += int(np.count_nonzero(unmatched & (arrived < 0)))
            rid = np.where(unmatched, self.default_id[arrived], rid)
            counts = self.fan_count[rid]
            packet = np.repeat(np.arange(len(key)), counts)
            offset = np.arange(len(packet)) - np.repeat(np.cumsum(counts) - counts, counts)
            bit = self.fan_bits[np.repeat(self.fan_start[rid], counts) + offset]
            local = bit >= CORE_BIT0
            lp = packet[local]
            delivered.append((item[lp], self.core_slice[chip[lp], bit[local] - CORE_BIT0], key[lp]))
            fp, link = packet[~local], bit[~local]
            nxt = self.neighbours[chip[fp], link]
            exists = nxt >= 0
            self.stats.dropped_no_link += int(np.count_nonzero(~exists))
            fp, link, nxt = fp[exists], link[exists], nxt[exists]
            if load is not None:
                keep = self._within_capacity(
                    load, (item[fp] * n_chips + chip[fp]) * N_LINKS + link, capacity
                )
                fp, link, nxt = fp[keep], link[keep], nxt[keep]
            self.stats.link_load += np.bincount(
                chip[fp] * N_LINKS + link, minlength=n_chips * N_LINKS
            ).reshape(n_chips, N_LINKS)
            self.stats.hops += len(fp)
            item, key, chip, arrived = item[fp], key[fp], nxt, link
        if not delivered:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty
        return tuple(np.concatenate(parts) for parts in zip(*delivered))

    def _within_capacity(self, load: np.ndarray, link_id: np.ndarray, capacity: int) -> np.ndarray:
        """Which packets still fit their link this step (the first ones, in packet order)."""
        order = np.argsort(link_id, kind="stable")
        sorted_id = link_id[order]
        first = np.searchsorted(sorted_id, sorted_id, side="left")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order)) - first
        keep = load[link_id] + rank < capacity
        np.add.at(load, link_id[keep], 1)
        self.stats.dropped_link_capacity += int(np.count_nonzero(~keep))
        return keep

    def _accumulate(self, item: np.ndarray, target: np.ndarray, key: np.ndarray) -> None:
        """Each core adds the synaptic rows of the packets it received into next step's input."""
        batch = self.states[0].u.shape[0]
        accum = [np.zeros((batch, n), np.int64) for n in self.sizes[1:]]
        self.stats.deliveries += len(key)
        self.stats.misdelivered += int(np.count_nonzero(target < 0))  # a core that runs nothing
        src = self.slice_of_key(key)
        pre = self.board.lo[src] + (key & ((1 << self.board.layout.neuron_bits) - 1))
        order = np.argsort(target, kind="stable")
        bounds = np.searchsorted(target[order], np.arange(len(self.synapses) + 1))
        for s in np.flatnonzero(np.diff(bounds)).tolist():
            got = order[bounds[s] : bounds[s + 1]]
            p = int(self.board.population[s])
            synapses = self.synapses[s]
            wrong = (
                self.board.population[src[got]] != p - 1 if synapses else np.ones(len(got), bool)
            )
            self.stats.misdelivered += int(np.count_nonzero(wrong))
            if synapses is None:
                continue
            row_of, rows = synapses
            row = row_of[pre[got[~wrong]]]
            unknown = row < 0
            self.stats.no_synaptic_row += int(np.count_nonzero(unknown))
            counts = np.bincount(
                item[got[~wrong]][~unknown] * len(rows) + row[~unknown], minlength=batch * len(rows)
            ).reshape(batch, len(rows))
            accum[p - 1][:, self.board.lo[s] : self.board.hi[s]] += (counts @ rows).astype(np.int64)
        for state, total, params in zip(self.states, accum, self.layers):
            state.a_pending = shift(total, params.weight_exp)
