"""Hybrid networks: SpikingLinear's one-step synapse delay, HybridNet shapes, the flattened
stage order the exporter walks, and the network's sparsity loss."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from snapdeploy.nn import (
    DenseBlock,
    HybridNet,
    SpikeBoundary,
    SpikeDecoder,
    SpikeEncoder,
    SpikeSource,
    SpikingBlock,
    SpikingConv,
    SpikingLinear,
)

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def lif_input_of(layer: SpikingLinear, spikes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run `layer`, returning the current its LIF received and its output spikes."""
    seen = []
    handle = layer.lif.register_forward_hook(lambda _m, args, _out: seen.append(args[0]))
    try:
        out = layer(spikes)
    finally:
        handle.remove()
    return seen[0], out


@SETTINGS
@given(
    t0=st.integers(0, 6),
    source=st.integers(0, 3),
    steps_after=st.integers(2, 4),
    seed=st.integers(0, 2**31 - 1),
)
def test_spiking_linear_delays_input_by_one_step(t0, source, steps_after, seed) -> None:
    torch.manual_seed(seed)
    layer = SpikingLinear(4, 3)
    spikes = torch.zeros(t0 + steps_after, 2, 4)
    spikes[t0, 0, source] = 1.0
    current, _ = lif_input_of(layer, spikes)
    assert current.shape == (t0 + steps_after, 2, 3)
    expected = torch.zeros_like(current)
    expected[t0 + 1, 0] = layer.synapse.weight[:, source].detach()
    torch.testing.assert_close(current.detach(), expected)


def test_spiking_linear_output_lags_by_one_step() -> None:
    layer = SpikingLinear(1, 1, du=1.0, dv=0.0, vth=0.5)
    with torch.no_grad():
        layer.synapse.weight.fill_(1.0)
    spikes = torch.zeros(4, 1, 1)
    spikes[0] = 1.0
    current, out = lif_input_of(layer, spikes)
    assert current[:, 0, 0].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert out[:, 0, 0].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert layer.last_rate.item() == pytest.approx(0.25)


def test_spiking_linear_has_no_synapse_bias_and_passes_lif_settings() -> None:
    layer = SpikingLinear(5, 2, du=0.5, dv=0.125, vth=0.75)
    assert layer.synapse.bias is None
    assert layer.lif.bias is not None and layer.lif.bias.shape == (2,)
    assert (layer.lif.du, layer.lif.dv) == (0.5, 0.125)
    assert layer.lif.vth.item() == 0.75


def full_net(steps: int) -> HybridNet:
    return HybridNet(
        DenseBlock(nn.Flatten(), nn.Linear(12, 6), nn.ReLU()),
        SpikeBoundary(6, steps),
        DenseBlock(nn.Linear(6, 5)),
        SpikeEncoder(5, steps),
        SpikingBlock(SpikingLinear(5, 4), SpikingLinear(4, 3)),
        SpikeDecoder(3, steps),
        DenseBlock(nn.Linear(3, 2)),
        input_shape=(3, 4),
        steps=steps,
    )


def test_stages_flatten_blocks_and_boundaries_in_order() -> None:
    net = full_net(steps=4)
    kinds = [type(m) for m in net.stages()]
    assert kinds == [
        nn.Flatten,
        nn.Linear,
        nn.ReLU,
        SpikeEncoder,
        SpikeDecoder,
        nn.Linear,
        SpikeEncoder,
        SpikingLinear,
        SpikingLinear,
        SpikeDecoder,
        nn.Linear,
    ]
    # the stages are the modules themselves, not copies
    assert net.stages()[3] is net[1].encoder
    assert net.stages()[7] is net[4][0]
    assert [type(m) for m in net.spiking_modules()] == [
        SpikeEncoder,
        SpikeEncoder,
        SpikingLinear,
        SpikingLinear,
    ]


