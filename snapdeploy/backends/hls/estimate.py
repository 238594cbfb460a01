"""Estimated FPGA cycles per time step of the LIF core, from its loop structure.

Not a synthesis report: every loop of lif_core.cpp is counted at its pragma's initiation
interval (II = 1, with LANES neurons per cycle where a layer spans LANES cores) times its
trip count, plus an assumed pipeline depth per pipelined loop. The synapse engine is event
driven, so a step costs a scan of the layer's inputs plus one row pass per input spike:
the estimate takes the mean number of input spikes per layer and step.
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


def layer_cycles(n_in: int, n_out: int, lanes: int, events: float) -> float:
    """CLEAR + SYNAPSE_EVENTS scan + a SYNAPSE_ACCUM row per event + LIF_UPDATE."""
    per_lane = math.ceil(n_out / lanes)
    return per_lane + n_in + events * (per_lane + SYNAPSE_DEPTH) + per_lane + LIF_DEPTH


def cycles_per_step(layout: CoreLayout, events: list[float]) -> float:
    """UNPACK + every layer + PACK, for `events[l]` mean input spikes of layer l per step."""
    layers = zip(layout.n_in, layout.n_out, layout.lanes, events)
    return (
        layout.n_in[0] + sum(layer_cycles(*layer) for layer in layers) + words_for(layout.n_out[-1])
    )


def worst_case_cycles(layout: CoreLayout) -> float:
    """Every input of every layer spiking on every step: the upper bound."""
    return cycles_per_step(layout, [float(n) for n in layout.n_in])


def latency_us(cycles: float, clock_mhz: float) -> float:
    return cycles / clock_mhz
