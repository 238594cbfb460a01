"""The packet router: multicast packets hop over the chip mesh, steered by every chip's table.

At each chip the router finds the first table entry matching a packet's key; with none, a
packet that came in on a link leaves by the opposite one (default route) and one from a local
core is dropped. The route word's link bits send copies to neighbouring chips, its core bits
deliver copies to this chip's cores. Packets move hop by hop, all of them at once (vectorized
over packets and batch items), until none is in flight. A link carries at most `capacity`
packets per step and per batch item, the first ones in packet order; the rest are dropped and
counted, as are packets with no route and copies sent over a link that does not exist.

Why lookups are resolved per routing unit: a sending core's keys come in units (the whole
slice, or aligned blocks of its neurons: `route_units`) whose keys differ only in the unit's
low bits, and every table entry's mask is one unit's mask or a merge of such (merging only
clears bits), so a router's first match is normally the same for every key of a unit. Each
table is matched once, when the router is built, against each unit's key block, and packets
then route by indexing. An entry that would match only some of a unit's keys before any
other matches all of them is marked, and a packet of that unit reaching that chip is refused.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np

from snapdeploy.backends.spinnaker.board import Board
from snapdeploy.backends.spinnaker.mesh import N_LINKS
from snapdeploy.backends.spinnaker.routing import CORE_BIT0
from snapdeploy.backends.spinnaker.traffic import TrafficStats
from snapdeploy.core.errors import BackendError

#: `first_matches`' mark of a chip where a unit's keys would take different routes.
SPLIT = -2


def first_matches(board: Board) -> np.ndarray:
    """int64 [chip, unit]: the route word of the first entry matching the unit's keys, -1
    where none matches, SPLIT where the first entry to match any matches only some."""
    units = board.units
    low = np.left_shift(1, units.low_bits) - 1
    route = np.full((board.mesh.n_chips, len(units)), -1, np.int64)
    for table in (t for t in board.tables if len(t)):
        masks, keys = table.masks.astype(np.int64), table.keys.astype(np.int64)
        # an entry matches some key of a unit where they agree on the unit's fixed bits
        fixed = masks[None, :] & ~low[:, None]
        some = (units.key[:, None] & fixed) == (keys[None, :] & fixed)
        every = some & ((masks[None, :] & low[:, None]) == 0)
        hit = some.any(axis=1)
        first = np.argmax(some[hit], axis=1)
        whole = every[hit][np.arange(len(first)), first]
        route[table.chip, hit] = np.where(whole, table.routes.astype(np.int64)[first], SPLIT)
    return route


def fanouts(words: np.ndarray, n_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR of the bits set in each route word: (count, start, bits), so packets expand by indexing."""
    bits = ((words[:, None] >> np.arange(n_bits)[None, :]) & 1).astype(bool)
    count = bits.sum(axis=1)
    return count, np.cumsum(count) - count, np.nonzero(bits)[1]


def within_capacity(load: np.ndarray, link_id: np.ndarray, capacity: int) -> np.ndarray:
    """Which packets still fit their link (the first ones, in packet order), given the packets
    `load` says each link carried before; adds the ones that fit to `load`."""
    order = np.argsort(link_id, kind="stable")
    sorted_id = link_id[order]
    first = np.searchsorted(sorted_id, sorted_id, side="left")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order)) - first
    keep = load[link_id] + rank < capacity
    np.add.at(load, link_id[keep], 1)
    return keep


class Deliveries(NamedTuple):
    """The packet copies that reached a core, one entry each."""

    item: np.ndarray  # int64: batch item
    target: np.ndarray  # int64: the slice the receiving core runs, -1 where it runs none
    key: np.ndarray  # int64


class Router:
    """Every chip's router, its table resolved per source slice (see the module docstring)."""

    def __init__(self, board: Board):
        self.board = board
        self.neighbours = board.mesh.neighbours()
        words = first_matches(board)
        defaults = np.left_shift(1, np.arange(N_LINKS, dtype=np.int64))
        unique = np.unique(np.concatenate([words[words >= 0], defaults, [0]]))
        # -1 (no entry matches) and SPLIT kept as they are
        self.route_id = np.where(words >= 0, np.searchsorted(unique, words), words)
        # indexed by the link a packet came in on; -1 (from a local core) gets the empty route
        self.default_id = np.searchsorted(unique, np.append(defaults, 0))
        self.fan_count, self.fan_start, self.fan_bits = fanouts(
            unique, CORE_BIT0 + board.cores_per_chip
        )
        self.units = board.units
        self.core_slice = np.full((board.mesh.n_chips, board.cores_per_chip), -1, np.int64)
        self.core_slice[board.chip, board.core] = np.arange(board.n_slices)

    def slice_of_key(self, keys: np.ndarray) -> np.ndarray:
        """The slice whose core sends each key."""
        return self.units.slice[self.units.of_keys(keys)]

    def route(
        self,
        item: np.ndarray,
        key: np.ndarray,
        stats: TrafficStats,
        capacity: int | None = None,
    ) -> Deliveries:
        """Move the packets (batch item, key), each from its sending core, hop by hop until none
        is in flight, counting into `stats`; return the copies delivered.

        A copy's next hop depends only on its source slice, chip and incoming link, so one still
        flying after n_chips * (N_LINKS + 1) hops has repeated that state and loops for ever.
        """
        unit = self.units.of_keys(key)
        chip = self.board.chip[self.units.slice[unit]]
        arrived = np.full(len(key), -1, np.int64)
        n_chips = self.board.mesh.n_chips
        batch = int(item.max(initial=0)) + 1
        load = None if capacity is None else np.zeros(batch * n_chips * N_LINKS, np.int64)
        delivered: list[tuple[np.ndarray, ...]] = []
        for hop in itertools.count():
            if not len(key):
                break
            if hop > n_chips * (N_LINKS + 1):
                raise BackendError(
                    f"packets from the slices of keys {np.unique(key).tolist()[:4]} loop between "
                    f"chips for ever; fix: compile the partition again"
                )
            stats.router_lookups += len(key)
            rid = self.route_id[chip, unit]
            if np.any(rid == SPLIT):
                at = np.flatnonzero(rid == SPLIT)[0]
                raise BackendError(
                    f"chip {self.board.mesh.xy[chip[at]].tolist()}: its first routing entry "
                    f"to match key 0x{int(key[at]):08x} matches only part of that key's routing "
                    f"unit; fix: compile the partition again"
                )
            unmatched = rid < 0
            stats.dropped_no_route += int(np.count_nonzero(unmatched & (arrived < 0)))
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
            stats.dropped_no_link += int(np.count_nonzero(~exists))
            fp, link, nxt = fp[exists], link[exists], nxt[exists]
            if load is not None:
                keep = within_capacity(
                    load, (item[fp] * n_chips + chip[fp]) * N_LINKS + link, capacity
                )
                stats.dropped_link_capacity += int(np.count_nonzero(~keep))
                fp, link, nxt = fp[keep], link[keep], nxt[keep]
            stats.link_load += np.bincount(
                chip[fp] * N_LINKS + link, minlength=n_chips * N_LINKS
            ).reshape(n_chips, N_LINKS)
            stats.hops += len(fp)
            item, key, unit, chip, arrived = item[fp], key[fp], unit[fp], nxt, link
        if not delivered:
            empty = np.zeros(0, np.int64)
            return Deliveries(empty, empty, empty)
        return Deliveries(*(np.concatenate(parts) for parts in zip(*delivered)))
