"""A packet-level emulator of the board: cores update their slices, routers forward by their tables.

One time step, as a SpiNNaker timer tick:
1. every core updates its slice with the integer neuron (`core.neuron.lif_step`, compiled by
   `core.lif_native` where it builds) from the input it accumulated during the previous step
   (Dense's one-step delay); injector cores take this step's input spikes;
2. each spike becomes a multicast packet carrying its 32-bit key, which the routers carry hop
   by hop to the cores their tables name (`router`);
3. each core turns every packet it received into its synaptic row and adds it into the input
   for the next step (`packet_level`), shifted by the layer's weight_exp once summed.
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
from snapdeploy.backends.spinnaker.fast_path import FastPath
from snapdeploy.backends.spinnaker.packet_level import PacketLevel
from snapdeploy.backends.spinnaker.router import Router
from snapdeploy.backends.spinnaker.synapses import BlockSynapses
from snapdeploy.backends.spinnaker.synapses import available as block_kernel_builds
from snapdeploy.backends.spinnaker.tables import LoadTables, SliceTraffic
from snapdeploy.backends.spinnaker.traffic import TrafficStats
from snapdeploy.core import lif_native
from snapdeploy.core.neuron import LayerState, LifLayerParams, bias_value, lif_step, shift


class Emulator:
    """Runs the board over time steps; state and traffic counts persist until `reset`."""

    def __init__(self, board: Board, layers: list[LifLayerParams], packet_level: bool = False):
        self.board = board
        self.layers = layers
        self.biases = [bias_value(p.bias_mant, p.bias_exp) for p in layers]
        self.native = lif_native.available()
        self.tables = LoadTables.build(board, layers)
        router = Router(board)
        self.packets = PacketLevel(board, self.tables, router)
        # None where packet level is asked for or the kernel does not build
        self.fast_path = (
            None
            if packet_level or not block_kernel_builds()
            else FastPath(
                self.tables,
                SliceTraffic.build(board, layers, self.tables, router),
                board.link_capacity,
            )
        )
        self.states: list[LayerState] = []
        self.stats = TrafficStats()

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
        self.states = [LayerState.zeros(batch, n) for n in self.tables.sizes[1:]]
        self.stats = TrafficStats.zeros(self.board.mesh.n_chips)

    def step(self, spikes_in: np.ndarray) -> list[np.ndarray]:
        """One time step for bool [batch, n_in]; returns each layer's bool spikes [batch, n]."""
        spikes = [spikes_in] + [
            lif_native.lif_step(state, state.a_pending, params, bias)
            if self.native
            else lif_step(state, state.a_pending, params)
            for state, params, bias in zip(self.states, self.layers, self.biases)
        ]
        summed = None
        if self.fast_path is not None:
            summed = self.fast_path.input(np.concatenate(spikes, axis=1), self.stats)
        if summed is None:
            summed = self.packets.input(spikes, self.stats)
        for state, total, params in zip(self.states, summed, self.layers):
            state.a_pending = shift(total, params.weight_exp)
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
