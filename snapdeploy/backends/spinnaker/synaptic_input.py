"""What a layer's cores do with a step's synaptic sums: shift, wrap, and the delay ring.

Both of the emulator's paths (packet by packet, or by per-slice tables) hand each layer the
sums of the weights its cores received this step; this module turns them into what the neurons
take next, so the two paths share one rule:
- Dense: the sum shifted by weight_exp arrives next step (Lava's Dense);
- conv and pool: the sum shifted left by weight_exp and wrapped into 24 signed bits arrives
  next step (Lava's Conv);
- delays: a core's synaptic row holds each synapse's delay, and the core sums the packets of
  one step per delay (`LoadTables.groups` of them); at the step's end each delay's sum is
  shifted on its own, as Lava's DelayDense shifts it, and added into the ring slot it lands
  in, d + 1 steps on (d mod the ring's slots: a longer delay came through a delay extension,
  which sent it again the rest later); the ring's first slot is what the neurons take. The
  ring is kept in the order of Lava's buffer (slot k lands k + 1 steps from now), so its
  state reads as Lava's, with what the extensions still hold added (`pending`).
"""

from __future__ import annotations

import numpy as np

from snapdeploy.backends.spinnaker.conv_slicing import conv_of
from snapdeploy.core.conv import CONV_ACTIVATION_BITS, ConvLayerParams, signed_wrap
from snapdeploy.core.neuron import LayerState, LifLayerParams, dense_activation, shift


def delays_used(layer: LifLayerParams | ConvLayerParams) -> np.ndarray | None:
    """The delays a layer's non-zero weights use, ascending; None for a layer without delays."""
    delays = getattr(layer, "delays", None)
    return None if delays is None else np.unique(delays[layer.weights != 0])


class LayerInput:
    """One layer's rule from summed weights to the activation its neurons take, and its ring of
    `ring` slots (`core_memory.ring_slots`) where it has delays."""

    def __init__(self, layer: LifLayerParams | ConvLayerParams, ring: int):
        self.layer = layer
        self.conv = conv_of(layer)
        self.delays = delays_used(layer)
        self.weight_exp = layer.weight_exp if self.conv is None else self.conv.weight_exp
        self.ring = ring
        #: columns the cores keep: the ring's slots, or fewer where every delay is shorter
        self.columns = 0 if self.delays is None else min(ring, layer.delay_depth)

    def zeros(self, batch: int) -> LayerState:
        return LayerState.zeros(batch, self.layer.n_out, self.columns)

    def arrival(self, state: LayerState) -> np.ndarray:
        """What reaches the neurons this step, int64 [batch, n]."""
        pending = state.a_pending
        return pending if self.delays is None else np.ascontiguousarray(pending[..., 0])

    def deliver(self, state: LayerState, sums: np.ndarray) -> None:
        """Take this step's sums ([batch, n], or [batch, delays used, n] with delays) into
        the pending activation, after the neurons took this step's arrival. A delay's sum
        came through its stage's extension (or directly), so it lands `delay % ring` + 1
        steps on."""
        if self.conv is not None:
            state.a_pending = signed_wrap(
                np.left_shift(sums, self.weight_exp), CONV_ACTIVATION_BITS
            )
        elif self.delays is None:
            state.a_pending = shift(sums, self.weight_exp)
        else:
            ring = np.zeros_like(state.a_pending)
            ring[..., :-1] = state.a_pending[..., 1:]
            for group, delay in enumerate(self.delays.tolist()):
                ring[..., delay % self.ring] += shift(sums[:, group], self.weight_exp)
            state.a_pending = ring

    def pending(self, state: LayerState, held: list[tuple[int, np.ndarray]]) -> np.ndarray:
        """Lava's DelayDense buffer [batch, n, depth] (column j lands j + 1 steps on): the
        ring, plus what each extension stage still holds, given as (stage, its spikes
        received i steps ago [i, batch, n_in] for i < its lag, this step's first)."""
        if self.delays is None or self.columns == self.layer.delay_depth:
            return state.a_pending
        batch, n = state.u.shape
        out = np.zeros((batch, n, self.layer.delay_depth), np.int64)
        out[..., : self.columns] = state.a_pending
        for stage, spikes in held:
            for delay in self.delays[self.delays // self.ring == stage].tolist():
                weights = np.where(self.layer.delays == delay, self.layer.weights, 0)
                for i, fired in enumerate(spikes):  # sent at t - i: lands at t + 1 + delay - i
                    out[..., delay - i] += dense_activation(weights, fired, self.weight_exp)
        return out
