"""The QAT flow (fine-tune, export, reference score, .snap) on a model whose input is
already spikes: the artifact keeps its spike source and records the integer accuracy."""

from __future__ import annotations

import numpy as np
from rich.console import Console

from snapdeploy.artifact.model import load_model
from snapdeploy.core.graph import SpikeSourceOp
from snapdeploy.data import Split
from snapdeploy.flow.qat import quantize_model
from snapdeploy.quant.brevitas_twin import QuantSpec
from snapdeploy.quant.finetune import FinetuneConfig
from tests.models import hybrid_net

T, N = 6, 9


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
