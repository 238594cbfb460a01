"""Every registered spiking kind, held to one contract against one oracle.

The kinds come from the registry (plus a toy backend registered here), so a backend is
tested the moment it registers: the 12 networks real Lava ran (spikes, final u and v of every
layer), random networks against the reference with the run split over two `run` calls, state
carried across runs and cleared by `reset`, networks of conv, pool, delay and subtract-reset
layers equal to the reference on every kind that declares them (and refused by name on the
others), a changed batch and a wrong input width refused,
a partition too large refused with both numbers and nothing written. This is the only place
the real-Lava fixtures are asserted.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from snapdeploy.backends import (
    CompiledPartition,
    ExecutorBase,
    get_backend,
    register_kind,
    registry,
)
from snapdeploy.core.conv import ConvLayerParams, ConvSynapse, PoolSynapse
from snapdeploy.core.errors import BackendError, CapacityError, ParameterRangeError
from snapdeploy.core.graph import SpikingOp
from snapdeploy.core.neuron import LifLayerParams, ReferenceNetwork
from snapdeploy.partition import SpikingPartition
from snapdeploy.targets import DEVICE_TYPES
from tests.backends.toy_backend import TOY
from tests.models import (
    LAVA_FIXTURES,
    assert_runs_as_real_lava_did,
    assert_states_equal,
    spiking_partition,
)
from tests.strategies import (
    kinds_network,
    layer_widths,
    lif_network,
    params,
)

KINDS = [*registry.registered_kinds("spiking"), TOY.kind]
EXAMPLES = 40 if os.environ.get("CI") else 15
#: Networks of conv, pool and delay layers per kind (Lava runs each in a few seconds).
KIND_EXAMPLES = 12 if os.environ.get("CI") else 6
#: Neurons of the device every network here runs on: more than any of them has.
ROOM = 1024


@pytest.fixture(autouse=True, scope="module")
def toy_kind() -> Iterator[None]:
    """The toy backend registered for this module only (other tests see the shipped kinds)."""
    register_kind(TOY)
    yield
    del registry._ENTRIES[TOY.kind]
    del DEVICE_TYPES[TOY.kind]


def compile_and_load(kind: str, partition: SpikingPartition, out: Path) -> ExecutorBase:
    """Compile on a device of `kind` with room for it, then load from disk as another process
    would."""
    assert partition.n_neurons <= ROOM
    device = DEVICE_TYPES[kind].holding("dev", ROOM)
    backend = get_backend(kind)
    compiled = backend.compile(partition, device, out / partition.name)
    return get_backend(kind).load(CompiledPartition.load(compiled.path))


@pytest.mark.parametrize("fixture", LAVA_FIXTURES, ids=[f.stem for f in LAVA_FIXTURES])
@pytest.mark.parametrize("kind", KINDS)
def test_runs_as_real_lava_did(kind: str, fixture: Path, tmp_path: Path) -> None:
    assert_runs_as_real_lava_did(
        fixture, lambda layers: compile_and_load(kind, spiking_partition(layers), tmp_path)
    )


@pytest.mark.parametrize("kind", KINDS)
def test_random_networks_equal_the_reference_over_split_runs(kind: str) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(lif_network(layer_widths(1, 40), steps=(1, 30), saturating=True))
    def check(case: tuple[list[LifLayerParams], np.ndarray, int]) -> None:
        layers, spikes, split = case
        reference = ReferenceNetwork(layers)
        want = reference.run(spikes)[0]
        event("output spikes" if want.any() else "no output spike")
        with (
            tempfile.TemporaryDirectory() as out,
            compile_and_load(kind, spiking_partition(layers), Path(out)) as executor,
        ):
            windows = [w for w in (spikes[:split], spikes[split:]) if len(w)]
            got = np.concatenate([executor.run(w) for w in windows])
            np.testing.assert_array_equal(got, want)
            assert_states_equal(executor, reference)

    check()


def subtract_network():
    """Random Dense networks (as the test above draws them) whose layers reset either way."""
    resets = st.lists(st.sampled_from(["zero", "subtract"]), min_size=4, max_size=4)
    return st.tuples(lif_network(layer_widths(1, 24), steps=(1, 24), saturating=True), resets).map(
        lambda case: (
            [dataclasses.replace(p, reset=r) for p, r in zip(case[0][0], case[1])],
            *case[0][1:],
        )
    )


@pytest.mark.parametrize("network", [kinds_network, subtract_network], ids=["conv", "subtract"])
@pytest.mark.parametrize("kind", KINDS)
def test_conv_pool_delay_and_subtract_layers_equal_the_reference_or_are_refused(
    kind: str, network
) -> None:
    runs = get_backend(kind).layer_kinds

    @settings(
        max_examples=KIND_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(network())
    def check(case: tuple[list, np.ndarray, int]) -> None:
        layers, spikes, split = case
        needs = frozenset().union(*(layer.kinds for layer in layers))
        with tempfile.TemporaryDirectory() as out:
            if not needs <= runs:
                first = next(i for i, layer in enumerate(layers) if not layer.kinds <= runs)
                missing = re.escape(" + ".join(sorted(layers[first].kinds - runs)))
                refusal = rf"'layer{first}' .* is a {missing} layer, which the '{kind}' backend"
                with pytest.raises(BackendError, match=refusal):
                    compile_and_load(kind, spiking_partition(layers), Path(out))
                assert not any(Path(out).iterdir())
                return
            reference = ReferenceNetwork(layers)
            want = reference.run(spikes)[0]
            event("output spikes" if want.any() else "no output spike")
            with compile_and_load(kind, spiking_partition(layers), Path(out)) as executor:
                windows = [w for w in (spikes[:split], spikes[split:]) if len(w)]
                got = np.concatenate([executor.run(w) for w in windows])
                np.testing.assert_array_equal(got, want)
                assert_states_equal(executor, reference)

    check()


def one_layer_of_each_kind() -> dict[str, LifLayerParams | ConvLayerParams]:
    """A small valid layer needing each layer kind beyond Dense."""
    conv = ConvSynapse(np.full((2, 2, 2, 1), 2), (3, 3, 1))
    pool = PoolSynapse((2, 2), 1, (2, 2, 1))
    dense = params([[2, 4]], vth=1)
    return {
        "conv": ConvLayerParams(conv, 0, 0, 1, np.zeros(conv.n_out, int), 0),
        "pool": ConvLayerParams(pool, 0, 0, 1, np.zeros(1, int), 0),
        "delay": dataclasses.replace(dense, delays=np.array([[0, 3]])),
        "subtract_reset": dataclasses.replace(dense, reset="subtract"),
    }


@pytest.mark.parametrize("kind", KINDS)
def test_each_layer_kind_a_backend_lacks_is_refused_by_name(kind: str, tmp_path: Path) -> None:
    runs = get_backend(kind).layer_kinds
    assert "dense" in runs
    for layer_kind, layer in one_layer_of_each_kind().items():
        if layer_kind in runs:
            continue
        partition = SpikingPartition("p1_spiking", 1, (SpikingOp("odd", layer),), 2)
        device = DEVICE_TYPES[kind].holding("dev", ROOM)
        with pytest.raises(BackendError) as error:
            get_backend(kind).compile(partition, device, tmp_path / layer_kind)
        message = str(error.value)
        assert f"layer 'odd' of partition 'p1_spiking' is a {layer_kind}" in message
        assert f"the '{kind}' backend does not run" in message and "fix:" in message
        assert not (tmp_path / layer_kind).exists()


def slow_neuron() -> SpikingPartition:
    """One neuron that needs two input spikes to fire."""
    return SpikingPartition(
        "p1_spiking", 1, (SpikingOp("slow", params([[100]], du=4095, vth=150)),), steps=4
    )


@pytest.mark.parametrize("kind", KINDS)
def test_state_carries_across_runs_and_reset_clears_it(kind: str, tmp_path: Path) -> None:
    spikes = np.zeros((4, 1, 1), dtype=bool)
    spikes[0] = spikes[1] = True
    with compile_and_load(kind, slow_neuron(), tmp_path) as executor:
        split = np.concatenate([executor.run(spikes[:2]), executor.run(spikes[2:])])
        assert split[:, 0, 0].tolist() == [False, False, True, False]
        executor.reset()
        with pytest.raises(BackendError, match="no state yet"):
            executor.states()
        # without the first two steps' input the neuron never fires
        assert not executor.run(spikes[2:]).any()
        # after reset another batch size is taken, from zero state too
        executor.reset()
        assert executor.run(np.repeat(spikes, 3, axis=1))[:, :, 0].sum() == 3


@pytest.mark.parametrize("kind", KINDS)
def test_a_changed_batch_without_reset_is_refused(kind: str, tmp_path: Path) -> None:
    partition = spiking_partition([params(np.full((2, 3), 10), vth=10)], steps=3)
    with compile_and_load(kind, partition, tmp_path) as executor:
        executor.run(np.ones((3, 2, 3), dtype=bool))
        with pytest.raises(BackendError, match=r"batch changed from 2 to 5 .*fix: call reset\(\)"):
            executor.run(np.ones((3, 5, 3), dtype=bool))
        executor.reset()
        assert executor.run(np.ones((3, 5, 3), dtype=bool)).shape == (3, 5, 2)


@pytest.mark.parametrize("kind", KINDS)
def test_a_wrong_input_width_is_refused(kind: str, tmp_path: Path) -> None:
    partition = spiking_partition([params(np.zeros((2, 3)), vth=1)], steps=3)
    with compile_and_load(kind, partition, tmp_path) as executor:
        with pytest.raises(BackendError, match=r"expected spikes \[T, batch, 3\], got \(3, 1, 4\)"):
            executor.run(np.zeros((3, 1, 4), dtype=bool))
        with pytest.raises(BackendError, match=r"expected spikes \[T, batch, 3\]"):
            executor.run(np.zeros((3, 3), dtype=bool))


@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_window_returns_no_steps(kind: str, tmp_path: Path) -> None:
    partition = spiking_partition([params(np.full((2, 3), 10), vth=1)], steps=3)
    with compile_and_load(kind, partition, tmp_path) as executor:
        assert executor.run(np.zeros((0, 4, 3), dtype=bool)).shape == (0, 4, 2)


@pytest.mark.parametrize("kind", KINDS)
def test_a_closed_executor_refuses_to_run(kind: str, tmp_path: Path) -> None:
    partition = spiking_partition([params(np.full((2, 3), 10), vth=1)], steps=3)
    with compile_and_load(kind, partition, tmp_path) as executor:
        executor.run(np.ones((3, 1, 3), dtype=bool))
    with pytest.raises(BackendError, match="closed; fix: load the partition again"):
        executor.run(np.ones((3, 1, 3), dtype=bool))


@pytest.mark.parametrize("kind", KINDS)
def test_a_partition_larger_than_the_device_is_refused_with_both_numbers(
    kind: str, tmp_path: Path
) -> None:
    partition = spiking_partition([params(np.zeros((7, 3)), vth=1)], steps=2)
    device = DEVICE_TYPES[kind].holding("tiny", 6)
    with pytest.raises(CapacityError) as error:
        get_backend(kind).compile(partition, device, tmp_path / "p")
    message = str(error.value)
    assert "7 neurons" in message and "holds 6" in message
    assert "p1_spiking" in message and "'tiny'" in message and "fix:" in message
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("kind", KINDS)
def test_out_of_range_parameters_are_refused_naming_the_layer(kind: str, tmp_path: Path) -> None:
    partition = SpikingPartition("p1_spiking", 1, (SpikingOp("too_wide", params([[255]])),), 2)
    device = DEVICE_TYPES[kind].holding("dev", 1)
    with pytest.raises(ParameterRangeError, match="too_wide.*weights"):
        get_backend(kind).compile(partition, device, tmp_path / "p")
    assert not (tmp_path / "p").exists()
