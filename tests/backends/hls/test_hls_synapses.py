"""The HLS core's conv, sum-pool and delay synapse engines beyond the conformance suite (which
runs random conv/pool/delay/subtract-reset networks on it against the reference): lava-dl's
tinynet (conv), PilotNet (conv and dense layers, spikes and currents) and N-TIDIGITS (axonal
delays) golden outputs reproduced on the C-simulation, a conv activation driven past 24 bits
and wrapped as Lava's Conv wraps it, kernels and delays held as such in on-chip memory (never
a dense matrix) and loaded at power-on, the estimates counting taps and delay columns, and
what the part cannot hold refused with both numbers."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from snapdeploy.backends import get_backend
from snapdeploy.backends.fpga.driver import LifCoreDriver
from snapdeploy.backends.fpga.executor import FpgaExecutor
from snapdeploy.backends.fpga.params import parameter_image, scatter_kernel
from snapdeploy.backends.hls import SOURCES_DIR, HlsBackend
from snapdeploy.backends.hls.csim import csim_overlay
from snapdeploy.backends.hls.estimate import SYNAPSE_DEPTH, cycles_per_step, layer_cycles
from snapdeploy.backends.hls.layout import core_layout
from snapdeploy.backends.hls.writer import HEADER
from snapdeploy.core.conv import ConvLayerParams, ConvSynapse, PoolSynapse, signed_wrap
from snapdeploy.core.errors import CapacityError, ParameterRangeError
from snapdeploy.core.neuron import LayerState, LifLayerParams, ReferenceNetwork
from snapdeploy.interop.netx import read_netx
from snapdeploy.targets import HlsDevice
from tests.interop.test_netx import (
    FIXTURES,
    PILOTNET,
    PILOTNET_LAYERS,
    RESET_INTERVAL,
    golden,
    stepped_with_resets,
    tinynet,
)
from tests.models import assert_states_equal, spiking_partition

DEVICE = HlsDevice(
    name="fpga", part="xc7z020clg400-1", board="pynq-z2", lif_cores=64, neurons_per_core=64
)


def neurons(n: int, vth: int = 10, reset: str = "zero") -> dict:
    return {"du": 100, "dv": 200, "vth": vth, "bias_mant": np.zeros(n, int), "bias_exp": 0,
            "reset": reset}  # fmt: skip


def conv_pool_delay() -> list[LifLayerParams | ConvLayerParams]:
    """A strided, padded, dilated, grouped conv, a sum pool over it and a delay layer."""
    rng = np.random.default_rng(3)
    conv = ConvSynapse(
        rng.integers(-256, 256, (4, 3, 2, 1)), (7, 6, 2), (2, 1), (1, 1), (1, 2), 2, 1
    )
    pool = PoolSynapse((2, 2), 37, conv.output_shape)
    delays = LifLayerParams(
        2 * rng.integers(-128, 128, (5, pool.n_out)), -1, delays=rng.integers(0, 7, (5, pool.n_out)),
        **neurons(5, reset="subtract"),
    )  # fmt: skip
    return [
        ConvLayerParams(conv, **neurons(conv.n_out)),
        ConvLayerParams(pool, **neurons(pool.n_out, 40, "subtract")),
        delays,
    ]


def open_compiled(layers: list, out: Path) -> FpgaExecutor:
    backend = get_backend("hls")
    return backend.load(backend.compile(spiking_partition(layers), DEVICE, out))


class SteppedCore:
    """An executor seen as the reference network is (`reset`, `step`, `states` whose u and v
    are the core's state buffer, so zeroing them is what lava-dl's Reset process does)."""

    def __init__(self, executor: FpgaExecutor):
        self.executor = executor

    def reset(self, batch: int) -> None:
        self.executor.reset()

    def step(self, spikes: np.ndarray) -> list[np.ndarray]:
        return [self.executor.run(spikes[None])[0]]

    @property
    def states(self) -> list[LayerState]:
        buffer, n = np.asarray(self.executor._state), self.executor.n_neurons
        bounds = np.cumsum([0, *self.executor.layer_sizes])
        return [
            LayerState(buffer[:, lo:hi], buffer[:, n + lo : n + hi], None)
            for lo, hi in itertools.pairwise(bounds)
        ]


def test_tinynet_golden_output_on_the_csim(tmp_path: Path) -> None:
    model, spikes, golden = tinynet()
    layers = [op.params for op in model.graph.ops[1:]]
    with open_compiled(layers, tmp_path) as executor:
        np.testing.assert_array_equal(stepped_with_resets(SteppedCore(executor), spikes), golden)


def test_ntidigits_delay_golden_output_on_the_csim(tmp_path: Path) -> None:
    """lava-dl's N-TIDIGITS delay network (per-neuron axonal delays up to 62 steps), its first
    5 blocks: all 3000 steps of the golden output, one step behind the record as on the
    reference (tests/interop/test_netx.py says why)."""
    model = read_netx(FIXTURES / "ntidigits" / "ntidigits.net", blocks=5)
    data = np.load(FIXTURES / "ntidigits" / "spikes.npz")
    steps = int(data["steps"])
    spikes, golden = (np.unpackbits(data[k], axis=1, count=steps).T for k in ("input", "output"))
    with open_compiled([op.params for op in model.graph.ops[1:]], tmp_path) as executor:
        out = executor.run(spikes[:, None].astype(bool))[:, 0]
    np.testing.assert_array_equal(out[:-1], golden[1:])


@pytest.mark.parametrize(("layer", "feed", "record", "has_u"), PILOTNET_LAYERS)
def test_pilotnet_layers_give_their_golden_spikes_and_currents_on_the_csim(
    layer: str, feed: str, record: str, has_u: bool, tmp_path: Path
) -> None:
    """lava-dl's PilotNet layers fed their predecessors' golden spikes, reset as netx's
    LIFReset does (tests/interop/test_netx.py): their own golden spikes and currents."""
    model = read_netx(PILOTNET / "network.net")
    index = next(i for i, op in enumerate(model.graph.ops) if op.name == layer)
    spikes = golden(feed)[:RESET_INTERVAL, None].astype(bool)
    out, currents = [], []
    with open_compiled([model.graph.ops[index].params], tmp_path) as executor:
        core = SteppedCore(executor)
        for step in range(1, RESET_INTERVAL + 1):
            # (the core holds no state before its first step)
            if step > 1 and step % RESET_INTERVAL == (index + 1) % RESET_INTERVAL:
                core.states[0].u[:] = 0
                core.states[0].v[:] = 0
            out.append(core.step(spikes[step - 1])[0][0])
            currents.append(core.states[0].u[0].copy())
    np.testing.assert_array_equal(np.array(out), golden(record)[:RESET_INTERVAL])
    if has_u:
        np.testing.assert_array_equal(np.array(currents), golden(f"{record}-u")[:RESET_INTERVAL])


def test_conv_activation_wraps_into_24_bits_as_lavas(tmp_path: Path) -> None:
    """32 channels at the largest weight and exponent: 255 * 288 << 7 passes 2^23."""
    conv = ConvSynapse(np.full((1, 3, 3, 32), 255), (3, 3, 32), weight_exp=7)
    layers = [ConvLayerParams(conv, **neurons(1, vth=(1 << 17) - 1))]
    spikes = np.ones((3, 1, conv.n_in), dtype=bool)
    assert not np.array_equal(conv.activation(spikes[0]), conv.sums(spikes[0]))
    reference = ReferenceNetwork(layers)
    reference.reset(1)
    with open_compiled(layers, tmp_path) as executor:
        for t in range(len(spikes)):
            want = reference.step(spikes[t])[-1]
            np.testing.assert_array_equal(executor.run(spikes[t : t + 1])[0], want)
            assert_states_equal(executor, reference)
    assert reference.states[0].a_pending[0, 0] == signed_wrap(np.array(255 * 288 << 7), 24)


def test_kernels_and_delays_are_held_as_such_and_loaded_at_power_on(tmp_path: Path) -> None:
    """The weight memory holds each kernel once (not a dense matrix of the layer), the delay
    memory one delay per synapse; the header's power-on contents run the network."""
    layers = conv_pool_delay()
    conv, pool, delay = layers
    compiled = HlsBackend().compile(spiking_partition(layers), DEVICE, tmp_path)
    header = (tmp_path / SOURCES_DIR / HEADER).read_text()
    kernels = conv.synapse.weights.size + pool.synapse.conv.weights.size
    assert f"constexpr int N_WEIGHTS = {kernels + delay.weights.size};" in header
    assert kernels < conv.n_in * conv.n_out
    assert f"constexpr int N_DELAYS = {delay.delays.size};" in header
    np.testing.assert_array_equal(
        parameter_image(layers)[: 6 * 3 + sum(p.n_out for p in layers)][6:12],
        [0, 100, 200, 40, 0, 1],  # the pool's layer words: its exponent 0, subtract reset
    )
    spikes = np.random.default_rng(4).random((25, 2, conv.n_in)) < 0.3

    class PowerOnDriver(LifCoreDriver):
        def load_params(self, image: np.ndarray) -> None:
            """Keep what the bitstream (here: the library) came up with."""

    depths = [0, 0, delay.delay_depth]
    with FpgaExecutor(
        PowerOnDriver(csim_overlay(compiled, SOURCES_DIR)),
        parameter_image(layers),
        [p.n_out for p in layers],
        conv.n_in,
        depths,
    ) as power_on:
        reference = ReferenceNetwork(layers)
        np.testing.assert_array_equal(power_on.run(spikes), reference.run(spikes)[0])
        assert_states_equal(power_on, reference)
        assert power_on.states()[2].a_pending.shape == (2, 5, delay.delay_depth)


