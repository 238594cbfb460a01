"""Cycles per time step of a compiled RTL core, measured in its Verilator simulation.

The core runs a probe input (each channel spiking with probability events_in / n_in on every
step, fixed seed) through the same driver as any run; the cycles of a pass with no steps
(state in and out only) are subtracted, so what remains is the steps' own cycles, inner
layers' spikes included as the partition's real weights make them.
"""

from __future__ import annotations

import numpy as np

from snapdeploy.backends.fpga import spikes
from snapdeploy.backends.fpga.driver import LifCoreDriver

from .sim import VerilatorCore

#: Steps of the probe run, and its seed.
PROBE_STEPS = 64
PROBE_SEED = 0


def measured_cycles_per_step(
    driver: LifCoreDriver,
    core: VerilatorCore,
    n_in: int,
    n_out: int,
    state_words: int,
    events_in: float,
) -> float:
    """Mean cycles per step over PROBE_STEPS steps at `events_in` input spikes per step
    (`state_words`: an item's state, u and v of every neuron and the pending activations)."""
    rate = min(max(events_in / n_in, 0.0), 1.0)
    rng = np.random.default_rng(PROBE_SEED)
    inputs = rng.random((PROBE_STEPS, 1, n_in)) < rate
    state = driver.allocate((1, state_words), np.int64)
    frames_in = driver.allocate((1, PROBE_STEPS, spikes.words_for(n_in)), np.uint32)
    frames_out = driver.allocate((1, PROBE_STEPS, spikes.words_for(n_out)), np.uint32)
    spikes.pack(inputs, frames_in)
    driver.run(frames_in, frames_out, state)
    with_steps = core.cycles[-1]
    driver.run(frames_in[:, :0], frames_out[:, :0], state)
    return (with_steps - core.cycles[-1]) / PROBE_STEPS
