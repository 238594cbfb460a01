"""QAT activation quantization at spike boundaries: the exported "quant_act" op, run by the
torch backend from a .snap, feeds the encoder exactly the values the Brevitas twin fine-tuned
on, so its spikes are the twin's bit for bit; `act_bits=0` leaves the input in float; bad
widths are refused by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapdeploy.artifact.format import read_artifact
from snapdeploy.artifact.model import load_model, save_model
from snapdeploy.backends.torch_dense import TorchExecutor, dense_module
from snapdeploy.core.errors import BackendError, ParameterRangeError
from snapdeploy.core.graph import DenseOp, EncoderOp
from snapdeploy.nn.boundary import SpikeEncoder
from snapdeploy.nn.demo_net import DemoNet, demo_model
from snapdeploy.partition import cut
from snapdeploy.quant.brevitas_twin import (
    QuantSpec,
    QuantSpikeEncoder,
    calibrate_activations,
    make_twin,
)
from snapdeploy.quant.qat_export import export_twin

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def calibrated_twin(spec: QuantSpec, seed: int, width: float):
    model = demo_model(DemoNet(steps=5, hidden=24, spiking=8), seed)
    with torch.no_grad():  # spread the encoder's input so every level and the clamp are hit
        model[0][0].weight.mul_(width)
    twin = make_twin(model, spec)
    calibrate_activations(twin, torch.rand(200, 64), batch_size=50)
    return twin


def twin_until_encoder(twin, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The quantized encoder input and the encoder's spikes, computed by the twin."""
    for stage in twin.stages():
        if isinstance(stage, QuantSpikeEncoder):
            return stage.input_quant(x), stage(x)
        x = stage(x)
    raise AssertionError("the twin has no quantized encoder")


@SETTINGS
@given(
    bits=st.integers(2, 10),
    seed=st.integers(0, 1000),
    width=st.floats(0.5, 20.0),
    epsilon=st.sampled_from([0.0, 1e-3]),
)
def test_deployed_quant_act_gives_the_twins_encoder_spikes_bit_for_bit(
    bits: int, seed: int, width: float, epsilon: float, tmp_path_factory
) -> None:
    twin = calibrated_twin(QuantSpec(bits=4, dense_bits=6, act_bits=bits), seed, width)
    twin.eval()
    path = tmp_path_factory.mktemp("act") / "m.snap"
    graph, _ = load_model(save_model(path, export_twin(twin, QuantSpec(4, 6, act_bits=bits)), {}))
    dense = cut(graph)[0][0]
    assert [type(op) for op in dense.ops[-2:]] == [DenseOp, EncoderOp]
    assert dense.ops[-2].op == "quant_act"

    rng = np.random.default_rng(seed)
    x = rng.random((64, 64), dtype=np.float32) * 2 - 0.25 + epsilon
    with torch.no_grad():
        expected_input, expected_spikes = twin_until_encoder(twin, torch.from_numpy(x))
        deployed = TorchExecutor(dense, "cpu")
        deployed_input = deployed.module[:-1](torch.from_numpy(x))
    assert torch.equal(deployed_input, expected_input)
    assert np.array_equal(deployed.run(x), expected_spikes.numpy().astype(bool))


def test_quant_act_rounds_half_to_even_and_clamps_like_brevitas() -> None:
    twin = calibrated_twin(QuantSpec(act_bits=3), seed=0, width=1.0)
    quant = next(s for s in twin.stages() if isinstance(s, QuantSpikeEncoder)).input_quant.eval()
    op = next(
        op
        for op in export_twin(twin, QuantSpec(act_bits=3)).ops
        if isinstance(op, DenseOp) and op.op == "quant_act"
    )
    scale = np.float32(op.attrs["scale"])
    halves = torch.tensor([-1.5, -0.5, 0.5, 1.5, 2.5, 6.5, 7.5, 9.0], dtype=torch.float32) * scale
    with torch.no_grad():
        assert torch.equal(dense_module(op)(halves), quant(halves))
    assert op.attrs["bits"] == 3 and op.attrs["signed"] is False


def test_quant_act_round_trips_through_the_snap(tmp_path: Path) -> None:
    twin = calibrated_twin(QuantSpec(act_bits=6), seed=3, width=4.0)
    graph = export_twin(twin, QuantSpec(act_bits=6))
    path = save_model(tmp_path / "m.snap", graph, {})
    loaded, _ = load_model(path)
    assert loaded.ops[0].name == graph.ops[0].name
    original = next(op for op in graph.ops if isinstance(op, DenseOp) and op.op == "quant_act")
    again = next(op for op in loaded.ops if op.name == original.name)
    assert again.attrs == original.attrs and isinstance(again.attrs["scale"], float)
    record = next(
        r for r in read_artifact(path).manifest["graph"]["ops"] if r["name"] == original.name
    )
    assert record["bit_widths"] == {"activation": 6}


def test_act_bits_zero_leaves_the_encoder_input_in_float() -> None:
    spec = QuantSpec(act_bits=0)
    twin = make_twin(demo_model(DemoNet(steps=3, hidden=16, spiking=8)), spec)
    encoders = [s for s in twin.stages() if isinstance(s, SpikeEncoder)]
    assert encoders and not any(isinstance(s, QuantSpikeEncoder) for s in encoders)
    assert not any(getattr(op, "op", None) == "quant_act" for op in export_twin(twin, spec).ops)


@pytest.mark.parametrize("act_bits", [-1, 1, 17])
def test_bad_act_bits_are_refused_by_name(act_bits: int) -> None:
    with pytest.raises(ParameterRangeError, match=f"act_bits={act_bits}.*fix:"):
        make_twin(demo_model(DemoNet(steps=3, hidden=16, spiking=8)), QuantSpec(act_bits=act_bits))


def test_backend_refuses_a_quant_act_op_out_of_range() -> None:
    with pytest.raises(BackendError, match="quant_act 'q'.*fix:"):
        dense_module(DenseOp("q", "quant_act", {"bits": 40, "scale": 0.1, "signed": False}))
