"""Convolutional NIR graphs: Conv2d and pooling runs between neuron layers become spiking conv
and pool layers (`interop/conv_runs.py`), checked against snnTorch 1.0.0's own CSNN.

snnTorch's CSNN as its tutorials build it, with AvgPool2d for their MaxPool2d (NIR has no max
pooling): Conv2d(1, 8, 5) + AvgPool2d(2) + Leaky, Conv2d(8, 16, 5) + AvgPool2d(2) + Leaky,
Flatten + Linear(256, 10) + Leaky, exported with `export_to_nir` (per-neuron beta and
threshold tensors: with scalars snnTorch writes shapeless LIF nodes that fail NIR's own type
check) and fed the same spikes. Biases are off: snnTorch writes no Delay, so each of our
layers runs one step behind (our synapse delay), and a bias would act one step before its
input arrives. Weights are scaled by 4 so that every layer spikes.
"""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

snn = pytest.importorskip("snntorch")
from snntorch.export_nir import export_to_nir

from snapdeploy.artifact.model import load_model
from snapdeploy.cli import app
from snapdeploy.core.conv import ConvLayerParams, ConvSynapse
from snapdeploy.core.neuron import ReferenceNetwork
from snapdeploy.interop import read_netx, read_nir, to_nir, write_nir
from snapdeploy.interop.conv_runs import channels_last_order
from snapdeploy.interop.dequantize import hybrid_from_graph
from snapdeploy.interop.reader import SUBTRACT_NOTE
from snapdeploy.nn import (
    HybridNet,
    SpikeDecoder,
    SpikeSource,
    SpikingBlock,
    SpikingConv,
    SpikingLinear,
)
from snapdeploy.nn.image_encoder import ImageSpikeEncoder
from snapdeploy.nn.image_source import ImageSpikeSource
from snapdeploy.quant.export import export_model
from tests.interop import snntorch_csnn
from tests.interop.snntorch_csnn import agreement, snntorch_spikes
from tests.models import assert_same_nets, neuron_spikes, randomized

T, BATCH = 25, 8
SHAPES = ((8, 12, 12), (16, 4, 4), (10,))


def csnn(reset: str) -> torch.nn.Sequential:
    return snntorch_csnn.csnn(1, (5, 5), SHAPES, reset)


@pytest.fixture(scope="module")
def inputs() -> torch.Tensor:
    return (
        torch.rand(BATCH, T, 1, 28, 28, generator=torch.Generator().manual_seed(1)) < 0.3
    ).float()


def compare(source_reset: str, import_reset: str, x: torch.Tensor) -> dict[str, list[float]]:
    """snnTorch's spikes against ours (float import and integer reference), layer by layer,
    each of our layers read one step later per layer (our synapse delays)."""
    net = csnn(source_reset)
    theirs = snntorch_spikes(net, x)
    graph = export_to_nir(net, torch.zeros(1, 1, 28, 28), ignore_dims=[0])
    imported = read_nir(graph, steps=T, spike_input=True, reset=import_reset)
    assert [type(s) for s in imported.net.stages()[1:]] == [SpikingConv, SpikingConv, SpikingLinear]
    assert imported.notes == ([SUBTRACT_NOTE] if import_reset == "subtract" else [])
    assert imported.net.steps == T + 3
    ops = export_model(imported.net).spiking_ops()
    assert all(op.params.reset == import_reset for op in ops)
    assert [type(op.params.synapse) for op in ops[:2]] == [ConvSynapse, ConvSynapse]
    assert type(imported.net.stages()[0]) is SpikeSource  # one channel: the orders agree
    flat = x.reshape(BATCH, T, -1).numpy()
    padded = np.concatenate([flat, np.zeros((BATCH, 3, flat.shape[2]))], axis=1).astype(bool)
    ints = ReferenceNetwork([op.params for op in ops]).run(padded.transpose(1, 0, 2), True)
    floats = [
        s.numpy().astype(bool)
        for s in neuron_spikes(imported.net, torch.from_numpy(padded).float())
    ]
    figures = agreement(theirs, ints, floats, SHAPES, T)
    print(f"snnTorch {source_reset} reset, imported with --reset {import_reset}: {figures}")
    return figures


