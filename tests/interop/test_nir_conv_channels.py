"""Convolutional NIR graphs whose input is spikes of multi-channel images (a DVS camera's two
polarities): the user feeds NIR's (C, H, W) order, the first layer stays a conv, and the
spike source reorders the input channels-last where it enters (`nn.image_source`), on every
path: the float import, the exported .snap on the reference and the SpiNNaker emulator, the
CLI, and .snap -> NIR -> .snap.

The network is snnTorch's N-MNIST CSNN (2 x 34 x 34 event frames; AvgPool2d for the tutorial's
MaxPool2d, which NIR lacks): Conv2d(2, 8, 5) + AvgPool2d(2) + Leaky, Conv2d(8, 16, 5) +
AvgPool2d(2) + Leaky, Flatten + Linear(400, 10) + Leaky, exported with `export_to_nir`, set up
as in test_nir_conv.py (no biases, per-neuron beta and threshold tensors, weights x4).
"""

from __future__ import annotations

import dataclasses
import json

import nir
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

snn = pytest.importorskip("snntorch")
from snntorch.export_nir import export_to_nir

from snapdeploy.artifact.format import read_artifact, write_artifact
from snapdeploy.artifact.model import load_model, save_model
from snapdeploy.cli import app
from snapdeploy.compile import compile_graph
from snapdeploy.core.conv import ConvSynapse
from snapdeploy.core.errors import InconsistentArtifactError, ModelStructureError
from snapdeploy.core.graph import SpikeSourceOp
from snapdeploy.core.neuron import ReferenceNetwork
from snapdeploy.interop import read_netx, read_nir
from snapdeploy.interop.conv_runs import channels_last_order
from snapdeploy.interop.reader import SUBTRACT_NOTE
from snapdeploy.nn import SpikingConv, SpikingLinear
from snapdeploy.nn.image_source import ImageSpikeSource
from snapdeploy.partition.place import spiking_on
from snapdeploy.quant.export import export_model
from snapdeploy.runtime import Deployment
from snapdeploy.targets import load_target
from tests.interop import snntorch_csnn
from tests.interop.snntorch_csnn import agreement, snntorch_spikes
from tests.interop.test_netx_writer import netx_graph
from tests.models import neuron_spikes

T, BATCH = 25, 8
IMAGE = (2, 34, 34)
N_IN = 2 * 34 * 34
SHAPES = ((8, 15, 15), (16, 5, 5), (10,))
STEPS = T + 3  # one delayed step per layer (snnTorch writes no Delay)


def csnn(reset: str) -> torch.nn.Sequential:
    return snntorch_csnn.csnn(2, (5, 5), SHAPES, reset)


def nir_graph(reset: str) -> nir.NIRGraph:
    return export_to_nir(csnn(reset), torch.zeros(1, *IMAGE), ignore_dims=[0])


def padded(x: np.ndarray) -> np.ndarray:
    """Spikes [batch, T, n] followed by zeros up to the model's steps."""
    zeros = np.zeros((len(x), STEPS - x.shape[1], x.shape[2]), bool)
    return np.concatenate([x.astype(bool), zeros], axis=1)


def channels_last(x: np.ndarray) -> np.ndarray:
    """NIR-ordered flat images [..., C*H*W] in our (H, W, C) order: done here with numpy,
    apart from the module under test."""
    return x[..., channels_last_order(IMAGE)]


def reference_counts(graph, x: np.ndarray) -> np.ndarray:
    """The integer reference's output counts for NIR-ordered spikes x [batch, steps, n]."""
    runs = ReferenceNetwork([op.params for op in graph.spiking_ops()])
    return runs.run(channels_last(x).transpose(1, 0, 2))[-1].sum(0)


@pytest.fixture(scope="module")
def inputs() -> torch.Tensor:
    """Event frames [batch, T, 2, 34, 34], NIR's (and snnTorch's) layout."""
    return (torch.rand(BATCH, T, *IMAGE, generator=torch.Generator().manual_seed(1)) < 0.3).float()


