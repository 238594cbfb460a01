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
   delay ring), as `synaptic_input` says.
All packets are delivered within their step.

Why a step is usually not packet by packet: routes depend only on the sending slice, so what
one packet causes is found once at load by routing one packet per slice (`tables`), and a step
multiplies it by its spikes per slice and sums the synaptic input compiled (`fast_path`). The
packet-level path still runs a step where some link would exceed its capacity (its drops
depend on packet order), when the emulator is built with `packet_level` (for tests), and where
the kernel cannot be built. Both give the same spikes and counts.
"""

from __future__ import annotations

import numpy as np

from snapdeploy.backends.spinnaker.board import Board
from snapdeploy.backends.spinnaker.conv_slicing import conv_of
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
        self.inputs = [LayerInput(p) for p in layers]
        self.biases = [bias_value(p.bias_mant, p.bias_exp) for p in layers]
        self.native = lif_native.available()
        self.tables = LoadTables.build(board, layers)
        router = Router(board)
        self.packets = PacketLevel(board, self.tables, router)
        self.fast_path = None if packet_level else self.build_fast_path(router)
        self.states: list[LayerState] = []
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
    def block_synapses(self) -> BlockSynapses | None:
        """The fast path's compiled synapses; None where every step runs at packet level."""
        return None if self.fast_path is None else self.fast_path.synapses

    @property
    def n_in(self) -> int:
        return self.tables.sizes[0]

    @property
    def n_out(self) -> int:
        return self.tables.sizes[-1]

    def reset(self, batch: int) -> None:
        self.states = [LayerState.for_layer(batch, p) for p in self.layers]
        self.stats = TrafficStats.zeros(self.board.mesh.n_chips)

    def step(self, spikes_in: np.ndarray) -> list[np.ndarray]:
        """One time step for bool [batch, n_in]; returns each layer's bool spikes [batch, n]."""
        spikes = [spikes_in] + [
            lif_native.lif_step(state, put.arrival(state), params, bias)
            if self.native
            else lif_step(state, put.arrival(state), params)
            for state, params, bias, put in zip(self.states, self.layers, self.biases, self.inputs)
        ]
        summed = None
        if self.fast_path is not None:
            summed = self.fast_path.input(np.concatenate(spikes, axis=1), self.stats)
        if summed is None:
            summed = self.packets.input(spikes, self.stats)
        for state, total, put in zip(self.states, summed, self.inputs):
            put.deliver(state, total)
        return spikes[1:]

    def advance(self, spikes_in: np.ndarray) -> list[np.ndarray]:
        """T steps for bool [T, batch, n_in]; each layer's bool spikes [T, batch, n]."""
        steps = [self.step(s) for s in spikes_in.astype(bool)]
        return [
            np.stack([step[i] for step in steps])
            if steps
            else np.zeros((0, spikes_in.shape[1], n), dtype=bool)
            for i, n in enumerate(self.tables.sizes[1:])
        ]
