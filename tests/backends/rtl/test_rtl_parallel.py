"""The RTL simulation split across simulated cores (parallel.py): bit for bit the one-core
simulation and the reference (spikes and every layer's state; batches not divisible by the
cores, smaller than them, runs split across calls, reset); each core built and run on one
thread; a core failing in its thread raises in the caller and changes no item's state."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapdeploy.backends.fpga.driver import LifCoreDriver
from snapdeploy.backends.fpga.executor import FpgaExecutor
from snapdeploy.backends.rtl import backend as backend_module
from snapdeploy.backends.rtl.backend import RtlBackend
from snapdeploy.backends.rtl.parallel import (
    SIM_THREADS_ENV,
    SplitBatchExecutor,
    simulation_threads,
    usable_cpus,
)
from snapdeploy.core.errors import BackendError
from snapdeploy.core.neuron import LifLayerParams, ReferenceNetwork
from tests.backends.rtl.test_rtl_backend import DEVICE, executor_for
from tests.models import assert_states_equal, spiking_partition
from tests.strategies import lif_network, params

#: Two small capacity classes, compiled once each (shared with test_rtl_backend's).
SHAPES = [(5, 3), (12, 40, 7)]


def core_opener(layers: list[LifLayerParams]) -> Callable[[], FpgaExecutor]:
    """A fresh simulated core of the layers' compiled shape, `layers` loaded, per call."""
    return lambda: executor_for(layers)


def run_windows(executor, spikes: np.ndarray, split: int) -> np.ndarray:
    windows = [w for w in (spikes[:split], spikes[split:]) if len(w)]
    return np.concatenate([executor.run(w) for w in windows])


@settings(max_examples=8, deadline=None)
@given(
    case=lif_network(st.sampled_from(SHAPES), batch=(1, 7), steps=(1, 20), saturating=True),
    threads=st.integers(2, 4),
)
def test_split_batch_equals_one_core_and_the_reference(
    case: tuple[list[LifLayerParams], np.ndarray, int], threads: int
) -> None:
    layers, spikes, split = case
    reference = ReferenceNetwork(layers)
    want = reference.run(spikes)[0]
    with (
        core_opener(layers)() as one,
        SplitBatchExecutor(core_opener(layers), threads) as many,
    ):
        np.testing.assert_array_equal(run_windows(one, spikes, split), want)
        np.testing.assert_array_equal(run_windows(many, spikes, split), want)
        assert len(many.executors) == min(threads, spikes.shape[1])
        assert_states_equal(many, reference)
        for got, single in zip(many.states(), one.states(), strict=True):
            np.testing.assert_array_equal(got.u, single.u)
            np.testing.assert_array_equal(got.v, single.v)
            np.testing.assert_array_equal(got.a_pending, single.a_pending)


def test_shares_cover_the_batch_and_reset_starts_again_at_another_size() -> None:
    """7 items on 3 cores are 3 + 2 + 2; 2 items on 3 cores use two of them; after reset a
    batch of another size starts from zero state."""
    layers = [params(np.full((40, 12), 6), vth=20, du=100), params(np.full((7, 40), -2), vth=1)]
    rng = np.random.default_rng(5)
    with SplitBatchExecutor(core_opener(layers), 3) as executor:
        for batch in (7, 2):
            spikes = rng.random((9, batch, 12)) < 0.4
            reference = ReferenceNetwork(layers)
            executor.reset()
            np.testing.assert_array_equal(executor.run(spikes), reference.run(spikes)[0])
            assert_states_equal(executor, reference)
            assert len(executor.executors) == 3
            if batch == 7:
                assert [e.saved_state().shape[0] for e in executor.executors] == [3, 2, 2]
        assert [e.saved_state().shape[0] for e in executor.executors[:2]] == [1, 1]
        assert executor.executors[2].saved_state() is None  # reset, then no share


class FailingRuns:
    """Wraps a driver's `run`: when `armed`, the pass fails after the core has run (as a
    memory bus error does: the core wrote its state, the host must not keep it). Records
    the threads the core is built and run on."""

    def __init__(self, driver: LifCoreDriver):
        self.armed = False
        self.threads = {threading.get_ident()}
        self._run = driver.run
        driver.run = self

    def __call__(self, spikes_in, spikes_out, state) -> None:
        self.threads.add(threading.get_ident())
        self._run(spikes_in, spikes_out, state)
        if self.armed:
            state[:] = 12345  # what a board's failed pass may leave behind
            raise BackendError("LIF core 'lif_core_0' failed on its memory bus; fix: test")


def test_a_failing_core_raises_in_the_caller_and_changes_no_state() -> None:
    layers = [params(np.full((3, 5), 4), vth=6, du=300, dv=100)]
    spikes = np.random.default_rng(2).random((12, 5, 5)) < 0.5
    reference = ReferenceNetwork(layers)
    before = threading.active_count()
    cores: list[FpgaExecutor] = []
    failing: list[FailingRuns] = []

    def open_core() -> FpgaExecutor:  # the second core's passes fail when armed
        cores.append(executor_for(layers))
        if len(cores) == 2:
            failing.append(FailingRuns(cores[-1].driver))
        return cores[-1]

    executor = SplitBatchExecutor(open_core, 3)
    reference.reset(5)
    np.testing.assert_array_equal(executor.run(spikes[:5]), reference.advance(spikes[:5])[-1])
    kept = [e.saved_state() for e in cores]
    failing[0].armed = True
    with pytest.raises(BackendError, match="memory bus") as failure:
        executor.run(spikes[5:])
    assert "in simulated core 2 of 3 (batch items 2..3); no item's state" in str(
        failure.value.__notes__
    )
    for core, state in zip(cores, kept, strict=True):
        np.testing.assert_array_equal(core.saved_state(), state)
    failing[0].armed = False
    np.testing.assert_array_equal(executor.run(spikes[5:]), reference.advance(spikes[5:])[-1])
    assert_states_equal(executor, reference)
    assert len(failing[0].threads) == 1  # built and run on its own thread only
    assert threading.get_ident() not in failing[0].threads
    executor.close()
    assert threading.active_count() == before  # every core's thread ended
    with pytest.raises(BackendError, match="closed"):
        executor.run(spikes)