def test_a_conv_layer_wider_than_a_dense_accumulator_bound_runs(tmp_path: Path) -> None:
    """65,536 inputs would overflow a Dense layer's 32-bit sums (fit.MAX_LAYER_INPUTS); a conv's
    are bounded by its kernel, so it compiles and runs (on an Alveo U250: its state does not
    fit a Zynq-7020's block RAM)."""
    conv = ConvSynapse(np.array([[[[254]]]]), (256, 256, 1))
    layers = [ConvLayerParams(conv, **neurons(conv.n_out, vth=1))]
    device = HlsDevice(name="fpga", part="xcu250-figd2104-2L-e", board="alveo-u250",
                       lif_cores=64, neurons_per_core=1024)  # fmt: skip
    spikes = np.random.default_rng(5).random((3, 1, conv.n_in)) < 0.5
    backend = get_backend("hls")
    with backend.load(backend.compile(spiking_partition(layers), device, tmp_path)) as executor:
        np.testing.assert_array_equal(executor.run(spikes), ReferenceNetwork(layers).run(spikes)[0])


def test_scatter_kernel_is_the_flipped_kernel_by_tap_and_input_channel() -> None:
    conv = ConvSynapse(np.arange(4 * 2 * 3 * 1).reshape(4, 2, 3, 1), (5, 5, 2), groups=2)
    layout = scatter_kernel(conv)
    assert layout.shape == (2, 3, 2, 2)  # [kx][ky][C_in][C_out / groups]
    # input channel 1 is group 1: output channels 2 and 3, kernel taps flipped
    assert layout[0, 0, 1].tolist() == [conv.weights[2, 1, 2, 0], conv.weights[3, 1, 2, 0]]


