"""The Zynq top (lif_zynq_top.v: the core behind lif_axi4_master.v, its AXI4 master) in
Verilator behind an AXI4 slave memory that stalls at random and checks the protocol: the
shared PYNQ driver runs it, through the rtl backend of a PYNQ-Z2 device, as real Lava ran the
12 fixture networks and bit-exact with the reference (Dense layers, either reset, split runs,
every layer's state), at any latency, and its bursts amortize that latency where single beats
pay it; a read or write answered SLVERR, or a misaligned buffer, is a named error and the
next pass starts clean, as it does after data in the bridge's line buffer changed; the top's
ports are the ones Vivado's packager infers and its bus status registers are the driver's."""

from __future__ import annotations

import re
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapdeploy.backends.fpga import regmap
from snapdeploy.backends.fpga.driver import LifCoreDriver, MemoryBusError
from snapdeploy.backends.fpga.executor import FpgaExecutor
from snapdeploy.backends.fpga.params import parameter_image
from snapdeploy.backends.rtl.backend import RtlBackend
from snapdeploy.backends.rtl.sim import ZynqCore
from snapdeploy.backends.rtl.writer import CORE_DIR, ZYNQ_TOP
from snapdeploy.core.neuron import LifLayerParams, ReferenceNetwork
from snapdeploy.targets.spec import RtlDevice
from tests.models import (
    LAVA_FIXTURES,
    assert_runs_as_real_lava_did,
    assert_states_equal,
    spiking_partition,
)
from tests.strategies import lif_network, params

DEVICE = RtlDevice(name="fpga", part="xc7z020", board="pynq-z2", neurons=256)
EXAMPLES = 8
#: Shapes within one capacity class (one Verilator build): width 1, word edges, 3 layers.
SHAPES = [(1, 1), (5, 3), (33, 31), (32, 33, 2), (40, 20, 7)]

_COMPILED: dict[tuple[int, ...], object] = {}


def simulation(layers: list[LifLayerParams]) -> tuple[Any, ZynqCore]:
    """The emulated overlay of a fresh simulation of the shape's compiled Zynq top."""
    shape = (layers[0].n_in, *(p.n_out for p in layers))
    if shape not in _COMPILED:
        out = Path(tempfile.mkdtemp(prefix="rtl-zynq-"))
        _COMPILED[shape] = RtlBackend().compile(spiking_partition(layers), DEVICE, out)
    overlay, core = RtlBackend.simulation(_COMPILED[shape])
    assert isinstance(core, ZynqCore)
    return overlay, core


def zynq_for(layers: list[LifLayerParams]) -> tuple[FpgaExecutor, ZynqCore]:
    """That simulation behind the driver, loaded with `layers`."""
    overlay, core = simulation(layers)
    n_out = [p.n_out for p in layers]
    return FpgaExecutor(
        LifCoreDriver(overlay), parameter_image(layers), n_out, layers[0].n_in
    ), core


@st.composite
def network_either_reset(draw):
    layers, spikes, split = draw(lif_network(st.sampled_from(SHAPES), saturating=True))
    resets = st.sampled_from(["zero", "subtract"])
    return [replace(p, reset=draw(resets)) for p in layers], spikes, split


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    network_either_reset(),
    st.integers(0, 2**32 - 1),
    st.sampled_from([0, 30, 70]),
    st.sampled_from([0, 1, 17]),
)
def test_zynq_top_equals_reference_under_random_stalls(
    case: tuple[list[LifLayerParams], np.ndarray, int], seed: int, percent: int, latency: int
) -> None:
    layers, spikes, split = case
    reference = ReferenceNetwork(layers)
    want = reference.run(spikes)[0]
    executor, core = zynq_for(layers)
    core.stalls(seed, percent)  # the parameter load ran unstalled; the runs stall
    core.latency(latency)
    with executor:
        windows = [w for w in (spikes[:split], spikes[split:]) if len(w)]
        got = np.concatenate([executor.run(w) for w in windows])
        np.testing.assert_array_equal(got, want)
        assert_states_equal(executor, reference)


@pytest.mark.parametrize("fixture", LAVA_FIXTURES, ids=[f.stem for f in LAVA_FIXTURES])
def test_zynq_top_runs_as_real_lava_did_under_stalls(fixture: Path) -> None:
    """The 12 networks real Lava ran (output spikes, every layer's final u and v), through
    the AXI4 master with the slave stalling 30% of the time and answering 3 cycles late."""

    def stalled(layers: list[LifLayerParams]) -> FpgaExecutor:
        executor, core = zynq_for(layers)
        core.stalls(LAVA_FIXTURES.index(fixture), 30)
        core.latency(3)
        return executor

    assert_runs_as_real_lava_did(fixture, stalled)


@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
def test_a_bus_error_is_named_and_the_next_pass_starts_clean(write: bool) -> None:
    layers = [params(np.full((20, 40), 2), vth=3), params(np.full((5, 20), -2), vth=1)]
    spikes = np.random.default_rng(4).random((6, 2, 40)) < 0.4
    executor, core = zynq_for(layers)
    core.stalls(11, 30)
    core.fail(write, 7)
    kind = "a write" if write else "a read"
    with executor:
        with pytest.raises(MemoryBusError, match=rf"{kind} \(first at 0x[0-9a-f]+, SLVERR"):
            executor.run(spikes)
        # the status is cleared by the next ap_start: a fresh window from reset is exact again
        executor.reset()
        reference = ReferenceNetwork(layers)
        np.testing.assert_array_equal(executor.run(spikes), reference.run(spikes)[0])
        assert_states_equal(executor, reference)


