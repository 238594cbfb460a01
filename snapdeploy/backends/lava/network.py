"""One Lava graph with its runtime: injector -> (synapse -> LIF)* -> extractor.

Spikes go in through Lava's `Injector` and come out through its `Extractor`, one array per
step over shared memory; Lava's `RingBuffer` source and sink would move data through Var
get/set, one message per value (about 24 s to read 10,000 neurons x 100 steps).

Time runs in chunks of at most `chunk` steps: the chunk's inputs are queued first, then
`RunSteps` runs it, then its outputs are read. Both queues hold a whole chunk, so a run never
waits on this process, and an interrupted one can always be finished and stopped.

The runtime forks one OS process per Lava process. They are started with SIGINT ignored, so
Ctrl-C reaches only this process, which lets the chunk in flight finish and stops them all; a
finalizer stops them too if `stop` was never called (they would keep the interpreter from
exiting). Lava 0.10 never reports a process model that raises: its runtime waits forever for
the dead process. So a chunk is waited for in a thread while this one watches the processes,
and a dead one, or a run that does not finish when stopping, gets them all terminated.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import threading
import time
import weakref
from collections.abc import Callable, Iterator

import numpy as np

from snapdeploy.backends.lava.processes import LavaLayer, shaped_for
from snapdeploy.backends.lava.synapses import pending
from snapdeploy.core.errors import BackendError
from snapdeploy.core.extras import needs
from snapdeploy.core.neuron import LayerState

with needs("lava", __name__):
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.magma.runtime.runtime import Runtime
    from lava.proc.io.extractor import Extractor, PyLoihiExtractorModel
    from lava.proc.io.injector import Injector, PyLoihiInjectorModel

CHUNK = 128
POLL_S = 0.05
#: How long `stop` lets a chunk in flight finish before it terminates Lava's processes.
FINISH_TIMEOUT_S = 10.0


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


class RuntimeGuard:
    """Lava's runtime, run chunk by chunk under watch, and stopped without ever hanging.

    It reaches into the runtime's private state where Lava 0.10 offers no public way: its
    process list, its started flag and its shared memory manager.
    """

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        # Set when no run is in flight. An Event, not Thread.join/is_alive: on Python 3.11 a
        # Ctrl-C that lands inside join() can leave a running thread reported as finished.
        self._idle = threading.Event()
        self._idle.set()
        self._error: RuntimeError | None = None

    def run(self, steps: int) -> None:
        """Run `steps` steps; raise BackendError if a Lava process dies meanwhile."""
        self._error = None
        self._idle.clear()
        self.runtime.start(RunSteps(num_steps=steps, blocking=False))
        threading.Thread(target=self._wait, daemon=True).start()
        dead = self._watch(timeout=None)
        if dead:
            raise BackendError(f"a Lava process died during the run: {dead}")
        if self._error is not None:
            raise BackendError(f"the Lava run failed: {self._error}") from self._error

    def _wait(self) -> None:
        try:
            self.runtime.wait()
        except RuntimeError as exc:  # how Lava reports errors its processes sent back
            self._error = exc
        finally:
            self._idle.set()

    def _watch(self, timeout: float | None) -> str | None:
        """Wait for the chunk in flight (up to `timeout`); a dead process's story ends it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._idle.is_set():
            dead = self.dead_process()
            if dead or (deadline is not None and time.monotonic() > deadline):
                return dead
            self._idle.wait(POLL_S)
        return self.dead_process()

    def dead_process(self) -> str | None:
        """What killed the first Lava process that is no longer running, if one is not."""
        for actor in self.runtime._messaging_infrastructure.actors:
            if actor.is_alive():
                continue
            if not actor.exception:
                return f"exit code {actor.exitcode}"
            error, trace = actor.exception
            frames = [
                line.strip() for line in trace.splitlines() if line.strip().startswith("File ")
            ]
            return f"{error!r}, raised at {frames[-1]}" if frames else repr(error)
        return None

    def stop(self) -> None:
        """Let a chunk in flight finish, then stop and join every Lava process."""
        dead = self._watch(timeout=FINISH_TIMEOUT_S)
        if dead or not self._idle.is_set():
            self.terminate()
            return
        # A runtime that was initialized but never ran ignores stop() and then hangs joining
        # its processes; marked started, it sends them the stop command they are waiting for.
        self.runtime._is_started = True
        self.runtime.stop()

    def terminate(self) -> None:
        """End Lava's processes and shared memory without its stop protocol (which would hang)."""
        actors = self.runtime._messaging_infrastructure.actors
        for actor in actors:
            if actor.is_alive():
                actor.terminate()
        for actor in actors:
            multiprocessing.Process.join(actor, FINISH_TIMEOUT_S)
            if actor.is_alive():
                actor.kill()
                multiprocessing.Process.join(actor)
        self.runtime._messaging_infrastructure.smm.shutdown()
        self.runtime._is_started = False  # so Runtime.__del__ does not call stop() again
        self.runtime._is_running = False


