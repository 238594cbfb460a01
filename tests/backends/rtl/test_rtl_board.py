"""The board top (lif_board.v: the core, on-chip buffers, a UART byte protocol) simulated in
Verilator behind a pipe, as the ULX3S holds it (block RAM buffers) and as the iCEBreaker does
(the UP5K's SPRAM, through our model of the primitive, whose power-on contents are not zero):
the shared PYNQ driver runs either through the board's link host code bit-exact with the
reference, the SPRAM's upper 64 KB included, a run beyond a board's buffer memory is refused
with both sizes, and a link that drops is a named error, not a hang."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapdeploy.backends.fpga.driver import LifCoreDriver
from snapdeploy.backends.fpga.executor import FpgaExecutor
from snapdeploy.backends.fpga.link import NAK, BoardLink, BoardLinkLost
from snapdeploy.backends.fpga.params import parameter_image
from snapdeploy.backends.fpga.regmap import STEPS
from snapdeploy.backends.rtl.backend import SOURCES_DIR, RtlBackend
from snapdeploy.backends.rtl.board_sim import board_simulation
from snapdeploy.core.errors import CapacityError
from snapdeploy.core.neuron import LifLayerParams, ReferenceNetwork
from snapdeploy.targets.spec import RtlDevice
from tests.models import assert_states_equal, spiking_partition
from tests.strategies import lif_network, params

DEVICE = RtlDevice(name="fpga", part="lfe5u-85f", board="ulx3s", neurons=512)
ICEBREAKER = RtlDevice(name="fpga", part="up5k", board="icebreaker", neurons=512)
EXAMPLES = 4  # each starts a board simulation; the core itself is tested wider elsewhere
SHAPES = [(5, 3), (33, 31), (12, 40, 7)]
#: The iCEBreaker's buffer memory: 16K 64-bit words of SPRAM.
SPRAM_BYTES = 16384 * 8

_COMPILED: dict[tuple[str, tuple[int, ...]], Path] = {}


def board_for(
    layers: list[LifLayerParams], device: RtlDevice = DEVICE, skip_bytes: int = 0
) -> FpgaExecutor:
    """The shape's partition compiled for `device` on a fresh simulation of its board top,
    loaded with `layers`; its buffers placed after the first `skip_bytes` of the board's
    buffer memory (never written: the board holds whatever it powered up with there)."""
    shape = (layers[0].n_in, *(p.n_out for p in layers))
    key = (device.part, shape)
    if key not in _COMPILED:
        out = Path(tempfile.mkdtemp(prefix="rtl-board-"))
        compiled = RtlBackend().compile(spiking_partition(layers), device, out)
        _COMPILED[key] = compiled.path / SOURCES_DIR
    overlay = board_simulation(_COMPILED[key])
    if skip_bytes:
        overlay.device.default_memory.allocate((skip_bytes // 4,), np.uint32)
    return FpgaExecutor(LifCoreDriver(overlay), parameter_image(layers), list(shape[1:]), shape[0])


@pytest.mark.parametrize("device", [DEVICE, ICEBREAKER], ids=lambda d: d.board)
@settings(max_examples=EXAMPLES, deadline=None)
@given(case=lif_network(st.sampled_from(SHAPES), saturating=True))
def test_board_top_runs_the_driver_bit_exact(
    device: RtlDevice, case: tuple[list[LifLayerParams], np.ndarray, int]
) -> None:
    layers, spikes, split = case
    reference = ReferenceNetwork(layers)
    want = reference.run(spikes)[0]
    with board_for(layers, device) as executor:
        windows = [w for w in (spikes[:split], spikes[split:]) if len(w)]
        got = np.concatenate([executor.run(w) for w in windows])
        np.testing.assert_array_equal(got, want)
        assert_states_equal(executor, reference)


def test_the_icebreaker_runs_from_the_upper_half_of_its_spram() -> None:
    """Parameters, state and spike frames all above the first 64 KB (the ULX3S's whole
    buffer memory), where a 64 KB memory would wrap onto the unwritten lower half."""
    layers = [params(2 * np.arange(-12, 12).reshape(4, 6), vth=5), params(np.full((3, 4), 6))]
    spikes = np.random.default_rng(3).random((6, 2, 6)) < 0.5
    reference = ReferenceNetwork(layers)
    with board_for(layers, ICEBREAKER, skip_bytes=SPRAM_BYTES // 2) as executor:
        assert executor._state is None  # allocated at the first run, above the skipped half
        np.testing.assert_array_equal(executor.run(spikes), reference.run(spikes)[0])
        assert_states_equal(executor, reference)
        assert executor.driver.overlay.device.default_memory.used > SPRAM_BYTES // 2


def test_a_run_beyond_the_spram_is_refused_with_both_sizes() -> None:
    layers = [params(np.full((3, 5), 2), vth=3)]
    with (
        board_for(layers, ICEBREAKER) as executor,
        pytest.raises(
            CapacityError,
            match=rf"a 163840-byte buffer .* does not fit the board's buffer memory \(\d+ of "
            rf"its {SPRAM_BYTES} bytes free.*fix: run fewer steps or batch items per call",
        ),
    ):
        executor.run(np.zeros((1024, 40, 5), dtype=bool))  # 163840 bytes of frames in


def test_a_dropped_link_is_named_not_a_hang() -> None:
    executor = board_for([params(np.full((3, 5), 2), vth=3)])
    link = executor.driver.overlay.device.link
    assert link.read_register(STEPS) == 0  # the driver's last pass was the parameter load
    link.stream.process.kill()
    link.stream.process.wait()
    with pytest.raises(
        BoardLinkLost, match=r"link to lif_board_sim \(pid \d+\) (closed|refused).*fix:"
    ):
        executor.run(np.ones((2, 1, 5), dtype=bool))
    executor.close()


def test_an_unknown_command_is_refused_by_the_board() -> None:
    executor = board_for([params(np.full((3, 5), 2), vth=3)])
    link: BoardLink = executor.driver.overlay.device.link
    link._send(0x7F, 0, 0)
    assert link.stream.read(1, 5.0)[0] == NAK
    link.write_register(STEPS, 7)  # the protocol is in step after the refusal
    assert link.read_register(STEPS) == 7
    executor.close()