@SETTINGS
@given(steps=st.integers(1, 6), batch=st.integers(1, 5))
def test_hybrid_output_shapes(steps, batch) -> None:
    net = full_net(steps)
    assert net.input_shape == (3, 4) and net.steps == steps
    out = net(torch.randn(batch, 3, 4))
    assert out.shape == (batch, 2)


def test_network_ending_in_spikes_returns_counts() -> None:
    torch.manual_seed(0)
    net = HybridNet(
        DenseBlock(nn.Linear(3, 4)),
        SpikeEncoder(4, 5),
        SpikingBlock(SpikingLinear(4, 2)),
        input_shape=(3,),
        steps=5,
    )
    x = torch.randn(6, 3)
    out = net(x)
    assert out.shape == (6, 2)
    spikes = net[2](net[1](net[0](x)))
    torch.testing.assert_close(out, spikes.sum(0))
    assert torch.all((out >= 0) & (out <= 5)) and torch.equal(out, out.round())


def test_network_ending_in_encoder_returns_counts() -> None:
    net = HybridNet(SpikeEncoder(3, 4, threshold=0.5), input_shape=(3,), steps=4)
    out = net(torch.tensor([[0.3, 0.6, 0.0]]))
    # v: .3,.6(spike) / .6 spike every step / 0 never -> counts 2, 4, 0
    assert out.tolist() == [[2.0, 4.0, 0.0]]


def test_sparsity_loss_is_mean_of_spiking_rates() -> None:
    net = full_net(steps=5)
    with pytest.raises(RuntimeError, match="forward"):
        net.sparsity_loss()
    net(torch.randn(4, 3, 4, generator=torch.Generator().manual_seed(1)) * 3)
    rates = [m.last_rate for m in net.spiking_modules()]
    assert len(rates) == 4 and all(r is not None for r in rates)
    torch.testing.assert_close(net.sparsity_loss(), torch.stack(rates).mean())
    loss = net.sparsity_loss()
    loss.backward()
    assert net[1].encoder.log_threshold.grad is not None


def test_sparsity_loss_of_a_dense_only_net_raises() -> None:
    net = HybridNet(DenseBlock(nn.Linear(2, 2)), input_shape=(2,), steps=1)
    net(torch.randn(1, 2))
    with pytest.raises(RuntimeError):
        net.sparsity_loss()


def test_hybrid_trains_end_to_end() -> None:
    """Gradients reach every block through spikes (the surrogate) and the decoder."""
    torch.manual_seed(3)
    net = full_net(steps=4)
    net(torch.randn(8, 3, 4) * 3).pow(2).sum().backward()
    first_linear = net[0][1]
    assert first_linear.weight.grad is not None and first_linear.weight.grad.abs().sum() > 0
    spiking = net[4][0]
    assert spiking.synapse.weight.grad is not None and spiking.synapse.weight.grad.abs().sum() > 0


def test_spiking_conv_convolves_channels_last_images_one_step_late() -> None:
    """[T, batch, X*Y*C] (x, y, channel) in: the LIF sees torch's conv over (C, x, y) of the
    previous step's image, flattened (x', y', channel) again; it trains end to end."""
    layer = SpikingConv((5, 4, 2), 3, (3, 2), stride=(2, 1), padding=(1, 0), dv=0.5)
    assert layer.output_shape == (3, 3, 3) and layer.lif.n == 27
    spikes = (torch.rand(6, 2, 40, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    seen = []
    layer.lif.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    out = layer(spikes)
    images = spikes.reshape(12, 5, 4, 2).permute(0, 3, 1, 2)
    want = layer.synapse(images).permute(0, 2, 3, 1).reshape(6, 2, 27)
    assert torch.equal(seen[0][0], torch.zeros(2, 27))
    torch.testing.assert_close(seen[0][1:], want[:-1])
    net = HybridNet(SpikeSource(40, 6), SpikingBlock(layer), input_shape=(6, 40), steps=6)
    assert torch.equal(net(spikes.transpose(0, 1)), out.sum(0))
    net(spikes.transpose(0, 1)).sum().backward()
    assert layer.synapse.weight.grad.abs().sum() > 0
