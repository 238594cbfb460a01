"""Cut a partition's populations into slices, one per core, and find which slices connect.

Populations are the partition's input (spikes injected from the host, as sPyNNaker's
SpikeInjector does, on cores of their own) followed by one per layer, and then one per
delay-extension stage a delay layer needs (`delay_extension`). A slice holds at most
`neurons_per_core` neurons and at most the synaptic memory a core has: sPyNNaker's layout of
a core's synaptic matrix, one row per presynaptic neuron with any synapse onto the slice
(a ROW_HEADER_BYTES header; one row however many stages serve the neuron's delays, so with
extension stages an estimate from below) plus one SYNAPSE_WORD_BYTES word per non-zero synapse. All slices
of a population have one size, the largest that fits, so each slice's keys share one mask
(see `keys`). Slice a connects to slice b when any weight between them is non-zero; only
those pairs get routes, so sparse layers cost fewer packets and table entries.

A slice also fits a core's DTCM (`core_memory`: state, input rings, a conv kernel). Conv and
pool layers keep their kernel there instead of synaptic rows, are cut along output rows or
channels, and connect where an input reaches the slice through the kernel (`conv_slicing`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from snapdeploy.backends.spinnaker.conv_slicing import aligned_width, conv_of, input_reach
from snapdeploy.backends.spinnaker.core_memory import (
    dtcm_bytes,
    kernel_bytes,
    ring_slots,
    widest_slice,
)
from snapdeploy.backends.spinnaker.delay_extension import (
    Populations,
    history_bytes,
    stage_weights,
    stages_used,
)
from snapdeploy.core.conv import ConvLayerParams, ConvSynapse
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
    populations: Populations  # which population feeds which, and the delay extensions
    population: np.ndarray  # int64 [n_slices]
    lo: np.ndarray  # int64 [n_slices], first neuron (index within the population)
    hi: np.ndarray  # int64 [n_slices], one past the last
    synapse_bytes: np.ndarray  # int64 [n_slices]: synaptic rows (a conv: its kernel) in SDRAM
    dtcm_bytes: np.ndarray  # int64 [n_slices]: state, input rings and kernel (`core_memory`)
    edge_pre: np.ndarray  # int64 [n_edges], source slice
    edge_post: np.ndarray  # int64 [n_edges], target slice (in the population it feeds)
    #: per population: bool [slices of the population it feeds, its neurons], which neuron
    #: reaches which slice (for `route_units`); None for the last layer, which feeds none
    reach: tuple[np.ndarray | None, ...]

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


def slice_size(name: str, nonzero: np.ndarray, device: SpiNNakerDevice, widest: int) -> int:
    """The largest slice size <= `widest` whose every slice fits a core's synapse memory."""
    n = nonzero.shape[0]
    size = min(widest, n)
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


