"""A packet-level emulator of the board: cores update their slices, routers forward by their tables.

One time step, as a SpiNNaker timer tick:
1. every core updates its slice with the integer neuron (`core.neuron.lif_step`) from the
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
Synaptic rows are summed by a float64 matrix product, exact because every sum stays far
below 2**53 (|weight| <= 256 times the packets in one step).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snapdeploy.backends.spinnaker.keys import KeyLayout
from snapdeploy.backends.spinnaker.mesh import N_LINKS, Mesh
from snapdeploy.backends.spinnaker.routing import CORE_BIT0, RoutingTable
from snapdeploy.core.errors import BackendError
from snapdeploy.core.neuron import LayerState, LifLayerParams, lif_step, shift


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


class Emulator:
    """Runs the board over time steps; state and traffic counts persist until `reset`."""

    def __init__(self, board: Board, layers: list[LifLayerParams]):
        self.board = board
        self.layers = layers
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
        self.states: list[LayerState] = []
        self.stats = TrafficStats()

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
            lif_step(state, state.a_pending, params)
            for state, params in zip(self.states, self.layers)
        ]
        items, keys = self._emit(spikes)
        d_item, d_slice, d_key = self._route(items, keys, spikes_in.shape[0])
        self._accumulate(d_item, d_slice, d_key)
        return spikes[1:]

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

    def _route(self, item: np.ndarray, key: np.ndarray, batch: int):
        """Move packets hop by hop until none is in flight; return the deliveries."""
        chip = self.board.chip[self.slice_of_key(key)]
        arrived = np.full(len(key), -1, np.int64)
        n_chips = self.board.mesh.n_chips
        load = np.zeros(batch * n_chips * N_LINKS, np.int64) if self.board.link_capacity else None
        delivered: list[tuple[np.ndarray, ...]] = []
        while len(key):
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
                keep = self._within_capacity(load, (item[fp] * n_chips + chip[fp]) * N_LINKS + link)
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

    def _within_capacity(self, load: np.ndarray, link_id: np.ndarray) -> np.ndarray:
        """Which packets still fit their link this step (the first ones, in packet order)."""
        order = np.argsort(link_id, kind="stable")
        sorted_id = link_id[order]
        first = np.searchsorted(sorted_id, sorted_id, side="left")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order)) - first
        keep = load[link_id] + rank < self.board.link_capacity
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
            wrong = self.board.population[src[got]] != p - 1 if synapses else np.ones(len(got), bool)
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
