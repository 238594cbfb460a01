"""netx export: our conv, pool, dense and delay layers written as a netx network and read back
to the same integers (so the same spikes); lava-dl's tinynet through export and import
unchanged; lava-dl's own `netx.hdf5.Network` building our export and reproducing tinynet's
golden output where lava-dl can be imported; and each refusal naming the layer and the fix."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from snapdeploy.artifact.model import save_model
from snapdeploy.cli import app
from snapdeploy.core.conv import ConvLayerParams, ConvSynapse, PoolSynapse
from snapdeploy.core.graph import DecoderOp, DenseOp, ModelGraph, SpikeSourceOp, SpikingOp
from snapdeploy.core.neuron import ReferenceNetwork
from snapdeploy.interop.netx import read_netx
from snapdeploy.interop.netx_writer import NetxExportError, write_netx
from tests.strategies import params, random_spikes

FIXTURES = Path(__file__).parents[1] / "fixtures" / "netx"
T = 12


def netx_graph(seed: int) -> ModelGraph:
    """conv (groups, padding, stride) -> sum pool -> dense with delays: netx's widths."""
    rng = np.random.default_rng(seed)
    conv = ConvSynapse(
        rng.integers(-120, 121, (4, 3, 2, 1)), (8, 6, 2), stride=(1, 2), padding=(1, 1),
        dilation=(1, 1), groups=2,
    )  # fmt: skip
    x, y, c = conv.output_shape
    pool = PoolSynapse((2, 1), 9, (x - x % 2, y, c)) if x % 2 else PoolSynapse((2, 1), 9, (x, y, c))
    assert pool.input_shape == conv.output_shape
    channel_bias = np.tile(rng.integers(-20, 20, c), x * y)
    dense = params(2 * rng.integers(-64, 64, (5, pool.n_out)), -1, 300, 1000, 40,
                   rng.integers(-30, 30, 5), 6)  # fmt: skip
    layers = (
        SpikingOp("conv1", ConvLayerParams(conv, 4095, 800, 30, channel_bias, 6)),
        SpikingOp("pool2", ConvLayerParams(pool, 10, 20, 25, np.zeros(pool.n_out, int), 7)),
        SpikingOp("dense3", dataclasses.replace(dense, delays=rng.integers(0, 4, (5, pool.n_out)))),
    )
    return ModelGraph((SpikeSourceOp("input", conv.n_in, T), *layers), (T, conv.n_in), T)


