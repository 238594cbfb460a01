"""The Brevitas twin: its integer forward is the integer reference's, spike for spike, on random
networks exported through the artifact; dense layers export Brevitas' own integers and scales;
every trainable LIF parameter gets a gradient; overflow and unsupported layers are refused."""

from __future__ import annotations

import itertools
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from brevitas.nn import QuantLinear
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from snapdeploy.artifact.model import load_model, save_model
from snapdeploy.core.errors import ParameterRangeError, UnsupportedLayerError
from snapdeploy.core.graph import DenseOp
from snapdeploy.core.neuron import ReferenceNetwork, shift
from snapdeploy.flow import reference_score
from snapdeploy.nn import (
    DenseBlock,
    HybridNet,
    SpikeDecoder,
    SpikeEncoder,
    SpikeSource,
    SpikingBlock,
    SpikingConv,
    SpikingLinear,
)
from snapdeploy.nn.train import predict
from snapdeploy.quant.brevitas_twin import QuantSpec, make_twin
from snapdeploy.quant.export import lava_weight_step
from snapdeploy.quant.qat_export import export_twin
from snapdeploy.quant.spiking_twin import QuantSpikingLinear, shift_ste
from tests.strategies import FLOAT_DUS, FLOAT_DVS

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def spiking_nets(draw) -> tuple[HybridNet, QuantSpec, np.ndarray]:
    """A random encoder + 1-3 spiking layers + decoder, a quantization spec and input spikes."""
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    widths = [draw(st.integers(1, 12)) for _ in range(draw(st.integers(2, 4)))]
    steps = draw(st.integers(4, 24))
    layers = []
    for n_in, n_out in itertools.pairwise(widths):
        vth = draw(st.floats(0.05, 4.0))
        layer = SpikingLinear(
            n_in,
            n_out,
            du=draw(st.sampled_from(FLOAT_DUS)),
            dv=draw(st.sampled_from(FLOAT_DVS)),
            vth=vth,
        )
        # Weights and biases relative to the threshold, leaning excitatory, so layers fire.
        weights = rng.normal(0.3, draw(st.floats(0.2, 2.0)), (n_out, n_in)) * vth
        with torch.no_grad():
            layer.synapse.weight.copy_(torch.from_numpy(weights))
            layer.lif.bias.copy_(torch.from_numpy(rng.normal(0, 0.1 * vth, n_out)))
        layers.append(layer)
    model = HybridNet(
        SpikeEncoder(widths[0], steps),
        SpikingBlock(*layers),
        SpikeDecoder(widths[-1], steps),
        input_shape=(widths[0],),
        steps=steps,
    )
    spec = QuantSpec(bits=draw(st.integers(2, 8)), power_of_two=draw(st.booleans()))
    spikes = rng.random((steps, draw(st.integers(1, 4)), widths[0])) < draw(st.floats(0.1, 0.9))
    return model, spec, spikes


def spiking_stages(twin: HybridNet) -> list[QuantSpikingLinear]:
    return [s for s in twin.stages() if isinstance(s, QuantSpikingLinear)]


@SETTINGS
@given(spiking_nets())
def test_twin_spikes_equal_the_reference_run_of_the_exported_artifact(case) -> None:
    model, spec, spikes = case
    twin = make_twin(model, spec)
    with tempfile.TemporaryDirectory() as tmp:
        graph, _ = load_model(save_model(Path(tmp) / "m.snap", export_twin(twin, spec), {}))
    reference = ReferenceNetwork([op.params for op in graph.spiking_ops()])
    expected = reference.run(spikes, record_all=True)
    x = torch.from_numpy(spikes.astype(np.float32))
    with torch.no_grad():
        for layer, want in zip(spiking_stages(twin), expected):
            x = layer(x)
            np.testing.assert_array_equal(x.numpy().astype(bool), want)


@SETTINGS
@given(spiking_nets())
def test_spiking_weights_have_at_most_2_to_the_bits_levels_in_lava_form(case) -> None:
    model, spec, _ = case
    step = lava_weight_step(spec.bits)
    for op in export_twin(make_twin(model, spec), spec).spiking_ops():
        w = op.params.weights
        assert np.all(w % step == 0) and w.min() >= -256 and w.max() <= 254
        assert len(np.unique(w)) <= 2**spec.bits


@pytest.mark.parametrize("exp", range(-8, 8))
def test_shift_is_lavas_arithmetic_shift(exp: int) -> None:
    ints = np.arange(-1000, 1000, 7, dtype=np.int64)
    shifted = shift_ste(torch.from_numpy(ints.astype(np.float64)), exp)
    np.testing.assert_array_equal(shifted.numpy(), shift(ints, exp))


