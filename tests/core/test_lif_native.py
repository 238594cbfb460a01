"""The compiled integer neuron equals the numpy specification bit for bit, with either reset:
one step on any int64 state and activation (wrap and clip edges included), and whole layers
over split windows (spikes, u, v and Dense's pending buffer)."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapdeploy.core import lif_native
from snapdeploy.core.neuron import (
    ACTIVATION_LIMIT,
    STATE_LIMIT,
    LayerState,
    ReferenceNetwork,
    bias_value,
    lif_step,
)
from tests.strategies import in_range_layer, lif_network, params

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_kernel_builds_here() -> None:
    """CI has g++: the compiled path must be the one the other tests exercise."""
    assert lif_native.available()


def edge_values(rng: np.random.Generator, shape: tuple[int, ...], limit: int) -> np.ndarray:
    """Values in [-limit, limit] with the edges (0, +-1, +-limit, +-(limit - 1)) over-sampled."""
    edges = np.array([0, 1, -1, limit, -limit, limit - 1, -(limit - 1)], dtype=np.int64)
    values = rng.integers(-limit, limit + 1, shape, dtype=np.int64)
    pick = rng.random(shape) < 0.3
    values[pick] = rng.choice(edges, int(pick.sum()))
    return values


RESETS = st.sampled_from(["zero", "subtract"])


@SETTINGS
@given(
    layer=in_range_layer(), batch=st.integers(1, 70), seed=st.integers(0, 2**32 - 1), reset=RESETS
)
def test_one_step_equals_the_specification(layer, batch, seed, reset) -> None:
    layer = dataclasses.replace(layer, reset=reset)
    rng = np.random.default_rng(seed)
    shape = (batch, layer.n_out)
    u = edge_values(rng, shape, STATE_LIMIT)
    v = edge_values(rng, shape, STATE_LIMIT - 1)
    activation = edge_values(rng, shape, ACTIVATION_LIMIT)
    spec = LayerState(u.copy(), v.copy(), np.zeros(shape, np.int64))
    compiled = LayerState(u.copy(), v.copy(), np.zeros(shape, np.int64))
    want = lif_step(spec, activation, layer)
    got = lif_native.lif_step(
        compiled, activation, layer, bias_value(layer.bias_mant, layer.bias_exp)
    )
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(compiled.u, spec.u)
    np.testing.assert_array_equal(compiled.v, spec.v)


@SETTINGS
@given(network=lif_network(saturating=True, batch=(1, 5), densities=(0.1, 1.0)), reset=RESETS)
def test_layers_over_split_windows_equal_the_specification(network, reset) -> None:
    layers, s_in, cut = network
    layers = [dataclasses.replace(layer, reset=reset) for layer in layers]
    spec, compiled = ReferenceNetwork(layers, native=False), ReferenceNetwork(layers)
    assert compiled.native is not None and spec.native is None
    for net in (spec, compiled):
        net.reset(s_in.shape[1])
    for window in (s_in[:cut], s_in[cut:]):
        for want, got in zip(spec.advance(window), compiled.advance(window), strict=True):
            np.testing.assert_array_equal(got, want)
    for want, got in zip(spec.states, compiled.states, strict=True):
        for name in ("u", "v", "a_pending"):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


def test_wide_fan_in_at_the_activation_limit() -> None:
    """Every input firing into the extreme weights: sums far beyond a byte, at the limit."""
    n_in = 4096
    weights = np.array([[254] * n_in, [-256] * n_in, [254, -256] * (n_in // 2)])
    layer = params(weights, weight_exp=4, du=0, dv=0, vth=(1 << 17) - 1)
    layer.validate("wide")
    s_in = np.ones((6, 2, n_in), dtype=bool)
    spec, compiled = ReferenceNetwork([layer], native=False), ReferenceNetwork([layer])
    for want, got in zip(spec.run(s_in), compiled.run(s_in)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(compiled.states[0].a_pending, spec.states[0].a_pending)
    np.testing.assert_array_equal(compiled.states[0].u, spec.states[0].u)


def test_weights_outside_lavas_form_run_in_numpy_and_stay_exact() -> None:
    """An unvalidated layer (odd or out-of-range weights) would not fit the kernel's int8
    halves: that layer runs the numpy specification, the others stay compiled."""
    rng = np.random.default_rng(5)
    odd = params(rng.integers(-300, 300, (6, 9)) | 1, du=100, dv=200, vth=5)
    fits = params(2 * rng.integers(-128, 128, (4, 6)), du=300, dv=100, vth=5)
    compiled = ReferenceNetwork([odd, fits])
    assert compiled.native is not None
    assert compiled.native[0] is None and compiled.native[1] is not None
    s_in = rng.random((20, 3, 9)) < 0.5
    want = ReferenceNetwork([odd, fits], native=False).run(s_in, record_all=True)
    for got, expected in zip(compiled.run(s_in, record_all=True), want, strict=True):
        np.testing.assert_array_equal(got, expected)
    assert any(spikes.any() for spikes in want)
