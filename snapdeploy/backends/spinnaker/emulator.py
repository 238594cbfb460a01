"""A packet-level emulator of the board: cores update their slices, routers forward by their tables.

One time step, as a SpiNNaker timer tick:
1. every core updates its slice with the integer neuron (`core.neuron.lif_step`, compiled by
   `core.lif_native` where it builds) from the input it accumulated during the previous step
   (Dense's one-step delay); injector cores take this step's input spikes;
2. each spike becomes a multicast packet carrying its 32-bit key, which the routers carry hop
   by hop to the cores their tables name (`router`);
3. each core turns every packet it received into its synaptic row (a conv core: its kernel's
   taps) and adds it into the input for the next step (`packet_level`); once summed, the input
   is shifted by the layer's weight_exp (a conv's also wrapped, a delay layer's put into its
   delay ring), as `synaptic_input` says; a delay-extension core keeps the spikes it received
   and sends them again its lag later (`delay_extension`).
All packets are delivered within their step.

Why a step is usually not packet by packet: routes depend only on the sending routing unit (a
slice, or a block of a slice feeding a conv: `route_units`), so what one packet causes is
found once at load by routing one packet per unit (`tables`), and a step multiplies it by its
spikes per unit and sums the synaptic input compiled (`fast_path`). The
packet-level path still runs a step where some link would exceed its capacity (its drops
depend on packet order), when the emulator is built with `packet_level` (for tests), and where
the kernel cannot be built. Both give the same spikes and counts.
"""

from __future__ import annotations

import numpy as np

from snapdeploy.backends.spinnaker.board import Board
from snapdeploy.backends.spinnaker.conv_slicing import conv_of
from snapdeploy.backends.spinnaker.delay_extension import Populations
from snapdeploy.backends.spinnaker.fast_path import FastPath
from snapdeploy.backends.spinnaker.packet_level import PacketLevel
from snapdeploy.backends.spinnaker.router import Router
from snapdeploy.backends.spinnaker.synapses import BlockSynapses
from snapdeploy.backends.spinnaker.synapses import available as block_kernel_builds
from snapdeploy.backends.spinnaker.synaptic_input import LayerInput
from snapdeploy.backends.spinnaker.tables import LoadTables, SliceTraffic
from snapdeploy.backends.spinnaker.traffic import TrafficStats
from snapdeploy.core import conv_native, lif_native
from snapdeploy.core.conv import ConvLayerParams
from snapdeploy.core.neuron import LayerState, LifLayerParams, bias_value, lif_step


class Emulator:
    """Runs the board over time steps; state and traffic counts persist until `reset`."""

    def __init__(
        self,
        board: Board,
        layers: list[LifLayerParams | ConvLayerParams],
        packet_level: bool = False,
    ):
        self.board = board
        self.layers = layers
        self.biases = [bias_value(p.bias_mant, p.bias_exp) for p in layers]
        self.native = lif_native.available()
        self.tables = LoadTables.build(board, layers)
        self.inputs = [LayerInput(p, ring) for p, ring in zip(layers, self.tables.rings)]
        router = Router(board)
        self.packets = PacketLevel(board, self.tables, router)
        self.fast_path = None if packet_level else self.build_fast_path(router)
        self.states: list[LayerState] = []
        #: per delay-extension population: the spikes it received, by step modulo its lag
        self.held: list[np.ndarray] = []
        self.clock = 0
        self.stats = TrafficStats()

    def build_fast_path(self, router: Router) -> FastPath | None:
        """The fast path, or None where a kernel does not build or the tables give a conv
        core other than one copy of each packet that reaches it."""
        has_conv = any(conv_of(p) is not None for p in self.layers)
        if not block_kernel_builds() or (has_conv and not conv_native.available()):
            return None
        traffic = SliceTraffic.build(self.board, self.layers, self.tables, router)
        if not traffic.conv_copies_plain:
            return None
        return FastPath(self.tables, traffic, self.board.link_capacity, self.layers)

    @property
    def populations(self) -> Populations:
        return self.board.populations

    def extensions(self) -> range:
        """The delay-extension populations (numbered after the input and the layers)."""
        return range(self.populations.n_chain, len(self.populations.mirrors))

    @property
    def block_synapses(self) -> BlockSynapses | None:
        """The fast path's compiled synapses; None where every step runs at packet level."""
        return None if self.fast_path is None else self.fast_path.synapses

    @property
    def n_in(self) -> int:
        return self.tables.sizes[0]

    @property
    def n_out(self) -> int:
        return self.tables.sizes[len(self.layers)]

    def reset(self, batch: int) -> None:
        self.states = [put.zeros(batch) for put in self.inputs]
        self.held = [
            np.zeros((self.populations.lags[e], batch, self.tables.sizes[e]), bool)
            for e in self.extensions()
        ]
        self.clock = 0
        self.stats = TrafficStats.zeros(self.board.mesh.n_chips)

    def layer_states(self) -> list[LayerState]:
        """Each layer's u, v and pending activation as the reference holds them: a delay
        layer's as Lava's buffer, its ring plus what its extension stages still hold."""
        out = []
        for i, (state, put) in enumerate(zip(self.states, self.inputs)):
            held = [
                (self.populations.stages[e], self.received(e))
                for e in self.extensions()
                if self.populations.feeds[e] == i + 1
            ]
            out.append(LayerState(state.u, state.v, put.pending(state, held)))
        return out

    def received(self, e: int) -> np.ndarray:
        """bool [lag, batch, n]: the spikes extension `e` received i steps ago, at index i."""
        held = self.held[e - self.populations.n_chain]
        return held[(self.clock - 1 - np.arange(len(held))) % len(held)]

    def step(self, spikes_in: np.ndarray) -> list[np.ndarray]:
        """One time step for bool [batch, n_in]; returns each layer's bool spikes [batch, n]."""
        fired = [
            lif_native.lif_step(state, put.arrival(state), params, bias)
            if self.native
            else lif_step(state, put.arrival(state), params)
            for state, params, bias, put in zip(self.states, self.layers, self.biases, self.inputs)
        ]
        # each extension sends again what it received its lag ago
        sent_again = [held[self.clock % len(held)] for held in self.held]
        spikes = [spikes_in, *fired, *sent_again]
        summed = None
        if self.fast_path is not None:
            summed = self.fast_path.input(np.concatenate(spikes, axis=1), self.stats)
        if summed is None:
            summed = self.packets.input(spikes, self.stats)
        for state, total, put in zip(self.states, summed, self.inputs):
            put.deliver(state, total)
        for held, received in zip(self.held, summed[len(self.layers) :]):
            held[self.clock % len(held)] = received
        self.clock += 1
        return fired

    def advance(self, spikes_in: np.ndarray) -> list[np.ndarray]:
        """T steps for bool [T, batch, n_in]; each layer's bool spikes [T, batch, n]."""
        steps = [self.step(s) for s in spikes_in.astype(bool)]
        return [
            np.stack([step[i] for step in steps])
            if steps
            else np.zeros((0, spikes_in.shape[1], n), dtype=bool)
            for i, n in enumerate(self.tables.sizes[1 : len(self.layers) + 1])
        ]
