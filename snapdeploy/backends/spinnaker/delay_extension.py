"""Delay-extension cores: delays longer than a core's ring, sent again later, as sPyNNaker does.

A delay layer's core holds delays up to its ring's slots R (`core_memory.ring_slots`); a
synapse of delay d >= R is served by stage k = d // R: a population of extension cores that
mirrors the layer's input population slice for slice, receives its spikes and sends each again
k * R steps later under keys of its own. The layer's core keeps a synaptic row per (stage,
presynaptic neuron) whose synapses carry the rest of the delay, d - k * R, into the ring, so a
spike lands d + 1 steps after it was sent, as through Lava's DelayDense. Stages with no
synapse get no cores.

Populations are numbered as the chain first (the input, then each layer) and extension
populations after it; `Populations` says, for each, which layer's cores use its packets
(`feeds`), which population's spikes it sends again (`mirrors`, -1 for the chain) and how many
steps later (`lags`), and through which stage (`stages`, 0 for the chain). An extension core
keeps the spikes whose packets reached it, so what it sends again is what the routes brought.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from snapdeploy.backends.spinnaker.synaptic_input import delays_used
from snapdeploy.core.conv import ConvLayerParams
from snapdeploy.core.neuron import LifLayerParams

#: An extension core keeps one bit per neuron and step of lag, in 32-bit words.
HISTORY_BITS_PER_WORD = 32


def stages_used(layer: LifLayerParams | ConvLayerParams, ring: int) -> list[int]:
    """The stages k >= 1 whose delays [k * ring, (k + 1) * ring) some non-zero weight uses."""
    delays = getattr(layer, "delays", None)
    if delays is None:
        return []
    return sorted({int(d) // ring for d in np.unique(delays[layer.weights != 0])} - {0})


def stage_weights(layer: LifLayerParams, ring: int, stage: int) -> np.ndarray:
    """The weights [n_out, n_in] a stage serves, whatever their delays within it (a layer
    without delays: all of them, at stage 0)."""
    if layer.delays is None:
        return layer.weights
    return np.where(layer.delays // ring == stage, layer.weights, 0)


def n_stages(layer: LifLayerParams, ring: int) -> int:
    """Stages 0..K a layer's delays span (1 without delays)."""
    delays = delays_used(layer)
    return 1 if delays is None or not len(delays) else int(delays.max()) // ring + 1


def staged_synapses(
    layer: LifLayerParams, lo: int, hi: int, ring: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The non-zero synapses onto neurons [lo, hi), as a core's synaptic words: (post neuron
    from lo, presynaptic neuron, delay group (index into `delays_used`), stage, weight); the
    group and stage are 0 for a layer without delays."""
    weights = layer.weights[lo:hi]
    post, pre = np.nonzero(weights)
    delays = delays_used(layer)
    if delays is None:
        zero = np.zeros_like(post)
        return post, pre, zero, zero, weights[post, pre]
    delay = layer.delays[lo:hi][post, pre]
    return post, pre, np.searchsorted(delays, delay), delay // ring, weights[post, pre]


def history_bytes(width: int, lag: int) -> int:
    """DTCM of an extension core sending `width` neurons' spikes `lag` steps later."""
    return -(-width // HISTORY_BITS_PER_WORD) * 4 * lag


@dataclass(frozen=True)
class Populations:
    """The chain (input and layers) and the extension populations after it."""

    feeds: tuple[int, ...]  # the population whose cores use its packets; -1 for the last layer
    mirrors: tuple[int, ...]  # the population whose spikes it sends again; -1 for the chain
    lags: tuple[int, ...]  # steps later it sends them (0 for the chain)
    stages: tuple[int, ...]  # the delay stage its packets serve (0 for the chain)

    @classmethod
    def of(cls, n_layers: int, extensions: list[tuple[int, int, int]]) -> Populations:
        """Populations for `n_layers` layers and (layer, stage, ring) extension stages."""
        chain = n_layers + 1
        return cls(
            feeds=(*range(1, chain), -1, *(layer + 1 for layer, _, _ in extensions)),
            mirrors=(-1,) * chain + tuple(layer for layer, _, _ in extensions),
            lags=(0,) * chain + tuple(stage * ring for _, stage, ring in extensions),
            stages=(0,) * chain + tuple(stage for _, stage, _ in extensions),
        )

    @property
    def n_chain(self) -> int:
        """The input and the layers, numbered before any extension population."""
        return sum(m < 0 for m in self.mirrors)

    def receives(self) -> np.ndarray:
        """bool [population, population]: whether the second's cores use the first's packets
        (a layer its input's and its extensions', an extension its mirror's)."""
        n = len(self.feeds)
        out = np.zeros((n, n), bool)
        for a, (target, mirrored) in enumerate(zip(self.feeds, self.mirrors)):
            if target >= 0:
                out[a, target] = True
            if mirrored >= 0:
                out[mirrored, a] = True
        return out

    def to_json(self) -> list[dict[str, int]]:
        """One entry per population, as placements.json lists them."""
        return [
            {"feeds": f, "mirrors": m, "lag": lag, "stage": k}
            for f, m, lag, k in zip(self.feeds, self.mirrors, self.lags, self.stages)
        ]

    @classmethod
    def from_json(cls, entries: list[dict[str, Any]]) -> Populations:
        """What `to_json` wrote (a KeyError where an entry lacks a field)."""
        return cls(*(tuple(e[k] for e in entries) for k in ("feeds", "mirrors", "lag", "stage")))
