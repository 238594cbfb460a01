"""The Executor of a compiled HLS partition: spike arrays in and out, state kept on the core's side.

Each batch item's neuron state (u, v, Dense's pending activation) lives in a buffer the core
reads before and writes back after every run, so state carries over between `run` calls as
the Executor protocol asks, on a board as in C-simulation; `reset` zeroes it.
"""

from __future__ import annotations

import itertools
from typing import Self

import numpy as np

from snapdeploy.backends.hls import spikes
from snapdeploy.backends.hls.driver import LifCoreDriver
from snapdeploy.backends.hls.pynq_api import PynqBuffer
from snapdeploy.core.errors import BackendError
from snapdeploy.core.neuron import LayerState

#: State words per neuron: u, v, pending activation.
STATE_VARS = 3


class HlsExecutor:
    """Runs bool [T, batch, n_in] through the LIF core; state persists until `reset`."""

    def __init__(self, driver: LifCoreDriver, image: np.ndarray, layer_sizes: list[int], n_in: int):
        self.driver = driver
        self.layer_sizes = layer_sizes
        self.n_in = n_in
        self.n_out = layer_sizes[-1]
        self.n_neurons = sum(layer_sizes)
        self._state: PynqBuffer | None = None
        self._frames: dict[tuple[int, int], tuple[PynqBuffer, PynqBuffer]] = {}
        driver.load_params(image)

    def run(self, inputs: np.ndarray) -> np.ndarray:
        if inputs.ndim != 3 or inputs.shape[2] != self.n_in:
            raise BackendError(f"expected spikes [T, batch, {self.n_in}], got {inputs.shape}")
        steps, batch, _ = inputs.shape
        if self._state is None:
            self._state = self.driver.allocate((batch, STATE_VARS * self.n_neurons), np.int64)
        elif self._state.shape[0] != batch:
            raise BackendError(
                f"batch changed from {self._state.shape[0]} to {batch} without reset(); fix: "
                f"call reset() between batches"
            )
        if steps == 0:
            return np.zeros((0, batch, self.n_out), dtype=bool)
        frames_in, frames_out = self._frame_buffers(steps, batch)
        spikes.pack(inputs.astype(bool, copy=False), frames_in)
        self.driver.run(frames_in, frames_out, self._state)
        return spikes.unpack(frames_out, self.n_out)

    def states(self) -> list[LayerState]:
        """Every layer's state [batch, n] after the last run, as the core wrote it back."""
        if self._state is None:
            raise BackendError("no state yet: run() a batch first")
        batch = self._state.shape[0]
        per_var = np.asarray(self._state).reshape(batch, STATE_VARS, self.n_neurons)
        bounds = np.cumsum([0, *self.layer_sizes])
        return [
            LayerState(*(per_var[:, k, lo:hi].copy() for k in range(STATE_VARS)))
            for lo, hi in itertools.pairwise(bounds)
        ]

    def reset(self) -> None:
        self._state = None

    def close(self) -> None:
        self._state = None
        self._frames.clear()
        self.driver.overlay.free()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