def compare(source_reset: str, import_reset: str, x: torch.Tensor) -> dict[str, list[float]]:
    """snnTorch's spikes against ours, both fed x in NIR's order: the float import, and the
    integer reference fed what the exported spike source hands on; each of our layers is read
    one step later per layer (our synapse delays)."""
    theirs = snntorch_spikes(csnn(source_reset), x)
    imported = read_nir(nir_graph(source_reset), steps=T, spike_input=True, reset=import_reset)
    stages = imported.net.stages()
    assert [type(s) for s in stages] == [ImageSpikeSource, SpikingConv, SpikingConv, SpikingLinear]
    assert stages[0].channels_first == IMAGE
    assert imported.notes == ([SUBTRACT_NOTE] if import_reset == "subtract" else [])
    graph = export_model(imported.net)
    assert graph.ops[0].channels_first == IMAGE
    ops = graph.spiking_ops()
    assert [type(op.params.synapse) for op in ops[:2]] == [ConvSynapse, ConvSynapse]
    assert ops[0].params.synapse.input_shape == (34, 34, 2)  # a conv over (x, y, channel)
    feed = torch.from_numpy(padded(x.reshape(BATCH, T, -1).numpy())).float()
    entering = stages[0](feed).numpy().astype(bool)
    ints = ReferenceNetwork([op.params for op in ops]).run(entering, True)
    floats = [s.numpy().astype(bool) for s in neuron_spikes(imported.net, feed)]
    figures = agreement(theirs, ints, floats, SHAPES, T)
    print(f"2-channel CSNN, snnTorch {source_reset}, --reset {import_reset}: {figures}")
    return figures


def test_zero_reset_two_channel_csnn_equals_snntorch_up_to_integer_rounding(inputs):
    """The float import equals snnTorch on every spike, so the reorder is right; the integer
    weights' rounding leaves most positions equal (measured 0.999, 0.984, 0.934: the last
    layer's 400-wide sums drift more than the single-channel test's 256-wide ones)."""
    figures = compare("zero", "zero", inputs)
    assert figures["float_equal"] == [1.0, 1.0, 1.0]
    assert min(figures["equal"][:2]) >= 0.95 and figures["equal"][2] >= 0.9


def test_subtract_reset_two_channel_csnn_is_near_snntorch_and_nearer_than_zero(inputs):
    subtract = compare("subtract", "subtract", inputs)
    zero = compare("subtract", "zero", inputs)
    assert min(subtract["equal"]) >= 0.8
    miss = lambda f: [abs(o - t) / t for o, t in zip(f["ours"], f["theirs"])]
    assert all(s < z for s, z in zip(miss(subtract), miss(zero)))


def test_without_the_reorder_the_first_layer_would_not_match(inputs):
    """The check above can fail: the same conv fed NIR's order as if it were channels-last
    (what a plain spike source would hand on) misses many of snnTorch's first-layer spikes."""
    theirs = snntorch_spikes(csnn("zero"), inputs)[0][..., channels_last_order(SHAPES[0])]
    imported = read_nir(nir_graph("zero"), steps=T, spike_input=True)
    conv = imported.net.stages()[1]
    unordered = torch.from_numpy(padded(inputs.reshape(BATCH, T, -1).numpy())).float()
    with torch.no_grad():
        got = conv(unordered.transpose(0, 1)).numpy().astype(bool)[1 : 1 + T]
    assert (got == theirs).mean() < 0.9


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    """The CSNN imported by the CLI as a .snap; NIR-ordered event input [N, STEPS, n]."""
    root = tmp_path_factory.mktemp("csnn2")
    nir.write(root / "csnn.nir", nir_graph("zero"))
    args = ["import", root / "csnn.nir", "-o", root / "csnn.snap", "--steps", T, "--spike-input"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "(2, 34, 34)" in result.output and "reorders them channels-last" in result.output
    x = padded(np.random.default_rng(0).random((3, T, N_IN)) < 0.3)
    np.save(root / "x.npy", x.astype(np.float32))
    return root / "csnn.snap", root


def test_the_artifact_records_the_channel_first_input(snap):
    graph, artifact = load_model(snap[0])
    assert artifact.manifest["graph"]["ops"][0]["channels_first"] == [2, 34, 34]
    assert graph.ops[0] == SpikeSourceOp("0", N_IN, STEPS, IMAGE)
    assert [sorted(op.params.kinds) for op in graph.spiking_ops()] == [
        ["conv"],
        ["conv"],
        ["dense"],
    ]


@pytest.mark.parametrize("device", ["ref", "manycore"])
def test_deployed_on_a_backend_it_takes_nir_order(snap, device, tmp_path):
    """Compiled for the emulator target (the spike source on torch, the layers on the integer
    reference or the SpiNNaker emulator) and fed NIR-ordered events, the output counts equal
    the reference's fed the same events reordered with numpy."""
    graph, _ = load_model(snap[0])
    x = np.load(snap[1] / "x.npy")
    build, _ = compile_graph(graph, load_target("emulator"), tmp_path / "b", spiking_on(device))
    with Deployment.load(build) as deployment:
        outputs = deployment.run(x, progress=False).outputs
    expected = reference_counts(graph, x)
    assert expected.sum() > 10, "the test needs output spikes"
    np.testing.assert_array_equal(outputs, expected)


def test_snapdeploy_run_takes_nir_order(snap, tmp_path):
    path, root = snap
    runner = CliRunner()
    args = ["compile", path, "--target", "emulator", "-o", tmp_path / "build"]
    assert runner.invoke(app, [str(a) for a in args]).exit_code == 0
    args = ["run", tmp_path / "build", "--inputs", root / "x.npy", "-o", tmp_path / "out"]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    graph, _ = load_model(path)
    expected = reference_counts(graph, np.load(root / "x.npy"))
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "outputs.npy"), expected)


