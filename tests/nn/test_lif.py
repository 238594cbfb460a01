"""Float LIF: the documented equations step for step, reset to zero, the surrogate gradient,
and the decays it refuses because the integer neuron could not hold them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapdeploy.core.errors import ParameterRangeError
from snapdeploy.nn import LIF
from snapdeploy.nn.lif import check_decays, lif_sequence
from snapdeploy.nn.surrogate import DEFAULT_SLOPE, spike

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def hand_loop(
    current: np.ndarray, du: float, dv: float, vth: float, bias: np.ndarray
) -> np.ndarray:
    """u = u(1-du) + a;  v = v(1-dv) + u + bias;  s = v > vth;  v = 0 where s."""
    steps, batch, n = current.shape
    out = np.zeros_like(current)
    for b in range(batch):
        for i in range(n):
            u = v = current.dtype.type(0.0)
            for t in range(steps):
                u = u * current.dtype.type(1.0 - du) + current[t, b, i]
                v = v * current.dtype.type(1.0 - dv) + u + bias[i]
                if v > vth:
                    out[t, b, i] = 1.0
                    v = current.dtype.type(0.0)
    return out


decays = st.one_of(st.sampled_from([1 / 4096, 0.5, 1.0]), st.floats(1 / 4096, 1.0))
voltage_decays = st.one_of(st.sampled_from([0.0, 4095 / 4096]), st.floats(0.0, 4095 / 4096))


@SETTINGS
@given(
    steps=st.integers(1, 20),
    batch=st.integers(1, 3),
    n=st.integers(1, 5),
    du=decays,
    dv=voltage_decays,
    vth=st.floats(0.05, 3.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_forward_equals_hand_loop(steps, batch, n, du, dv, vth, seed) -> None:
    rng = np.random.default_rng(seed)
    lif = LIF(n, du=du, dv=dv, vth=vth).double()
    with torch.no_grad():
        lif.bias.copy_(torch.from_numpy(rng.normal(0.0, 0.3, n)))
    current = rng.normal(0.3, 1.0, (steps, batch, n))
    got = lif(torch.from_numpy(current))
    assert got.shape == (steps, batch, n)
    expected = hand_loop(current, du, dv, lif.vth.item(), lif.bias.detach().numpy())
    np.testing.assert_array_equal(got.detach().numpy(), expected)


def test_forward_without_bias_and_float32() -> None:
    lif = LIF(3, du=0.5, dv=0.25, vth=0.7, bias=False)
    assert lif.bias is None
    current = torch.rand(15, 2, 3, generator=torch.Generator().manual_seed(1)) * 2
    got = lif(current).detach()
    assert got.dtype == torch.float32
    vth = np.float32(lif.vth.item())
    expected = hand_loop(current.numpy(), 0.5, 0.25, vth, np.zeros(3, np.float32))
    np.testing.assert_array_equal(got.numpy(), expected)
    assert 0 < expected.sum() < expected.size


def test_reset_is_to_zero_not_by_subtraction() -> None:
    """a=0.25 each step, du=1, dv=0, vth=0.6: v = .25, .5, .75 (spike, v=0), .25, ... period 3.

    Reset by subtraction would leave .15 and fire at t=4 instead of t=5."""
    lif = LIF(1, du=1.0, dv=0.0, vth=0.6, bias=False)
    out = lif(torch.full((9, 1, 1), 0.25))
    assert out[:, 0, 0].tolist() == [0, 0, 1, 0, 0, 1, 0, 0, 1]


def test_subtract_reset_keeps_the_excess() -> None:
    """The same drive with reset="subtract": v = .25, .5, .75 (spike, v = .15), .4, .65 (spike,
    .05), .3, .55, .8 (spike): the excess carries over, so the third spike comes a step early."""
    lif = LIF(1, du=1.0, dv=0.0, vth=0.6, bias=False, reset="subtract")
    assert lif(torch.full((9, 1, 1), 0.25))[:, 0, 0].tolist() == [0, 0, 1, 0, 1, 0, 0, 1, 0]


def test_subtract_reset_equals_the_integer_neuron_by_hand() -> None:
    """dv > 0: the subtracted threshold decays with v on the next step (as `v -= vth << 6`)."""
    current = torch.rand(20, 2, 3, generator=torch.Generator().manual_seed(1)) * 0.8
    got = lif_sequence(current, 1.0, 0.25, torch.tensor(0.5), reset="subtract")
    v, expected = np.zeros((2, 3)), []
    for a in current.numpy().astype(np.float64):
        v = 0.75 * v + a
        s = v > 0.5
        v = np.where(s, v - 0.5, v)
        expected.append(s)
    np.testing.assert_array_equal(got.numpy().astype(bool), np.array(expected))


def test_unknown_reset_is_refused_naming_the_choices() -> None:
    with pytest.raises(ParameterRangeError, match="zero.*subtract"):
        LIF(2, reset="hard")


def test_threshold_is_strict() -> None:
    """v == vth exactly does not spike (as the integer neuron)."""
    lif = LIF(1, du=1.0, dv=0.0, vth=0.5, bias=False)
    assert lif(torch.full((1, 1, 1), 0.5)).item() == 0
    assert lif(torch.full((1, 1, 1), 0.5 + 2**-20)).item() == 1


def test_state_starts_from_zero_each_call() -> None:
    lif = LIF(2, du=0.1, dv=0.1, vth=1.0)
    x = torch.rand(10, 1, 2) * 2
    assert torch.equal(lif(x), lif(x))


def test_lif_sequence_accepts_float_bias() -> None:
    out = lif_sequence(torch.zeros(4, 1, 2), 1.0, 0.0, torch.tensor(1.0), bias=0.3)
    # v = .3, .6, .9, 1.2 -> spikes only at the fourth step
    assert out[:, 0, 0].tolist() == [0, 0, 0, 1]


# ---------------------------------------------------------------- surrogate gradient


@SETTINGS
@given(
    xs=st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=20),
    slope=st.one_of(st.none(), st.floats(0.5, 100)),
)
def test_surrogate_gradient_is_fast_sigmoid(xs, slope) -> None:
    x = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    out = spike(x, slope)
    assert out.tolist() == [1.0 if v > 0 else 0.0 for v in xs]
    out.sum().backward()
    k = DEFAULT_SLOPE if slope is None else slope
    expected = 1.0 / (1.0 + k * x.detach().abs()) ** 2
    torch.testing.assert_close(x.grad, expected)


def test_surrogate_values_by_hand() -> None:
    """slope 25 (snnTorch's): 1/(1+25*0.04)^2 = 1/4, 1/(1+25*0.2)^2 = 1/36."""
    x = torch.tensor([0.0, 0.04, -0.2], requires_grad=True)
    spike(x, 25.0).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([1.0, 1 / 4, 1 / 36]))
    # the default slope (DEFAULT_SLOPE, 5 since the demo's stability change) is what spike() uses
    y = torch.tensor([0.04, -0.2], requires_grad=True)
    spike(y).sum().backward()
    expected = 1 / (1 + DEFAULT_SLOPE * torch.tensor([0.04, 0.2])) ** 2
    torch.testing.assert_close(y.grad, expected)
    assert spike(torch.tensor([0.0])).item() == 0.0  # strictly greater


