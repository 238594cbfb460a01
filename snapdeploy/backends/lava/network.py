"""One Lava graph with its runtime: injector -> (Dense -> LIF)* -> extractor.

Spikes go in through Lava's `Injector` and come out through its `Extractor`, one array per
step over shared memory; Lava's `RingBuffer` source and sink would move data through Var
get/set, one message per value (about 24 s to read 10,000 neurons x 100 steps).

Time runs in chunks of at most `chunk` steps: the chunk's inputs are queued first, then a
blocking `RunSteps` runs it, then its outputs are read. Both queues hold a whole chunk, so a
run never waits on this process, and an interrupted one can always be finished and stopped.

The runtime forks one OS process per Lava process. They are started with SIGINT ignored, so
Ctrl-C reaches only this process, which finishes the chunk in flight and stops them all; a
finalizer stops them too if `stop` was never called (they would keep the interpreter from
exiting).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import weakref
from collections.abc import Callable, Iterator

import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.magma.runtime.runtime import Runtime
from lava.proc.io.extractor import Extractor, PyLoihiExtractorModel
from lava.proc.io.injector import Injector, PyLoihiInjectorModel

from snapdeploy.backends.lava.processes import LavaLayer
from snapdeploy.core.errors import BackendError
from snapdeploy.core.neuron import LayerState

CHUNK = 128


def run_config(select_tag: str) -> Loihi2SimCfg:
    """Lava's CPU simulator with `select_tag` models; Injector/Extractor have untagged models."""
    return Loihi2SimCfg(
        select_tag=select_tag,
        exception_proc_model_map={
            Injector: PyLoihiInjectorModel,
            Extractor: PyLoihiExtractorModel,
        },
    )


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while the runtime forks, so its processes inherit the ignore."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def stop_runtime(runtime: Runtime) -> None:
    """Finish a run in flight, then stop and join every Lava process."""
    if runtime._is_running:  # an interrupted blocking run: its chunk completes on its own
        runtime.wait()
    # A runtime that was initialized but never ran ignores stop() and then hangs joining
    # its processes; marked started, it sends them the stop command they are waiting for.
    runtime._is_started = True
    runtime.stop()


class LavaNetwork:
    """A chain of Lava layers wired to an input injector and an output extractor."""

    def __init__(self, chain: list[LavaLayer], select_tag: str, chunk: int = CHUNK):
        self.chain = chain
        self.chunk = chunk
        self.select_tag = select_tag
        self.n_in = int(chain[0].dense.s_in.shape[0])
        self.n_out = int(chain[-1].lif.s_out.shape[0])
        self._injector = Injector(shape=(self.n_in,), buffer_size=chunk)
        self._extractor = Extractor(shape=(self.n_out,), buffer_size=chunk)
        self._injector.out_port.connect(chain[0].dense.s_in)
        chain[-1].lif.s_out.connect(self._extractor.in_port)
        self._stopper: weakref.finalize | None = None

    @property
    def started(self) -> bool:
        return self._stopper is not None and self._stopper.alive

    def start(self) -> None:
        """Compile the graph and start Lava's runtime (its processes)."""
        try:
            with sigint_ignored():
                self._injector.create_runtime(run_cfg=run_config(self.select_tag))
        except Exception as exc:
            runtime = self._injector.runtime
            if runtime is not None:
                with contextlib.suppress(Exception):
                    stop_runtime(runtime)
            raise BackendError(
                f"the Lava runtime failed to start: {type(exc).__name__}: {exc}; fix: check "
                f"that lava-nc 0.10.0 is installed whole (`make install`) and that /dev/shm "
                f"has room for its shared memory"
            ) from exc
        self._stopper = weakref.finalize(self, stop_runtime, self._injector.runtime)

    def run(self, spikes: np.ndarray, advance: Callable[[int], None] | None = None) -> np.ndarray:
        """Run bool [T, n_in] from the current state; return bool [T, n_out]."""
        if not self.started:
            self.start()
        out = np.zeros((len(spikes), self.n_out), dtype=bool)
        for begin in range(0, len(spikes), self.chunk):
            block = spikes[begin : begin + self.chunk]
            for row in block:
                self._injector.send(row.astype(np.float64))
            self._run_steps(len(block))
            for offset in range(len(block)):
                out[begin + offset] = self._extractor.receive() != 0
            if advance is not None:
                advance(len(block))
        return out

    def _run_steps(self, steps: int) -> None:
        try:
            self._injector.run(condition=RunSteps(num_steps=steps))
        except RuntimeError as exc:
            raise BackendError(f"the Lava run failed: {exc}") from exc

    def read_state(self) -> list[LayerState]:
        """Every layer's u, v and Dense's pending activation, read from the Lava processes."""
        return [
            LayerState(
                u=as_int(layer.lif.u.get()),
                v=as_int(layer.lif.v.get()),
                a_pending=as_int(layer.dense.a_buff.get()),
            )
            for layer in self.chain
        ]

    def write_state(self, states: list[LayerState]) -> None:
        """Load a state saved by `read_state` into the Lava processes."""
        for layer, state in zip(self.chain, states):
            layer.lif.u.set(state.u.astype(np.float64))
            layer.lif.v.set(state.v.astype(np.float64))
            layer.dense.a_buff.set(state.a_pending.astype(np.float64))

    def stop(self) -> None:
        """Stop the runtime and join its processes; safe to call twice."""
        if self._stopper is not None:
            self._stopper()


def as_int(values: np.ndarray) -> np.ndarray:
    """Lava returns Var values as float64; every state here is an integer below 2**53."""
    return np.rint(values).astype(np.int64)