def dense_net(per_channel: bool = False) -> HybridNet:
    torch.manual_seed(0)
    return HybridNet(
        DenseBlock(
            nn.Conv2d(1, 3, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(48, 8),
        ),
        SpikeEncoder(8, 4),
        SpikingBlock(SpikingLinear(8, 6)),
        SpikeDecoder(6, 4),
        DenseBlock(nn.Linear(6, 3)),
        input_shape=(1, 8, 8),
        steps=4,
    )


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("power_of_two", [False, True])
def test_dense_ops_hold_brevitas_integers_and_scales(per_channel: bool, power_of_two: bool) -> None:
    spec = QuantSpec(bits=6, dense_bits=5, per_channel=per_channel, power_of_two=power_of_two)
    twin = make_twin(dense_net(), spec)
    graph = export_twin(twin, spec)
    dense = {op.name: op for op in graph.ops if isinstance(op, DenseOp) and "weight" in op.tensors}
    assert set(dense) == {"0.0", "0.4", "4.0"}
    for name, op in dense.items():
        quant = twin.get_submodule(name).quant_weight()
        np.testing.assert_array_equal(op.tensors["weight"], quant.int().numpy())
        assert np.abs(op.tensors["weight"]).max() <= 2**4 - 1
        scales = op.tensors["weight_scale"]
        assert scales.shape == (op.tensors["weight"].shape[0],)
        if not per_channel:
            assert len(np.unique(scales)) == 1
        elif not power_of_two:  # per-channel powers of two may coincide on a small layer
            assert len(np.unique(scales)) > 1
        if power_of_two:
            assert all(math.log2(s).is_integer() for s in scales)


def test_twin_predictions_equal_the_deployed_integer_model() -> None:
    spec = QuantSpec(bits=4, dense_bits=4)
    twin = make_twin(dense_net(), spec)
    x = np.random.default_rng(1).random((32, 1, 8, 8), dtype=np.float32) * 4
    graph = export_twin(twin, spec)
    twin_scores = predict(twin, x)
    score = reference_score(graph, x, twin_scores.argmax(axis=1))
    assert score.accuracy == 1.0
    assert score.spikes_per_sample > 0


def test_every_lif_parameter_and_weight_gets_a_gradient() -> None:
    twin = make_twin(dense_net(), QuantSpec(bits=4))
    x = torch.from_numpy(np.random.default_rng(2).random((16, 1, 8, 8), dtype=np.float32) * 4)
    twin(x).square().sum().backward()
    layer = spiking_stages(twin)[0]
    for name in ("du", "dv", "lif.vth", "lif.bias", "synapse.weight"):
        grad = layer.get_parameter(name).grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name


def single_layer(vth: float = 1.0, bias: float = 0.0) -> HybridNet:
    layer = SpikingLinear(4, 3, vth=vth)
    with torch.no_grad():
        layer.lif.bias.fill_(bias)
    return HybridNet(
        SpikeEncoder(4, 3), SpikingBlock(layer), SpikeDecoder(3, 3), input_shape=(4,), steps=3
    )


@pytest.mark.parametrize(("vth", "bias", "named"), [(1.0, 1e9, "bias"), (1e12, 0.0, "threshold")])
def test_export_refuses_an_overflowing_value_naming_layer_and_value(vth, bias, named) -> None:
    spec = QuantSpec(bits=8)
    twin = make_twin(single_layer(), spec)
    with torch.no_grad():
        twin.get_parameter("1.0.lif.vth").fill_(vth)
        twin.get_parameter("1.0.lif.bias").fill_(bias)
    with pytest.raises(ParameterRangeError, match=rf"layer '1\.0'.*{named}.*fix:"):
        export_twin(twin, spec)


def test_unsupported_layer_is_refused_with_the_supported_list() -> None:
    model = HybridNet(DenseBlock(nn.Linear(4, 4), nn.Tanh()), input_shape=(4,), steps=2)
    with pytest.raises(
        UnsupportedLayerError, match=r"'0\.1' is a Tanh.*supported: nn\.Linear, nn\.Conv2d"
    ):
        make_twin(model, QuantSpec())


def test_a_spiking_conv_is_refused_with_post_training_export_as_the_fix() -> None:
    model = HybridNet(
        SpikeSource(2 * 2 * 1, 2), SpikingConv((2, 2, 1), 1, 1), input_shape=(2, 4), steps=2
    )
    with pytest.raises(UnsupportedLayerError, match=r"'1' is a SpikingConv.*export_model"):
        make_twin(model, QuantSpec())


def test_non_hybridnet_is_refused() -> None:
    with pytest.raises(UnsupportedLayerError, match="HybridNet"):
        make_twin(nn.Sequential(nn.Linear(2, 2)), QuantSpec())


@pytest.mark.parametrize("spec", [QuantSpec(bits=1), QuantSpec(bits=9), QuantSpec(dense_bits=17)])
def test_bit_widths_out_of_range_are_refused(spec: QuantSpec) -> None:
    with pytest.raises(ParameterRangeError, match="fix:"):
        make_twin(single_layer(), spec)


def test_twin_layers_are_brevitas_layers_and_the_float_model_is_untouched() -> None:
    model = dense_net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    twin = make_twin(model, QuantSpec())
    assert isinstance(twin.get_submodule("0.4"), QuantLinear)
    assert isinstance(twin.get_submodule("2.0").synapse, QuantLinear)
    assert type(model.get_submodule("0.4")) is nn.Linear
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
