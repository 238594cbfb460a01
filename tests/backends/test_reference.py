"""The reference backend: compile -> load -> run is `ReferenceNetwork.run`, state carries across
`run` calls until `reset`, and what it cannot do is refused with the numbers that do not fit."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapdeploy.backends import BACKEND_MODULES, CompiledPartition, get_backend
from snapdeploy.backends.base import COMPILED_FILE
from snapdeploy.core.errors import BackendError, CapacityError, ParameterRangeError
from snapdeploy.core.graph import SpikingOp
from snapdeploy.core.neuron import ReferenceNetwork
from snapdeploy.partition import SpikingPartition
from snapdeploy.targets import ReferenceDevice
from tests.models import spiking_partition
from tests.strategies import layer_widths, lif_network, params


@st.composite
def partition_and_spikes(draw, min_steps: int = 1):
    """1-3 layers of 1-7 neurons (see `lif_network`), run over 1-12 partition steps and
    `min_steps`..14 input steps."""
    layers, spikes, _ = draw(lif_network(layer_widths(1, 7), steps=(min_steps, 14)))
    return spiking_partition(layers, steps=draw(st.integers(1, 12))), spikes


def compile_and_load(partition: SpikingPartition, directory: Path, max_neurons: int | None = None):
    backend = get_backend("reference")
    compiled = backend.compile(
        partition, ReferenceDevice(name="ref", max_neurons=max_neurons), directory / partition.name
    )
    # load from what is on disk, as another process would
    return compiled, backend.load(CompiledPartition.load(compiled.path))


def oracle(partition: SpikingPartition, spikes: np.ndarray) -> np.ndarray:
    return ReferenceNetwork(partition.layers).run(spikes)[0]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(partition_and_spikes())
def test_compiled_partition_runs_exactly_as_the_reference_network(case):
    partition, spikes = case
    with tempfile.TemporaryDirectory() as tmp:
        compiled, executor = compile_and_load(partition, Path(tmp))
        out = executor.run(spikes)
        executor.close()

    assert out.dtype == bool
    assert out.shape == (spikes.shape[0], spikes.shape[1], partition.n_out)
    np.testing.assert_array_equal(out, oracle(partition, spikes))
    assert (compiled.kind, compiled.partition, compiled.device) == (
        "reference",
        "p1_spiking",
        "ref",
    )
    assert (compiled.n_in, compiled.n_out) == (partition.n_in, partition.n_out)
    assert compiled.meta == {"index": 1, "neurons": partition.n_neurons}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(partition_and_spikes(min_steps=2), st.data())
def test_state_carries_across_runs_and_reset_starts_afresh(case, data):
    partition, spikes = case
    split = data.draw(st.integers(1, spikes.shape[0] - 1), label="split")
    expected = oracle(partition, spikes)
    with tempfile.TemporaryDirectory() as tmp:
        _, executor = compile_and_load(partition, Path(tmp))
        first = executor.run(spikes[:split])
        second = executor.run(spikes[split:])
        np.testing.assert_array_equal(np.concatenate([first, second]), expected)

        executor.reset()
        np.testing.assert_array_equal(executor.run(spikes), expected)

        # after reset a different batch size is fine, and starts from zero state too
        executor.reset()
        single = spikes[:, :1]
        np.testing.assert_array_equal(executor.run(single), oracle(partition, single))


def test_state_carry_is_observable_on_a_slow_neuron(tmp_path):
    """A neuron that needs two input spikes to fire: split runs must remember the first."""
    slow = params([[100]], du=4095, vth=150)
    partition = SpikingPartition("p1_spiking", 1, (SpikingOp("slow", slow),), steps=4)
    spikes = np.zeros((4, 1, 1), dtype=bool)
    spikes[0] = spikes[1] = True
    _, executor = compile_and_load(partition, tmp_path)

    whole = oracle(partition, spikes)
    assert whole[:, 0, 0].tolist() == [False, False, True, False]
    assert np.concatenate([executor.run(spikes[:2]), executor.run(spikes[2:])])[
        :, 0, 0
    ].tolist() == (whole[:, 0, 0].tolist())
    executor.reset()
    # without the first two steps' input the neuron never fires
    assert not executor.run(spikes[2:]).any()


def test_changing_batch_size_without_reset_is_refused(tmp_path):
    partition = spiking_partition([params(np.full((2, 3), 10), vth=10)], steps=3)
    _, executor = compile_and_load(partition, tmp_path)
    executor.run(np.ones((3, 2, 3), dtype=bool))
    with pytest.raises(BackendError) as error:
        executor.run(np.ones((3, 5, 3), dtype=bool))
    message = str(error.value)
    assert "2" in message and "5" in message and "reset()" in message
    executor.reset()
    assert executor.run(np.ones((3, 5, 3), dtype=bool)).shape == (3, 5, 2)


def test_wrong_input_width_is_refused(tmp_path):
    partition = spiking_partition([params(np.zeros((2, 3)), vth=1)], steps=3)
    _, executor = compile_and_load(partition, tmp_path)
    with pytest.raises(BackendError, match="expected 3 input channels, got 4"):
        executor.run(np.zeros((3, 1, 4), dtype=bool))


def two_layer_partition() -> SpikingPartition:
    return spiking_partition([params(np.zeros((4, 3)), vth=1), params(np.zeros((3, 4)), vth=1)], 2)


def test_a_partition_larger_than_the_device_is_refused_with_both_numbers(tmp_path):
    partition = two_layer_partition()  # 4 + 3 = 7 neurons
    with pytest.raises(CapacityError) as error:
        get_backend("reference").compile(
            partition, ReferenceDevice(name="tiny", max_neurons=6), tmp_path / "p"
        )
    message = str(error.value)
    assert "7 neurons" in message and "holds 6" in message
    assert "p1_spiking" in message and "'tiny'" in message and "fix:" in message
    assert not (tmp_path / "p").exists()


def test_a_partition_that_exactly_fills_the_device_compiles(tmp_path):
    compiled, _ = compile_and_load(two_layer_partition(), tmp_path, max_neurons=7)
    assert (compiled.path / COMPILED_FILE).is_file()


def test_out_of_range_parameters_are_refused_at_compile_naming_the_layer(tmp_path):
    too_wide = params([[255]], vth=1)
    partition = SpikingPartition("p1_spiking", 1, (SpikingOp("too_wide", too_wide),), 2)
    with pytest.raises(ParameterRangeError, match="too_wide.*weights"):
        get_backend("reference").compile(partition, ReferenceDevice(name="ref"), tmp_path / "p")


def test_unknown_backend_kind_lists_the_known_ones():
    with pytest.raises(BackendError) as error:
        get_backend("nope")
    message = str(error.value)
    assert "'nope'" in message
    for kind in BACKEND_MODULES:
        assert kind in message


def test_get_backend_returns_a_fresh_reference_backend():
    first, second = get_backend("reference"), get_backend("reference")
    assert first.kind == second.kind == "reference"
    assert first is not second
