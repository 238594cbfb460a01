"""Per-synapse axonal delays (Lava's DelayDense) and the subtract reset, in the reference:
against real DelayDense + LIF processes in `fixed_pt` (few cases: Lava is slow), against plain
Dense when every delay is zero, by hand, across split runs, and the refusals."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapdeploy.core.errors import ParameterRangeError
from snapdeploy.core.neuron import LayerState, LifLayerParams, ReferenceNetwork, lif_step
from tests.lava_oracle import assert_reference_runs_as_lava
from tests.strategies import delay_layer, params, random_spikes

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LAVA_RUNS = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@LAVA_RUNS
@given(layer=delay_layer(), seed=st.integers(0, 2**32 - 1))
def test_delay_layers_run_as_real_lava_does(layer: LifLayerParams, seed: int) -> None:
    layer.validate("d")
    assert_reference_runs_as_lava(layer, random_spikes((12, layer.n_in), 0.5, seed))


@FAST
@given(layer=delay_layer(), seed=st.integers(0, 2**32 - 1), split=st.integers(0, 20))
def test_zero_delays_equal_dense_and_split_runs_equal_one(
    layer: LifLayerParams, seed: int, split: int
) -> None:
    spikes = random_spikes((20, 3, layer.n_in), 0.4, seed)
    whole = ReferenceNetwork([layer], native=False)
    want = whole.run(spikes)[0]
    parts = ReferenceNetwork([layer], native=False)
    parts.reset(3)
    got = np.concatenate([parts.advance(w)[0] for w in (spikes[:split], spikes[split:])])
    np.testing.assert_array_equal(got, want)
    undelayed = dataclasses.replace(layer, delays=np.zeros_like(layer.delays))
    plain = dataclasses.replace(layer, delays=None)
    np.testing.assert_array_equal(
        ReferenceNetwork([undelayed]).run(spikes)[0], ReferenceNetwork([plain]).run(spikes)[0]
    )


@pytest.mark.parametrize("delay", [0, 1, 5])
def test_a_spike_lands_delay_plus_one_steps_later(delay: int) -> None:
    layer = dataclasses.replace(
        params([[2]], du=4095, dv=4095, vth=1), delays=np.array([[delay]]), weight_exp=1
    )
    spikes = np.zeros((10, 1, 1), dtype=bool)
    spikes[2] = True
    reference = ReferenceNetwork([layer])
    out = reference.run(spikes)[0][:, 0, 0]
    # w << 1 = 4, a << 6 = 256 > vth << 6 = 64: fires on the step the activation lands
    assert np.flatnonzero(out).tolist() == [2 + 1 + delay]
    assert reference.states[0].a_pending.shape == (1, 1, delay + 1)


def test_each_delays_sum_is_shifted_on_its_own_as_lava_does() -> None:
    # two inputs of weight 2 at exponent -2: together 4 >> 2 = 1, apart 2 >> 2 = 0 twice
    layer = dataclasses.replace(
        params([[2, 2]], weight_exp=-2, du=4095, dv=4095, vth=0), delays=np.array([[0, 1]])
    )
    spikes = np.ones((4, 1, 2), dtype=bool)
    reference = ReferenceNetwork([layer])
    assert not reference.run(spikes)[0].any()
    together = dataclasses.replace(layer, delays=np.array([[1, 1]]))
    assert ReferenceNetwork([together]).run(spikes)[0][:, 0, 0].tolist() == [0, 0, 1, 1]


def test_delay_refusals_name_the_layer() -> None:
    base = params([[2, 4]])
    with pytest.raises(
        ParameterRangeError, match=r"layer 'd'.*delays spans \[0, 63\] but must lie in \[0, 62\]"
    ):
        dataclasses.replace(base, delays=np.array([[0, 63]])).validate("d")
    with pytest.raises(ParameterRangeError, match=r"layer 'd'.*delays have shape \(2,\)"):
        dataclasses.replace(base, delays=np.array([0, 1])).validate("d")


def test_kinds_name_what_a_backend_must_run() -> None:
    base = params([[2]])
    assert base.kinds == {"dense"}
    assert dataclasses.replace(base, delays=np.zeros((1, 1), int)).kinds == {"dense", "delay"}
    assert dataclasses.replace(base, reset="subtract").kinds == {"dense", "subtract_reset"}


def test_subtract_reset_keeps_the_voltage_above_threshold() -> None:
    layer = dataclasses.replace(params([[2]], du=4095, dv=0, vth=10), reset="subtract")
    state = LayerState.zeros(1, 1)
    # a = 12: a << 6 = 768 > 640 = vth << 6; subtract leaves 128, zero reset would leave 0
    assert lif_step(state, np.array([[12]]), layer).tolist() == [[True]]
    assert state.v.tolist() == [[128]]
    # no input: u cleared (du = 4095), v = 128 stays below threshold
    assert lif_step(state, np.array([[0]]), layer).tolist() == [[False]]
    assert state.v.tolist() == [[128]]
    zero = dataclasses.replace(layer, reset="zero")
    state = LayerState.zeros(1, 1)
    lif_step(state, np.array([[12]]), zero)
    assert state.v.tolist() == [[0]]


def test_subtract_reset_fires_more_than_zero_reset_under_the_same_drive() -> None:
    layer = params(np.full((4, 6), 20), du=4095, dv=100, vth=50)
    spikes = random_spikes((64, 2, 6), 0.5, 3)
    zero = ReferenceNetwork([layer]).run(spikes)[0].sum()
    subtract = ReferenceNetwork([dataclasses.replace(layer, reset="subtract")]).run(spikes)[0]
    assert subtract.sum() > zero > 0
