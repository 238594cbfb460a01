"""The compiled conv scatter (`core.conv_native`) against the numpy specification of
`core.conv`, and the reference network with every compiled piece against its numpy form on
networks of every layer kind (conv, pool, delays, both resets)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapdeploy.core.conv import ConvSynapse
from snapdeploy.core.conv_native import NativeConv, NativeConvLayer, available
from snapdeploy.core.neuron import ReferenceNetwork
from tests.strategies import conv_synapse, kinds_network, random_spikes

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_the_kernel_builds_here() -> None:
    assert available()


@SETTINGS
@given(synapse=conv_synapse(), seed=st.integers(0, 2**32 - 1), rate=st.sampled_from([0.1, 0.9]))
def test_compiled_sums_equal_the_specification(synapse: ConvSynapse, seed: int, rate) -> None:
    spikes = random_spikes((3, 2, synapse.n_in), rate, seed)
    np.testing.assert_array_equal(NativeConv(synapse).sums(spikes), synapse.sums(spikes))


@SETTINGS
@given(kinds_network())
def test_compiled_network_equals_the_numpy_network(case) -> None:
    layers, spikes, split = case
    compiled, numpy_only = ReferenceNetwork(layers), ReferenceNetwork(layers, native=False)
    for net in (compiled, numpy_only):
        net.reset(spikes.shape[1])
    got = [compiled.advance(w) for w in (spikes[:split], spikes[split:])]
    want = [numpy_only.advance(w) for w in (spikes[:split], spikes[split:])]
    for window_got, window_want in zip(got, want):
        for a, b in zip(window_got, window_want):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(compiled.states, numpy_only.states):
        np.testing.assert_array_equal(a.u, b.u)
        np.testing.assert_array_equal(a.v, b.v)
        np.testing.assert_array_equal(a.a_pending, b.a_pending)


def test_a_spike_scatters_into_every_window_that_holds_it() -> None:
    # a 3x3 kernel of distinct taps, stride 1, padding 1: the centre input reaches all 9
    weights = np.arange(1, 10).reshape(1, 3, 3, 1)
    synapse = ConvSynapse(weights, (3, 3, 1), padding=(1, 1))
    centre = np.zeros(9, dtype=bool)
    centre[4] = True
    np.testing.assert_array_equal(NativeConv(synapse).sums(centre), synapse.sums(centre))
    assert sorted(NativeConv(synapse).sums(centre).tolist()) == list(range(1, 10))


def test_a_conv_whose_sums_overflow_int32_runs_numpy_not_the_layer_kernel() -> None:
    fits = ConvSynapse(np.full((1, 1, 2, 1), (1 << 30) - 1), (1, 2, 1))
    overflows = ConvSynapse(np.full((1, 1, 2, 1), 1 << 30), (1, 2, 1))
    assert NativeConvLayer.takes(fits)
    assert not NativeConvLayer.takes(overflows)
