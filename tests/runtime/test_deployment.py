"""A deployed exported model equals a pipeline recomputed by hand: the float encoder's spikes enter
the spiking partition, the integer reference's spikes leave it, and the scores follow."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from snapdeploy.compile import BUILD_FILE, compile_graph
from snapdeploy.core.errors import ArtifactError, SnapdeployError
from snapdeploy.core.graph import DecoderOp, DenseOp, EncoderOp, SpikingOp
from snapdeploy.core.neuron import ReferenceNetwork
from snapdeploy.core.packets import encode_steps
from snapdeploy.nn import HybridNet, SpikeEncoder
from snapdeploy.partition.partitions import PARTITION_FILE
from snapdeploy.quant.export import export_model
from snapdeploy.runtime import Deployment
from snapdeploy.targets import load_target
from tests.models import Recording, hybrid_net

T = 6
N = 40


#: Spiking synapses scaled up so every layer fires now and then.
LIVELY = 3.0


def deploy(model: HybridNet, directory):
    graph = export_model(model)
    return graph, compile_graph(graph, load_target("emulator"), directory / "build")[0]


def dequantized(op: DenseOp) -> np.ndarray:
    scale = op.tensors["weight_scale"].reshape((-1,) + (1,) * (op.tensors["weight"].ndim - 1))
    return op.tensors["weight"].astype(np.float64) * scale


def numpy_dense(ops, x: np.ndarray) -> np.ndarray:
    """Linear / ReLU ops in float64 numpy."""
    for op in ops:
        if op.op == "linear":
            x = x @ dequantized(op).T + op.tensors.get("bias", 0.0)
        elif op.op == "relu":
            x = np.maximum(x, 0.0)
        else:  # pragma: no cover - the model below has only these
            raise AssertionError(op.op)
    return x


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    model = hybrid_net(
        [10, 8, 6], T, n_in=12, n_out=3, threshold=0.5, dv=0.1, vth=0.3, gain=LIVELY
    ).eval()
    graph, build = deploy(model, tmp_path_factory.mktemp("deploy"))
    x = np.random.default_rng(0).random((N, 12)).astype(np.float32)
    with Deployment.load(build) as deployment:
        recorders = [Recording(e) for e in deployment.executors]
        deployment.executors = recorders
        result = deployment.run(x, batch_size=N, progress=False)
    return model, graph, x, result, recorders


def test_spikes_entering_the_spiking_partition_are_the_float_encoders(deployed):
    model, graph, x, _, recorders = deployed
    entering = np.concatenate(recorders[1].inputs)
    dense_ops = [op for op in graph.ops[:2]]
    assert [op.op for op in dense_ops] == ["linear", "relu"]
    with torch.no_grad():
        weight = torch.from_numpy(dequantized(dense_ops[0]).astype(np.float32))
        bias = torch.from_numpy(dense_ops[0].tensors["bias"])
        activation = torch.relu(nn.functional.linear(torch.from_numpy(x), weight, bias))
        encoder = model.stages()[2]
        assert isinstance(encoder, SpikeEncoder)
        expected = encoder(activation).numpy().astype(bool)
    assert entering.shape == (T, N, 10)
    np.testing.assert_array_equal(entering, expected)
    assert 0.02 < entering.mean() < 0.98


def test_spikes_leaving_the_spiking_partition_are_the_integer_references(deployed):
    _, graph, _, _, recorders = deployed
    entering = np.concatenate(recorders[1].inputs)
    leaving = np.concatenate(recorders[2].inputs)
    layers = [op.params for op in graph.ops if isinstance(op, SpikingOp)]
    expected = ReferenceNetwork(layers).run(entering)[0]
    np.testing.assert_array_equal(leaving, expected)
    assert 0.01 < leaving.mean() < 0.99


def test_scores_equal_a_numpy_recomputation(deployed):
    _, graph, x, result, recorders = deployed
    encoder_op = graph.ops[2]
    decoder_op = graph.ops[5]
    assert isinstance(encoder_op, EncoderOp) and isinstance(decoder_op, DecoderOp)

    # the encoder: a LIF with du = 1 driven by the dense activation, recomputed in numpy
    activation = numpy_dense(graph.ops[:2], x.astype(np.float64))
    v = np.zeros_like(activation)
    encoded = np.zeros((T, N, encoder_op.n), dtype=bool)
    for t in range(T):
        v = v * (1.0 - encoder_op.dv) + activation
        encoded[t] = v > encoder_op.threshold
        v[encoded[t]] = 0.0
    entering = np.concatenate(recorders[1].inputs)
    # float64 here vs float32 there may differ only where a membrane sits on the threshold
    assert (encoded != entering).mean() < 0.01

    layers = [op.params for op in graph.ops if isinstance(op, SpikingOp)]
    out_spikes = ReferenceNetwork(layers).run(entering)[0]
    decoded = out_spikes.sum(axis=0) * decoder_op.scale.astype(np.float64)
    scores = numpy_dense(graph.ops[6:], decoded)

    assert result.outputs.shape == (N, 3)
    np.testing.assert_allclose(result.outputs, scores, rtol=1e-5, atol=1e-5)


def test_run_result_counts_what_crossed_each_boundary(deployed):
    _, _, _, result, recorders = deployed
    assert [s.boundary_id for s in result.boundaries] == [0, 1]
    for stats, recorder in zip(result.boundaries, recorders[1:]):
        spikes = np.concatenate(recorder.inputs)
        assert (stats.width, stats.steps, stats.samples) == (spikes.shape[2], T, N)
        assert stats.spikes == int(spikes.sum())
        assert stats.wire_bytes == sum(len(p) for p in encode_steps(stats.boundary_id, spikes))
    assert set(result.seconds_per_partition) == {"p0_dense", "p1_spiking", "p2_dense"}
    assert all(s >= 0.0 for s in result.seconds_per_partition.values())


def test_batches_are_independent(tmp_path):
    """An encoder-first model has no matmul before the spikes: any batch split is bit-exact."""
    model = hybrid_net([8, 6], T, seed=1, threshold=0.3, vth=0.3, gain=LIVELY)
    _, build = deploy(model, tmp_path)
    x = np.random.default_rng(2).random((11, 8)).astype(np.float32)
    with Deployment.load(build) as deployment:
        whole = deployment.run(x, batch_size=11, progress=False)
        split = deployment.run(x, batch_size=3, progress=False)
        again = deployment.run(x, batch_size=11, progress=False)
    np.testing.assert_array_equal(split.outputs, whole.outputs)
    np.testing.assert_array_equal(again.outputs, whole.outputs)
    assert [s.spikes for s in split.boundaries] == [s.spikes for s in whole.boundaries]
    # one frame header per step and batch: smaller batches pay more headers for the same spikes
    assert all(a.wire_bytes > b.wire_bytes for a, b in zip(split.boundaries, whole.boundaries))
    assert [s.samples for s in split.boundaries] == [11, 11]
    assert whole.outputs.any()


def test_a_model_ending_in_spikes_returns_spike_counts(tmp_path):
    model = hybrid_net([4, 3], T, n_in=5, decode=False, seed=2, threshold=0.2, vth=0.2, gain=LIVELY)
    _, build = deploy(model, tmp_path)
    x = np.random.default_rng(3).random((6, 5)).astype(np.float32)
    with Deployment.load(build) as deployment:
        outputs = deployment.run(x, progress=False).outputs
    assert outputs.shape == (6, 3)
    assert np.issubdtype(outputs.dtype, np.integer)
    assert outputs.min() >= 0 and outputs.max() <= T


@pytest.mark.parametrize("layout", ["missing", "empty", "build_json_only", "plan_json_only"])
def test_loading_a_directory_that_is_not_a_build_is_refused(tmp_path, layout):
    folder = tmp_path / "not-a-build"
    if layout != "missing":
        folder.mkdir()
    if layout == "build_json_only":
        (folder / BUILD_FILE).write_text(json.dumps({"partitions": []}))
    if layout == "plan_json_only":
        (folder / "plan.json").write_text("{}")
    with pytest.raises(SnapdeployError) as error:
        Deployment.load(folder)
    message = str(error.value)
    assert str(folder) in message and "fix:" in message


def test_loading_a_build_with_a_damaged_partition_is_refused(tmp_path):
    model = hybrid_net([4, 3], T, seed=3)
    _, build = deploy(model, tmp_path)
    snap = build / "p1_spiking" / PARTITION_FILE
    data = bytearray(snap.read_bytes())
    data[len(data) // 2] ^= 0xFF
    snap.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=str(snap)):
        Deployment.load(build)