def test_a_first_run_of_no_steps_leaves_the_zero_state() -> None:
    layers = [params(np.full((3, 5), 4), vth=6)]
    with SplitBatchExecutor(core_opener(layers), 2) as executor:
        assert executor.run(np.zeros((0, 3, 5), dtype=bool)).shape == (0, 3, 3)
        (state,) = executor.states()
        for part in (state.u, state.v, state.a_pending):
            np.testing.assert_array_equal(part, np.zeros((3, 3)))


def models(executor: SplitBatchExecutor) -> list:
    """Each simulated core's Verilator model (behind its executor's emulated overlay)."""
    return [e.driver.overlay.device.core for e in executor.executors]


def test_closing_closes_every_model_even_when_one_fails_to_close() -> None:
    layers = [params(np.full((3, 5), 4), vth=6)]
    executor = SplitBatchExecutor(core_opener(layers), 3)
    executor.run(np.ones((2, 3, 5), dtype=bool))
    cores = models(executor)
    closing_threads: list[int] = []
    real_close = cores[0].close

    def failing_close() -> None:
        closing_threads.append(threading.get_ident())
        real_close()
        cores[0].close = real_close  # fails once: the model's own __del__ closes quietly
        raise OSError("the model's library is gone")

    cores[0].close = failing_close
    with pytest.raises(OSError, match="library is gone"):
        executor.close()
    assert closing_threads and closing_threads[0] != threading.get_ident()  # its own thread
    assert [model.closed for model in cores] == [True] * 3


def test_a_model_whose_executor_cannot_be_built_is_closed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    layers = [params(np.full((3, 5), 4), vth=6)]
    compiled = RtlBackend().compile(spiking_partition(layers), DEVICE, tmp_path)
    opened = []
    build_model = RtlBackend.simulation

    def recording(compiled_partition):
        overlay, model = build_model(compiled_partition)
        opened.append(model)
        return overlay, model

    def failing(*args: object) -> FpgaExecutor:
        raise BackendError("the parameter image does not fit; fix: test")

    monkeypatch.setattr(RtlBackend, "simulation", staticmethod(recording))
    monkeypatch.setattr(backend_module, "FpgaExecutor", failing)
    for threads in (1, 2):
        with pytest.raises(BackendError, match="does not fit"):
            RtlBackend(sim_threads=threads).load(compiled)
    assert [model.closed for model in opened] == [True, True]


def test_a_core_that_cannot_be_built_fails_the_open_and_leaves_no_thread() -> None:
    before = threading.active_count()

    def broken() -> FpgaExecutor:
        raise BackendError("liblif_rtl.so is missing; fix: compile the partition again")

    with pytest.raises(BackendError, match="missing"):
        SplitBatchExecutor(broken, 2)
    assert threading.active_count() == before


def test_the_backend_splits_by_option_or_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    layers = [params(np.full((3, 5), 4), vth=6)]
    compiled = RtlBackend().compile(spiking_partition(layers), DEVICE, tmp_path)
    spikes = np.ones((3, 4, 5), dtype=bool)
    monkeypatch.setenv(SIM_THREADS_ENV, "3")
    for backend, kind, cores in (
        (RtlBackend(sim_threads=1), FpgaExecutor, None),
        (RtlBackend(sim_threads=2), SplitBatchExecutor, 2),
        (RtlBackend(), SplitBatchExecutor, 3),
    ):
        with backend.load(compiled) as executor:
            assert type(executor) is kind
            np.testing.assert_array_equal(
                executor.run(spikes), ReferenceNetwork(layers).run(spikes)[0]
            )
            assert cores is None or len(executor.executors) == cores


def test_the_thread_count_is_checked() -> None:
    assert simulation_threads(5) == 5
    assert simulation_threads(np.int64(2)) == 2
    with pytest.raises(BackendError, match=r"sim_threads=0 .*fix: give a whole number >= 1"):
        RtlBackend(sim_threads=0)
    for wrong in (True, 2.0, "2"):
        with pytest.raises(BackendError, match=rf"sim_threads={wrong!r} is not a number"):
            simulation_threads(wrong)


def test_the_environment_setting_may_have_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SIM_THREADS_ENV, " 3 ")
    assert simulation_threads() == 3


@pytest.mark.parametrize("setting", ["0", "two", "-1", "\u00b2", "\u0663"])
def test_a_bad_environment_setting_is_named(monkeypatch: pytest.MonkeyPatch, setting: str) -> None:
    monkeypatch.setenv(SIM_THREADS_ENV, setting)
    with pytest.raises(BackendError, match=rf"\${SIM_THREADS_ENV}='{setting}' .*fix:"):
        simulation_threads()


def test_the_default_is_the_usable_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SIM_THREADS_ENV, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert simulation_threads() == usable_cpus() == 3
    monkeypatch.delattr(os, "sched_getaffinity")  # an OS without affinity: every CPU
    monkeypatch.setattr(os, "cpu_count", lambda: 5)
    assert usable_cpus() == 5
