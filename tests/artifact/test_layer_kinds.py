"""Conv, pool, delay and subtract-reset layers in an artifact: a spike-input graph of each
round-trips exactly (and runs the same), a Dense layer without them is written as before, and a
record or tensor that disagrees with its layer is refused naming the op and what is wrong."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from snapdeploy.artifact.format import write_artifact
from snapdeploy.artifact.model import load_model, save_model
from snapdeploy.core.conv import ConvLayerParams, ConvSynapse, PoolSynapse
from snapdeploy.core.errors import ArtifactError, ParameterRangeError
from snapdeploy.core.graph import ModelGraph, SpikeSourceOp, SpikingOp
from snapdeploy.core.neuron import ReferenceNetwork
from tests.strategies import params, random_spikes

T = 6


def kinds_graph() -> ModelGraph:
    rng = np.random.default_rng(0)
    conv = ConvSynapse(
        rng.integers(-256, 256, (4, 3, 2, 1)), (6, 5, 2), stride=(1, 2), padding=(1, 0),
        dilation=(1, 1), groups=2, weight_exp=2,
    )  # fmt: skip
    pool = PoolSynapse((2, 1), 7, conv.output_shape)
    dense = params(2 * rng.integers(-128, 128, (5, pool.n_out)), -2, 100, 200, 30)
    ops = (
        SpikeSourceOp("in", conv.n_in, T),
        SpikingOp("conv", ConvLayerParams(conv, 10, 20, 3, rng.integers(-9, 9, conv.n_out), 1)),
        SpikingOp("pool", ConvLayerParams(pool, 0, 0, 5, np.zeros(pool.n_out, int), 0, "subtract")),
        SpikingOp(
            "delay",
            dataclasses.replace(
                dense, delays=rng.integers(0, 5, dense.weights.shape), reset="subtract"
            ),
        ),
    )
    return ModelGraph(ops, (T, conv.n_in), T)


def test_every_layer_kind_round_trips_exactly(tmp_path: Path) -> None:
    graph = kinds_graph()
    back, artifact = load_model(save_model(tmp_path / "m.snap", graph, {}))
    for op, got in zip(graph.ops[1:], back.ops[1:], strict=True):
        for field in dataclasses.fields(op.params):
            want, seen = getattr(op.params, field.name), getattr(got.params, field.name)
            if isinstance(want, np.ndarray):
                np.testing.assert_array_equal(seen, want)
            elif field.name == "synapse" and isinstance(want, ConvSynapse):
                np.testing.assert_array_equal(seen.weights, want.weights)
                assert dataclasses.replace(seen, weights=None) == dataclasses.replace(
                    want, weights=None
                )
            else:
                assert seen == want, field.name
    spikes = random_spikes((T, 3, graph.ops[0].n), 0.5, 1)
    layers = [op.params for op in graph.ops[1:]]
    reloaded = [op.params for op in back.ops[1:]]
    for got, want in zip(
        ReferenceNetwork(reloaded).run(spikes, record_all=True),
        ReferenceNetwork(layers).run(spikes, record_all=True),
        strict=True,
    ):
        np.testing.assert_array_equal(got, want)
    records = {r["name"]: r for r in artifact.manifest["graph"]["ops"]}
    assert records["conv"]["type"] == records["pool"]["type"] == "spiking_conv"
    assert records["delay"]["tensors"] == ["bias_mant", "delays", "weights"]
    assert records["delay"]["reset"] == "subtract" and "reset" not in records["conv"]


def test_a_plain_dense_layer_is_written_as_before(tmp_path: Path) -> None:
    graph = ModelGraph((SpikeSourceOp("in", 2, T), SpikingOp("l", params([[2, 4]]))), (T, 2), T)
    _, artifact = load_model(save_model(tmp_path / "m.snap", graph, {}))
    record = artifact.manifest["graph"]["ops"][1]
    assert record["tensors"] == ["bias_mant", "weights"]
    assert "reset" not in record and "delays" not in record["bit_widths"]


def tampered(tmp_path: Path, change) -> Path:
    """kinds_graph's artifact with `change(records, tensors)` applied, written again."""
    _, artifact = load_model(save_model(tmp_path / "m.snap", kinds_graph(), {}))
    graph = json.loads(json.dumps(artifact.manifest["graph"]))
    tensors = dict(artifact.tensors)
    change({r["name"]: r for r in graph["ops"]}, tensors)
    return write_artifact(tmp_path / "bad.snap", {"graph": graph}, tensors)


def test_a_recorded_size_its_layer_does_not_have_names_the_op(tmp_path: Path) -> None:
    path = tampered(tmp_path, lambda records, _: records["pool"].update(n_out=99))
    with pytest.raises(ArtifactError, match=r"op 'pool' tensor 'bias_mant' shape: found \[24\]"):
        load_model(path)

    # sizes that agree with the tensors but not with the geometry
    def change(records, tensors):
        records["pool"].update(n_out=25)
        tensors["pool.bias_mant"] = np.zeros(25, np.int32)
        records["delay"]["n_in"] = 25
        tensors["delay.weights"] = tensors["delay.delays"] = np.zeros((5, 25), np.int32)

    with pytest.raises(ParameterRangeError, match=r"'pool': bias_mant has shape \(25,\), expec"):
        load_model(tampered(tmp_path, change))


def test_a_conv_record_must_fit_the_op_before_it(tmp_path: Path) -> None:
    path = tampered(
        tmp_path, lambda records, _: records["conv"].update(n_in=59, input_shape=[59, 1, 1])
    )
    with pytest.raises(ArtifactError, match=r"op 'conv' input \(59 spike channels\): found \[60\]"):
        load_model(path)


def test_a_delays_tensor_of_another_shape_names_the_op_and_tensor(tmp_path: Path) -> None:
    def change(_, tensors):
        tensors["delay.delays"] = tensors["delay.delays"][:, :-1]

    # the artifact's consistency check or the layer's own validation, whichever sees it first
    with pytest.raises((ArtifactError, ParameterRangeError), match=r"'delay'.*delays.*shape"):
        load_model(tampered(tmp_path, change))


def test_a_conv_whose_kernel_disagrees_with_its_groups_names_the_op(tmp_path: Path) -> None:
    path = tampered(tmp_path, lambda records, _: records["conv"].update(groups=1))
    with pytest.raises(ParameterRangeError, match=r"layer 'conv': the kernel takes 1 input"):
        load_model(path)


def test_an_unknown_synapse_is_malformed(tmp_path: Path) -> None:
    path = tampered(tmp_path, lambda records, _: records["pool"].update(synapse="max"))
    with pytest.raises(ArtifactError, match=r"op 'pool' is malformed.*synapse 'max'"):
        load_model(path)