class LavaNetwork:
    """A chain of Lava layers wired to an input injector and an output extractor."""

    def __init__(self, chain: list[LavaLayer], select_tag: str, chunk: int = CHUNK):
        self.chain = chain
        self.chunk = chunk
        self.select_tag = select_tag
        self.n_in = int(np.prod(chain[0].synapse.s_in.shape))
        self.n_out = int(chain[-1].lif.s_out.shape[0])
        self._injector = Injector(shape=(self.n_in,), buffer_size=chunk)
        self._extractor = Extractor(shape=(self.n_out,), buffer_size=chunk)
        first = chain[0].synapse.s_in
        shaped_for(self._injector.out_port, first).connect(first)
        chain[-1].lif.s_out.connect(self._extractor.in_port)
        self._guard: RuntimeGuard | None = None
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
            if self._injector.runtime is not None:
                with contextlib.suppress(Exception):
                    RuntimeGuard(self._injector.runtime).terminate()
            raise BackendError(
                f"the Lava runtime failed to start: {type(exc).__name__}: {exc}; fix: check "
                f"that lava-nc 0.10.0 is installed whole (`make install`) and that /dev/shm "
                f"has room for its shared memory"
            ) from exc
        self._guard = RuntimeGuard(self._injector.runtime)
        self._stopper = weakref.finalize(self, self._guard.stop)

    def run(self, spikes: np.ndarray, advance: Callable[[int], None] | None = None) -> np.ndarray:
        """Run bool [T, n_in] from the current state; return bool [T, n_out]."""
        if not self.started:
            self.start()
        out = np.zeros((len(spikes), self.n_out), dtype=bool)
        for begin in range(0, len(spikes), self.chunk):
            block = spikes[begin : begin + self.chunk]
            for row in block:
                self._injector.send(row.astype(np.float64))
            self._guard.run(len(block))
            for offset in range(len(block)):
                out[begin + offset] = self._extractor.receive() != 0
            if advance is not None:
                advance(len(block))
        return out

    def read_state(self) -> list[LayerState]:
        """Every layer's u, v and its synapse's pending activation (a conv's flattened, a
        delay line's [n_out, depth]), read from the Lava processes."""
        return [
            LayerState(
                u=as_int(layer.lif.u.get()),
                v=as_int(layer.lif.v.get()),
                a_pending=pending_state(layer),
            )
            for layer in self.chain
        ]

    def write_state(self, states: list[LayerState]) -> None:
        """Load a state saved by `read_state` into the Lava processes."""
        for layer, state in zip(self.chain, states):
            layer.lif.u.set(state.u.astype(np.float64))
            layer.lif.v.set(state.v.astype(np.float64))
            buffer = pending(layer.synapse)
            buffer.set(state.a_pending.reshape(buffer.shape).astype(np.float64))

    def stop(self) -> None:
        """Stop the runtime and join its processes; safe to call twice."""
        if self._stopper is not None:
            self._stopper()


def pending_shape(layer: LavaLayer) -> tuple[int, ...]:
    """The synapse's buffer as the reference holds it: [n_out] (a conv's image flattened), or
    a delay line's [n_out, depth]."""
    shape = tuple(pending(layer.synapse).shape)
    return shape if len(shape) == 2 else (int(np.prod(shape)),)


def pending_state(layer: LavaLayer) -> np.ndarray:
    return as_int(pending(layer.synapse).get()).reshape(pending_shape(layer))


def as_int(values: np.ndarray) -> np.ndarray:
    """Lava returns Var values as float64; every state here is an integer below 2**53."""
    return np.rint(values).astype(np.int64)