def test_zero_reset_csnn_equals_snntorch_up_to_integer_rounding(inputs):
    """The mapping is exact (the float import equals snnTorch on every spike); the integer
    weights' rounding leaves a high fraction of equal spike positions."""
    figures = compare("zero", "zero", inputs)
    assert figures["float_equal"] == [1.0, 1.0, 1.0]
    assert min(figures["equal"]) >= 0.95


def test_subtract_reset_csnn_is_near_snntorch_and_nearer_than_zero(inputs):
    """snnTorch subtracts the threshold after the next step's decay (mem = beta mem + I -
    s[t-1] thr), our neuron at the spike, before it (so it subtracts beta thr in effect): the
    two differ for beta < 1 even in float, so positions agree less than with zero reset. Still,
    --reset subtract brings the spike counts far nearer snnTorch's than reset to zero does."""
    subtract = compare("subtract", "subtract", inputs)
    zero = compare("subtract", "zero", inputs)
    assert min(subtract["equal"]) >= 0.8
    miss = lambda f: [abs(o - t) / t for o, t in zip(f["ours"], f["theirs"])]
    assert all(s < z for s, z in zip(miss(subtract), miss(zero)))
    assert max(miss(subtract)) < 0.15


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_cli_import_writes_conv_layers_with_the_reset(tmp_path, reset):
    path, out = tmp_path / "csnn.nir", tmp_path / "csnn.snap"
    nir.write(path, export_to_nir(csnn("zero"), torch.zeros(1, 1, 28, 28), ignore_dims=[0]))
    args = ["import", str(path), "-o", str(out), "--steps", "5", "--spike-input", "--reset", reset]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "reorders" not in result.output  # one channel: NIR's order is ours
    graph, artifact = load_model(out)
    assert [sorted(op.params.kinds) for op in graph.spiking_ops()] == [
        sorted({kind, "subtract_reset"} if reset == "subtract" else {kind})
        for kind in ("conv", "conv", "dense")
    ]
    assert artifact.manifest["source"]["reset"] == reset


def test_an_encoder_feeding_a_multichannel_conv_keeps_it_a_conv():
    """With data input the first neuron layer is the encoder, whose input comes from the dense
    side in NIR's (C, H, W) order: an `ImageSpikeEncoder` hands its spikes on channels-last,
    so the conv after it stays a conv (tests/interop/test_nir_image_encoder.py: results)."""
    graph = export_to_nir(csnn("zero"), torch.zeros(1, 1, 28, 28), ignore_dims=[0])
    imported = read_nir(graph, steps=5, reset="subtract")
    stages = imported.net.stages()
    assert [type(s) for s in stages][-3:] == [ImageSpikeEncoder, SpikingConv, SpikingLinear]
    assert len(imported.notes) == 2 and imported.notes[1] == SUBTRACT_NOTE
    assert "encoder, which resets to zero" in imported.notes[0]


