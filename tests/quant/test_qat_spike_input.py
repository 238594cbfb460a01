"""Quantization of a model whose input is already spikes: the twin passes the spikes through
its `SpikeSource` untouched (nothing to quantize there), its integer spikes are the exported
artifact's on the integer reference for any input spikes, and the whole QAT flow (fine-tune,
export, reference score, .snap) runs on spike data."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from snapdeploy.artifact.model import load_model
from snapdeploy.core.graph import SpikeSourceOp, SpikingOp
from snapdeploy.demo.data import Split
from snapdeploy.nn import SpikeSource
from snapdeploy.quant.brevitas_twin import QuantSpec, make_twin
from snapdeploy.quant.finetune import FinetuneConfig
from snapdeploy.quant.qat import quantize_model
from snapdeploy.quant.qat_export import export_twin
from tests.models import hybrid_net, reference_spikes
from tests.strategies import random_spikes, spike_inputs

T, N = 6, 9


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    x=spike_inputs(T, N),
    bits=st.integers(2, 8),
    power_of_two=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_twin_counts_equal_the_reference_run_of_its_export(x, bits, power_of_two, seed):
    model = hybrid_net([N, 7, 4], T, spike_input=True, decode=False, vth=0.4, gain=2.5, seed=seed)
    spec = QuantSpec(bits=bits, power_of_two=power_of_two)
    twin = make_twin(model, spec)
    assert twin.stages()[0] is not model.stages()[0] and type(twin.stages()[0]) is SpikeSource
    graph = export_twin(twin, spec)
    assert [type(op) for op in graph.ops] == [SpikeSourceOp, SpikingOp, SpikingOp]
    with torch.no_grad():
        counts = twin(torch.from_numpy(x.astype(np.float32)))
    np.testing.assert_array_equal(
        counts.numpy(), reference_spikes(graph, x.transpose(1, 0, 2)).sum(0)
    )


def test_the_qat_flow_runs_on_spike_data(tmp_path):
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 96)
    rates = np.where(y[:, None] == np.arange(N) % 2, 0.6, 0.1)[:, None, :]
    x = (rng.random((96, T, N)) < rates).astype(np.float32)
    data = Split(x[:64], y[:64], x[64:], y[64:])
    model = hybrid_net([N, 8], T, n_out=2, spike_input=True, vth=0.5, seed=4)
    result = quantize_model(
        model,
        data,
        QuantSpec(bits=6),
        FinetuneConfig(epochs=2, batch_size=32),
        tmp_path / "events.snap",
        Console(quiet=True),
        progress=False,
    )
    graph, artifact = load_model(result.artifact)
    assert isinstance(graph.ops[0], SpikeSourceOp) and graph.input_shape == (T, N)
    assert artifact.manifest["integer_accuracy"] == result.integer_accuracy
    assert result.spikes_per_sample >= x[64:].sum() / 32  # the input's spikes cross boundary 0
    assert 0.0 <= result.integer_accuracy <= 1.0 and len(result.history) == 2


def test_spike_sources_have_nothing_to_quantize():
    model = hybrid_net([N, 3], T, spike_input=True)
    twin = make_twin(model, QuantSpec(act_bits=4))
    assert not any(p for p in twin.stages()[0].parameters())
    spikes = torch.from_numpy(random_spikes((2, T, N), 0.5, seed=0).astype(np.float32))
    assert torch.equal(twin.stages()[0](spikes), spikes.transpose(0, 1))
