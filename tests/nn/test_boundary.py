"""Spike boundaries: the encoder's spikes, its learnable threshold and sparsity loss, the
decoder's counts times scale, the pair as one SNAP link, and the spike source of a model whose
input is already spikes (its layout, its checks, and such a model trained and run)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapdeploy.core.errors import ParameterRangeError, SpikeInputError
from snapdeploy.nn import SpikeBoundary, SpikeDecoder, SpikeEncoder, SpikeSource
from snapdeploy.nn.train import accuracy, fit, predict
from tests.models import hybrid_net
from tests.strategies import spike_inputs

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    steps=st.integers(1, 12),
    batch=st.integers(1, 4),
    n=st.integers(1, 9),
    threshold=st.floats(0.05, 4.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_encoder_emits_bool_valued_float_spikes(steps, batch, n, threshold, seed) -> None:
    enc = SpikeEncoder(n, steps, threshold=threshold)
    x = torch.randn(batch, n, generator=torch.Generator().manual_seed(seed)) * 2
    out = enc(x)
    assert out.shape == (steps, batch, n)
    assert out.dtype == x.dtype
    assert torch.all((out == 0) | (out == 1))


def test_encoder_is_integrate_and_fire_with_reset_to_zero() -> None:
    """du=1 and dv=0: v grows by x each step; x=0.3, thr=1: fires on steps 3, 7 (period 4)."""
    enc = SpikeEncoder(3, steps=8, threshold=1.0)
    out = enc(torch.tensor([[0.3, 0.0, -1.0]]))
    assert out[:, 0, 0].tolist() == [0, 0, 0, 1, 0, 0, 0, 1]
    assert out[:, 0, 1:].sum() == 0  # zero and negative activations never spike


def test_encoder_leak() -> None:
    """dv = 0.5: v = .6, .9, 1.05 (spike) ... a leaky encoder fires later than a perfect one."""
    enc = SpikeEncoder(1, steps=6, threshold=1.0, dv=0.5)
    out = enc(torch.tensor([[0.6]]))
    assert out[:, 0, 0].tolist() == [0, 0, 1, 0, 0, 1]


def test_encoder_threshold_is_positive_and_set() -> None:
    enc = SpikeEncoder(2, steps=3, threshold=0.25)
    assert enc.threshold.item() == pytest.approx(0.25)
    assert enc.log_threshold.item() == pytest.approx(math.log(0.25))
    with torch.no_grad():
        enc.log_threshold.fill_(-50.0)
    assert enc.threshold.item() > 0


def test_encoder_threshold_is_learnable() -> None:
    enc = SpikeEncoder(4, steps=5, threshold=1.0)
    x = torch.tensor([[0.9, 1.1, 0.5, 2.0]], requires_grad=True)
    enc(x).sum().backward()
    assert enc.log_threshold.grad is not None
    assert enc.log_threshold.grad.item() < 0  # a higher threshold means fewer spikes
    assert torch.all(x.grad > 0)
    assert "log_threshold" in dict(enc.named_parameters())


@SETTINGS
@given(
    steps=st.integers(1, 8),
    threshold=st.floats(0.1, 8.0),
    dv=st.sampled_from([0.0, 0.25]),
    seed=st.integers(0, 2**31 - 1),
)
def test_rate_gradient_keeps_the_spikes_and_passes_the_coded_rate_back(
    steps, threshold, dv, seed
) -> None:
    """Forward the same spikes as the surrogate encoder; backward d count / dx = T / vth
    where 0 < x < vth, 0 elsewhere (never spikes, or spikes every step)."""
    x = torch.randn(3, 7, generator=torch.Generator().manual_seed(seed)) * threshold
    x.requires_grad_(True)
    rate = SpikeEncoder(7, steps, threshold, dv, gradient="rate")
    out = rate(x)
    assert torch.equal(out, SpikeEncoder(7, steps, threshold, dv)(x.detach()))
    out.sum().backward()
    inside = (x > 0) & (x < threshold)
    assert torch.allclose(x.grad, inside * steps / torch.tensor(threshold))
    expected = -(inside * x).sum() * steps / threshold**2 * threshold  # through exp()
    assert rate.log_threshold.grad.item() == pytest.approx(expected.item(), rel=1e-4, abs=1e-6)


def test_rate_gradient_reaches_activations_far_below_the_threshold() -> None:
    """Why a cut's encoder uses it: in the dead zone below vth / T (where most of a cut
    residual stream lies) the surrogate's window passes a small fraction of it back."""
    x = torch.full((1, 1), 6.6 / 8, requires_grad=True)
    grads = {}
    for gradient in ("surrogate", "rate"):
        x.grad = None
        SpikeEncoder(1, 4, threshold=6.6, gradient=gradient)(x).sum().backward()
        grads[gradient] = x.grad.item()
    assert grads["rate"] == pytest.approx(4 / 6.6)
    assert grads["surrogate"] < grads["rate"] / 10


def test_unknown_encoder_gradient_is_refused() -> None:
    with pytest.raises(ParameterRangeError, match="'slope' is not one of surrogate, rate"):
        SpikeEncoder(2, 3, gradient="slope")


def test_encoder_threshold_trains_toward_sparsity() -> None:
    enc = SpikeEncoder(8, steps=6, threshold=0.5)
    opt = torch.optim.SGD(enc.parameters(), lr=0.5)
    x = torch.rand(16, 8, generator=torch.Generator().manual_seed(0)) + 0.2
    before = enc.threshold.item()
    for _ in range(5):
        opt.zero_grad()
        enc(x)
        enc.sparsity_loss().backward()
        opt.step()
    assert enc.threshold.item() > before