@settings(max_examples=12, deadline=None)
@given(
    c_in=st.sampled_from([1, 2, 4]),
    groups=st.sampled_from([1, 2]),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    padding=st.tuples(st.integers(0, 1), st.integers(0, 1)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    pool=st.sampled_from([None, "sum", "avg"]),
    pool_kernel=st.tuples(st.integers(1, 2), st.integers(1, 3)),
    pool_alone=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_conv_and_pool_runs_compute_what_the_nir_nodes_do(
    c_in, groups, kernel, stride, padding, dilation, pool, pool_kernel, pool_alone, seed
):
    """The SpikingConv a Conv2d (+ pool) or a pool alone becomes gives NIR's (torch's)
    values on channels-last images, for any geometry; a pool folded in keeps its stride."""
    if c_in % groups:
        groups = 1
    rng = np.random.default_rng(seed)
    weight = rng.normal(size=(4, c_in // groups, *kernel))
    conv = nir.Conv2d(
        input_shape=np.array([9, 8]), weight=weight, stride=np.array(stride),
        padding=np.array(padding), dilation=np.array(dilation), groups=groups, bias=np.zeros(4),
    )  # fmt: skip
    torch_run = [torch.nn.Conv2d(c_in, 4, kernel, stride, padding, dilation, groups, bias=False)]
    with torch.no_grad():
        torch_run[0].weight.copy_(torch.from_numpy(weight))
    nodes = [("conv", conv)]
    if pool and pool_alone:
        nodes, torch_run = [], []
    if pool:
        pool_node = (nir.SumPool2d if pool == "sum" else nir.AvgPool2d)(
            kernel_size=np.array(pool_kernel), stride=np.array(pool_kernel), padding=np.zeros(2)
        )
        nodes.append(("pool", pool_node))
        torch_run.append(
            torch.nn.AvgPool2d(pool_kernel, divisor_override=1 if pool == "sum" else None)
        )
    try:
        with torch.no_grad():
            out = torch.nn.Sequential(*torch_run)(torch.zeros(1, c_in, 9, 8)).shape[1:]
    except RuntimeError:  # torch's pool refuses a geometry that leaves no output
        assume(False)
    assume(min(out) >= 1)
    lif = nir.LIF(tau=np.full(out, 2e-4), r=np.full(out, 2.0), v_leak=np.zeros(out),
                  v_threshold=np.ones(out), v_reset=np.zeros(out))  # fmt: skip
    graph = nir.NIRGraph.from_list(*[n for _, n in nodes], lif, type_check=False)
    graph.nodes["input"] = nir.Input(input_type=np.array([c_in, 9, 8]))
    imported = read_nir(graph, steps=3, spike_input=True)
    (layer,) = [s for s in imported.net.stages() if isinstance(s, SpikingConv)]
    x = torch.from_numpy(rng.random((5, c_in, 9, 8)))
    with torch.no_grad():
        want = torch.nn.Sequential(*torch_run).double()(x).reshape(5, -1)
        want = want[:, channels_last_order(tuple(out))]
        ours = x.reshape(5, -1)[:, channels_last_order((c_in, 9, 8))].reshape(5, 9, 8, c_in)
        got = layer.synapse.double()(ours.permute(0, 3, 1, 2)).permute(0, 2, 3, 1).reshape(5, -1)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)  # float32 weights


def test_an_imported_conv_layer_runs_on_real_lava_as_on_the_reference(inputs):
    """The first CSNN layer (a 5x5 conv with a 2x2 average pool folded in, 784 -> 1152) on
    Lava's own Conv and LIF processes equals the reference, spikes and final state."""
    pytest.importorskip("lava")
    from tests.lava_oracle import assert_reference_runs_as_lava

    graph = export_to_nir(csnn("zero"), torch.zeros(1, 1, 28, 28), ignore_dims=[0])
    imported = read_nir(graph, steps=T, spike_input=True)
    params = export_model(imported.net).spiking_ops()[0].params
    assert isinstance(params, ConvLayerParams) and params.synapse.stride == (2, 2)
    spikes = inputs[0].reshape(T, -1).numpy().astype(bool)
    assert_reference_runs_as_lava(params, spikes)


def conv_net(seed: int) -> HybridNet:
    """Spike input -> conv -> sum pool (a constant depthwise conv) -> dense, decoded."""
    net = HybridNet(
        SpikeSource(8 * 6 * 2, 6),
        SpikingBlock(
            SpikingConv((8, 6, 2), 4, 3, stride=(1, 2), padding=1, dilation=(2, 1), du=0.5, dv=0.1),
            SpikingConv((6, 3, 4), 4, (2, 3), stride=(2, 3), groups=4, dv=0.2),
            SpikingLinear(3 * 1 * 4, 5, dv=0.3),
        ),
        SpikeDecoder(5, 6),
        input_shape=(6, 96),
        steps=6,
    )
    net = randomized(net, seed)
    with torch.no_grad():
        net[1][1].synapse.weight.fill_(0.75)
    return net


@pytest.mark.parametrize("seed", [0, 1])
def test_a_conv_net_round_trips_through_a_nir_file_exactly(tmp_path, seed):
    net = conv_net(seed)
    graph = to_nir(net)
    kinds = [type(node).__name__ for node in graph.nodes.values()]
    assert kinds.count("Conv2d") == 2 and "Flatten" in kinds
    assert graph.nodes["input"].input_type["input"].tolist() == [2, 8, 6]
    back = read_nir(write_nir(graph, tmp_path / "conv.nir"), steps=6, spike_input=True)
    assert back.delayed_layers == [] and back.notes == []
    # NIR's Input is the image (C, H, W): read back, the net takes it so, reordering it itself
    source = back.net.stages()[0]
    assert isinstance(source, ImageSpikeSource) and source.channels_first == (2, 8, 6)
    rest = lambda model: HybridNet(*model.stages()[1:], input_shape=(6, 96), steps=6)
    assert_same_nets(rest(back.net), rest(net))
    x = (torch.rand(3, 6, 96, generator=torch.Generator().manual_seed(seed)) < 0.4).float()
    nir_order = x.reshape(3, 6, 8, 6, 2).permute(0, 1, 4, 2, 3).reshape(3, 6, 96)
    with torch.no_grad():
        assert torch.equal(back.net(nir_order), net(x))


def test_an_imported_conv_snap_exports_to_nir_and_back(tmp_path):
    """CSNN: .snap (integers) -> NIR -> .snap keeps its conv layers; a subtract-reset one is
    refused (NIR cannot say the reset)."""
    source, snap = tmp_path / "csnn.nir", tmp_path / "csnn.snap"
    nir.write(source, export_to_nir(csnn("zero"), torch.zeros(1, 1, 28, 28), ignore_dims=[0]))
    runner = CliRunner()
    for reset, code in (("subtract", 1), ("zero", 0)):
        args = ["import", str(source), "-o", str(snap), "--steps", "5", "--spike-input"]
        assert runner.invoke(app, [*args, "--reset", reset]).exit_code == 0
        result = runner.invoke(app, ["export", str(snap), "-o", str(tmp_path / "out.nir")])
        assert result.exit_code == code, result.output
        assert ("resets by subtraction" in " ".join(result.output.split())) == (code == 1)
    again = tmp_path / "again.snap"
    args = ["import", str(tmp_path / "out.nir"), "-o", str(again), "--steps", "8", "--spike-input"]
    assert runner.invoke(app, args).exit_code == 0
    graph, _ = load_model(again)
    assert [sorted(op.params.kinds) for op in graph.spiking_ops()] == [
        ["conv"],
        ["conv"],
        ["dense"],
    ]


def test_a_lava_dl_netx_network_converts_to_nir(tmp_path):
    """lava-dl's tiny.net (two strided 5x5 convs) -> .snap -> NIR -> .snap: NIR has no integer
    form, so the float graph is re-quantized at its own scale (vth 25 -> thousands); the
    decays' rounding then moves a few spikes, no more."""
    fixtures = Path(__file__).parents[1] / "fixtures" / "netx"
    original = read_netx(fixtures / "tiny.net").graph
    path = write_nir(to_nir(hybrid_from_graph(original)), tmp_path / "tiny.nir")
    back = export_model(read_nir(path, steps=original.steps, spike_input=True).net)
    assert [op.params.kinds for op in back.spiking_ops()] == [{"conv"}, {"conv"}]
    x = np.random.default_rng(0).random((20, 4, original.ops[0].n)) < 0.2
    runs = [ReferenceNetwork([op.params for op in g.spiking_ops()]).run(x, True)
            for g in (original, back)]  # fmt: skip
    equal = [float((a == b).mean()) for a, b in zip(*runs)]
    print(f"tiny.net via NIR: fraction of equal spike positions per layer {equal}")
    assert runs[0][1].sum() > 100 and min(equal) >= 0.99
