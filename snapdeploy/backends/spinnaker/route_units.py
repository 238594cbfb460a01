"""Routing units: the blocks of a slice's neurons that each have a key/mask entry of their own.

Why: an entry's mask decides which neurons' packets share a route. One entry per slice (the
mask above the neuron field) sends every neuron's packet wherever any neuron of the slice
connects, but a conv input neuron reaches only a few output rows, so most copies would land on
cores with no synapse for it (so does a banded or sparse Dense layer's). Such a slice is cut
into aligned blocks of 2**bits neurons (key: the block's first key; mask: clears only the low
`bits`), each routed only where its own neurons reach, as a SpiNNaker router matching
key & mask does. A slice whose every block reaches all its cores (a fully connected Dense
layer's) stays one unit (bits: the whole neuron field).
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
    """(unit, target slice) pairs: a unit connects to a slice of the population its own
    population feeds where some neuron of it reaches the slice (`SliceGraph.reach`), and to
    every other slice its slice connects to (a delay extension mirroring it)."""
    first = units.first_of_slice()
    feeds = np.array(graph.populations.feeds)
    sender = graph.population[graph.edge_pre]
    other = graph.population[graph.edge_post] != feeds[sender]
    pre_slice, post_slice = graph.edge_pre[other], graph.edge_post[other]
    count = np.diff(first)[pre_slice]  # every unit of the slice
    index = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    pre, post = [np.repeat(first[pre_slice], count) + index], [np.repeat(post_slice, count)]
    for p, reach in enumerate(graph.reach):
        if reach is None:
            continue
        mine = np.flatnonzero(graph.population[units.slice] == p)  # tile the population, in order
        row, column = np.nonzero(np.logical_or.reduceat(reach, units.lo[mine], axis=1))
        pre.append(mine[column])
        post.append(graph.slices_of(feeds[p])[row])
    return np.concatenate(pre).astype(np.int64), np.concatenate(post).astype(np.int64)


def split_helps(graph: SliceGraph, bits: int) -> np.ndarray:
    """bool [slices]: cutting the slice into blocks of 2**bits neurons sends some block to
    fewer cores than the whole slice goes to (a conv's input, a banded or sparse Dense
    layer's); a slice whose every block reaches all its slice's cores gains nothing."""
    helps = np.zeros(graph.n_slices, bool)
    for p, reach in enumerate(graph.reach):
        if reach is None:
            continue
        slices = graph.slices_of(p)
        lo, hi = graph.lo[slices], graph.hi[slices]
        blocks = RouteUnits.of(lo, hi, lo, np.full(len(slices), bits))
        per_block = np.logical_or.reduceat(reach, blocks.lo, axis=1).sum(axis=0)
        per_slice = np.logical_or.reduceat(reach, lo, axis=1).sum(axis=0)
        fewest = np.minimum.reduceat(per_block, blocks.first_of_slice()[:-1])
        helps[slices] = fewest < per_slice
    return helps
