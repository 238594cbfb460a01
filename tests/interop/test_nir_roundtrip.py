"""Ours -> NIR -> ours is exact: the same stages, bit-equal tensors, bit-equal outputs and
integers; du and dv come back bit-equal or, where no float tau divides to them, within 1 ulp."""

from __future__ import annotations

import nir
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from typer.testing import CliRunner

from snapdeploy.artifact.model import load_model, save_model
from snapdeploy.cli import app
from snapdeploy.core.graph import SpikingOp
from snapdeploy.interop import read_nir, spiking_section, to_nir, write_nir
from snapdeploy.interop.errors import UnsupportedNirNodeError
from snapdeploy.nn import (
    DenseBlock,
    HybridNet,
    SpikeDecoder,
    SpikeEncoder,
    SpikingBlock,
    SpikingLinear,
)
from snapdeploy.quant.export import export_model
from tests.models import assert_same_nets, randomized

STEPS = 6


def mlp(enc_dv: float, du: float, dv: float, seed: int) -> HybridNet:
    net = HybridNet(
        DenseBlock(nn.Linear(6, 10)),
        SpikeEncoder(10, STEPS, threshold=0.7, dv=enc_dv),
        SpikingBlock(SpikingLinear(10, 8, du=1.0, dv=dv), SpikingLinear(8, 4, du=du, dv=dv)),
        input_shape=(6,),
        steps=STEPS,
    )
    return randomized(net, seed)


def conv_net(enc_dv: float, du: float, dv: float, seed: int = 0) -> HybridNet:
    net = HybridNet(
        DenseBlock(nn.Conv2d(1, 3, 3, padding=1), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(48, 20)),
        SpikeEncoder(20, STEPS, threshold=0.7, dv=enc_dv),
        SpikingBlock(SpikingLinear(20, 12, du=1.0, dv=dv), SpikingLinear(12, 5, du=du, dv=dv)),
        SpikeDecoder(5, STEPS),
        DenseBlock(nn.Linear(5, 3)),
        input_shape=(1, 8, 8),
        steps=STEPS,
    )
    return randomized(net, seed)


def test_round_trip_through_a_file_is_exact(tmp_path):
    net = conv_net(enc_dv=0.25, du=0.5, dv=0.1)
    path = write_nir(to_nir(net), tmp_path / "ours.nir")
    back = read_nir(path, steps=STEPS)
    assert back.delayed_layers == []  # our Delay nodes say where the synapse delay is
    assert_same_nets(net, back.net)
    x = torch.rand(7, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(net(x), back.net(x))


DECAY = st.integers(1, 4095).map(lambda k: k / 4096) | st.floats(1 / 4096, 4095 / 4096)


@settings(max_examples=40, deadline=None)
@given(enc_dv=st.just(0.0) | DECAY, du=DECAY | st.just(1.0), dv=DECAY, seed=st.integers(0, 2**16))
def test_round_trip_is_exact_for_any_decays(enc_dv, du, dv, seed):
    net = mlp(enc_dv, du, dv, seed)
    back = read_nir(to_nir(net, dt=1e-3), steps=STEPS, dt=1e-3).net
    assert_same_nets(net, back)
    x = torch.rand(5, 6) * 4
    with torch.no_grad():
        assert torch.equal(net(x), back(x))
    ours, theirs = export_model(net).spiking_ops(), export_model(back).spiking_ops()
    for a, b in zip(ours, theirs):
        assert a.params.du == b.params.du and a.params.dv == b.params.dv
        assert (a.params.weights == b.params.weights).all() and a.params.vth == b.params.vth


def test_graph_says_what_we_compute():
    graph = to_nir(conv_net(0.0, 0.5, 0.1))
    kinds = [type(graph.nodes[b]).__name__ for _, b in graph.edges]
    assert kinds == [
        "Conv2d",
        "AvgPool2d",
        "Flatten",
        "Affine",
        "IF",
        "Linear",
        "Delay",
        "LIF",
        "Linear",
        "Delay",
        "CubaLIF",
        "I",
        "Affine",
        "Output",
    ]
    assert isinstance(graph.nodes["input"], nir.Input)


def test_cli_export_then_import(tmp_path):
    """A .snap written as NIR and read back keeps its layers and its steps."""
    net = HybridNet(
        DenseBlock(nn.Linear(6, 10)),
        SpikeEncoder(10, STEPS, dv=0.2),
        SpikingBlock(SpikingLinear(10, 4, du=0.5, dv=0.25)),
        input_shape=(6,),
        steps=STEPS,
    )
    snap = save_model(tmp_path / "m.snap", export_model(randomized(net, 3)), {})
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(snap), "-o", str(tmp_path / "m.nir")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        ["import", str(tmp_path / "m.nir"), "-o", str(tmp_path / "b.snap"), "--steps", str(STEPS)],
    )
    assert result.exit_code == 0, result.output
    graph, _ = load_model(tmp_path / "b.snap")
    assert graph.steps == STEPS
    (op,) = [op for op in graph.ops if isinstance(op, SpikingOp)]
    original = export_model(net).spiking_ops()[0].params
    assert (op.params.n_in, op.params.n_out, op.params.du, op.params.dv) == (
        original.n_in,
        original.n_out,
        original.du,
        original.dv,
    )


def relu_net(seed: int = 0) -> HybridNet:
    """Dense layers NIR cannot carry (ReLU) before the encoder and after the decoder."""
    net = HybridNet(
        DenseBlock(nn.Linear(6, 10), nn.ReLU()),
        SpikeEncoder(10, STEPS, threshold=0.7, dv=0.25),
        SpikingBlock(SpikingLinear(10, 8, du=0.5, dv=0.1)),
        SpikeDecoder(8, STEPS),
        DenseBlock(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2)),
        input_shape=(6,),
        steps=STEPS,
    )
    return randomized(net, seed)


def test_a_relu_is_refused_with_the_spiking_part_as_the_fix():
    with pytest.raises(UnsupportedNirNodeError, match=r"ReLU.*fix: .*--spiking-part"):
        to_nir(relu_net())


def test_the_spiking_part_round_trips_exactly(tmp_path):
    net = relu_net(seed=3)
    section = spiking_section(net)
    stages = net.stages()
    assert section.stages() == stages[2:5]  # encoder, spiking layer, decoder: the same modules
    assert section.input_shape == (10,) and section.steps == STEPS
    back = read_nir(write_nir(to_nir(section), tmp_path / "part.nir"), steps=STEPS)
    assert_same_nets(section, back.net)
    current = torch.rand(5, 10)
    torch.testing.assert_close(back.net(current), section(current), rtol=0, atol=0)


def test_the_export_command_writes_the_spiking_part(tmp_path):
    snap = save_model(tmp_path / "m.snap", export_model(relu_net(seed=4)), {})
    refused = CliRunner().invoke(app, ["export", str(snap), "-o", str(tmp_path / "all.nir")])
    assert refused.exit_code == 1 and "--spiking-part" in refused.output
    assert not (tmp_path / "all.nir").exists()
    args = ["export", str(snap), "-o", str(tmp_path / "part.nir"), "--spiking-part"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    graph = nir.read(tmp_path / "part.nir")
    assert sum(isinstance(node, nir.LIF | nir.CubaLIF) for node in graph.nodes.values()) == 2
