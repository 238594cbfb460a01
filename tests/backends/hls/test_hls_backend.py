"""What only the HLS backend has (the contract every backend keeps is tested in
test_conformance.py): one C-simulation library per shape running many random parameter sets
loaded through the `params` port, equal to the reference bit for bit (spikes and every layer's
u, v, pending activation, runs split across calls), with the current's 24-bit wrap and the
voltage clip driven on purpose. Also:
what the device cannot hold is refused by name, builds are cached by content hash, and the
header's power-on parameters equal what the driver loads."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from snapdeploy.backends import get_backend
from snapdeploy.backends.fpga.driver import LifCoreDriver
from snapdeploy.backends.fpga.executor import FpgaExecutor
from snapdeploy.backends.fpga.params import parameter_image
from snapdeploy.backends.hls import SOURCES_DIR, HlsBackend
from snapdeploy.backends.hls import build as hls_build
from snapdeploy.backends.hls.csim import csim_overlay
from snapdeploy.backends.hls.estimate import cycles_per_step, worst_case_cycles
from snapdeploy.backends.hls.layout import core_layout
from snapdeploy.backends.hls.writer import HEADER
from snapdeploy.core.errors import CapacityError, ParameterRangeError
from snapdeploy.core.neuron import RESETS, STATE_LIMIT, V_MAX, LifLayerParams, ReferenceNetwork
from snapdeploy.targets import HlsDevice
from tests.models import (
    assert_states_equal,
    spiking_partition,
)
from tests.strategies import lif_network, params

DEVICE = HlsDevice(
    name="fpga", part="xc7z020clg400-1", board="pynq-z2", lif_cores=8, neurons_per_core=16
)
EXAMPLES = 200 if os.environ.get("CI") else 50
#: Layer widths the property test draws from: 1, word edges (31-33), multi-core layers (>16).
SHAPES = [(1, 1), (5, 3), (33, 31), (32, 33, 2), (12, 40, 7, 9), (64, 20)]


def compile_and_load(layers: list[LifLayerParams], out: Path) -> FpgaExecutor:
    backend = get_backend("hls")
    return backend.load(backend.compile(spiking_partition(layers), DEVICE, out))


#: One compiled library per shape: an example loads its own parameters through the `params`
#: port (as every executor does on open), so only the first example of a shape runs g++.
_COMPILED: dict[tuple[int, ...], object] = {}


def executor_for(layers: list[LifLayerParams]) -> FpgaExecutor:
    shape = (layers[0].n_in, *(p.n_out for p in layers))
    if shape not in _COMPILED:
        out = Path(tempfile.mkdtemp(prefix="hls-prop-"))
        _COMPILED[shape] = HlsBackend().compile(spiking_partition(layers), DEVICE, out)
    compiled = _COMPILED[shape]
    driver = LifCoreDriver(csim_overlay(compiled, SOURCES_DIR))
    return FpgaExecutor(driver, parameter_image(layers), list(shape[1:]), shape[0])


def saturation_events(reference: ReferenceNetwork) -> None:
    for state in reference.states:
        if (np.abs(state.v) == V_MAX).any():
            event("v clipped")
        if (np.abs(state.u) >= STATE_LIMIT // 2).any():
            event("|u| near or past 2^23")


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    lif_network(st.sampled_from(SHAPES), saturating=True),
    st.lists(st.sampled_from(RESETS), min_size=4, max_size=4),
)
def test_csim_equals_reference(
    case: tuple[list[LifLayerParams], np.ndarray, int], resets: list[str]
) -> None:
    """Spikes and final u, v, a of every layer, with the run split in two `run` calls; each
    layer resets to zero or by subtraction, loaded through the `params` port."""
    layers, spikes, split = case
    layers = [dataclasses.replace(p, reset=r) for p, r in zip(layers, resets)]
    reference = ReferenceNetwork(layers)
    want = reference.run(spikes)[0]
    event("output spikes" if want.any() else "no output spike")
    saturation_events(reference)
    with executor_for(layers) as executor:
        windows = [w for w in (spikes[:split], spikes[split:]) if len(w)]
        got = np.concatenate([executor.run(w) for w in windows])
        np.testing.assert_array_equal(got, want)
        assert_states_equal(executor, reference)


def overflow_layer() -> LifLayerParams:
    """16 inputs at the largest weights and exponent: |a << 6| is about 2^25 per step."""
    return LifLayerParams(
        weights=np.stack([np.full(16, 254), np.full(16, -256)]),
        weight_exp=7,
        du=0,
        dv=4095,
        vth=(1 << 17) - 1,
        bias_mant=np.array([4095, -4096]),
        bias_exp=7,
    )


def test_current_wraps_once_and_voltage_clips(tmp_path: Path) -> None:
    """Driven on purpose, checked after every step: u passes +-2^23 and gets Lava's single
    correction (which, unlike a modulo, leaves it outside 24 bits), and v sits at the clip."""
    layers = [overflow_layer()]
    spikes = np.ones((10, 1, 16), dtype=bool)
    reference = ReferenceNetwork(layers)
    reference.reset(1)
    u_seen, v_seen = [], []
    with compile_and_load(layers, tmp_path) as executor:
        for t in range(len(spikes)):
            want = reference.step(spikes[t])[-1]
            np.testing.assert_array_equal(executor.run(spikes[t : t + 1])[0], want)
            assert_states_equal(executor, reference)
            u_seen.extend(reference.states[0].u[0])
            v_seen.extend(reference.states[0].v[0])
    assert any(abs(u) > STATE_LIMIT for u in u_seen), "u never left 24 bits"
    assert -V_MAX in v_seen, "v never reached the clip"


def test_power_on_parameters_equal_the_loaded_ones(tmp_path: Path) -> None:
    """The header's BRAM init and the driver's `params` image are the same parameters."""
    rng = np.random.default_rng(5)
    layers = [
        LifLayerParams(
            2 * rng.integers(-128, 128, (9, 6)), -2, 100, 300, 5, rng.integers(-50, 50, 9), 3
        ),
        LifLayerParams(
            2 * rng.integers(-128, 128, (4, 9)),
            3,
            4095,
            0,
            90,
            np.zeros(4, int),
            0,
            reset="subtract",
        ),
    ]
    compiled = HlsBackend().compile(spiking_partition(layers), DEVICE, tmp_path)
    spikes = rng.random((30, 2, 6)) < 0.4

    class PowerOnDriver(LifCoreDriver):
        def load_params(self, image: np.ndarray) -> None:
            """Keep what the bitstream (here: the library) came up with."""

    with FpgaExecutor(
        PowerOnDriver(csim_overlay(compiled, SOURCES_DIR)), parameter_image(layers), [9, 4], 6
    ) as power_on:
        np.testing.assert_array_equal(power_on.run(spikes), ReferenceNetwork(layers).run(spikes)[0])


def small_layer(n_in: int, n_out: int) -> LifLayerParams:
    return params(np.zeros((n_out, n_in)), vth=1)


@pytest.mark.parametrize(
    ("device", "layers", "error", "words"),
    [
        (
            DEVICE,
            [small_layer(4, 17), *[small_layer(17, 17)] * 4],
            CapacityError,
            ["need 10 LIF cores of 16 neurons", "device has 8"],
        ),
        (
            HlsDevice(name="fpga", part="p", board="b", lif_cores=2, neurons_per_core=4),
            [small_layer(3, 9)],
            CapacityError,
            ["9 neurons", "holds 8"],
        ),
        (
            HlsDevice(
                name="fpga", part="p", board="b", lif_cores=4, neurons_per_core=16, state_bits=16
            ),
            [small_layer(3, 4)],
            CapacityError,
            ["state_bits = 16", "24"],
        ),
    ],
    ids=["cores", "neurons", "state-bits"],
)
def test_what_does_not_fit_is_refused(device, layers, error, words, tmp_path: Path) -> None:
    with pytest.raises(error) as info:
        HlsBackend().compile(spiking_partition(layers), device, tmp_path)
    for word in [*words, "fix:", "fpga"]:
        assert word in str(info.value)
    assert not any(tmp_path.iterdir()), "a refused partition left files"


def test_weights_wider_than_the_device_are_refused(tmp_path: Path) -> None:
    narrow = HlsDevice(
        name="fpga", part="p", board="b", lif_cores=4, neurons_per_core=16, weight_bits=4
    )
    fits = LifLayerParams(np.array([[-16, 14, 2], [0, -2, -16]]), 2, 0, 0, 1, np.zeros(2, int), 0)
    backend = HlsBackend()
    spikes = np.random.default_rng(2).random((20, 1, 3)) < 0.5
    reference = ReferenceNetwork([fits])
    want = reference.run(spikes)[0]
    with backend.load(
        backend.compile(spiking_partition([fits]), narrow, tmp_path / "fits")
    ) as executor:
        np.testing.assert_array_equal(executor.run(spikes), want)
        assert_states_equal(executor, reference)
    wide = LifLayerParams(np.full((2, 3), 16), 0, 0, 0, 1, np.zeros(2, int), 0)  # mantissa 8
    with pytest.raises(ParameterRangeError, match="layer0.*5-bit mantissas.*4-bit weights.*fix:"):
        HlsBackend().compile(spiking_partition([wide]), narrow, tmp_path / "wide")


def test_build_is_cached_by_content_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layers = [LifLayerParams(np.full((3, 2), 2), 0, 0, 0, 1, np.zeros(3, int), 0)]
    first = HlsBackend().compile(spiking_partition(layers), DEVICE, tmp_path / "a")

    def no_compiler(*args: object) -> None:
        raise AssertionError("g++ ran for sources it had built before")

    monkeypatch.setattr(hls_build, "compile_to", no_compiler)
    again = HlsBackend().compile(spiking_partition(layers), DEVICE, tmp_path / "b")
    assert again.meta["build_hash"] == first.meta["build_hash"]
    assert (tmp_path / "b" / "hls" / hls_build.LIBRARY).is_file()
    changed = [LifLayerParams(np.full((3, 2), 4), 0, 0, 0, 1, np.zeros(3, int), 0)]
    with pytest.raises(AssertionError, match="g\\+\\+ ran"):
        HlsBackend().compile(spiking_partition(changed), DEVICE, tmp_path / "c")


def test_build_directory_is_what_vitis_takes(tmp_path: Path) -> None:
    """The header holds the partition's numbers; the core's sources sit beside it."""
    layers = [LifLayerParams(np.array([[2, -4], [6, 254]]), -3, 11, 22, 33, np.array([7, -8]), 4)]
    HlsBackend().compile(spiking_partition(layers), DEVICE, tmp_path)
    sources = tmp_path / "hls"
    header = (sources / HEADER).read_text()
    assert "{{" not in header
    assert "#define SNAP_LAYER_CFG_INIT -3, 11, 22, 33, 4" in header
    assert "#define SNAP_BIAS_INIT 7, -8" in header
    assert "#define SNAP_WEIGHT_INIT 1, 3, -2, 127" in header  # input-major, halved
    assert {p.name for p in sources.glob("*.cpp")} == {"lif_core.cpp", "lif_csim.cpp"}
    assert "#pragma HLS INTERFACE s_axilite port=return" in (sources / "lif_core.cpp").read_text()


def test_cycle_estimate_counts_the_loops() -> None:
    layout = core_layout(spiking_partition([small_layer(40, 20), small_layer(20, 5)]), DEVICE)
    assert layout.lanes == [2, 1]
    # UNPACK 40; layer 0: clear 10 + scan 40 + 4 events * (10 + 3) + LIF 10 + 12;
    # layer 1: 5 + 20 + 2 * (5 + 3) + 5 + 12; PACK 1 word.
    assert (
        cycles_per_step(layout, [4, 2])
        == 40 + (10 + 40 + 52 + 10 + 12) + (5 + 20 + 16 + 5 + 12) + 1
    )
    assert worst_case_cycles(layout) == cycles_per_step(layout, [40, 20])


def test_demo_runs_its_spiking_partition_on_the_csim(tmp_path: Path) -> None:
    from rich.console import Console

    from snapdeploy.flow import DemoConfig, run_demo

    config = DemoConfig(out=tmp_path, backend="hls", epochs=1, hidden=32, spiking=16, limit=200)
    report = run_demo(config, Console(quiet=True), progress=False)
    compiled = [p for p in (tmp_path / "build").rglob("compiled.json") if '"hls"' in p.read_text()]
    assert compiled, "no partition was compiled for the hls device"
    assert 0.0 <= report["headline"]["deployed_accuracy"] <= 1.0
