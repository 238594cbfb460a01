"""Cut a partition's populations into slices, one per core, and find which slices connect.

Populations are the partition's input (spikes injected from the host, as sPyNNaker's
SpikeInjector does, on cores of their own) followed by one per layer. A slice holds at most
`neurons_per_core` neurons and at most the synaptic memory a core has: sPyNNaker's layout of
a core's synaptic matrix, one row per presynaptic neuron with any synapse onto the slice
(a ROW_HEADER_BYTES header) plus one SYNAPSE_WORD_BYTES word per non-zero synapse. All slices
of a population have one size, the largest that fits, so each slice's keys share one mask
(see `keys`). Slice a connects to slice b when any weight between them is non-zero; only
those pairs get routes, so sparse layers cost fewer packets and table entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snapdeploy.core.errors import CapacityError
from snapdeploy.core.neuron import LifLayerParams
from snapdeploy.targets.spec import SpiNNakerDevice

SYNAPSE_WORD_BYTES = 4
ROW_HEADER_BYTES = 12
INPUT_POPULATION = "input"


@dataclass(frozen=True)
class SliceGraph:
    """Slices in network order (population, then neuron range) and the slice-level edges."""

    population_names: tuple[str, ...]
    population_sizes: tuple[int, ...]
    population: np.ndarray  # int64 [n_slices]
    lo: np.ndarray  # int64 [n_slices], first neuron (index within the population)
    hi: np.ndarray  # int64 [n_slices], one past the last
    synapse_bytes: np.ndarray  # int64 [n_slices]
    edge_pre: np.ndarray  # int64 [n_edges], source slice
    edge_post: np.ndarray  # int64 [n_edges], target slice (in the next population)

    @property
    def n_slices(self) -> int:
        return len(self.lo)

    def slices_of(self, population: int) -> np.ndarray:
        return np.flatnonzero(self.population == population)


def slice_bytes(nonzero: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Synaptic bytes of each slice of post neurons beginning at `starts` (rows of `nonzero`)."""
    words = np.add.reduceat(nonzero.sum(axis=1), starts)
    rows = np.logical_or.reduceat(nonzero, starts, axis=0).sum(axis=1)
    return words * SYNAPSE_WORD_BYTES + rows * ROW_HEADER_BYTES


def slice_size(name: str, nonzero: np.ndarray, device: SpiNNakerDevice) -> int:
    """The largest slice size <= neurons_per_core whose every slice fits a core's synapse memory."""
    n = nonzero.shape[0]
    size = min(device.neurons_per_core, n)
    while size > 0:
        worst = int(slice_bytes(nonzero, np.arange(0, n, size)).max())
        if worst <= device.synapse_bytes_per_core:
            return size
        size = min(size - 1, size * device.synapse_bytes_per_core // worst)
    one = int(slice_bytes(nonzero, np.arange(n)).max())
    raise CapacityError(
        f"layer '{name}': one neuron needs {one} bytes of synapses but a core of device "
        f"'{device.name}' holds {device.synapse_bytes_per_core}; fix: fewer inputs per neuron "
        f"(a sparser or narrower layer)"
    )


def slice_network(
    names: list[str], layers: list[LifLayerParams], device: SpiNNakerDevice
) -> SliceGraph:
    """Slices of the input and every layer, and the edges between consecutive populations."""
    sizes = [layers[0].n_in] + [p.n_out for p in layers]
    nonzeros = [p.weights != 0 for p in layers]
    widths = [min(device.neurons_per_core, sizes[0])] + [
        slice_size(name, nz, device) for name, nz in zip(names, nonzeros)
    ]
    starts = [np.arange(0, n, w) for n, w in zip(sizes, widths)]
    first = np.cumsum([0] + [len(s) for s in starts])
    pre, post = [], []
    for i, nz in enumerate(nonzeros):
        blocks = np.logical_or.reduceat(nz, starts[i + 1], axis=0)
        blocks = np.logical_or.reduceat(blocks, starts[i], axis=1)  # [post slices, pre slices]
        b, a = np.nonzero(blocks)
        pre.append(a + first[i])
        post.append(b + first[i + 1])
    lo = np.concatenate(starts)
    hi = np.concatenate([np.minimum(s + w, n) for s, w, n in zip(starts, widths, sizes)])
    synapse_bytes = np.concatenate(
        [np.zeros(len(starts[0]), np.int64)]
        + [slice_bytes(nz, s) for nz, s in zip(nonzeros, starts[1:])]
    )
    return SliceGraph(
        population_names=(INPUT_POPULATION, *names),
        population_sizes=tuple(sizes),
        population=np.repeat(np.arange(len(sizes)), [len(s) for s in starts]),
        lo=lo.astype(np.int64),
        hi=hi.astype(np.int64),
        synapse_bytes=synapse_bytes.astype(np.int64),
        edge_pre=np.concatenate(pre).astype(np.int64),
        edge_post=np.concatenate(post).astype(np.int64),
    )
