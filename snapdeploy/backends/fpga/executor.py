"""The Executor of an FPGA LIF core: spike arrays in and out, state kept on the core's side.

Each batch item's neuron state (u, v, the synapse's pending activation: one per neuron, or a
delay line of `depth` columns per neuron for a delay layer) lives in a buffer the core reads
before and writes back after every run, so state carries over between `run` calls as
the Executor protocol asks, on a board as in simulation; `reset` zeroes it. Any core with the
shared register map (HLS or RTL) runs behind it through the same driver.
"""

from __future__ import annotations

import numpy as np

from snapdeploy.backends.base import ExecutorBase
from snapdeploy.backends.fpga import spikes
from snapdeploy.backends.fpga.driver import LifCoreDriver
from snapdeploy.backends.fpga.pynq_api import PynqBuffer
from snapdeploy.core.neuron import LayerState

#: State words per neuron of a layer without delays: u, v, pending activation.
STATE_VARS = 3


class FpgaExecutor(ExecutorBase):
    """Runs bool [T, batch, n_in] through the LIF core; state persists until `reset`."""

    def __init__(
        self,
        driver: LifCoreDriver,
        image: np.ndarray,
        layer_sizes: list[int],
        n_in: int,
        delay_depths: list[int] | None = None,
    ):
        """`delay_depths`: each layer's delay-line depth (LayerState's; 0, the default for
        every layer, for a synapse without delays), as the core lays out its state: u and v
        of every neuron, then each layer's pending activations [neuron][column]."""
        super().__init__(n_in, layer_sizes[-1])
        self.driver = driver
        self.layer_sizes = layer_sizes
        self.delay_depths = delay_depths or [0] * len(layer_sizes)
        self.n_neurons = sum(layer_sizes)
        self._state: PynqBuffer | None = None
        self._frames: dict[tuple[int, int], tuple[PynqBuffer, PynqBuffer]] = {}
        driver.load_params(image)

    def _start(self, batch: int) -> None:
        columns = sum(n * max(d, 1) for n, d in zip(self.layer_sizes, self.delay_depths))
        self._state = self.driver.allocate((batch, 2 * self.n_neurons + columns), np.int64)

    def _advance(self, inputs: np.ndarray) -> np.ndarray:
        steps, batch, _ = inputs.shape
        frames_in, frames_out = self._frame_buffers(steps, batch)
        spikes.pack(inputs, frames_in)
        self.driver.run(frames_in, frames_out, self._state)
        return spikes.unpack(frames_out, self.n_out)

    def _layer_states(self) -> list[LayerState]:
        """As the core wrote them back after the last run."""
        state = np.asarray(self._state)
        n = self.n_neurons
        bounds = np.cumsum([0, *self.layer_sizes])
        columns = [max(d, 1) for d in self.delay_depths]
        pending_bounds = 2 * n + np.cumsum([0, *np.multiply(self.layer_sizes, columns)])
        states = []
        for lo, hi, p_lo, depth in zip(bounds, bounds[1:], pending_bounds, self.delay_depths):
            shape = (len(state), hi - lo, depth) if depth else (len(state), hi - lo)
            pending = state[:, p_lo : p_lo + (hi - lo) * max(depth, 1)].reshape(shape)
            u, v = state[:, lo:hi], state[:, n + lo : n + hi]
            states.append(LayerState(u.copy(), v.copy(), pending.copy()))
        return states

    def saved_state(self) -> np.ndarray | None:
        """A copy of the state the next run starts from (None before the first run after a
        reset): with `restore_state`, how a caller undoes a run it must not keep."""
        return None if self._state is None else np.array(self._state)

    def restore_state(self, saved: np.ndarray | None) -> None:
        """Make `saved` (from `saved_state`) the state the next run starts from. The host
        copy is the one that counts: each run flushes it to the core before it starts."""
        if saved is None:
            self.reset()
        else:
            self._state[:] = saved

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