def test_estimates_count_kernel_taps_and_delay_columns() -> None:
    layers = conv_pool_delay()
    layout = core_layout(spiking_partition(layers), DEVICE)
    assert layout.kinds == ["conv", "conv", "delay"]
    # conv: each event visits 3 x 2 taps, each a pass over its group's 2 output channels
    conv_per_event = layer_cycles(layout, 0, 1.0) - layer_cycles(layout, 0, 0.0)
    assert conv_per_event == 3 * 2 * (1 + SYNAPSE_DEPTH)
    # delay: the LIF pass and the clear move every neuron's whole delay line
    depth = layers[2].delay_depth
    assert layer_cycles(layout, 2, 0.0) == 5 * depth + layers[2].n_in + 5 * depth + 12
    assert cycles_per_step(layout, [0.0, 0.0, 0.0]) < cycles_per_step(layout, [5.0, 0.0, 0.0])


def test_memories_beyond_the_parts_block_ram_are_refused_with_both_numbers(
    tmp_path: Path,
) -> None:
    """1200 x 1200 synapses with 63-step delay lines: far past the Zynq-7020's 4.9 Mbit."""
    rng = np.random.default_rng(0)
    n = 1200
    layer = LifLayerParams(
        2 * rng.integers(-4, 4, (n, n)), 0, delays=rng.integers(0, 63, (n, n)), **neurons(n)
    )
    device = HlsDevice(name="fpga", part="xc7z020clg400-1", board="b", lif_cores=64,
                       neurons_per_core=64)  # fmt: skip
    with pytest.raises(CapacityError) as error:
        HlsBackend().compile(spiking_partition([layer]), device, tmp_path / "out")
    message = str(error.value)
    assert re.search(
        r"need \d+ bits \(estimate; the largest, .*\) but the part has 5160960", message
    )
    assert "fix:" in message and not (tmp_path / "out").exists()


def test_kernel_weights_wider_than_the_device_are_refused(tmp_path: Path) -> None:
    conv = ConvSynapse(np.array([[[[255]]], [[[-3]]]]), (2, 2, 1))
    device = HlsDevice(name="fpga", part="p", board="b", lif_cores=8, neurons_per_core=8,
                       weight_bits=4)  # fmt: skip
    with pytest.raises(ParameterRangeError, match="9-bit kernel weights.*5-bit weights.*<= 4"):
        HlsBackend().compile(spiking_partition([ConvLayerParams(conv, **neurons(8))]), device,
                             tmp_path)  # fmt: skip
