"""Hypothesis strategies and builders shared by the tests: random in-range integer layers and
spike trains, so every backend's property tests draw networks the same way."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from snapdeploy.core.neuron import LifLayerParams


def params(
    weights,
    weight_exp: int = 0,
    du: int = 0,
    dv: int = 0,
    vth: int = 10,
    bias_mant=None,
    bias_exp: int = 0,
) -> LifLayerParams:
    weights = np.asarray(weights, dtype=np.int32)
    if bias_mant is None:
        bias_mant = np.zeros(weights.shape[0], dtype=np.int32)
    return LifLayerParams(
        weights=weights,
        weight_exp=weight_exp,
        du=du,
        dv=dv,
        vth=vth,
        bias_mant=np.asarray(bias_mant, dtype=np.int32),
        bias_exp=bias_exp,
    )


@st.composite
def in_range_layer(draw, n_in: int | None = None, n_out: int | None = None) -> LifLayerParams:
    n_in = n_in if n_in is not None else draw(st.integers(1, 12))
    n_out = n_out if n_out is not None else draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # keep |a| << 6 below 2**24 so one wrap correction brings u back into 24 bits
    max_exp = int(math.floor(math.log2((1 << 18) / (n_in * 256)))) - 1
    weight_exp = draw(st.integers(-8, min(7, max_exp)))
    return params(
        2 * rng.integers(-128, 128, size=(n_out, n_in)),
        weight_exp=weight_exp,
        du=draw(st.integers(0, 4095)),
        dv=draw(st.integers(0, 4095)),
        vth=draw(st.one_of(st.integers(0, 200), st.integers(0, (1 << 17) - 1))),
        bias_mant=rng.integers(-4096, 4096, size=n_out),
        bias_exp=draw(st.integers(0, 7)),
    )


def random_spikes(shape: tuple[int, ...], density: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(shape) < density
