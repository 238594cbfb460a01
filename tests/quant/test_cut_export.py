"""A cut GPT-style model and a cut residual CNN: exported (dies as torch.export programs, spike
boundaries as integers), round-tripped through a .snap, compiled for the emulator target and
run, equal to the float model's integer-boundary forward on every spiking backend."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snapdeploy.artifact.model import load_model, save_model
from snapdeploy.backends import entry, get_backend
from snapdeploy.core.errors import ModelStructureError
from snapdeploy.core.graph import DenseOp, EncoderOp, SpikingOp
from snapdeploy.flow.deploy import compile_and_run
from snapdeploy.nn import SnapCutNet, snap_cut
from snapdeploy.partition import cut
from snapdeploy.partition.place import spiking_on
from snapdeploy.quant.cut_export import die_inputs, export_cut
from snapdeploy.quant.cut_reference import integer_boundary_forward
from snapdeploy.targets import load_target
from tests.cut_models import tiny_gpt, tiny_resnet

TARGET = load_target("emulator")
SPIKING_DEVICES = [
    name for name, device in TARGET.devices.items() if entry(device.kind).role == "spiking"
]


def lowered_thresholds(net: SnapCutNet, vth: float) -> SnapCutNet:
    """Hidden layers fresh from init barely spike; a lower threshold gives the test traffic."""
    with torch.no_grad():
        for boundary in net.boundaries:
            for layer in boundary.layers:
                layer.lif.vth.fill_(vth)
    return net


def gpt_case() -> tuple[SnapCutNet, torch.Tensor]:
    torch.manual_seed(0)
    tokens = torch.randint(0, 32, (5, 8))
    net = snap_cut(tiny_gpt(), cuts=["block1"], steps=4, example=tokens, hidden=(4,))
    return lowered_thresholds(net, 0.2), tokens


def resnet_case() -> tuple[SnapCutNet, torch.Tensor]:
    torch.manual_seed(1)
    images = torch.randn(4, 1, 8, 8)
    resnet = tiny_resnet(width=4)
    resnet(images)  # BatchNorm statistics off their initial values
    net = snap_cut(resnet, cuts=["stage2", "head"], steps=6, example=images, hidden=(4,))
    return lowered_thresholds(net, 0.02), images


CASES = {"gpt": gpt_case, "resnet": resnet_case}


@pytest.fixture(scope="module", params=sorted(CASES))
def exported(request, tmp_path_factory) -> tuple:
    """(net, inputs, graph read back from its .snap, the integer-boundary forward)."""
    net, x = CASES[request.param]()
    path = save_model(tmp_path_factory.mktemp("cut") / "model.snap", export_cut(net, x), {})
    graph, _ = load_model(path)
    return net, x, graph, integer_boundary_forward(net, graph, x)


def test_snap_round_trip_is_exact(exported, tmp_path):
    net, _, graph, _ = exported
    again, _ = load_model(save_model(tmp_path / "again.snap", graph, {}))
    assert [op.name for op in again.ops] == [op.name for op in graph.ops]
    for op, back in zip(graph.ops, again.ops):
        if isinstance(op, SpikingOp):
            assert np.array_equal(op.params.weights, back.params.weights)
        if isinstance(op, DenseOp):
            assert op.tensors.keys() == back.tensors.keys()
            assert all(np.array_equal(op.tensors[k], back.tensors[k]) for k in op.tensors)
    dies = [op for op in graph.ops if isinstance(op, DenseOp)]
    assert [op.op for op in dies] == ["program"] * len(net.dies)


def test_boundaries_carry_spikes_through_integer_layers(exported):
    _, _, graph, reference = exported
    assert graph.spiking_ops(), "each cut has exported spiking layers"
    assert all(e.any() for e in reference.encoded)
    assert any(d.any() for d in reference.decoded)


@pytest.mark.parametrize("device", SPIKING_DEVICES)
def test_deployment_equals_the_integer_boundary_forward(exported, device, tmp_path):
    """Outputs bit-equal, the spikes on every link counted equal, and each spiking
    partition's spikes bit-equal to the reference neuron's on this backend."""
    _, x, graph, reference = exported
    _, result = compile_and_run(
        graph, TARGET, tmp_path / "build", x.numpy(), spiking_on(device), progress=False
    )
    assert np.array_equal(result.outputs, reference.outputs)
    expected = [int(s.sum()) for pair in zip(reference.encoded, reference.decoded) for s in pair]
    assert [b.spikes for b in result.boundaries] == expected
    partitions, boundaries = cut(graph)
    assert [s.dense_values for s in result.boundaries] == [b.values for b in boundaries]
    spiking = [p for p in partitions if p.kind == "spiking"]
    assert len(spiking) == len(reference.encoded)
    spec = TARGET.device(device)
    backend = get_backend(spec.kind)
    for partition, spikes_in, spikes_out in zip(spiking, reference.encoded, reference.decoded):
        compiled = backend.compile(partition, spec, tmp_path / partition.name)
        executor = backend.load(compiled)
        try:
            assert np.array_equal(executor.run(spikes_in), spikes_out), partition.name
        finally:
            executor.close()


def test_without_spiking_layers_the_deployment_is_the_float_model(tmp_path):
    torch.manual_seed(2)
    tokens = torch.randint(0, 32, (4, 8))
    net = snap_cut(tiny_gpt(layers=3), cuts=[1, "block2"], steps=2, example=tokens).eval()
    graph = export_cut(net, tokens)
    assert not graph.spiking_ops()
    _, result = compile_and_run(graph, TARGET, tmp_path / "b", tokens.numpy(), progress=False)
    with torch.no_grad():
        assert np.array_equal(result.outputs, net(tokens).numpy())


def test_export_takes_one_input_tensor():
    net, tokens = gpt_case()
    with pytest.raises(ModelStructureError, match="one input tensor"):
        export_cut(net, (tokens,))


def test_links_price_the_crossing_tensor_not_its_spike_channels(exported):
    """A signed cut codes each value as two spike channels; its links' fp16 baseline counts the
    crossing tensor's values once (every link of a cut, hidden layers' included)."""
    net, x, graph, _ = exported
    _, boundaries = cut(graph)
    with torch.no_grad():
        crossing = [int(np.prod(v.shape[1:])) for v in die_inputs(net.eval(), x)[1:]]
    per_cut = iter(crossing)
    for boundary in boundaries:
        if boundary.src % 2 == 0:  # a dense die's encoder starts the next cut's links
            values = next(per_cut)
        assert boundary.values == values
        assert boundary.fp16_bytes_per_sample == 2 * values
    encoders = [op for op in graph.ops if isinstance(op, EncoderOp)]
    assert [e.n // e.values for e in encoders] == [1 + b.signed for b in net.boundaries]