def test_sparsity_loss_is_mean_rate_and_needs_a_forward() -> None:
    enc = SpikeEncoder(5, steps=7)
    with pytest.raises(RuntimeError, match="forward"):
        enc.sparsity_loss()
    out = enc(torch.rand(3, 5, generator=torch.Generator().manual_seed(2)) * 2)
    assert enc.sparsity_loss().item() == pytest.approx(out.mean().item())
    assert 0 < enc.sparsity_loss().item() < 1
    assert enc.sparsity_loss().requires_grad


def test_encoder_refuses_bad_leak() -> None:
    with pytest.raises(ParameterRangeError):
        SpikeEncoder(3, steps=4, dv=1.0)
    with pytest.raises(ParameterRangeError):
        SpikeBoundary(3, steps=4, dv=-0.1)


@SETTINGS
@given(
    steps=st.integers(1, 10),
    batch=st.integers(1, 4),
    n=st.integers(1, 8),
    seed=st.integers(0, 2**31 - 1),
)
def test_decoder_is_counts_times_scale(steps, batch, n, seed) -> None:
    gen = torch.Generator().manual_seed(seed)
    spikes = (torch.rand(steps, batch, n, generator=gen) < 0.5).float()
    dec = SpikeDecoder(n, steps)
    torch.testing.assert_close(dec.scale.detach(), torch.full((n,), 1.0 / steps))
    with torch.no_grad():
        dec.scale.copy_(torch.randn(n, generator=gen))
    out = dec(spikes)
    assert out.shape == (batch, n)
    counts = spikes.sum(0)
    torch.testing.assert_close(out, counts * dec.scale.detach())


def test_decoder_scale_is_learnable() -> None:
    dec = SpikeDecoder(3, steps=4)
    spikes = torch.tensor([[[1.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]]])
    dec(spikes).sum().backward()
    assert dec.scale.grad.tolist() == [2.0, 0.0, 1.0]


def test_boundary_is_encoder_then_decoder() -> None:
    link = SpikeBoundary(4, steps=6, threshold=0.5)
    assert isinstance(link.encoder, SpikeEncoder) and isinstance(link.decoder, SpikeDecoder)
    assert link.encoder.steps == 6 and link.encoder.n == 4
    x = torch.rand(2, 4, generator=torch.Generator().manual_seed(3))
    out = link(x)
    assert out.shape == (2, 4)
    torch.testing.assert_close(out, link.decoder(link.encoder(x)))
    # with the default scale 1/T the decoder returns the spike rate
    assert torch.all((out >= 0) & (out <= 1))


def test_extra_reprs() -> None:
    assert "steps=6" in repr(SpikeEncoder(2, steps=6))
    assert "threshold=0.5" in repr(SpikeEncoder(2, steps=6, threshold=0.5))
    assert "n=3" in repr(SpikeDecoder(3, steps=2))


# ---------------------------------------------------------------- spike input


@SETTINGS
@given(
    steps=st.integers(1, 9),
    n=st.integers(1, 7),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.float16]),
    data=st.data(),
)
def test_spike_source_is_the_input_time_major(steps, n, dtype, data) -> None:
    x = torch.from_numpy(data.draw(spike_inputs(steps, n))).to(dtype)
    out = SpikeSource(n, steps)(x)
    assert out.shape == (steps, x.shape[0], n) and out.dtype == dtype
    assert torch.equal(out, x.transpose(0, 1))


@pytest.mark.parametrize(
    "shape",
    [(2, 4, 3), (2, 5, 3), (2, 15), (3, 5), (1, 2, 3, 5)],
    ids=str,
)
def test_spike_source_refuses_a_wrong_shape_naming_the_one_it_takes(shape) -> None:
    with pytest.raises(SpikeInputError, match=r"\[batch, 3, 5\].*fix:"):
        SpikeSource(5, 3)(torch.zeros(shape))


@pytest.mark.parametrize("bad", [0.5, -1.0, 2.0, float("nan")])
def test_spike_source_refuses_values_that_are_not_spikes(bad) -> None:
    x = torch.zeros(2, 3, 4)
    x[1, 2, 3] = bad
    with pytest.raises(SpikeInputError, match="1 values that are not 0 or 1.*SpikeEncoder"):
        SpikeSource(4, 3)(x)


def test_spike_source_needs_a_size_and_steps() -> None:
    with pytest.raises(SpikeInputError, match="at least 1"):
        SpikeSource(0, 3)
    assert repr(SpikeSource(4, 3)) == "SpikeSource(n=4, steps=3)"


def test_a_spike_input_net_trains_and_runs() -> None:
    """Class = which half of the channels carries more events: learnable from spikes alone."""
    steps, n = 6, 8
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 256)
    rates = np.where(y[:, None] == np.arange(n) // (n // 2), 0.7, 0.1)
    x = (rng.random((256, steps, n)) < rates[:, None, :]).astype(np.float32)
    net = hybrid_net([n, 12], steps, n_out=2, spike_input=True, vth=0.5, seed=1)
    history = fit(net, x, y, epochs=8, lr=1e-2, progress=False)
    assert history[-1] < history[0]
    assert accuracy(predict(net, x), y) > 0.8
    ends_in_spikes = hybrid_net([n, 4], steps, decode=False, spike_input=True)
    counts = ends_in_spikes(torch.from_numpy(x[:3]))
    assert counts.shape == (3, 4)  # summed over the steps, as any net ending in spikes
    assert torch.equal(
        hybrid_net([n], steps, decode=False, spike_input=True)(torch.from_numpy(x[:3])),
        torch.from_numpy(x[:3]).sum(1),
    )
