"""The RTL simulation of a run's batch split across several simulated cores, a thread each.

Why: Verilator simulates one core on one thread, and a run's batch items are independent (each
has its own rows of the state buffer), so N models of the same core, each simulating its share
of the batch on a thread of its own, use N CPUs: ctypes releases the GIL during a model's
ap_start, where almost all of a run's time goes. Each share runs in an `FpgaExecutor` of its
own (driver, emulated overlay, model), exactly as one core runs a whole batch; their spikes and
states are joined on the batch axis. This is the simulation's parallelism only: the hardware
is still one core, and one thread (`threads=1`) is the plain `FpgaExecutor`, as before.

Verilator's rules are kept: each model has its own VerilatedContext (the harness's), and the
thread that builds a model is the one that evaluates it (its "eval thread", Verilator's guide,
Multithreading), so each share's executor is built, run and closed on one thread for its whole
life (reset and the state copies touch host buffers only, never the model). The harness's one
global (the layer table a model reads while it is built) is guarded by `sim.OPEN_LOCK`.

Cycles: each simulated core counts its own, for its own share of the batch: what N cores side
by side would each count, not what one core takes for the whole batch (their sum is close to
that: the 256 x 256 bench case's 8 items took 87272 cycles on one core, 43700 + 43576 on two).
The cycles per step the reports use (`RtlBackend.cycles_per_step`) are measured on one core.
"""

from __future__ import annotations

import itertools
import operator
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from snapdeploy.backends.base import ExecutorBase
from snapdeploy.backends.fpga.executor import FpgaExecutor
from snapdeploy.core.errors import BackendError
from snapdeploy.core.neuron import LayerState

#: How many simulated cores (threads) an RTL simulation splits a run's batch across; unset:
#: the CPUs this process may use. 1 runs the whole batch on one core in the caller's thread.
SIM_THREADS_ENV = "SNAPDEPLOY_RTL_SIM_THREADS"


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def simulation_threads(requested: int | None = None) -> int:
    """`requested`, else $SNAPDEPLOY_RTL_SIM_THREADS, else the CPUs this process may use."""
    if requested is None:
        setting = os.environ.get(SIM_THREADS_ENV)
        if not setting:
            return usable_cpus()
        digits = setting.strip()
        what = f"${SIM_THREADS_ENV}={setting!r}"
        count = int(digits) if digits.isascii() and digits.isdigit() else None  # not '²'
    else:
        what, count = f"sim_threads={requested!r}", whole_number(requested)
    if count is None or count < 1:
        raise BackendError(
            f"{what} is not a number of simulation threads; fix: give a whole number >= 1 "
            f"(1 simulates the whole batch on one core; the default is the CPUs this process "
            f"may use, {usable_cpus()} here)"
        )
    return count


def whole_number(value: object) -> int | None:
    """`value` as an int where it is an integer (Python's or numpy's), else None: True is
    not a thread count, nor is 2.0 or '2'."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def simulated_executor(open_core: Callable[[], FpgaExecutor], threads: int) -> ExecutorBase:
    """`open_core()` itself for one thread; else a batch split across up to `threads` cores."""
    return open_core() if threads == 1 else SplitBatchExecutor(open_core, threads)


class SplitBatchExecutor(ExecutorBase):
    """Runs bool [T, batch, n_in] as min(threads, batch) shares of the batch on as many
    simulated cores, each `open_core()` on a thread of its own; state persists until `reset`.

    A run in which any core fails changes no item's state: every share is first run to its
    end (no thread is left running), then, if one failed, each core's state is put back to
    what it was before the run, and the first failure is raised with a note naming its core.
    """

    def __init__(self, open_core: Callable[[], FpgaExecutor], threads: int) -> None:
        self._open_core = open_core
        self.threads = threads
        self._cores: list[tuple[ThreadPoolExecutor, FpgaExecutor]] = []
        self._shares: list[slice] = []
        first = self._add_core()  # the first at once, so that a bad partition fails here
        super().__init__(first.n_in, first.n_out)

    @property
    def executors(self) -> list[FpgaExecutor]:
        """Each simulated core's executor, in batch order (built as a batch first needs it)."""
        return [executor for _, executor in self._cores]

    def _add_core(self) -> FpgaExecutor:
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rtl-sim")
        try:
            executor = thread.submit(self._open_core).result()
        except BaseException:
            thread.shutdown()
            raise
        self._cores.append((thread, executor))
        return executor

    def _start(self, batch: int) -> None:
        cores = min(self.threads, batch)
        while len(self._cores) < cores:
            self._add_core()
        bounds = np.cumsum([0] + [batch // cores + (i < batch % cores) for i in range(cores)])
        self._shares = [slice(lo, hi) for lo, hi in itertools.pairwise(bounds)]
        for (_, executor), share in zip(self._cores, self._shares):  # no steps: host buffers
            executor.run(np.zeros((0, share.stop - share.start, self.n_in), dtype=bool))

    def _advance(self, inputs: np.ndarray) -> np.ndarray:
        running = list(zip(self._cores, self._shares))
        saved = [executor.saved_state() for (_, executor), _ in running]
        futures = [
            thread.submit(executor.run, inputs[:, share]) for (thread, executor), share in running
        ]
        wait(futures)
        errors = [future.exception() for future in futures]
        failed = [(index, error) for index, error in enumerate(errors) if error is not None]
        if failed:
            for ((_, executor), _), state in zip(running, saved):
                executor.restore_state(state)
            (index, error), others = failed[0], failed[1:]
            share = self._shares[index]
            error.add_note(
                f"in simulated core {index + 1} of {len(futures)} (batch items "
                f"{share.start}..{share.stop - 1}); no item's state changed in this run"
            )
            for other, other_error in others:
                error.add_note(f"simulated core {other + 1} failed too: {other_error}")
            raise error
        return np.concatenate([future.result() for future in futures], axis=1)

    def _layer_states(self) -> list[LayerState]:
        shares = [executor.states() for _, executor in self._cores[: len(self._shares)]]
        return [
            LayerState(
                np.concatenate([s.u for s in layer]),
                np.concatenate([s.v for s in layer]),
                np.concatenate([s.a_pending for s in layer]),
            )
            for layer in zip(*shares)
        ]

    def _clear(self) -> None:
        for executor in self.executors:
            executor.reset()
        self._shares = []

    def _release(self) -> None:
        """Close every core on its own thread; the first failure to close is raised once
        all have been tried (one bad core does not keep the others' models alive)."""
        cores, self._cores, self._shares = self._cores, [], []
        errors = []
        for thread, executor in cores:
            try:
                thread.submit(executor.close).result()
            except Exception as error:  # noqa: BLE001 (raised below, once the rest are closed)
                errors.append(error)
            finally:
                thread.shutdown()
        if errors:
            raise errors[0]
