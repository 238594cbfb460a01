"""Estimated FPGA cycles per time step and on-chip memory of the LIF core, from its source.

Not a synthesis report: every loop of lif_core.cpp is counted at its pragma's initiation
interval (II = 1, with LANES neurons or output channels per cycle where a layer spans LANES
cores) times its trip count, plus an assumed pipeline depth per pipelined loop, and every
memory at the width of its C type. The synapse engines are event driven, so a step costs a
scan of the layer's inputs plus, per input spike, one row pass (Dense, DelayDense) or one
pass over the output channels of its group per kernel tap (conv, sum pool): the estimate
takes the mean number of input spikes per layer and step. A delay layer's LIF pass moves
every neuron's delay line one column, at an II of the line's depth (its words share one
memory port), and its clear covers one sum per neuron and delay.
"""

from __future__ import annotations

import math

from snapdeploy.backends.fpga.spikes import words_for
from snapdeploy.backends.hls.layout import CoreLayout

#: Assumed pipeline depths (cycles from first issue to last result) of the core's loops:
#: a BRAM read (2) and an add (1) for the synapse row; for the LIF update, two 64-bit
#: decay multiplies on DSP48 cascades (~4 each) plus the adds, compare and write-back.
SYNAPSE_DEPTH = 3
LIF_DEPTH = 12
#: Bits of the core's memory words (lif_core.h's C types): bias int16_t, delay uint8_t,
#: u, v and pending activations state_t (int64_t), accumulators acc_t (int32_t).
BIAS_BITS, DELAY_BITS, STATE_BITS, ACC_BITS = 16, 8, 64, 32


def event_cycles(layout: CoreLayout, layer: int) -> float:
    """Cycles one input spike of `layer` costs its synapse engine."""
    lanes = layout.lanes[layer]
    if layout.kinds[layer] != "conv":
        return math.ceil(layout.n_out[layer] / lanes) + SYNAPSE_DEPTH
    geometry = layout.geometries[layer]
    taps, group_outputs = geometry[6] * geometry[7], geometry[5] // geometry[14]
    return taps * (math.ceil(group_outputs / lanes) + SYNAPSE_DEPTH)


def layer_cycles(layout: CoreLayout, layer: int, events: float) -> float:
    """CLEAR (every delay's accumulators) + SYNAPSE_EVENTS scan + the events + LIF_UPDATE
    (one cycle per delay-line column)."""
    per_lane = math.ceil(layout.n_out[layer] / layout.lanes[layer])
    depth = layout.depths[layer]
    return (
        per_lane * depth
        + layout.n_in[layer]
        + events * event_cycles(layout, layer)
        + per_lane * depth
        + LIF_DEPTH
    )


def cycles_per_step(layout: CoreLayout, events: list[float]) -> float:
    """UNPACK + every layer + PACK, for `events[l]` mean input spikes of layer l per step."""
    layers = sum(layer_cycles(layout, i, e) for i, e in enumerate(events))
    return layout.n_in[0] + layers + words_for(layout.n_out[-1])


def worst_case_cycles(layout: CoreLayout) -> float:
    """Every input of every layer spiking on every step: the upper bound."""
    return cycles_per_step(layout, [float(n) for n in layout.n_in])


def latency_us(cycles: float, clock_mhz: float) -> float:
    return cycles / clock_mhz


def memory_bits(layout: CoreLayout) -> dict[str, int]:
    """Bits of each on-chip memory of the core (an estimate: C types, no packing)."""
    weight_bits = 8 if layout.weight_bits <= 8 else 16
    accumulators = sum(o * d for o, d in zip(layout.n_out, layout.depths))
    return {
        "weights and kernels": layout.n_weights * weight_bits,
        "delays": layout.n_delays * DELAY_BITS,
        "biases": layout.n_neurons * BIAS_BITS,
        "u and v": 2 * layout.n_neurons * STATE_BITS,
        "pending activations": layout.n_pending * STATE_BITS,
        "accumulators": accumulators * ACC_BITS,
    }
