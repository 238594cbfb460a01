"""Quantization of a model whose input is already spikes: the twin passes the spikes through
its `SpikeSource` untouched (nothing to quantize there), and its integer spikes are the
exported artifact's on the integer reference for any input spikes (the whole QAT flow on
spike data is tests/flow/test_qat.py)."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapdeploy.core.graph import SpikeSourceOp, SpikingOp
from snapdeploy.nn import SpikeSource
from snapdeploy.quant.brevitas_twin import QuantSpec, make_twin
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


def test_spike_sources_have_nothing_to_quantize():
    model = hybrid_net([N, 3], T, spike_input=True)
    twin = make_twin(model, QuantSpec(act_bits=4))
    assert not any(p for p in twin.stages()[0].parameters())
    spikes = torch.from_numpy(random_spikes((2, T, N), 0.5, seed=0).astype(np.float32))
    assert torch.equal(twin.stages()[0](spikes), spikes.transpose(0, 1))