def test_a_pass_never_reads_what_the_last_pass_left_in_the_line() -> None:
    """New weights written in place into the same params buffer (the bridge's line still holds
    the old image's words after the first load) are the ones the core loads."""
    old, new = [params(np.zeros((3, 2), dtype=np.int64), vth=1)], [params(np.full((3, 2), 254))]
    params_buffers: dict[tuple[int, ...], Any] = {}

    class InPlaceDriver(LifCoreDriver):
        def allocate(self, shape: tuple[int, ...], dtype: Any) -> Any:
            if np.dtype(dtype) != np.int32:  # only the params image's buffer is reused
                return super().allocate(shape, dtype)
            if shape not in params_buffers:
                params_buffers[shape] = super().allocate(shape, dtype)
            return params_buffers[shape]

    overlay, _ = simulation(old)
    spikes = np.ones((4, 1, 2), dtype=bool)
    with FpgaExecutor(InPlaceDriver(overlay), parameter_image(old), [3], 2) as executor:
        executor.driver.load_params(parameter_image(new))
        np.testing.assert_array_equal(executor.run(spikes), ReferenceNetwork(new).run(spikes)[0])


def test_bursts_amortize_the_latency_that_single_beats_pay() -> None:
    """At a 40-cycle memory latency the parameter load (4-byte reads, burst into the line)
    pays a fraction of it per word; the state (8-byte single beats) pays all of it."""
    latency, sizes = 40, [20, 7]
    layers = [params(np.full((20, 40), 2), vth=9), params(np.full((7, 20), -2), vth=1)]
    overlay, core = simulation(layers)
    core.latency(latency)
    driver = LifCoreDriver(overlay)
    image = parameter_image(layers)
    driver.load_params(image)
    assert core.cycles[-1] / len(image) < latency / 5
    state = driver.allocate((1, 3 * sum(sizes)), np.int64)
    frames_in = driver.allocate((1, 1, 2), np.uint32)
    frames_out = driver.allocate((1, 1, 1), np.uint32)
    driver.run(frames_in[:, :0], frames_out[:, :0], state)  # state in and out, no step
    assert core.cycles[-1] / state.size / 2 > latency


def test_a_misaligned_buffer_is_named_and_never_reaches_the_bus() -> None:
    """A host that hands the core a state pointer 4 bytes off its 8-byte words: the bridge
    answers those requests itself, reading nothing and writing nothing there."""

    class MisalignedState(LifCoreDriver):
        def _set_pointer(self, offset: int, buffer: Any) -> None:
            super()._set_pointer(offset, buffer)
            if offset == regmap.STATE:
                self.ip.write(offset, (int(buffer.device_address) + 4) & 0xFFFF_FFFF)

    layers = [params(np.full((3, 4), 2), vth=3)]
    overlay, _ = simulation(layers)
    with FpgaExecutor(MisalignedState(overlay), parameter_image(layers), [3], 4) as executor:
        with pytest.raises(MemoryBusError, match="a misaligned request .*no error response"):
            executor.run(np.ones((2, 1, 4), dtype=bool))
        executor._state.invalidate()  # the device side: nothing was written there
        assert not np.asarray(executor._state).any()


def test_the_bus_error_names_the_failing_address() -> None:
    """The first failed write is the first output frame's word: its buffer's address."""
    layers = [params(np.full((3, 4), 2), vth=3)]
    executor, core = zynq_for(layers)
    with executor:
        executor.run(np.zeros((1, 1, 4), dtype=bool))  # allocates the frame buffers
        frames_out = executor._frames[(1, 1)][1]
        core.fail(True, 0)
        with pytest.raises(MemoryBusError) as raised:
            executor.run(np.zeros((1, 1, 4), dtype=bool))
    assert raised.value.address == frames_out.device_address
    assert raised.value.status & regmap.BUS_WRITE_ERROR


def test_the_top_has_the_ports_vivado_infers_and_the_drivers_status_registers() -> None:
    source = (CORE_DIR / ZYNQ_TOP).read_text()
    port = re.compile(r"^\s*(?:input|output) wire (\[[^\]]+\] )?(\w+),?$", re.MULTILINE)
    ports = {name: width.strip() for width, name in port.findall(source)}
    assert {"ap_clk", "ap_rst_n", "interrupt"} <= set(ports)
    assert all(re.match(r"ap_|interrupt$|s_axi_control_|m_axi_gmem_", p) for p in ports)
    lite = ["AWADDR", "AWVALID", "WDATA", "WSTRB", "BRESP", "ARADDR", "RDATA", "RRESP"]
    assert {f"s_axi_control_{s}" for s in lite} <= set(ports)
    for channel, signals in {
        "AW": ["ADDR", "LEN", "SIZE", "BURST", "VALID", "READY"],
        "W": ["DATA", "STRB", "LAST", "VALID", "READY"],
        "B": ["RESP", "VALID", "READY"],
        "AR": ["ADDR", "LEN", "SIZE", "BURST", "VALID", "READY"],
        "R": ["DATA", "RESP", "LAST", "VALID", "READY"],
    }.items():
        assert {f"m_axi_gmem_{channel}{s}" for s in signals} <= set(ports)
    assert ports["m_axi_gmem_AWLEN"] == "[7:0]"  # AXI4's 8-bit burst length
    assert ports["m_axi_gmem_WDATA"] == "[63:0]"
    status = int(re.search(r"REG_BUS_STATUS = 'h([0-9a-f]+);", source).group(1), 16)
    address = int(re.search(r"REG_BUS_ADDR = 'h([0-9a-f]+);", source).group(1), 16)
    assert (status, address) == (regmap.BUS_STATUS, regmap.BUS_ADDR)
    assert regmap.BUS_STATUS > max(regmap.as_dict()[k] for k in ("steps", "batch", "load"))
