"""The registry: every kind the package ships has one entry, and what the rest of the package
asks about a kind (its backend, its cost model, what `deploy --board` does) comes from it."""

from __future__ import annotations

import dataclasses

import pytest

from snapdeploy.backends import BoardMode, entry, get_backend, registered_kinds
from snapdeploy.core.errors import BackendError
from snapdeploy.report.energy import COST_MODELS
from snapdeploy.targets import DEVICE_TYPES, HlsDevice, LavaDevice, TorchDevice, kinds


def test_every_device_kind_a_target_may_name_has_a_backend() -> None:
    assert set(registered_kinds()) == set(kinds()) == set(DEVICE_TYPES)
    assert registered_kinds("dense") == ["torch"]
    assert set(registered_kinds("spiking")) == {"reference", "lava", "hls", "rtl", "spinnaker"}


@pytest.mark.parametrize("kind", registered_kinds())
def test_each_entry_names_its_backend_a_cost_model_and_its_device_class(kind: str) -> None:
    registered = entry(kind)
    assert get_backend(kind).kind == kind
    assert registered.pricing in COST_MODELS
    assert DEVICE_TYPES[kind] is registered.device


def test_an_unknown_kind_is_named_with_the_known_ones() -> None:
    with pytest.raises(BackendError) as error:
        get_backend("spinaker")
    message = str(error.value)
    assert "'spinaker'" in message and "did you mean 'spinnaker'" in message
    for kind in registered_kinds():
        assert kind in message


def test_get_backend_returns_a_fresh_backend() -> None:
    first, second = get_backend("reference"), get_backend("reference")
    assert first.kind == second.kind == "reference"
    assert first is not second


def test_board_modes() -> None:
    assert entry("torch").board is BoardMode.HOST
    assert entry("torch").board_problem(TorchDevice(name="host")) is None
    lava = entry("lava").board_problem(LavaDevice(name="loihi"))
    assert "only emulates" in lava and "--emulate" in lava
    no_bitstream = HlsDevice(name="fpga", part="p", board="b", lif_cores=1, neurons_per_core=1)
    assert "names no bitstream" in entry("hls").board_problem(no_bitstream)
    served = dataclasses.replace(no_bitstream, host="tcp://192.168.2.99:5555")
    assert entry("hls").board_problem(served) is None  # the board serving it answers for it
