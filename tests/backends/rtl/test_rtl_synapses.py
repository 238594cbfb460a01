"""The RTL core's conv, sum-pool and delay synapse engines beyond the conformance suite (which
runs random conv/pool/delay/subtract-reset networks on it against the reference): lava-dl's
tinynet golden output reproduced in the Verilator simulation, a strided, padded, dilated,
grouped conv with a pool and a delay layer run from its power-on memories, a conv activation
driven past 24 bits and wrapped as Lava's Conv wraps it, kernels held once (never a dense
matrix), the reciprocals the conv engine divides by exact, a conv spike's cycles exactly as
hw/README.md counts them, and what the part cannot hold refused with both numbers."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from snapdeploy.backends.fpga.driver import LifCoreDriver
from snapdeploy.backends.fpga.executor import FpgaExecutor
from snapdeploy.backends.fpga.params import parameter_image
from snapdeploy.backends.rtl.backend import SOURCES_DIR, RtlBackend
from snapdeploy.backends.rtl.board_sim import board_simulation
from snapdeploy.backends.rtl.layout import PART_LIF_LANES, PART_SYN_LANES, reciprocal, rtl_layout
from snapdeploy.backends.rtl.writer import DATA_FILES
from snapdeploy.core.conv import ConvLayerParams, ConvSynapse, signed_wrap
from snapdeploy.core.errors import CapacityError
from snapdeploy.core.neuron import LifLayerParams, ReferenceNetwork
from snapdeploy.targets.spec import RtlDevice
from tests.backends.hls.test_hls_synapses import SteppedCore, conv_pool_delay, neurons
from tests.interop.test_netx import stepped_with_resets, tinynet
from tests.models import assert_states_equal, spiking_partition

DEVICE = RtlDevice(name="fpga", part="lfe5u-85f", board="ulx3s", neurons=1024)


def open_compiled(layers: list, out: Path) -> FpgaExecutor:
    """One simulated core (SteppedCore zeroes u and v in that core's own state buffer)."""
    backend = RtlBackend(sim_threads=1)
    return backend.load(backend.compile(spiking_partition(layers), DEVICE, out))


def test_tinynet_golden_output_in_the_simulation(tmp_path: Path) -> None:
    model, spikes, golden = tinynet()
    layers = [op.params for op in model.graph.ops[1:]]
    with open_compiled(layers, tmp_path) as executor:
        np.testing.assert_array_equal(stepped_with_resets(SteppedCore(executor), spikes), golden)


def test_conv_pool_and_delays_run_from_the_power_on_memories(tmp_path: Path) -> None:
    """The layer table and the weight, kernel and delay memories as written for synthesis
    (the board top's $readmemh files) run the network with no parameter load; the weight
    memory holds each kernel once, a row per tap and input channel."""
    layers = conv_pool_delay()
    conv, pool, delay = layers
    compiled = RtlBackend().compile(spiking_partition(layers), DEVICE, tmp_path)
    layout = rtl_layout(spiking_partition(layers), DEVICE)
    kernel_rows = [3 * 2 * 2, 2 * 2 * pool.synapse.input_shape[2]]  # taps x input channels
    assert [layer.rows for layer in layout.layers] == [*kernel_rows, pool.n_out]
    assert layout.n_lines == sum(kernel_rows) + pool.n_out  # every row fits one line
    weights = (tmp_path / SOURCES_DIR / DATA_FILES["weights"][0]).read_text().split()
    assert sum(int(line, 16) != 0 for line in weights) <= layout.n_lines < conv.n_in * conv.n_out
    spikes = np.random.default_rng(4).random((25, 2, conv.n_in)) < 0.3

    class PowerOnDriver(LifCoreDriver):
        def load_params(self, image: np.ndarray) -> None:
            """Keep what the bitstream came up with: here, nothing was loaded."""

    overlay = board_simulation(compiled.path / SOURCES_DIR)
    with FpgaExecutor(
        PowerOnDriver(overlay),
        parameter_image(layers),
        [p.n_out for p in layers],
        conv.n_in,
        [0, 0, delay.delay_depth],
    ) as power_on:
        reference = ReferenceNetwork(layers)
        np.testing.assert_array_equal(power_on.run(spikes), reference.run(spikes)[0])
        assert_states_equal(power_on, reference)


def test_an_up5k_core_runs_lean_with_its_two_synapse_lanes(tmp_path: Path) -> None:
    """The UP5K's core is laid out and built lean with PART_SYN_LANES (2 weights a cycle) and
    one LIF lane (PART_LIF_LANES): its header says so, a row of 40 Dense weights takes 20
    lines, and conv (runs of a group's
    channels starting anywhere in a line), sum pool, delay lines and Dense rows spanning
    lines all equal the reference, states too."""
    up5k = RtlDevice(name="fpga", part="up5k", board="icebreaker", neurons=256)
    rng = np.random.default_rng(5)
    dense = LifLayerParams(
        2 * rng.integers(-128, 128, (40, 5)), 0, **neurons(40, vth=30, reset="subtract")
    )
    for index, layers in enumerate([conv_pool_delay(), [dense]]):
        partition = spiking_partition(layers)
        compiled = RtlBackend().compile(partition, up5k, tmp_path / str(index))
        header = (compiled.path / SOURCES_DIR / "lif_params.vh").read_text()
        assert "`define SNAP_SYN_LANES 2" in header and "`define SNAP_LEAN 1" in header
        assert "`define SNAP_LIF_LANES 1" in header
        layout = rtl_layout(partition, up5k)
        assert layout.lanes == PART_SYN_LANES["up5k"] == 2 and layout.lean
        assert layout.lif_lanes == PART_LIF_LANES["up5k"] == 1
        spikes = rng.random((12, 2, layers[0].n_in)) < 0.3
        reference = ReferenceNetwork(layers)
        with RtlBackend().load(compiled) as executor:
            got = np.concatenate([executor.run(spikes[:5]), executor.run(spikes[5:])])
            np.testing.assert_array_equal(got, reference.run(spikes)[0])
            assert_states_equal(executor, reference)
    assert layout.layers[0].stride == 20


def test_conv_activation_wraps_into_24_bits_as_lavas(tmp_path: Path) -> None:
    """32 channels at the largest weight and exponent: 255 * 288 << 7 passes 2^23."""
    conv = ConvSynapse(np.full((1, 3, 3, 32), 255), (3, 3, 32), weight_exp=7)
    layers = [ConvLayerParams(conv, **neurons(1, vth=(1 << 17) - 1))]
    spikes = np.ones((3, 1, conv.n_in), dtype=bool)
    reference = ReferenceNetwork(layers)
    reference.reset(1)
    with open_compiled(layers, tmp_path) as executor:
        for t in range(len(spikes)):
            want = reference.step(spikes[t])[-1]
            np.testing.assert_array_equal(executor.run(spikes[t : t + 1])[0], want)
            assert_states_equal(executor, reference)
    assert reference.states[0].a_pending[0, 0] == signed_wrap(np.array(255 * 288 << 7), 24)
    assert reference.states[0].a_pending[0, 0] != 255 * 288 << 7


@pytest.mark.parametrize("bits", [7, 11, 14])
def test_reciprocals_divide_every_numerator_exactly(bits: int) -> None:
    numerators = np.arange(1 << bits, dtype=np.int64)
    for divisor in [*range(1, 70), 97, 255, 256, 1000, (1 << bits) - 1]:
        multiplier, shift = reciprocal(divisor, bits)
        assert multiplier < 1 << (bits + 1)
        np.testing.assert_array_equal((numerators * multiplier) >> shift, numerators // divisor)


def test_a_conv_spike_costs_its_divisions_its_taps_and_its_rows() -> None:
    """3 x 3 kernel, padding 1, over a 3 x 3 image of 32 channels (the capacity class of the
    test above, so its build): every input spiking, each costs the cycle it is taken in, 20
    for its coordinates (five divisions of 4 cycles), a cycle per tap and one to end, and each
    of the 49 taps per channel that land two (address and one weight line); the first waits a
    cycle for the finder, which finds the rest (and steps the 9 spike words) while the taps
    run; the update then waits 2 more cycles for the synapse pipeline's last write. A step
    with no input spends 10 cycles on the scan (the finder's 9 words, its end taken)."""
    conv = ConvSynapse(np.full((1, 3, 3, 32), 2), (3, 3, 32), padding=(1, 1))
    layer = ConvLayerParams(conv, **neurons(conv.n_out, vth=100_000))
    partition = spiking_partition([layer])
    backend = RtlBackend()
    idle = backend.cycles_per_step(partition, DEVICE, 0.0)
    busy = backend.cycles_per_step(partition, DEVICE, float(conv.n_in))
    assert busy - idle == 1 + 288 * (1 + 20 + 9 + 1) + 32 * 49 * (1 + 1) + 1 + 2 - 10


def test_memories_beyond_the_parts_block_ram_are_refused_with_both_numbers(
    tmp_path: Path,
) -> None:
    """300 neurons with 63-step delay lines: 32768 pending activations do not fit an UP5K."""
    rng = np.random.default_rng(0)
    n = 300
    layer = LifLayerParams(
        2 * rng.integers(-4, 4, (n, 4)), 0, delays=rng.integers(0, 63, (n, 4)), **neurons(n)
    )
    layer.delays[0, 0] = 62
    device = RtlDevice(name="fpga", part="up5k", board="icebreaker", neurons=n)
    with pytest.raises(CapacityError) as error:
        RtlBackend().compile(spiking_partition([layer]), device, tmp_path / "out")
    message = str(error.value)
    assert re.search(r"need \d+ bits \(estimate, .*the largest, pending activations, 851968\)",
                     message)  # fmt: skip
    assert "but the part has 122880 bits" in message and "fix:" in message
    assert not (tmp_path / "out").exists()