def assert_same_layers(got: ModelGraph, want: ModelGraph) -> None:
    spikes = random_spikes((T, 2, want.ops[0].n), 0.4, 7)
    runs = [ReferenceNetwork([op.params for op in g.ops[1:]]).run(spikes, record_all=True)
            for g in (got, want)]  # fmt: skip
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(r.any() for r in runs[1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_conv_pool_dense_and_delays_round_trip_through_netx(tmp_path: Path, seed: int) -> None:
    graph = netx_graph(seed)
    back = read_netx(write_netx(graph, tmp_path / "n.net"))
    assert back.graph.steps == T and back.input is None
    assert [op.params.kinds for op in back.graph.ops[1:]] == [
        {"conv"},
        {"pool"},
        {"dense", "delay"},
    ]
    for got, want in zip(back.graph.ops[1:], graph.ops[1:]):
        for key in ("du", "dv", "vth"):
            assert getattr(got.params, key) == getattr(want.params, key)
    assert_same_layers(back.graph, graph)


def test_tinynet_exports_and_reimports_unchanged(tmp_path: Path) -> None:
    model = read_netx(FIXTURES / "tiny.net")
    back = read_netx(write_netx(model.graph, tmp_path / "t.net", model.input))
    assert back.input == model.input
    for got, want in zip(back.graph.ops[1:], model.graph.ops[1:], strict=True):
        np.testing.assert_array_equal(got.params.synapse.weights, want.params.synapse.weights)
        np.testing.assert_array_equal(got.params.bias_mant, want.params.bias_mant)
        assert got.params.synapse.output_shape == want.params.synapse.output_shape
    assert_same_layers(back.graph, model.graph)


def test_the_export_command_writes_netx(tmp_path: Path) -> None:
    graph = netx_graph(3)
    save_model(tmp_path / "m.snap", graph, {})
    out = tmp_path / "m.net"
    result = CliRunner().invoke(app, ["export", str(tmp_path / "m.snap"), "-o", str(out),
                                      "--format", "netx"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert_same_layers(read_netx(out).graph, graph)


def refused(graph: ModelGraph, tmp_path: Path, message: str) -> None:
    with pytest.raises(NetxExportError, match=message):
        write_netx(graph, tmp_path / "x.net")
    assert not list(tmp_path.iterdir())


def with_layer(graph: ModelGraph, index: int, **changes) -> ModelGraph:
    ops = list(graph.ops)
    ops[index] = SpikingOp(ops[index].name, dataclasses.replace(ops[index].params, **changes))
    return dataclasses.replace(graph, ops=tuple(ops))


def test_subtract_reset_is_refused(tmp_path: Path) -> None:
    refused(with_layer(netx_graph(0), 2, reset="subtract"), tmp_path, "'pool2' resets by subtr")


def test_weights_netx_cannot_hold_are_refused(tmp_path: Path) -> None:
    graph = with_layer(netx_graph(0), 3, weight_exp=-3)
    refused(graph, tmp_path, r"'dense3': its weights times 2\*\*-3 are not whole numbers")


def test_a_bias_below_netxs_exponent_is_refused(tmp_path: Path) -> None:
    graph = netx_graph(0)
    odd = np.ones(graph.ops[3].params.n_out, int)
    refused(with_layer(graph, 3, bias_mant=odd, bias_exp=0), tmp_path, "'dense3': its biases")


def test_conv_biases_that_vary_within_a_channel_are_refused(tmp_path: Path) -> None:
    graph = netx_graph(0)
    varying = np.arange(graph.ops[1].params.n_out) * 64
    refused(with_layer(graph, 1, bias_mant=varying, bias_exp=0), tmp_path, "differ across posit")


def test_a_graph_that_is_not_spikes_to_spikes_is_refused(tmp_path: Path) -> None:
    graph = netx_graph(0)
    decoded = ModelGraph((*graph.ops, DecoderOp("dec", 5, np.ones(5, np.float32))),
                         graph.input_shape, T)  # fmt: skip
    refused(decoded, tmp_path, r"\['dec'\] other ops")


def test_an_average_readout_round_trips_and_another_readout_is_refused(tmp_path: Path) -> None:
    """N-TIDIGITS whole (3 dense blocks with delays, then slayer's average over 11 groups)."""
    model = read_netx(FIXTURES / "ntidigits" / "ntidigits.net")
    back = read_netx(write_netx(model.graph, tmp_path / "n.net", model.input)).graph
    assert [type(op) for op in back.ops] == [type(op) for op in model.graph.ops]
    for got, want in zip(back.ops[-2:], model.graph.ops[-2:], strict=True):
        for key, value in (
            want.tensors if isinstance(want, DenseOp) else {"s": want.scale}
        ).items():
            np.testing.assert_array_equal(got.tensors[key] if key != "s" else got.scale, value)
    for got, want in zip(back.ops[1:-2], model.graph.ops[1:-2], strict=True):
        np.testing.assert_array_equal(got.params.weights, want.params.weights)
        np.testing.assert_array_equal(got.params.delays, want.params.delays)
    dense = model.graph.ops[-1]
    halved = dataclasses.replace(
        dense, tensors={**dense.tensors, "weight_scale": dense.tensors["weight_scale"] / 2}
    )
    other = ModelGraph((*model.graph.ops[:-1], halved), model.graph.input_shape, model.graph.steps)
    (tmp_path / "refused").mkdir()
    refused(other, tmp_path / "refused", r"\['average5_counts', 'average5'\] other ops")


def test_lava_dls_own_netx_reader_builds_our_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs where lava-dl 0.6's source can be imported: it does not install on Python 3.11,
    so `make install` puts its source on the path (tools/fetch_lava_dl.py); its slayer imports
    cv2 and torchvision-based object detection at import, which netx does not need, so both
    are stubbed for this test."""
    try:
        found = importlib.util.find_spec("lava.lib.dl.netx") is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        pytest.skip(
            "lava-dl's source is not on the path; fix: .venv/bin/python tools/fetch_lava_dl.py"
        )
    for stub in ("cv2", "lava.lib.dl.slayer.object_detection"):
        module = types.ModuleType(stub)
        module.__path__ = []
        monkeypatch.setitem(sys.modules, stub, module)
    netx = importlib.import_module("lava.lib.dl.netx")
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.reset import Reset
    from lava.proc.io.sink import RingBuffer

    model = read_netx(FIXTURES / "tiny.net")
    net = netx.hdf5.Network(
        net_config=str(write_netx(model.graph, tmp_path / "t.net", model.input))
    )
    sink = RingBuffer(shape=net.out_layer.out.shape, buffer=20)
    net.out_layer.out.connect(sink.a_in)
    for i, layer in enumerate(net.layers):
        for var in (layer.neuron.u, layer.neuron.v):
            Reset(interval=17, offset=i - 1).connect_var(var)
    net.in_layer.neuron.bias_mant.init = np.load(FIXTURES / "tinynet_input_bias.npy")
    try:
        net.run(condition=RunSteps(num_steps=20), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        out = sink.data.get()
    finally:
        net.stop()
    golden = np.load(FIXTURES / "tinynet_output.npy")[0].transpose([2, 1, 0, 3])[..., 1:]
    np.testing.assert_array_equal(out[..., 2:17], golden)


def test_the_nir_export_writes_conv_and_pool_layers_and_refuses_delays_by_name(
    tmp_path: Path,
) -> None:
    graph = netx_graph(0)
    save_model(tmp_path / "m.snap", graph, {})
    result = CliRunner().invoke(app, ["export", str(tmp_path / "m.snap"), "-o",
                                      str(tmp_path / "m.nir")])  # fmt: skip
    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert f"layer '{graph.ops[3].name}' is a delay + dense layer, which the NIR export" in said
    assert graph.ops[1].name not in said and graph.ops[2].name not in said
    assert not (tmp_path / "m.nir").exists()
