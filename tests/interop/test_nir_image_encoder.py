"""Convolutional NIR graphs with data input: the encoder of a multi-channel image hands its
spikes on channels-last (`nn.image_encoder`), so the conv layer after it stays a conv instead
of being folded into one dense matrix; on every path: the float import, the .snap on the
reference and the SpiNNaker emulator, and .snap -> NIR -> .snap.

The network is an RGB CSNN as snnTorch's CIFAR-10 tutorials build it, small: 3 x 16 x 16
images; Conv2d(3, 8, 5) + AvgPool2d(2) + Leaky (the dense side and the encoder), Conv2d(8, 16,
3) + AvgPool2d(2) + Leaky, Flatten + Linear(64, 10) + Leaky, exported with `export_to_nir`
(per-neuron beta and threshold tensors and no biases, as in test_nir_conv.py).
"""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

snn = pytest.importorskip("snntorch")
from snntorch.export_nir import export_to_nir

from snapdeploy.artifact.format import read_artifact, write_artifact
from snapdeploy.artifact.model import load_model
from snapdeploy.cli import app
from snapdeploy.compile import compile_graph
from snapdeploy.core.conv import ConvSynapse
from snapdeploy.core.errors import InconsistentArtifactError, ModelStructureError
from snapdeploy.core.graph import EncoderOp
from snapdeploy.interop import read_nir, reader, spiking_section, to_nir
from snapdeploy.interop.conv_runs import channels_last_order
from snapdeploy.nn import DenseBlock, SpikeEncoder, SpikingConv, SpikingLinear
from snapdeploy.nn.image_encoder import ImageSpikeEncoder
from snapdeploy.partition.place import spiking_on
from snapdeploy.runtime import Deployment
from snapdeploy.targets import load_target
from tests.interop import snntorch_csnn
from tests.models import neuron_spikes

T, BATCH = 12, 16
IMAGE = (3, 16, 16)
ENCODED = (8, 6, 6)  # the first Leaky's image: what the encoder encodes
SHAPES = (ENCODED, (16, 2, 2), (10,))


def csnn() -> torch.nn.Sequential:
    return snntorch_csnn.csnn(3, (5, 3), SHAPES, "zero")


@pytest.fixture(scope="module")
def graph() -> nir.NIRGraph:
    return export_to_nir(csnn(), torch.zeros(1, *IMAGE), ignore_dims=[0])


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(BATCH, *IMAGE, generator=torch.Generator().manual_seed(1)) * 2


def test_the_layer_after_the_encoder_is_a_conv(graph):
    imported = read_nir(graph, steps=T)
    stages = imported.net.stages()
    assert isinstance(imported.net[0], DenseBlock)  # Conv2d(3, 8, 5), AvgPool2d, Flatten
    assert [type(s) for s in stages[3:]] == [ImageSpikeEncoder, SpikingConv, SpikingLinear]
    assert stages[3].channels_first == ENCODED
    assert stages[4].input_shape == (6, 6, 8)  # (x, y, channel)
    assert not imported.notes  # nothing folded


def test_the_reorder_changes_no_result(graph, images, monkeypatch):
    """Every layer's spikes of the new import equal those of the old one (the conv folded
    into one dense matrix over NIR-ordered spikes), mapped through the reorder."""
    new = read_nir(graph, steps=T).net
    with monkeypatch.context() as patch:  # the old path: the encoder keeps NIR's order
        patch.setattr(
            reader,
            "encoder_and_layer",
            lambda encoder, *args: (encoder, reader.spiking_layer(*args)),
        )
        old = read_nir(graph, steps=T).net
    assert [type(s) for s in old.stages()[3:5]] == [SpikeEncoder, SpikingLinear]
    got, want = neuron_spikes(new, images), neuron_spikes(old, images)
    assert [s.shape for s in got] == [s.shape for s in want]
    want[0] = want[0][..., channels_last_order(ENCODED)]  # the encoders' own spikes
    for k, (g, w) in enumerate(zip(got, want)):
        assert w.sum() > 50, "every layer must spike for the comparison to mean anything"
        np.testing.assert_array_equal(g.numpy(), w.numpy(), err_msg=f"layer {k}")
    with torch.no_grad():
        np.testing.assert_array_equal(new(images).numpy(), old(images).numpy())


def test_a_dense_side_collapsed_into_a_matrix_keeps_the_fold(graph):
    """First-layer thresholds that differ per neuron collapse the dense side into one Linear,
    whose output NIR could not reshape into an image again: the conv stays folded, named."""
    lif = graph.nodes["2"]
    v_threshold = np.array(lif.v_threshold, dtype=np.float64)
    v_threshold.reshape(-1)[::2] *= 1.5
    nodes = dict(graph.nodes) | {"2": nir.LIF(lif.tau, lif.r, lif.v_leak, v_threshold)}
    imported = read_nir(nir.NIRGraph(nodes, graph.edges, type_check=False), steps=T)
    assert [type(s) for s in imported.net.stages()[2:4]] == [SpikeEncoder, SpikingLinear]
    assert "folded into one dense matrix" in imported.notes[0]
    assert "collapsed into one matrix" in imported.notes[0]


