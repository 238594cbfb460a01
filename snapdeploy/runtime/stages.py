"""A partition as a pipeline stage: it takes one time step (or a dense batch) and passes on
whatever it can emit, so stage k can work on step t while stage k + 1 works on step t - 1.

A spiking partition runs step by step (its executor keeps state across calls until reset);
a dense partition that decodes spikes waits for all T steps of a batch, and one that encodes
emits all T steps at once from its dense input.
"""

from __future__ import annotations

import time

import numpy as np

from snapdeploy.backends import CompiledPartition, Executor, entry

#: (step, value): a step's bool [batch, n] spikes, or (None, dense [batch, ...]) for a whole batch.
Event = tuple[int | None, np.ndarray]


class Stage:
    """One compiled partition and its executor, fed one event at a time."""

    def __init__(self, compiled: CompiledPartition, executor: Executor, steps: int):
        self.compiled = compiled
        self.executor = executor
        self.steps = steps
        self.dense = entry(compiled.kind).role == "dense"
        self.seconds = 0.0
        self._buffer: list[np.ndarray] = []

    @property
    def name(self) -> str:
        return self.compiled.partition

    def begin(self) -> None:
        """A new batch: clear the executor's state and any half-collected steps."""
        self.executor.reset()
        self._buffer = []

    def feed(self, step: int | None, value: np.ndarray) -> list[Event]:
        """Consume one event; return the events this stage can emit now."""
        if step is not None and self.dense:
            self._buffer.append(value)
            if len(self._buffer) < self.steps:
                return []
            value, self._buffer = np.stack(self._buffer), []
        elif step is not None:
            return [(step, self._run(value[None])[0])]
        out = self._run(value)
        if out.dtype == bool and out.ndim >= 3:
            return [(t, out[t]) for t in range(len(out))]
        return [(None, out)]

    def _run(self, value: np.ndarray) -> np.ndarray:
        began = time.perf_counter()
        out = self.executor.run(value)
        self.seconds += time.perf_counter() - began
        return out