def test_gradient_flows_to_current_bias_and_threshold_near_threshold() -> None:
    lif = LIF(2, du=1.0, dv=0.0, vth=1.0)
    current = torch.tensor([[[0.99, 1.01]]], requires_grad=True)  # v just below / above vth
    lif(current).sum().backward()
    assert torch.all(current.grad > 0.5)
    assert torch.all(lif.bias.grad > 0.5)
    assert lif.vth.grad.item() < -1.0
    # far from threshold the gradient is small but never zero
    far = torch.tensor([[[50.0, -50.0]]], requires_grad=True)
    lif(far).sum().backward()
    assert torch.all(far.grad > 0) and torch.all(far.grad < 1e-3)


# ---------------------------------------------------------------- decay refusals


@pytest.mark.parametrize(
    ("du", "dv"),
    [
        (0.0, 0.1),
        (1 / 8192, 0.1),
        (1.0001, 0.1),
        (-0.5, 0.1),
        (0.5, -0.01),
        (0.5, 1.0),
        (0.5, 4095.5 / 4096),
        (float("nan"), 0.1),
        (0.5, float("nan")),
    ],
)
def test_check_decays_refuses(du, dv) -> None:
    with pytest.raises(ParameterRangeError, match="fix"):
        check_decays(du, dv)
    with pytest.raises(ParameterRangeError):
        LIF(3, du=du, dv=dv)


@pytest.mark.parametrize(("du", "dv"), [(1 / 4096, 0.0), (1.0, 4095 / 4096), (0.3, 0.7)])
def test_check_decays_accepts_range_ends(du, dv) -> None:
    check_decays(du, dv)
    LIF(3, du=du, dv=dv)


def test_message_names_the_decay() -> None:
    with pytest.raises(ParameterRangeError, match="du"):
        check_decays(0.0, 0.5)
    with pytest.raises(ParameterRangeError, match="dv"):
        check_decays(0.5, 1.0)


def test_extra_repr_shows_settings() -> None:
    text = repr(LIF(4, du=0.5, dv=0.25, vth=1.5))
    assert "n=4" in text and "du=0.5" in text and "dv=0.25" in text and "vth=1.5" in text
