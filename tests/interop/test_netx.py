"""lava-dl netx import: lava-dl's own tinynet golden output reproduced exactly from our import,
on the reference and on real Lava processes (tests/fixtures/netx/README.md says how lava-dl
made it); lava-dl's PilotNet golden spikes, currents and voltages layer by layer; small netx files written here for each block kind (flatten order, delays, pool); and
every refusal naming the block; the import command telling netx from NIR by content."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.io.reset import Reset
from lava.proc.io.sink import RingBuffer as SinkBuffer
from lava.proc.io.source import RingBuffer as SourceBuffer
from typer.testing import CliRunner

from snapdeploy.artifact.model import load_model
from snapdeploy.backends import CompiledPartition, get_backend
from snapdeploy.backends.lava.processes import build_network
from snapdeploy.backends.spinnaker import map_network
from snapdeploy.backends.spinnaker.emulator import Emulator
from snapdeploy.backends.spinnaker.mapping import read_board
from snapdeploy.backends.torch_dense import op_module
from snapdeploy.cli import app
from snapdeploy.core.conv import PoolSynapse
from snapdeploy.core.neuron import (
    ReferenceNetwork,
)
from snapdeploy.interop.netx import NetxFormatError, is_netx, read_netx
from snapdeploy.targets import load_target
from tests.models import spiking_partition

FIXTURES = Path(__file__).parents[1] / "fixtures" / "netx"
#: lava-dl's test_tinynet: 17 steps per sample, the network's 3 blocks of latency.
SAMPLE_STEPS, STEPS = 17, 17 + 3


def tinynet() -> tuple:
    model = read_netx(FIXTURES / "tiny.net")
    bias = np.load(FIXTURES / "tinynet_input_bias.npy").astype(int).reshape(1, -1)
    spikes = model.input.spikes(bias, STEPS)
    golden = np.load(FIXTURES / "tinynet_output.npy")[0].transpose([2, 1, 0, 3])[..., 1:]
    return model, spikes, golden.reshape(-1, golden.shape[-1]).T  # [15 steps, 36]


def resets_after(step: int, layer: int) -> bool:
    """lava-dl's Reset(interval=17, offset=layer - 1) of block `layer` (the input is 0) clears
    u and v after time step `step` (from 1)."""
    return (step - 1) % SAMPLE_STEPS == (layer - 1) % SAMPLE_STEPS


def test_tinynet_reads_as_netx_builds_it() -> None:
    model, spikes, golden = tinynet()
    assert model.input.shape == (16, 16, 3) and model.input.neuron.du == 4095
    conv1, conv2 = (op.params for op in model.graph.ops[1:])
    assert conv1.synapse.output_shape == (6, 6, 24) and conv2.synapse.output_shape == (1, 1, 36)
    assert conv1.synapse.stride == (2, 2) and conv1.bias_exp == 6 and conv1.vth == 25
    assert spikes.shape == (STEPS, 1, 768) and spikes.any() and golden.sum() == 92


def stepped_with_resets(network, spikes: np.ndarray) -> np.ndarray:
    """The last layer's spikes of a network stepped as lava-dl's test_tinynet steps it (any
    network with the reference's `reset(batch)`, `step` and `states`), steps 3..17."""
    network.reset(1)
    out = []
    for step in range(1, STEPS + 1):
        out.append(network.step(spikes[step - 1])[-1][0])
        for layer, state in enumerate(network.states, start=1):
            if resets_after(step, layer):
                state.u[:] = 0
                state.v[:] = 0
    return np.array(out)[2:17]


def test_tinynet_golden_output_on_the_reference() -> None:
    model, spikes, golden = tinynet()
    network = ReferenceNetwork([op.params for op in model.graph.ops[1:]])
    np.testing.assert_array_equal(stepped_with_resets(network, spikes), golden)


def test_tinynet_golden_output_on_spinnaker(tmp_path: Path) -> None:
    """Compiled onto a SpiNN-3 board (conv slices over its cores) and loaded from disk; the
    emulator's conv cores scatter their kernels packet by packet or by the fast path alike."""
    model, spikes, golden = tinynet()
    partition = spiking_partition([op.params for op in model.graph.ops[1:]])
    device = load_target("spinn-3").device("board")
    backend = get_backend("spinnaker")
    compiled = backend.compile(partition, device, tmp_path / "spinnaker")
    with backend.load(CompiledPartition.load(compiled.path)) as executor:
        assert compiled.meta["cores_used"] > 3  # the input and two conv layers, sliced
        assert executor.network.fast_path is not None
        np.testing.assert_array_equal(stepped_with_resets(executor.network, spikes), golden)
        assert executor.stats.packets_sent > 0
    layers = partition.layers
    packets = Emulator(read_board(compiled.path, device), layers, packet_level=True)
    np.testing.assert_array_equal(stepped_with_resets(packets, spikes), golden)


def test_tinynet_golden_output_on_real_lava() -> None:
    """Our imported integers as the Lava backend's processes, reset as lava-dl's test does."""
    model, spikes, golden = tinynet()
    ops = model.graph.spiking_ops()
    chain = build_network([op.name for op in ops], [op.params for op in ops])
    source = SourceBuffer(data=spikes[:, 0].T.astype(np.int32))
    first = chain[0].synapse.s_in
    source.s_out.reshape(first.shape).connect(first)
    sink = SinkBuffer(shape=(36,), buffer=STEPS)
    chain[-1].lif.s_out.connect(sink.a_in)
    for layer, processes in enumerate(chain, start=1):
        for var in (processes.lif.u, processes.lif.v):
            Reset(interval=SAMPLE_STEPS, offset=layer - 1).connect_var(var)
    try:
        sink.run(condition=RunSteps(num_steps=STEPS), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        out = sink.data.get().T != 0
    finally:
        sink.stop()
    np.testing.assert_array_equal(out[2:17], golden)


# ---------------------------------------------------------------- small netx files


def block(f: h5py.File, index: int, kind: str, shape: tuple[int, ...], **data) -> h5py.Group:
    """One netx block as slayer's `export_hdf5` writes it (shape (C, H, W), a CUBA neuron)."""
    group = f.create_group(f"layer/{index}")
    group.create_dataset("type", (1,), "S10", [kind.encode("ascii")])
    group.create_dataset("shape", data=np.array(shape))
    neuron = data.pop("neuron", {"type": b"CUBA", "iDecay": 1024, "vDecay": 128, "vThMant": 80})
    for key, value in neuron.items():
        group.create_dataset(f"neuron/{key}", data=value)
    for key, value in data.items():
        group.create_dataset(key, data=value)
    return group


def netx_file(path: Path, blocks: list[tuple[str, tuple[int, ...], dict]]) -> Path:
    with h5py.File(path, "w") as f:
        f.create_dataset("simulation/tSample", data=9)
        f.create_dataset("simulation/Ts", data=1)
        for index, (kind, shape, data) in enumerate(blocks):
            block(f, index, kind, shape, **data)
    return path


def test_dense_after_flatten_reads_netxs_channel_first_order(tmp_path: Path) -> None:
    # input (C, H, W) = (2, 3, 4); one output neuron sees netx's flat input c=1, y=2, x=3
    weight = np.zeros((1, 24))
    weight[0, 1 * 12 + 2 * 4 + 3] = 3  # odd: doubled, with weight_exp -1
    path = netx_file(
        tmp_path / "d.net",
        [("input", (2, 3, 4), {}), ("flatten", (24,), {}),
         ("dense", (1,), {"weight": weight, "delay": np.array([5.0]), "bias": np.array([7])})],
    )  # fmt: skip
    model = read_netx(path)
    assert model.graph.steps == 9 and model.input.neuron.vth == 80
    dense = model.graph.ops[1].params
    ours = np.zeros((4, 3, 2))  # (x, y, channel)
    ours[3, 2, 1] = 6
    np.testing.assert_array_equal(dense.weights, ours.reshape(1, -1))
    assert dense.weight_exp == -1 and dense.du == 1023 and dense.bias_mant.tolist() == [7]
    assert dense.delays.shape == (1, 24) and set(dense.delays.ravel()) == {5}


def test_a_pool_block_becomes_slayers_sum_pool(tmp_path: Path) -> None:
    path = netx_file(
        tmp_path / "p.net",
        [("input", (3, 4, 6), {}),
         ("pool", (3, 2, 3), {"weight": np.full((1, 1, 2, 2), 5.0), "kernelSize": [2, 2]})],
    )  # fmt: skip
    pool = read_netx(path).graph.ops[1].params
    assert pool.synapse == PoolSynapse((2, 2), 5, (6, 4, 3))
    assert pool.kinds == {"pool"}


REFUSALS = [
    ([("input", (4,), {}), ("concat", (2,), {})], "'concat' block, which has no layer here"),
    ([("input", (4,), {}), ("average", (2,), {})], "the average block 'average1' has no layer"),
    ([("input", (4,), {}),
      ("dense", (2,), {"weight": np.ones((2, 4)), "neuron": {"type": b"SDNN", "vThMant": 1}})],
     "block 'dense1' has a SDNN neuron"),
    ([("input", (4,), {}),
      ("pool", (2,), {"weight": np.arange(4.0).reshape(1, 1, 2, 2), "kernelSize": [2, 2]})],
     "pool block 'pool1' has 4 different weights"),
    ([("input", (4,), {}), ("dense", (2,), {"weight": np.ones((2, 5))})],
     "dense block 'dense1' takes 5 inputs but the block before it emits 4"),
    ([("input", (4,), {}), ("dense", (2,), {"weight": np.full((2, 4), 201)})],
     "beyond Loihi's 8 bits"),
    ([("input", (4,), {}), ("dense", (2,), {})], "block 'dense1' lacks .*weight"),
]  # fmt: skip


@pytest.mark.parametrize(("blocks", "message"), REFUSALS)
def test_what_no_layer_here_runs_is_refused_by_name(tmp_path: Path, blocks, message) -> None:
    with pytest.raises(NetxFormatError, match=message):
        read_netx(netx_file(tmp_path / "bad.net", blocks))


def test_a_file_that_is_not_netx_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("node", data=1)
    assert not is_netx(other)
    with pytest.raises(NetxFormatError, match="is not a lava-dl netx network"):
        read_netx(other)


def test_the_import_command_tells_netx_by_content_and_writes_its_layers(tmp_path: Path) -> None:
    source = tmp_path / "renamed.nir"  # the suffix says NIR; the content says netx
    source.write_bytes((FIXTURES / "tiny.net").read_bytes())
    result = CliRunner().invoke(app, ["import", str(source), "-o", str(tmp_path / "t.snap")])
    assert result.exit_code == 0, result.output
    assert "2 spiking layers, conv1 (conv), conv2 (conv)" in " ".join(result.output.split())
    graph, artifact = load_model(tmp_path / "t.snap")
    assert artifact.manifest["netx_input"]["neuron"] == {"du": 4095, "dv": 1024, "vth": 25}
    model, spikes, _ = tinynet()
    reloaded = ReferenceNetwork([op.params for op in graph.ops[1:]]).run(spikes)[0]
    np.testing.assert_array_equal(
        reloaded, ReferenceNetwork([op.params for op in model.graph.ops[1:]]).run(spikes)[0]
    )


# ---------------------------------------------------------------- PilotNet's golden layers

PILOTNET = FIXTURES / "pilotnet_lif"
#: (our layer, the golden spikes feeding it, its own golden record, whether u is recorded)
PILOTNET_LAYERS = [
    ("conv5", "conv-3", "conv-4", False),
    ("dense7", "conv-4", "fc-0", True),
    ("dense8", "fc-0", "fc-1", True),
    ("dense9", "fc-1", "fc-2", True),
]
#: lava-dl's PilotNet test resets every 16 steps; its golden records agree for one interval.
RESET_INTERVAL = 16


def golden(name: str) -> np.ndarray:
    """A golden record [t, n] with n in our (x, y, channel) order (it is stored (x, y, c, t))."""
    data = np.load(PILOTNET / f"{name}.npy")
    return data.reshape(-1, data.shape[-1]).T


def network_on(kind: str, layers: list):
    """Layers as the reference runs them, or mapped onto a SpiNN-5 board and emulated (conv5's
    kernel does not fit one core's DTCM: its slices take fewer channels each); both have the
    reference's `reset(batch)`, `step`, `advance` and `states`."""
    if kind == "reference":
        return ReferenceNetwork(layers)
    names = [f"layer{i}" for i in range(len(layers))]
    mapping = map_network(names, layers, load_target("spinn-5").device("board"), "test")
    return Emulator(mapping.board(), layers)


@pytest.mark.parametrize("kind", ["reference", "spinnaker"])
@pytest.mark.parametrize(("layer", "feed", "record", "has_u"), PILOTNET_LAYERS)
def test_pilotnet_layers_reproduce_their_golden_records(
    layer: str, feed: str, record: str, has_u: bool, kind: str
) -> None:
    """Each layer fed its predecessor's golden spikes gives its own golden spikes and current
    (and voltage, but where a neuron spiked: there the trace writes 128, Lava's LIF 0, and the
    next step's voltages agree), with netx's LIFReset: block i after the input clears u, v when t % 16 == i + 1.
    This checks conv, netx's flatten order and the dense weights against lava-dl's data."""
    model = read_netx(PILOTNET / "network.net")
    index = next(i for i, op in enumerate(model.graph.ops) if op.name == layer)
    network = network_on(kind, [model.graph.ops[index].params])
    spikes = golden(feed)[:RESET_INTERVAL, None].astype(bool)
    network.reset(1)
    out, currents, voltages = [], [], []
    for step in range(1, RESET_INTERVAL + 1):
        if step % RESET_INTERVAL == (index + 1) % RESET_INTERVAL:
            network.states[0].u[:] = 0
            network.states[0].v[:] = 0
        out.append(network.step(spikes[step - 1])[0][0])
        currents.append(network.states[0].u[0].copy())
        voltages.append(network.states[0].v[0].copy())
    np.testing.assert_array_equal(np.array(out), golden(record)[:RESET_INTERVAL])
    if has_u:
        np.testing.assert_array_equal(np.array(currents), golden(f"{record}-u")[:RESET_INTERVAL])
    if record == "fc-0":  # where a neuron spiked the trace writes 128, where Lava's LIF holds 0
        spiked = np.array(out)
        traced = golden("fc-0-v")[:RESET_INTERVAL]
        assert set(traced[spiked].tolist()) == {128}
        np.testing.assert_array_equal(np.where(spiked, 0, voltages), np.where(spiked, 0, traced))


@pytest.mark.parametrize("kind", ["reference", "spinnaker"])
def test_ntidigits_axonal_delays_reproduce_the_whole_golden_output(kind: str) -> None:
    """lava-dl's delay network (dense blocks with per-neuron delays up to 62 steps), its first
    5 blocks as netx's test runs them: all 3000 steps of the golden output, shifted by the one
    step the golden record leads ours by (lava-dl's own test compares a single step)."""
    model = read_netx(FIXTURES / "ntidigits" / "ntidigits.net", blocks=5)
    assert [sorted(op.params.kinds) for op in model.graph.ops[1:]] == [
        ["delay", "dense"], ["delay", "dense"], ["dense"],
    ]  # fmt: skip
    assert model.graph.ops[1].params.delays.max() == 62
    data = np.load(FIXTURES / "ntidigits" / "spikes.npz")
    steps = int(data["steps"])
    spikes, golden = (np.unpackbits(data[k], axis=1, count=steps).T for k in ("input", "output"))
    network = network_on(kind, [op.params for op in model.graph.ops[1:]])
    network.reset(1)
    out = network.advance(spikes[:, None].astype(bool))[-1][:, 0]
    assert golden.sum() == 22572
    np.testing.assert_array_equal(out[:-1], golden[1:])


def slayer_average(spikes: np.ndarray, outputs: int) -> np.ndarray:
    """lava-dl slayer's `AbstractAverage.forward` on spikes [T, C] (its x is [N, C, T])."""
    x = torch.from_numpy(spikes.T[None].astype(np.float32))
    return torch.mean(x.reshape((1, outputs, -1, x.shape[-1])), dim=2)[0].numpy()  # [outputs, T]


def readout(ops: tuple, spikes: np.ndarray) -> np.ndarray:
    """The decoder and dense ops after the spiking layers, as the torch backend runs them."""
    h = torch.from_numpy(spikes[:, None].astype(np.float32))
    with torch.no_grad():
        for op in ops:
            h = op_module(op)(h)
    return h[0].numpy()


def test_the_ntidigits_average_readout_is_slayers_average_summed_over_the_run() -> None:
    """The whole network: its average block (242 spiking neurons in 11 groups of 22) reads
    the golden output spikes as slayer's Average does, summed over all 3000 steps."""
    model = read_netx(FIXTURES / "ntidigits" / "ntidigits.net")
    assert [op.name for op in model.graph.ops] == [
        "input", "dense2", "dense3", "dense4", "average5_counts", "average5",
    ]  # fmt: skip
    data = np.load(FIXTURES / "ntidigits" / "spikes.npz")
    golden = np.unpackbits(data["output"], axis=1, count=int(data["steps"])).T
    got = readout(model.graph.ops[4:], golden)
    np.testing.assert_allclose(got, slayer_average(golden, 11).sum(1), rtol=1e-6)
    assert got.min() > 0  # every group spikes: the comparison covers all 11


def test_an_average_over_images_groups_slayers_channel_first_order(tmp_path: Path) -> None:
    """Over a (C, H, W) = (3, 2, 4) image slayer's groups are channels (its flat order is
    channel first); ours is (x, y, channel), so the readout's columns follow it."""
    path = netx_file(
        tmp_path / "a.net",
        [("input", (3, 2, 4), {}),
         ("pool", (3, 2, 4), {"weight": np.full((1, 1, 1, 1), 2.0), "kernelSize": [1, 1]}),
         ("average", (3, 1, 1), {})],
    )  # fmt: skip
    ops = read_netx(path).graph.ops
    spikes = np.random.default_rng(0).random((9, 24)) < 0.5  # ours: (x, y, channel)
    slayers = spikes.reshape(9, 4, 2, 3).transpose(0, 3, 2, 1).reshape(9, 24)  # (C, H, W)
    np.testing.assert_allclose(readout(ops[2:], spikes), slayer_average(slayers, 3).sum(1),
                               rtol=1e-6)  # fmt: skip


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        ([("average", (5, 1, 1), {})], "'average5' has 5 outputs for 24 inputs"),
        ([("average", (3, 1, 1), {}), ("pool", (3, 2, 4), {"weight": np.ones((1, 1, 1, 1))})],
         "block 'pool6' follows the average readout 'average5'"),
    ],
)  # fmt: skip
def test_an_average_block_that_cannot_be_read_is_refused(tmp_path: Path, blocks, message):
    pool = ("pool", (3, 2, 4), {"weight": np.full((1, 1, 1, 1), 2.0), "kernelSize": [1, 1]})
    layers = [("input", (3, 2, 4), {}), pool, pool, pool, pool, *blocks]
    with pytest.raises(NetxFormatError, match=message):
        read_netx(netx_file(tmp_path / "bad.net", layers))


def test_the_import_command_reads_the_first_blocks_when_asked(tmp_path: Path) -> None:
    source = FIXTURES / "ntidigits" / "ntidigits.net"
    whole = CliRunner().invoke(app, ["import", str(source), "-o", str(tmp_path / "a.snap")])
    assert whole.exit_code == 0, whole.output
    graph, _ = load_model(tmp_path / "a.snap")
    assert [op.name for op in graph.ops][-2:] == ["average5_counts", "average5"]
    args = ["import", str(source), "-o", str(tmp_path / "n.snap"), "--blocks", "5"]
    assert CliRunner().invoke(app, args).exit_code == 0
    refused = CliRunner().invoke(app, [*args, "--reset", "subtract"])
    assert refused.exit_code == 1 and "reset to zero" in " ".join(refused.output.split())
    graph, _ = load_model(tmp_path / "n.snap")
    assert [op.name for op in graph.ops] == ["input", "dense2", "dense3", "dense4"]
