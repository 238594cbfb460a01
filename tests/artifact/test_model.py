"""A graph as artifact entries: a spike-input model's spike source survives save and load, and
artifacts written before spike sources existed (encoder graphs, as their records were) still load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from snapdeploy.artifact.format import write_artifact
from snapdeploy.artifact.model import load_model, load_ops, save_model, save_ops
from snapdeploy.core.errors import ArtifactError
from snapdeploy.core.graph import EncoderOp, ModelGraph, SpikeSourceOp, SpikingOp
from snapdeploy.quant.export import export_model
from tests.models import hybrid_net

T = 5


def test_a_spike_source_round_trips(tmp_path):
    graph = export_model(hybrid_net([4, 3], T, spike_input=True))
    back, artifact = load_model(save_model(tmp_path / "m.snap", graph, {}))
    assert back.ops[0] == SpikeSourceOp(graph.ops[0].name, 4, T)
    assert (back.input_shape, back.steps) == ((T, 4), T)
    assert artifact.manifest["graph"]["ops"][0] == {
        "name": graph.ops[0].name,
        "type": "spike_source",
        "n": 4,
        "steps": T,
        "tensors": [],
    }
    ops, _ = load_ops(save_ops(tmp_path / "p.snap", graph.ops[:1], {"steps": T}))
    assert ops == [graph.ops[0]]


def test_an_artifact_written_before_spike_sources_loads(tmp_path):
    """The records an encoder graph had before spike sources existed, written by hand."""
    weights = np.full((2, 3), 2, np.int32)
    records = [
        {
            "name": "enc",
            "type": "encoder",
            "n": 3,
            "steps": T,
            "threshold": 0.5,
            "dv": 0.0,
            "tensors": [],
        },
        {
            "name": "l0",
            "type": "spiking",
            "n_in": 3,
            "n_out": 2,
            "weight_exp": 0,
            "du": 10,
            "dv": 20,
            "vth": 30,
            "bias_exp": 0,
            "tensors": ["bias_mant", "weights"],
        },
    ]
    graph_record = {"input_shape": [3], "steps": T, "ops": records}
    tensors = {"l0.weights": weights, "l0.bias_mant": np.zeros(2, np.int32)}
    path = write_artifact(tmp_path / "old.snap", {"graph": graph_record}, tensors)
    graph, _ = load_model(path)
    assert isinstance(graph, ModelGraph)
    assert [type(op) for op in graph.ops] == [EncoderOp, SpikingOp]
    assert graph.ops[0] == EncoderOp("enc", 3, T, 0.5, 0.0)


def test_a_malformed_spike_source_record_names_the_op(tmp_path):
    graph = export_model(hybrid_net([4, 3], T, spike_input=True))
    path = save_model(tmp_path / "m.snap", graph, {})
    _, artifact = load_model(path)
    record = json.loads(json.dumps(artifact.manifest["graph"]))
    del record["ops"][0]["n"]
    broken = write_artifact(tmp_path / "broken.snap", {"graph": record}, artifact.tensors)
    with pytest.raises(ArtifactError, match=f"op '{graph.ops[0].name}' field 'n': found None"):
        load_model(broken)
