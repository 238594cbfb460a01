"""The integer reference neuron: Lava's fixtures bit for bit, hand-computed arithmetic, and the
properties every backend relies on (no overflow, rounding toward zero, strict threshold,
reset to zero of v only, Dense's one-step delay, batch independence, range checks)."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapdeploy.core.errors import ParameterRangeError
from snapdeploy.core.neuron import (
    PARAM_RANGES,
    LayerState,
    LifLayerParams,
    ReferenceNetwork,
    decay,
    lif_step,
    wrap24,
)
from tests.strategies import in_range_layer, params, random_spikes

FIXTURES = sorted((Path(__file__).parents[1] / "fixtures" / "lava").glob("*.npz"))
LIMIT = 1 << 23
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- Lava fixtures


def fixture_layers(data) -> list[LifLayerParams]:
    return [
        params(
            data[f"l{i}_weights"],
            int(data[f"l{i}_weight_exp"]),
            int(data[f"l{i}_du"]),
            int(data[f"l{i}_dv"]),
            int(data[f"l{i}_vth"]),
            data[f"l{i}_bias_mant"],
            int(data[f"l{i}_bias_exp"]),
        )
        for i in range(int(data["n_layers"]))
    ]


def test_all_twelve_fixtures_are_present() -> None:
    assert len(FIXTURES) == 12


@pytest.mark.parametrize("native", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_reproduces_lava_fixture_exactly(path: Path, native: bool) -> None:
    data = np.load(path)
    layers = fixture_layers(data)
    for i, layer in enumerate(layers):
        layer.validate(f"l{i}")
    s_in = data["s_in"].astype(bool)
    assert s_in.shape[0] == int(data["T"])
    net = ReferenceNetwork(layers, native=native)
    per_layer = net.run(s_in[:, None], record_all=True)
    assert len(per_layer) == len(layers)
    for i, spikes in enumerate(per_layer):
        expected = data[f"l{i}_spikes"].astype(bool)
        assert spikes.shape == (s_in.shape[0], 1, expected.shape[1])
        np.testing.assert_array_equal(spikes[:, 0], expected, err_msg=f"{path.stem} l{i} spikes")
        np.testing.assert_array_equal(net.states[i].u[0], data[f"l{i}_u"], err_msg=f"l{i} u")
        np.testing.assert_array_equal(net.states[i].v[0], data[f"l{i}_v"], err_msg=f"l{i} v")


def test_fixtures_exercise_spiking() -> None:
    """The fixtures only prove something if their layers actually spike."""
    total = 0
    for path in FIXTURES:
        data = np.load(path)
        total += sum(int(data[f"l{i}_spikes"].sum()) for i in range(int(data["n_layers"])))
    assert total > 0


def test_run_returns_only_last_layer_by_default() -> None:
    data = np.load(FIXTURES[0])
    net = ReferenceNetwork(fixture_layers(data))
    out = net.run(data["s_in"][:, None].astype(bool))
    last = int(data["n_layers"]) - 1
    assert len(out) == 1
    np.testing.assert_array_equal(out[0][:, 0], data[f"l{last}_spikes"])


# ---------------------------------------------------------------- hand-computed arithmetic


def test_lif_step_two_steps_by_hand() -> None:
    """du=999 and dv=1000 both scale by 3096/4096; vth=10 -> 640; bias = [3, -5] << 1."""
    p = params(np.zeros((2, 1)), du=999, dv=1000, vth=10, bias_mant=[3, -5], bias_exp=1)
    state = LayerState.zeros(1, 2)

    # step 1: u = 0 + [7, -5] << 6 = [448, -320]; v = 0 + u + [6, -10] = [454, -330]
    s = lif_step(state, np.array([[7, -5]], dtype=np.int64), p)
    assert s.tolist() == [[False, False]]
    assert state.u.tolist() == [[448, -320]]
    assert state.v.tolist() == [[454, -330]]

    # step 2: decay(448) = 448*3096/4096 = 338.6 -> 338; decay(-320) = -241.9 -> -241 (toward 0)
    #         u = [338 + 3*64, -241 - 64] = [530, -305]
    #         decay(454) = 343.2 -> 343; decay(-330) = -249.4 -> -249 (floor would be -250)
    #         v = [343 + 530 + 6, -249 - 305 - 10] = [879, -564]; 879 > 640 spikes -> v = 0
    s = lif_step(state, np.array([[3, -1]], dtype=np.int64), p)
    assert s.tolist() == [[True, False]]
    assert state.u.tolist() == [[530, -305]]  # u is not reset by the spike
    assert state.v.tolist() == [[0, -564]]


def test_wrap24_edges() -> None:
    x = np.array([LIMIT, LIMIT + 1, -LIMIT, -LIMIT + 1, LIMIT - 1, 0, -1], dtype=np.int64)
    assert wrap24(x).tolist() == [LIMIT, -LIMIT + 1, LIMIT, -LIMIT + 1, LIMIT - 1, 0, -1]


def test_lif_step_wraps_current_at_the_24_bit_edge() -> None:
    """du=4095 clears u, so u = a << 6 exactly: 2**17 << 6 = 2**23 stays, anything past wraps."""
    p = params(np.zeros((3, 1)), du=4095, vth=(1 << 17) - 1)
    state = LayerState.zeros(1, 3)
    a = np.array([[1 << 17, (1 << 17) + 1, -(1 << 17)]], dtype=np.int64)
    s = lif_step(state, a, p)
    assert state.u.tolist() == [[LIMIT, LIMIT + 64 - 2 * LIMIT, LIMIT]]
    # v = clip(u) = 2**23 - 1 > vth << 6 spikes (and resets); the wrapped one is far below
    assert s.tolist() == [[True, False, True]]
    assert state.v.tolist() == [[0, -LIMIT + 64, 0]]


def test_voltage_clips_at_minus_2_pow_23_plus_1() -> None:
    """The negative clip is observable (the positive one always exceeds any vth << 6)."""
    p = params(np.zeros((1, 1)), du=4095, vth=(1 << 17) - 1, bias_mant=[-4096], bias_exp=7)
    state = LayerState.zeros(1, 1)
    state.v[:] = [[-LIMIT + 10]]
    s = lif_step(state, np.array([[-(1 << 16)]], dtype=np.int64), p)
    assert not s.any()
    assert state.v.tolist() == [[-(LIMIT - 1)]]


# ---------------------------------------------------------------- properties


@SETTINGS
@given(
    layer=in_range_layer(),
    steps=st.integers(1, 40),
    batch=st.integers(1, 3),
    density=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_no_overflow_for_in_range_inputs(layer, steps, batch, density, seed) -> None:
    layer.validate("prop")
    net = ReferenceNetwork([layer])
    net.reset(batch)
    s_in = random_spikes((steps, batch, layer.n_in), density, seed)
    for t in range(steps):
        net.step(s_in[t])
        state = net.states[0]
        assert state.u.dtype == np.int64 and state.v.dtype == np.int64
        assert np.all(state.u <= LIMIT) and np.all(state.u > -LIMIT)
        assert np.all(np.abs(state.v) <= LIMIT - 1)


@SETTINGS
@given(x=st.integers(-(2**40), 2**40), d=st.integers(0, 4096))
def test_decay_rounds_toward_zero_and_never_flips_sign(x, d) -> None:
    got = int(decay(np.array([x], dtype=np.int64), d)[0])
    assert abs(got) <= abs(x)
    assert got == 0 or (got > 0) == (x > 0)
    assert got == math.trunc(Fraction(x * (4096 - d), 4096))


def test_decay_edge_factors() -> None:
    x = np.array([-5, -1, 0, 1, 5, 4097], dtype=np.int64)
    np.testing.assert_array_equal(decay(x, 0), x)  # dv = 0: no leak
    np.testing.assert_array_equal(decay(x, 4096), np.zeros_like(x))  # du=4095 + offset 1
    np.testing.assert_array_equal(decay(x, 2048), [-2, 0, 0, 0, 2, 2048])


@SETTINGS
@given(layer=in_range_layer(), steps=st.integers(1, 30), batch=st.integers(1, 3))
def test_zero_input_and_zero_bias_never_spike(layer, steps, batch) -> None:
    layer = params(layer.weights, layer.weight_exp, layer.du, layer.dv, layer.vth, None, 0)
    net = ReferenceNetwork([layer])
    out = net.run(np.zeros((steps, batch, layer.n_in), dtype=bool))[0]
    assert not out.any()
    assert not net.states[0].u.any() and not net.states[0].v.any()


@SETTINGS
@given(
    layer=in_range_layer(),
    steps=st.integers(1, 40),
    density=st.floats(0.1, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_v_is_zero_after_a_spike_and_u_is_not_reset(layer, steps, density, seed) -> None:
    """u never depends on spikes: a copy that spikes far less (top threshold, lowest bias)
    has the same u at every step."""
    silent = params(
        layer.weights,
        layer.weight_exp,
        layer.du,
        layer.dv,
        (1 << 17) - 1,
        np.full(layer.n_out, -4096),
        7,
    )
    net, ref = ReferenceNetwork([layer]), ReferenceNetwork([silent])
    net.reset(2)
    ref.reset(2)
    s_in = random_spikes((steps, 2, layer.n_in), density, seed)
    for t in range(steps):
        (spikes,) = net.step(s_in[t])
        ref.step(s_in[t])
        assert np.all(net.states[0].v[spikes] == 0)
        np.testing.assert_array_equal(net.states[0].u, ref.states[0].u)


@SETTINGS
@given(vth=st.integers(0, (1 << 17) - 2), dv=st.integers(0, 4095))
def test_threshold_is_strict(vth, dv) -> None:
    """v == vth << 6 does not spike, v == (vth << 6) + 1 does (du=4095: u = a << 6)."""
    p = params(np.zeros((2, 1)), du=4095, dv=dv, vth=vth, bias_mant=[0, 1], bias_exp=0)
    state = LayerState.zeros(1, 2)
    s = lif_step(state, np.array([[vth, vth]], dtype=np.int64), p)
    assert s.tolist() == [[False, True]]
    assert state.v.tolist() == [[vth << 6, 0]]


@SETTINGS
@given(
    u0=st.lists(st.integers(-LIMIT + 1, LIMIT), min_size=3, max_size=3),
    a=st.lists(st.integers(-(1 << 17) + 1, 1 << 17), min_size=3, max_size=3),
)
def test_du_4095_clears_current(u0, a) -> None:
    p = params(np.zeros((3, 1)), du=4095, vth=(1 << 17) - 1)
    state = LayerState.zeros(1, 3)
    state.u[:] = [u0]
    lif_step(state, np.array([a], dtype=np.int64), p)
    assert state.u.tolist() == [[x << 6 for x in a]]


@SETTINGS
@given(
    t0=st.integers(0, 6),
    weight=st.integers(-128, 127).map(lambda w: 2 * w).filter(bool),
    weight_exp=st.integers(-8, 7),
)
def test_dense_delays_a_spike_by_one_step(t0, weight, weight_exp) -> None:
    """A spike sent at t changes u at t + 1, not at t."""
    p = params([[weight, 0]], weight_exp=weight_exp, du=4095, vth=(1 << 17) - 1)
    net = ReferenceNetwork([p])
    net.reset(1)
    s_in = np.zeros((t0 + 3, 1, 2), dtype=bool)
    s_in[t0, 0, 0] = True
    a = weight << weight_exp if weight_exp >= 0 else weight >> -weight_exp
    for t in range(t0 + 3):
        net.step(s_in[t])
        expected = (a << 6) if t == t0 + 1 else 0
        assert net.states[0].u.tolist() == [[expected]], f"t={t}"


def test_spike_reaches_next_layer_one_step_later_per_layer() -> None:
    """Each Dense adds one step: an input spike at t=0 fires layer 0 at t=1, layer 1 at t=2."""
    strong = {"weight_exp": 7, "du": 4095, "dv": 4095, "vth": 1}
    net = ReferenceNetwork([params([[254]], **strong), params([[254]], **strong)])
    s_in = np.zeros((5, 1, 1), dtype=bool)
    s_in[0] = True
    l0, l1 = net.run(s_in, record_all=True)
    assert l0[:, 0, 0].tolist() == [False, True, False, False, False]
    assert l1[:, 0, 0].tolist() == [False, False, True, False, False]


@SETTINGS
@given(
    shapes=st.lists(st.integers(1, 6), min_size=2, max_size=4),
    data=st.data(),
    steps=st.integers(1, 25),
    batch=st.integers(2, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_batch_items_are_independent(shapes, data, steps, batch, seed) -> None:
    layers = [
        data.draw(in_range_layer(n_in=n_in, n_out=n_out))
        for n_in, n_out in itertools.pairwise(shapes)
    ]
    s_in = random_spikes((steps, batch, shapes[0]), 0.5, seed)
    net = ReferenceNetwork(layers)
    together = net.run(s_in, record_all=True)
    states = [(s.u.copy(), s.v.copy()) for s in net.states]
    for b in range(batch):
        alone = net.run(s_in[:, b : b + 1], record_all=True)
        for i, spikes in enumerate(alone):
            np.testing.assert_array_equal(spikes[:, 0], together[i][:, b])
            np.testing.assert_array_equal(net.states[i].u[0], states[i][0][b])
            np.testing.assert_array_equal(net.states[i].v[0], states[i][1][b])


# ---------------------------------------------------------------- range checks

OUT_OF_RANGE = [
    ("weights", -258),
    ("weights", 256),
    ("weight_exp", -9),
    ("weight_exp", 8),
    ("du", -1),
    ("du", 4096),
    ("dv", -1),
    ("dv", 4096),
    ("vth", -1),
    ("vth", 1 << 17),
    ("bias_mant", -4097),
    ("bias_mant", 4096),
    ("bias_exp", -1),
    ("bias_exp", 8),
]


def with_value(name: str, value: int) -> LifLayerParams:
    base = {
        "weights": np.array([[2, -4], [0, 6]], dtype=np.int32),
        "weight_exp": 0,
        "du": 10,
        "dv": 20,
        "vth": 30,
        "bias_mant": np.array([1, -1], dtype=np.int32),
        "bias_exp": 0,
    }
    if name == "delays":
        base[name] = np.array([[0, 1], [2, value]])
    elif name in ("weights", "bias_mant"):
        arr = base[name].copy()
        arr.flat[-1] = value
        base[name] = arr
    else:
        base[name] = value
    return LifLayerParams(**base)


@pytest.mark.parametrize(("name", "value"), OUT_OF_RANGE, ids=lambda v: str(v))
def test_validate_rejects_each_out_of_range_parameter(name, value) -> None:
    with pytest.raises(ParameterRangeError) as info:
        with_value(name, value).validate("hidden.3")
    message = str(info.value)
    assert "hidden.3" in message
    assert name in message
    low, high = PARAM_RANGES[name]
    assert f"[{low}, {high}]" in message


@SETTINGS
@given(
    name=st.sampled_from(sorted(PARAM_RANGES)),
    distance=st.integers(1, 1 << 20),
    above=st.booleans(),
)
def test_validate_rejects_any_distance_out_of_range(name, distance, above) -> None:
    low, high = PARAM_RANGES[name]
    value = high + distance if above else low - distance
    with pytest.raises(ParameterRangeError, match=rf"'enc\.1'.*{name}"):
        with_value(name, value).validate("enc.1")


@pytest.mark.parametrize("name", sorted(PARAM_RANGES))
def test_validate_accepts_range_ends(name) -> None:
    low, high = PARAM_RANGES[name]
    with_value(name, low).validate("l")
    with_value(name, high).validate("l")


def test_validate_rejects_bad_shapes() -> None:
    flat = LifLayerParams(np.zeros(6, np.int32), 0, 0, 0, 1, np.zeros(2, np.int32), 0)
    with pytest.raises(ParameterRangeError, match="'l7'.*weights"):
        flat.validate("l7")
    wrong_bias = LifLayerParams(np.zeros((2, 3), np.int32), 0, 0, 0, 1, np.zeros(3, np.int32), 0)
    with pytest.raises(ParameterRangeError, match="'l7'.*bias_mant"):
        wrong_bias.validate("l7")


def test_network_refuses_mismatched_layers_and_bad_input() -> None:
    with pytest.raises(ParameterRangeError):
        ReferenceNetwork([])
    with pytest.raises(ParameterRangeError, match="layer 1 expects 3 inputs"):
        ReferenceNetwork([params(np.zeros((2, 4))), params(np.zeros((5, 3)))])
    net = ReferenceNetwork([params(np.zeros((2, 4)))])
    with pytest.raises(ParameterRangeError):
        net.run(np.zeros((3, 4), dtype=bool))
    with pytest.raises(ParameterRangeError):
        net.run(np.zeros((3, 1, 5), dtype=bool))


def test_in_range_strategy_is_in_range() -> None:
    """Guard for the property tests above: their generator only builds valid layers."""

    @settings(max_examples=30, deadline=None)
    @given(layer=in_range_layer())
    def check(layer) -> None:
        layer.validate("gen")
        assert np.all(layer.weights % 2 == 0)

    check()
