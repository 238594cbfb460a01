"""What only the RTL backend has (the contract every backend keeps is tested in
test_conformance.py): one Verilator build per capacity running many random parameter sets
loaded through the `params` port, equal to the reference bit for bit (spikes and every layer's
u, v, pending activation, runs split across calls), u driven far past 24 bits on purpose;
cycles per step measured in the simulation, with the synapse engine's cost exact; builds
cached by design, not by parameters; what does not fit refused by name."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapdeploy.backends import get_backend
from snapdeploy.backends.fpga.driver import LifCoreDriver
from snapdeploy.backends.fpga.executor import FpgaExecutor
from snapdeploy.backends.fpga.params import parameter_image
from snapdeploy.backends.rtl import build as rtl_build
from snapdeploy.backends.rtl.backend import SOURCES_DIR, RtlBackend
from snapdeploy.backends.rtl.layout import LIF_LANES, SYN_LANES
from snapdeploy.backends.rtl.probe import PROBE_STEPS
from snapdeploy.core.errors import BackendError, CapacityError, ParameterRangeError
from snapdeploy.core.neuron import STATE_LIMIT, LifLayerParams, ReferenceNetwork
from snapdeploy.targets.spec import RtlDevice
from tests.models import assert_states_equal, spiking_partition
from tests.strategies import lif_network, params

DEVICE = RtlDevice(name="fpga", part="lfe5u-85f", board="ulx3s", neurons=512)
EXAMPLES = 40 if os.environ.get("CI") else 15
#: Layer widths: 1, word edges (31-33), a layer wider than the smallest capacity (64), and
#: more layers than it (4); they fall into a few capacity classes, so a few builds.
SHAPES = [(1, 1), (5, 3), (33, 31), (32, 33, 2), (12, 40, 7, 9, 3, 5), (70, 20)]

_COMPILED: dict[tuple[int, ...], object] = {}


def executor_for(layers: list[LifLayerParams]) -> FpgaExecutor:
    """A fresh simulation of the shape's compiled core, loaded with `layers` through the
    params port (one compile per shape; the Verilator build is shared wider still)."""
    shape = (layers[0].n_in, *(p.n_out for p in layers))
    if shape not in _COMPILED:
        out = Path(tempfile.mkdtemp(prefix="rtl-prop-"))
        _COMPILED[shape] = RtlBackend().compile(spiking_partition(layers), DEVICE, out)
    overlay, _ = RtlBackend.simulation(_COMPILED[shape])
    return FpgaExecutor(LifCoreDriver(overlay), parameter_image(layers), list(shape[1:]), shape[0])


@settings(max_examples=EXAMPLES, deadline=None)
@given(lif_network(st.sampled_from(SHAPES), saturating=True))
def test_simulated_core_equals_reference(
    case: tuple[list[LifLayerParams], np.ndarray, int],
) -> None:
    layers, spikes, split = case
    reference = ReferenceNetwork(layers)
    want = reference.run(spikes)[0]
    with executor_for(layers) as executor:
        windows = [w for w in (spikes[:split], spikes[split:]) if len(w)]
        got = np.concatenate([executor.run(w) for w in windows])
        np.testing.assert_array_equal(got, want)
        assert_states_equal(executor, reference)


def test_current_leaves_24_bits_as_lava_lets_it(tmp_path: Path) -> None:
    """40 inputs at the largest weights and exponent, no current decay: |a << 6| is about
    2^26 per step, so u grows far past 2^23 through Lava's single correction; checked after
    every step."""
    layer = LifLayerParams(
        weights=np.stack([np.full(40, 254), np.full(40, -256)]),
        weight_exp=7,
        du=0,
        dv=0,
        vth=(1 << 17) - 1,
        bias_mant=np.array([4095, -4096]),
        bias_exp=7,
    )
    spikes = np.ones((12, 1, 40), dtype=bool)
    reference = ReferenceNetwork([layer])
    reference.reset(1)
    backend = RtlBackend()
    with backend.load(backend.compile(spiking_partition([layer]), DEVICE, tmp_path)) as executor:
        for t in range(len(spikes)):
            want = reference.step(spikes[t])[-1]
            np.testing.assert_array_equal(executor.run(spikes[t : t + 1])[0], want)
            assert_states_equal(executor, reference)
    assert np.abs(reference.states[0].u).max() > 16 * STATE_LIMIT


def test_synapse_engine_costs_one_cycle_per_weight_line(tmp_path: Path) -> None:
    """Measured cycles per step, every input spiking: the first spike waits 3 cycles for the
    finder (its scan cycle, its row's address over two) and one to be taken; then a line of
    SYN_LANES weights a cycle, the next row taken at the last line of a row of 4 lines or more
    (a shorter row waits for the finder: 4 cycles a spike); the update waits the synapse
    pipeline's last 5 stages, where a step with no input takes 3 cycles (the finder's empty
    word, its end taken, the update's start). No input costs what hw/README.md says (the
    layer table's fields read once, not every step); a second measure gives the same count."""
    backend = RtlBackend()
    # rows of 4 lines follow each other; rows of 3 wait 1 cycle for the finder
    for n_out, extra in ((4 * SYN_LANES, 0), (5 * SYN_LANES // 2, 1)):
        lines = -(-n_out // SYN_LANES)
        layer = params(np.full((n_out, 10), 2), vth=1000)
        partition = spiking_partition([layer])
        idle = backend.cycles_per_step(partition, DEVICE, 0.0)
        busy = backend.cycles_per_step(partition, DEVICE, 10.0)
        assert busy - idle == 3 + 1 + 9 * (lines + extra) + lines + 5 - 3
    assert backend.cycles_per_step(partition, DEVICE, 0.0) == idle
    # hw/README.md's count: step 1, one input word 3, the layer (one spike word) 2 + 14 +
    # n_out / LIF_LANES, the output words 3 for the first and 2 for each next; the layer's 10
    # fields are read on the core's first step only
    out_words = -(-n_out // 32)
    groups = -(-n_out // LIF_LANES)
    assert idle == 1 + 3 + (2 + 14 + groups) + 3 + 2 * (out_words - 1) + 10 / PROBE_STEPS


def test_build_is_shared_by_every_partition_of_a_capacity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNAPDEPLOY_CACHE", str(tmp_path / "cache"))  # none built yet
    monkeypatch.chdir(tmp_path)  # the first build's sources by a relative path
    first = [params(np.full((3, 2), 2), vth=1)]
    RtlBackend().compile(spiking_partition(first), DEVICE, Path("a"))

    def no_verilator(*args: object) -> None:
        raise AssertionError("Verilator ran for a design it had built before")

    monkeypatch.setattr(rtl_build, "verilate", no_verilator)
    other = [params(np.full((5, 7), -4), vth=9), params(np.full((2, 5), 6), vth=3)]
    compiled = RtlBackend().compile(spiking_partition(other), DEVICE, tmp_path / "b")
    assert (tmp_path / "b" / SOURCES_DIR / rtl_build.LIBRARY).is_file()
    spikes = np.random.default_rng(1).random((9, 2, 7)) < 0.5
    with get_backend("rtl").load(compiled) as executor:
        np.testing.assert_array_equal(executor.run(spikes), ReferenceNetwork(other).run(spikes)[0])
    wider = [params(np.full((3, 100), 2), vth=1)]  # a wider capacity: a design of its own
    with pytest.raises(AssertionError, match="Verilator ran"):
        RtlBackend().compile(spiking_partition(wider), DEVICE, tmp_path / "c")


def test_what_does_not_fit_is_refused(tmp_path: Path) -> None:
    small = RtlDevice(name="fpga", part="up5k", board="icebreaker", neurons=8)
    with pytest.raises(CapacityError, match="9 neurons.*'fpga' holds 8.*fix:"):
        RtlBackend().compile(spiking_partition([params(np.zeros((9, 3)))]), small, tmp_path / "a")
    narrow = RtlDevice(name="fpga", part="up5k", board="icebreaker", neurons=8, weight_bits=4)
    wide = params(np.full((2, 3), 16))  # mantissa 8 needs 5 bits
    with pytest.raises(ParameterRangeError, match="5-bit mantissas.*4-bit weights.*fix:"):
        RtlBackend().compile(spiking_partition([wide]), narrow, tmp_path / "b")
    assert not any(tmp_path.iterdir()), "a refused partition left files"


def test_missing_verilator_is_named_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNAPDEPLOY_VERILATOR", "no-such-verilator")
    rtl_build.verilator_path.cache_clear()
    try:
        with pytest.raises(BackendError, match="Verilator, which is not installed; fix: `apt"):
            rtl_build.verilator_path()
    finally:
        rtl_build.verilator_path.cache_clear()


def test_board_runs_need_a_board_link() -> None:
    from dataclasses import replace

    from snapdeploy.backends import entry

    assert "names no board link; fix: set link =" in entry("rtl").board_problem(DEVICE)
    assert entry("rtl").board_problem(replace(DEVICE, link="simulation")) is None


def test_report_prices_the_measured_cycles_and_says_so(tmp_path: Path) -> None:
    """The report's FPGA cost of an rtl partition: the backend's measured cycles at the
    clock, described as measured (the HLS core's stay an estimate)."""
    from snapdeploy.report.constants import load_constants
    from snapdeploy.report.counts import Work
    from snapdeploy.report.energy import partition_cost

    partition = spiking_partition([params(np.full((6, 10), 2), vth=1000)])
    cycles = RtlBackend().cycles_per_step(partition, DEVICE, 3.0)
    work = Work("p", "spiking", "fpga", "rtl", steps=4, fpga_cycles_per_step=cycles)
    cost = partition_cost(work, DEVICE, load_constants())
    assert cost.latency_ns == pytest.approx(cycles * 4 / DEVICE.clock_mhz * 1e3)
    assert "cycles measured in the core's Verilator simulation" in cost.basis