def layer_width(name: str, layer: LifLayerParams | ConvLayerParams, device: SpiNNakerDevice) -> int:
    """Neurons per slice of a layer: what DTCM allows, then synapse memory (Dense) or whole
    output rows, pixels or channels where that needs no more cores (conv, whose kernel the
    core keeps in DTCM and SDRAM alike)."""
    widest = widest_slice(name, layer, device, min(device.neurons_per_core, layer.n_out))
    conv = conv_of(layer)
    if conv is None:
        # a slice cut down for synapse memory may get a longer ring: check DTCM again
        narrower = slice_size(name, layer.weights != 0, device, widest)
        return widest_slice(name, layer, device, narrower)
    width = aligned_width(conv, widest)
    if -(-layer.n_out // width) > -(-layer.n_out // widest):  # alignment would cost a core
        width = widest
    if kernel_bytes(layer, width) > device.synapse_bytes_per_core:
        raise CapacityError(
            f"layer '{name}': a slice's kernel needs {kernel_bytes(layer, width)} bytes but a "
            f"core of device '{device.name}' holds {device.synapse_bytes_per_core} of synapses; "
            f"fix: fewer channels per group or a smaller kernel"
        )
    return width


def neuron_reach(conv: ConvSynapse, post_starts: np.ndarray, n_out: int) -> np.ndarray:
    """bool [post slices, n_in]: the inputs that reach each slice of a conv's outputs."""
    bounds = [*post_starts.tolist(), n_out]
    return np.array([input_reach(conv, lo, hi) for lo, hi in itertools.pairwise(bounds)])


def memory(
    layer: LifLayerParams | ConvLayerParams, starts: np.ndarray, ring: int
) -> tuple[np.ndarray, np.ndarray]:
    """(SDRAM synapse bytes, DTCM bytes) of each slice of a layer beginning at `starts`, whose
    cores have rings of `ring` slots."""
    widths = np.diff([*starts.tolist(), layer.n_out])
    dtcm = np.array([dtcm_bytes(layer, int(w), ring) for w in widths], np.int64)
    if conv_of(layer) is not None:
        return np.array([kernel_bytes(layer, int(w)) for w in widths], np.int64), dtcm
    return slice_bytes(layer.weights != 0, starts), dtcm


def slice_network(
    names: list[str], layers: list[LifLayerParams | ConvLayerParams], device: SpiNNakerDevice
) -> SliceGraph:
    """Slices of the input, every layer and every delay-extension stage, and the edges from
    each population to the one it feeds (see `delay_extension`)."""
    sizes = [layers[0].n_in] + [p.n_out for p in layers]
    widths = [min(device.neurons_per_core, sizes[0])] + [
        layer_width(name, layer, device) for name, layer in zip(names, layers)
    ]
    rings = [ring_slots(layer, w) for layer, w in zip(layers, widths[1:])]
    extensions = [(i, k, rings[i]) for i, p in enumerate(layers) for k in stages_used(p, rings[i])]
    populations = Populations.of(len(layers), extensions)
    starts = [np.arange(0, n, w) for n, w in zip(sizes, widths)]
    starts += [starts[i] for i, _, _ in extensions]  # an extension mirrors its source's slices
    first = np.cumsum([0] + [len(s) for s in starts])
    pre, post = [], []
    reach: list[np.ndarray | None] = [None] * len(starts)
    for p, target in enumerate(populations.feeds):
        if target < 0:
            continue
        layer, ring, stage = layers[target - 1], rings[target - 1], populations.stages[p]
        conv = conv_of(layer)
        if conv is None:
            nonzero = stage_weights(layer, ring, stage) != 0
            reach[p] = np.logical_or.reduceat(nonzero, starts[target], axis=0)
        else:
            reach[p] = neuron_reach(conv, starts[target], layer.n_out)
        b, a = np.nonzero(np.logical_or.reduceat(reach[p], starts[p], axis=1))
        pre.append(a + first[p])
        post.append(b + first[target])
    for e, (i, _, _) in enumerate(extensions):  # each source slice to its extension slice
        p = len(sizes) + e
        pre.append(np.arange(first[i], first[i + 1]))
        post.append(np.arange(first[p], first[p + 1]))
    all_sizes = sizes + [sizes[i] for i, _, _ in extensions]
    widths += [widths[i] for i, _, _ in extensions]
    lo = np.concatenate(starts)
    hi = np.concatenate([np.minimum(s + w, n) for s, w, n in zip(starts, widths, all_sizes)])
    sdram, dtcm = zip(*(memory(p, s, ring) for p, s, ring in zip(layers, starts[1:], rings)))
    no_memory = np.zeros(len(starts[0]), np.int64)  # injector cores hold no synapses
    histories = [
        np.array([history_bytes(int(w), lag) for w in np.diff([*starts[i].tolist(), sizes[i]])])
        for (i, _, _), lag in zip(extensions, populations.lags[len(sizes) :])
    ]
    return SliceGraph(
        population_names=(
            INPUT_POPULATION,
            *names,
            *(f"{names[i]}.delay{k * ring}" for i, k, ring in extensions),
        ),
        population_sizes=tuple(all_sizes),
        populations=populations,
        population=np.repeat(np.arange(len(starts)), [len(s) for s in starts]),
        lo=lo.astype(np.int64),
        hi=hi.astype(np.int64),
        synapse_bytes=np.concatenate(
            [no_memory, *sdram, *(np.zeros_like(h) for h in histories)]
        ).astype(np.int64),
        dtcm_bytes=np.concatenate([no_memory, *dtcm, *histories]).astype(np.int64),
        edge_pre=np.concatenate(pre).astype(np.int64),
        edge_post=np.concatenate(post).astype(np.int64),
        reach=tuple(reach),
    )