def test_snap_to_nir_and_back_keeps_the_order(snap, tmp_path):
    """.snap -> NIR: the Input is the (C, H, W) image; read back, the model again takes NIR's
    order, and on the same events its outputs equal the first import's."""
    path, root = snap
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(path), "-o", str(tmp_path / "out.nir")])
    assert result.exit_code == 0, result.output
    written = nir.read(tmp_path / "out.nir")
    assert written.nodes["input"].input_type["input"].tolist() == [2, 34, 34]
    again = tmp_path / "again.snap"
    args = ["import", tmp_path / "out.nir", "-o", again, "--steps", STEPS, "--spike-input"]
    assert runner.invoke(app, [str(a) for a in args]).exit_code == 0
    (first, _), (back, _) = load_model(path), load_model(again)
    assert back.ops[0].channels_first == IMAGE
    x = np.load(root / "x.npy")
    assert reference_counts(first, x).sum() > 10
    np.testing.assert_array_equal(reference_counts(back, x), reference_counts(first, x))


@pytest.mark.parametrize(
    "dims", [[2, 34, 35], [2, 34], [0, 34, 68], [2.0, 34, 34], "2x34x34", [True, 34, 68]]
)
def test_a_malformed_channels_first_is_refused_by_name(snap, tmp_path, dims):
    """A record whose channels_first is not the (C, H, W) of the source's n inputs is refused
    when read, naming the field; so is such an op built in code."""
    artifact = read_artifact(snap[0])
    manifest = json.loads(json.dumps(artifact.manifest))
    manifest["graph"]["ops"][0]["channels_first"] = dims
    bad = tmp_path / "bad.snap"
    write_artifact(bad, manifest, artifact.tensors)
    with pytest.raises(InconsistentArtifactError, match="'channels_first'.*2312"):
        load_model(bad)
    with pytest.raises(ModelStructureError, match="channels_first.*fix"):
        SpikeSourceOp("source", N_IN, STEPS, (2, 34, 35))


def test_a_netx_export_says_it_takes_channels_last(tmp_path):
    """netx has no reorder: the export of a graph whose source takes (C, H, W) images says its
    network takes them channels-last; read back (a plain spike source), its layers give the
    .snap's layers' outputs on the same channels-last spikes."""
    graph = netx_graph(0)  # conv over (8, 6, 2) -> sum pool -> dense with delays
    source = SpikeSourceOp("input", 96, graph.steps, (2, 8, 6))
    graph = dataclasses.replace(graph, ops=(source, *graph.ops[1:]))
    path = save_model(tmp_path / "m.snap", graph, {})
    out = tmp_path / "m.net"
    result = CliRunner().invoke(app, ["export", str(path), "-o", str(out), "--format", "netx"])
    assert result.exit_code == 0, result.output
    assert "channels-last" in " ".join(result.output.split())
    back = read_netx(out).graph
    assert back.ops[0].channels_first is None
    x = np.random.default_rng(0).random((graph.steps, 4, 96)) < 0.4  # channels-last images
    runs = [ReferenceNetwork([op.params for op in g.spiking_ops()]) for g in (graph, back)]
    counts = [run.run(x)[-1].sum(0) for run in runs]
    assert counts[0].sum() > 0
    np.testing.assert_array_equal(counts[1], counts[0])
