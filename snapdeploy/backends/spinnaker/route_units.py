"""Routing units: the blocks of a slice's neurons that each have a key/mask entry of their own.

Why: an entry's mask decides which neurons' packets share a route. One entry per slice (the
mask above the neuron field) sends every neuron's packet wherever any neuron of the slice
connects, but a conv input neuron reaches only a few output rows, so most copies would land on
cores with no synapse for it. A slice feeding a conv or pool layer is cut into aligned blocks
of 2**bits neurons (key: the block's first key; mask: clears only the low `bits`), each routed
only where its own neurons reach, as a SpiNNaker router matching key & mask does. A slice
feeding a Dense layer stays one unit (bits: the whole neuron field).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snapdeploy.backends.spinnaker.keys import FULL_MASK
from snapdeploy.backends.spinnaker.slicing import SliceGraph


@dataclass(frozen=True)
class RouteUnits:
    """Every slice's units, slice by slice and in neuron order within a slice."""

    slice: np.ndarray  # int64 [units]: the slice each unit belongs to
    lo: np.ndarray  # int64 [units]: its first neuron (index within the population)
    hi: np.ndarray  # int64 [units]: one past its last
    key: np.ndarray  # int64 [units]: the key of its first neuron
    mask: np.ndarray  # int64 [units]: its entries' mask (its low bits clear)
    low_bits: np.ndarray  # int64 [units]: the key bits its mask leaves to the neuron
    by_key: np.ndarray  # int64 [units]: units in key order

    @classmethod
    def of(cls, lo: np.ndarray, hi: np.ndarray, base: np.ndarray, bits: np.ndarray) -> RouteUnits:
        """Units of slices [lo, hi) with base keys `base`, cut into blocks of 2**bits."""
        block = np.left_shift(1, bits)
        count = -(-(hi - lo) // block)
        s = np.repeat(np.arange(len(lo)), count)
        offset = (np.arange(len(s)) - np.repeat(np.cumsum(count) - count, count)) * block[s]
        key = base[s] + offset
        return cls(
            slice=s,
            lo=lo[s] + offset,
            hi=np.minimum(lo[s] + offset + block[s], hi[s]),
            key=key,
            mask=((FULL_MASK >> bits) << bits)[s],
            low_bits=bits[s],
            by_key=np.argsort(key, kind="stable"),
        )

    def __len__(self) -> int:
        return len(self.slice)

    def of_keys(self, keys: np.ndarray) -> np.ndarray:
        """The unit each key (one a core sends) belongs to."""
        at = np.searchsorted(self.key[self.by_key], keys, side="right") - 1
        return self.by_key[at]

    def first_of_slice(self) -> np.ndarray:
        """int64 [slices + 1]: where each slice's units begin."""
        return np.searchsorted(self.slice, np.arange(self.slice[-1] + 2 if len(self) else 1))


def unit_edges(graph: SliceGraph, units: RouteUnits) -> tuple[np.ndarray, np.ndarray]:
    """(unit, target slice) pairs: a unit connects to a slice some neuron of it reaches (for a
    population whose neurons' reach is kept, conv's; a slice's edges for one-unit slices)."""
    first = units.first_of_slice()
    kept = np.array([r is not None for r in graph.reach])
    whole = ~kept[graph.population[graph.edge_pre]]
    pre, post = [first[graph.edge_pre[whole]]], [graph.edge_post[whole]]
    for p in np.flatnonzero(kept).tolist():
        mine = np.flatnonzero(graph.population[units.slice] == p)  # tile the population, in order
        hit = np.logical_or.reduceat(graph.reach[p], units.lo[mine], axis=1)
        row, column = np.nonzero(hit)
        pre.append(mine[column])
        post.append(graph.slices_of(graph.populations.feeds[p])[row])
    return np.concatenate(pre).astype(np.int64), np.concatenate(post).astype(np.int64)
