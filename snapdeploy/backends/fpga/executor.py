"""The Executor of an FPGA LIF core: spike arrays in and out, state kept on the core's side.

Each batch item's neuron state (u, v, Dense's pending activation) lives in a buffer the core
reads before and writes back after every run, so state carries over between `run` calls as
the Executor protocol asks, on a board as in simulation; `reset` zeroes it. Any core with the
shared register map (HLS or RTL) runs behind it through the same driver.
"""

from __future__ import annotations

import itertools

import numpy as np

from snapdeploy.backends.base import ExecutorBase
from snapdeploy.backends.fpga import spikes
from snapdeploy.backends.fpga.driver import LifCoreDriver
from snapdeploy.backends.fpga.pynq_api import PynqBuffer
from snapdeploy.core.neuron import LayerState

#: State words per neuron: u, v, pending activation.
STATE_VARS = 3


class FpgaExecutor(ExecutorBase):
    """Runs bool [T, batch, n_in] through the LIF core; state persists until `reset`."""

    def __init__(self, driver: LifCoreDriver, image: np.ndarray, layer_sizes: list[int], n_in: int):
        super().__init__(n_in, layer_sizes[-1])
        self.driver = driver
        self.layer_sizes = layer_sizes
        self.n_neurons = sum(layer_sizes)
        self._state: PynqBuffer | None = None
        self._frames: dict[tuple[int, int], tuple[PynqBuffer, PynqBuffer]] = {}
        driver.load_params(image)

    def _start(self, batch: int) -> None:
        self._state = self.driver.allocate((batch, STATE_VARS * self.n_neurons), np.int64)

    def _advance(self, inputs: np.ndarray) -> np.ndarray:
        steps, batch, _ = inputs.shape
        frames_in, frames_out = self._frame_buffers(steps, batch)
        spikes.pack(inputs, frames_in)
        self.driver.run(frames_in, frames_out, self._state)
        return spikes.unpack(frames_out, self.n_out)

    def _layer_states(self) -> list[LayerState]:
        """As the core wrote them back after the last run."""
        batch = self._state.shape[0]
        per_var = np.asarray(self._state).reshape(batch, STATE_VARS, self.n_neurons)
        bounds = np.cumsum([0, *self.layer_sizes])
        return [
            LayerState(*(per_var[:, k, lo:hi].copy() for k in range(STATE_VARS)))
            for lo, hi in itertools.pairwise(bounds)
        ]

    def _clear(self) -> None:
        self._state = None

    def _release(self) -> None:
        self._state = None
        self._frames.clear()
        self.driver.overlay.free()

    def _frame_buffers(self, steps: int, batch: int) -> tuple[PynqBuffer, PynqBuffer]:
        """Input and output frame buffers for this shape, allocated once and reused."""
        key = (steps, batch)
        if key not in self._frames:
            self._frames = {
                key: (
                    self.driver.allocate((batch, steps, spikes.words_for(self.n_in)), np.uint32),
                    self.driver.allocate((batch, steps, spikes.words_for(self.n_out)), np.uint32),
                )
            }
        return self._frames[key]
