"""NIR graphs whose input is spikes (`--spike-input`, `read_nir(..., spike_input=True)`).

A graph written by snnTorch 1.0.0's exporter, fed spike trains: the input becomes our
`SpikeSource` and every neuron layer a spiking layer with our synapse delay, so layer k's
spikes equal snnTorch's k steps later, the model running one extra step per layer (its input
padded with zeros). Ours -> NIR -> ours is exact: our Delay nodes say where the delay is.
"""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from typer.testing import CliRunner

snn = pytest.importorskip("snntorch")
from snntorch import utils as snn_utils
from snntorch.export_nir import export_to_nir

from snapdeploy.artifact.model import load_model, save_model
from snapdeploy.cli import app
from snapdeploy.core.graph import SpikeSourceOp, SpikingOp
from snapdeploy.interop import UnsupportedNirNodeError, read_nir, to_nir, write_nir
from snapdeploy.nn import SpikeSource, SpikingLinear
from snapdeploy.quant.export import export_model
from tests.models import assert_same_nets, hybrid_net, neuron_spikes, randomized
from tests.strategies import random_spikes, spike_inputs

T, N_IN = 12, 10


def snntorch_net(seed: int = 0) -> torch.nn.Sequential:
    """Linear -> Leaky -> Linear -> Leaky without biases (a bias would act before the
    delayed input arrives), per-neuron thresholds, reset to zero."""
    torch.manual_seed(seed)
    leaky = lambda n, beta: snn.Leaky(
        beta=torch.full((n,), beta),
        threshold=torch.rand(n) * 0.5 + 0.3,
        init_hidden=True,
        reset_mechanism="zero",
    )
    return torch.nn.Sequential(
        torch.nn.Linear(N_IN, 24, bias=False),
        leaky(24, 0.8),
        torch.nn.Linear(24, 6, bias=False),
        leaky(6, 0.9),
    )


def snntorch_spikes(net: torch.nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """Each Leaky layer's spikes [T, batch, n] for spikes x [batch, T, n], one step at a time."""
    snn_utils.reset(net)
    out: list[list[torch.Tensor]] = [[], []]
    with torch.no_grad():
        for t in range(x.shape[1]):
            s1 = net[1](net[0](x[:, t]))
            out[0].append(s1)
            out[1].append(net[3](net[2](s1)))
    return [torch.stack(o) for o in out]


def padded(x: torch.Tensor, steps: int) -> torch.Tensor:
    """Spikes [batch, T, n] followed by zeros up to `steps` steps."""
    return torch.cat([x, torch.zeros(x.shape[0], steps - x.shape[1], x.shape[2])], dim=1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    net = snntorch_net()
    path = tmp_path_factory.mktemp("nir") / "snn.nir"
    nir.write(path, export_to_nir(net, torch.zeros(1, N_IN), ignore_dims=[0]))
    return net, path


@pytest.fixture(scope="module")
def imported(exported):
    return read_nir(exported[1], steps=T, spike_input=True)


def test_the_input_becomes_a_spike_source_and_every_layer_is_delayed(imported):
    stages = imported.net.stages()
    assert [type(s) for s in stages] == [SpikeSource, SpikingLinear, SpikingLinear]
    assert imported.spike_input and imported.delayed_layers == ["1", "3"]
    assert imported.net.steps == T + 2 and imported.net.input_shape == (T + 2, N_IN)
    assert stages[0].steps == T + 2


@settings(max_examples=15, deadline=None)
@given(x=spike_inputs(T, N_IN))
def test_spikes_equal_snntorch_given_the_delay(exported, imported, x):
    x = torch.from_numpy(x.astype(np.float32))
    theirs = snntorch_spikes(exported[0], x)
    ours = neuron_spikes(imported.net, padded(x, T + 2))
    assert torch.equal(ours[0][1 : T + 1], theirs[0]) and not ours[0][0].any()
    assert torch.equal(ours[1][2:], theirs[1]) and not ours[1][:2].any()
    with torch.no_grad():
        assert torch.equal(imported.net(padded(x, T + 2)), theirs[1].sum(0))


def test_the_comparison_sees_spikes_in_both_layers(exported):
    x = torch.from_numpy(random_spikes((8, T, N_IN), 0.5, seed=1).astype(np.float32))
    theirs = snntorch_spikes(exported[0], x)
    assert theirs[0].sum() > 0 and theirs[1].sum() > 0


def spike_net(seed: int):
    net = hybrid_net([N_IN, 8, 4], T, spike_input=True, n_out=3, seed=seed)
    for stage in net.stages():
        if isinstance(stage, SpikingLinear):
            stage.lif.du, stage.lif.dv = 0.5, 0.125
    return randomized(net, seed)


def test_ours_to_nir_and_back_is_exact(tmp_path):
    net = spike_net(seed=3)
    graph = to_nir(net)
    assert list(graph.nodes["input"].input_type["input"]) == [N_IN]
    first = next(b for a, b in graph.edges if a == "input")
    assert isinstance(graph.nodes[first], nir.Linear)  # the input's spikes go straight in
    back = read_nir(write_nir(graph, tmp_path / "ours.nir"), steps=T, spike_input=True)
    assert back.delayed_layers == []
    assert_same_nets(net, back.net)
    x = torch.from_numpy(random_spikes((6, T, N_IN), 0.4, seed=2).astype(np.float32))
    with torch.no_grad():
        assert torch.equal(net(x), back.net(x))
    for a, b in zip(export_model(net).spiking_ops(), export_model(back.net).spiking_ops()):
        assert a.params.du == b.params.du and a.params.dv == b.params.dv
        assert (a.params.weights == b.params.weights).all() and a.params.vth == b.params.vth


def test_reading_spike_input_as_held_data_names_the_option():
    with pytest.raises(UnsupportedNirNodeError, match="--spike-input"):
        read_nir(to_nir(spike_net(seed=1)), steps=T)


def test_cli_export_then_import_with_spike_input(tmp_path):
    snap = save_model(tmp_path / "m.snap", export_model(spike_net(seed=4)), {})
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(snap), "-o", str(tmp_path / "m.nir")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        [
            "import",
            str(tmp_path / "m.nir"),
            "-o",
            str(tmp_path / "b.snap"),
            "--steps",
            str(T),
            "--spike-input",
        ],
    )
    assert result.exit_code == 0, result.output
    graph, artifact = load_model(tmp_path / "b.snap")
    original, _ = load_model(snap)
    assert [type(op) for op in graph.ops][:3] == [SpikeSourceOp, SpikingOp, SpikingOp]
    assert (graph.steps, graph.input_shape) == (T, (T, N_IN))
    assert artifact.manifest["source"]["spike_input"] is True
    for a, b in zip(original.spiking_ops(), graph.spiking_ops()):
        assert (a.params.weights == b.params.weights).all()
        assert (a.params.du, a.params.dv, a.params.vth) == (b.params.du, b.params.dv, b.params.vth)


def test_cli_import_of_snntorch_spike_input_says_how_to_feed_it(exported, tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "import",
            str(exported[1]),
            "-o",
            str(tmp_path / "s.snap"),
            "--steps",
            str(T),
            "--spike-input",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"[N, {T + 2}, {N_IN}]" in " ".join(result.output.split())
    graph, _ = load_model(tmp_path / "s.snap")
    assert isinstance(graph.ops[0], SpikeSourceOp) and graph.steps == T + 2