def test_the_spiking_part_starts_at_the_image_encoder(graph):
    """to_nir(spiking_section(net)): the Input is the encoder's (8, 6, 6) image, the encoder a
    LIF over it; read back, every layer spikes as the section does on the same activations."""
    section = spiking_section(read_nir(graph, steps=T).net)
    written = to_nir(section)
    assert written.nodes["input"].input_type["input"].tolist() == list(ENCODED)
    assert written.nodes["0"].v_threshold.shape == ENCODED
    back = read_nir(written, steps=T + 2).net  # its Delays stand for our two delayed layers
    assert isinstance(back.stages()[1], ImageSpikeEncoder)
    x = torch.rand(5, 288, generator=torch.Generator().manual_seed(2)) * 2
    want, got = neuron_spikes(section, x), neuron_spikes(back, x.reshape(5, *ENCODED))
    assert want[-1].sum() > 10, "the test needs output spikes"
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(g.numpy(), w.numpy(), err_msg=f"layer {k}")


@pytest.fixture(scope="module")
def snap(graph, images, tmp_path_factory):
    """The CSNN imported by the CLI (data input) as a .snap, and images [N, 3, 16, 16]."""
    root = tmp_path_factory.mktemp("rgb")
    nir.write(root / "csnn.nir", graph)
    args = ["import", root / "csnn.nir", "-o", root / "csnn.snap", "--steps", T]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "(8, 6, 6) image" in result.output and "stays a conv" in result.output
    np.save(root / "x.npy", images[:6].numpy())
    return root / "csnn.snap", root


def test_the_artifact_records_the_encoders_image(snap):
    graph, artifact = load_model(snap[0])
    records = artifact.manifest["graph"]["ops"]
    encoder = next(r for r in records if r["type"] == "encoder")
    assert encoder["channels_first"] == list(ENCODED)
    assert next(op for op in graph.ops if isinstance(op, EncoderOp)).channels_first == ENCODED
    first = graph.spiking_ops()[0].params
    assert isinstance(first.synapse, ConvSynapse) and first.synapse.input_shape == (6, 6, 8)


@pytest.fixture(scope="module")
def deployed(snap, tmp_path_factory) -> dict[str, np.ndarray]:
    """Output counts of the .snap compiled for the emulator target, the encoder on torch and
    the spiking layers on the integer reference or the SpiNNaker emulator."""
    graph, _ = load_model(snap[0])
    x = np.load(snap[1] / "x.npy")
    counts = {}
    for device in ("ref", "manycore"):
        build, _ = compile_graph(
            graph, load_target("emulator"), tmp_path_factory.mktemp(device), spiking_on(device)
        )
        with Deployment.load(build) as deployment:
            counts[device] = deployment.run(x, progress=False).outputs
    return counts


def test_deployed_spikes_equal_on_the_reference_and_the_spinnaker_emulator(deployed):
    assert deployed["ref"].sum() > 10, "the test needs output spikes"
    np.testing.assert_array_equal(deployed["manycore"], deployed["ref"])


def test_snap_to_nir_and_back_keeps_the_conv(snap, deployed, tmp_path):
    """.snap -> NIR: the encoder is a LIF over the (8, 6, 6) image, no Flatten before it, the
    conv after it; read back, the encoder reorders again and the outputs are the same."""
    path, root = snap
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(path), "-o", str(tmp_path / "out.nir")])
    assert result.exit_code == 0, result.output
    written = nir.read(tmp_path / "out.nir")
    assert written.nodes["input"].input_type["input"].tolist() == list(IMAGE)
    lifs = [n for n in written.nodes.values() if isinstance(n, nir.LIF)]
    assert lifs[0].v_threshold.shape == ENCODED
    flat = [n for n in written.nodes.values() if isinstance(n, nir.Flatten)]
    assert len(flat) == 1 and flat[0].input_type["input"].tolist() == [16, 2, 2]
    again = tmp_path / "again.snap"
    args = ["import", tmp_path / "out.nir", "-o", again, "--steps", T + 2]  # 2 layers delayed
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    back, _ = load_model(again)
    assert next(op for op in back.ops if isinstance(op, EncoderOp)).channels_first == ENCODED
    build, _ = compile_graph(back, load_target("emulator"), tmp_path / "b", spiking_on("ref"))
    with Deployment.load(build) as deployment:
        outputs = deployment.run(np.load(root / "x.npy"), progress=False).outputs
    np.testing.assert_array_equal(outputs, deployed["ref"])


@pytest.mark.parametrize("dims", [[8, 6, 7], [8, 36], [0, 6, 48], [8.0, 6, 6], "8x6x6"])
def test_a_malformed_channels_first_is_refused_by_name(snap, tmp_path, dims):
    artifact = read_artifact(snap[0])
    manifest = json.loads(json.dumps(artifact.manifest))
    encoder = next(r for r in manifest["graph"]["ops"] if r["type"] == "encoder")
    encoder["channels_first"] = dims
    bad = tmp_path / "bad.snap"
    write_artifact(bad, manifest, artifact.tensors)
    with pytest.raises(InconsistentArtifactError, match="'channels_first'.*288"):
        load_model(bad)
    with pytest.raises(ModelStructureError, match="encoder 'e'.*channels_first.*fix"):
        EncoderOp("e", 288, T, 1.0, 0.1, None, (8, 6, 7))
