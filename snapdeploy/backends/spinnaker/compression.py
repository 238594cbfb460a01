"""Shrink a routing table that does not fit its router, exploiting the table's order.

A router returns the first matching entry, so an entry only has to avoid the keys of entries
*below* it. The compressor (the idea of PACMAN's pair compressor) groups entries by route,
puts the groups with the fewest entries first and the largest last, and within each group
merges pairs into one entry that covers both: mask = m1 & m2 & ~(k1 ^ k2), key = k1 & mask.
A merge is kept only if the merged entry matches no key of a later group and no key that
passes the chip by default routing; keys that no packet carries may be covered freely. The
largest group, last, has the least below it and merges the most.
"""

from __future__ import annotations

import numpy as np

from snapdeploy.backends.spinnaker.mesh import Mesh
from snapdeploy.backends.spinnaker.routing import RoutingTable
from snapdeploy.core.errors import CapacityError


def overlaps(key: np.ndarray, mask: np.ndarray, keys: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """bool [len(key), len(keys)]: some key matches both entry i and entry j."""
    return ((key[:, None] ^ keys[None, :]) & mask[:, None] & masks[None, :]) == 0


def popcount(values: np.ndarray) -> np.ndarray:
    """Set bits of each uint32."""
    return np.unpackbits(values.astype(np.uint32).view(np.uint8)).reshape(-1, 32).sum(axis=1)


def merge_group(
    keys: np.ndarray, masks: np.ndarray, below_keys: np.ndarray, below_masks: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Merge entries of one route while no merged entry captures a key in `below`."""
    keys, masks = keys.copy(), masks.copy()
    alive = np.ones(len(keys), bool)
    for i in range(len(keys)):
        while alive[i]:
            others = np.flatnonzero(alive)
            others = others[others != i]
            if others.size == 0:
                break
            mask = masks[i] & masks[others] & ~(keys[i] ^ keys[others])
            key = keys[i] & mask
            safe = ~overlaps(key, mask, below_keys, below_masks).any(axis=1)
            if not safe.any():
                break
            best = np.argmax(np.where(safe, popcount(mask), -1))  # the least general merge
            keys[i], masks[i] = key[best], mask[best]
            alive[others[best]] = False
    return keys[alive], masks[alive]


def compress(table: RoutingTable) -> RoutingTable:
    """An equivalent table for every key a packet carries here, usually with fewer entries."""
    routes, counts = np.unique(table.routes, return_counts=True)
    order = routes[np.argsort(counts, kind="stable")]
    out_keys, out_masks, out_routes = [], [], []
    for g, route in enumerate(order):
        mine = table.routes == route
        later = np.isin(table.routes, order[g + 1 :])
        below_keys = np.concatenate([table.keys[later], table.passing_keys])
        below_masks = np.concatenate([table.masks[later], table.passing_masks])
        keys, masks = merge_group(table.keys[mine], table.masks[mine], below_keys, below_masks)
        out_keys.append(keys)
        out_masks.append(masks)
        out_routes.append(np.full(len(keys), route, np.uint64))
    if not out_keys:
        return table
    return RoutingTable(
        chip=table.chip,
        keys=np.concatenate(out_keys),
        masks=np.concatenate(out_masks),
        routes=np.concatenate(out_routes),
        passing_keys=table.passing_keys,
        passing_masks=table.passing_masks,
    )


def fit_tables(
    tables: list[RoutingTable], limit: int, mesh: Mesh, where: str
) -> list[RoutingTable]:
    """Compress every table longer than `limit`; refuse, naming the chip, any that still is."""
    fitted = [compress(t) if len(t) > limit else t for t in tables]
    for before, after in zip(tables, fitted):
        if len(after) > limit:
            x, y = mesh.xy[after.chip].tolist()
            raise CapacityError(
                f"{where}: the routing table of chip ({x}, {y}) has {len(after)} entries after "
                f"compression ({len(before)} before) but the router holds {limit}; fix: a "
                f"larger board, or fewer slices sending through that chip (sparser layers)"
            )
    return fitted
