"""Graphs written by snnTorch 1.0.0's own NIR export, imported and run against snnTorch.

snnTorch's `Leaky(reset_mechanism="zero")` is our LIF step for step (v zeroed after a spike,
then `beta v + input`), so the first layer (our encoder) is exact and each later layer equals
snnTorch's one step later (our synapse delay), with the model run one extra step per layer.
"""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

snn = pytest.importorskip("snntorch")
from snntorch import utils as snn_utils
from snntorch.export_nir import export_to_nir

from snapdeploy.artifact.model import load_model
from snapdeploy.cli import app
from snapdeploy.core.graph import EncoderOp, SpikingOp
from snapdeploy.interop import read_nir
from tests.models import neuron_spikes

T = 20


def snntorch_net(reset: str, seed: int = 0) -> torch.nn.Sequential:
    """Linear(+bias) -> Leaky -> Linear -> Leaky, per-neuron thresholds, shared beta."""
    torch.manual_seed(seed)
    leaky = lambda n, beta: snn.Leaky(
        beta=torch.full((n,), beta),
        threshold=torch.rand(n) + 0.5,
        init_hidden=True,
        reset_mechanism=reset,
    )
    return torch.nn.Sequential(
        torch.nn.Linear(10, 24), leaky(24, 0.8), torch.nn.Linear(24, 6, bias=False), leaky(6, 0.9)
    )


def snntorch_spikes(net: torch.nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """Each Leaky layer's spikes [T, batch, n] for input x held for T steps."""
    snn_utils.reset(net)
    out: list[list[torch.Tensor]] = [[], []]
    with torch.no_grad():
        for _ in range(T):
            s1 = net[1](net[0](x))
            out[0].append(s1)
            out[1].append(net[3](net[2](s1)))
    return [torch.stack(o) for o in out]


@pytest.fixture
def exported(tmp_path):
    net = snntorch_net("zero")
    path = tmp_path / "snn.nir"
    nir.write(path, export_to_nir(net, torch.zeros(1, 10), ignore_dims=[0]))
    return net, path


def test_spikes_equal_snntorch_with_the_delay_accounted_for(exported):
    net, path = exported
    x = torch.rand(16, 10) * 2
    theirs = snntorch_spikes(net, x)
    imported = read_nir(path, steps=T)  # snnTorch's exporter assumes dt = 1e-4
    ours = neuron_spikes(imported.net, x)
    assert imported.delayed_layers == ["3"] and imported.net.steps == T + 1
    assert theirs[0].sum() > 0 and theirs[1].sum() > 0, "the test needs spikes in both layers"
    assert torch.equal(ours[0][:T], theirs[0])
    assert torch.equal(ours[1][1:], theirs[1])
    assert not ours[1][0].any()
    with torch.no_grad():
        assert torch.equal(imported.net(x), theirs[1].sum(0))


def test_subtract_reset_is_imported_as_the_file_says(tmp_path):
    """snnTorch writes v_reset = 0 even for its default subtract reset, so NIR cannot tell
    them apart: by default we reset to 0 (--reset subtract says otherwise)."""
    net = snntorch_net("subtract")
    graph = export_to_nir(net, torch.zeros(1, 10), ignore_dims=[0])
    assert all(
        np.all(np.asarray(n.v_reset) == 0) for n in graph.nodes.values() if isinstance(n, nir.LIF)
    )
    imported = read_nir(graph, steps=T)
    zero_net = snntorch_net("zero")
    x = torch.rand(16, 10) * 2
    assert torch.equal(neuron_spikes(imported.net, x)[0][:T], snntorch_spikes(zero_net, x)[0])


def test_cli_import_writes_a_snap_through_export(exported, tmp_path):
    _, path = exported
    out = tmp_path / "model.snap"
    result = CliRunner().invoke(app, ["import", str(path), "-o", str(out), "--steps", str(T)])
    assert result.exit_code == 0, result.output
    graph, artifact = load_model(out)
    assert [type(op) for op in graph.ops][-2:] == [EncoderOp, SpikingOp]
    assert graph.steps == T + 1
    assert artifact.manifest["source"]["delayed_layers"] == ["3"]
