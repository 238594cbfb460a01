"""Hypothesis strategies and builders shared by the tests: random in-range integer layers and
spike trains, and random LIF networks (`lif_network`), so every backend's property tests draw
networks the same way."""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import strategies as st

from snapdeploy.core.conv import ConvLayerParams, ConvSynapse, PoolSynapse
from snapdeploy.core.neuron import PARAM_RANGES, LifLayerParams


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
    max_exp = math.floor(math.log2((1 << 18) / (n_in * 256))) - 1
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


@st.composite
def spike_inputs(draw, steps: int, n: int, batch: tuple[int, int] = (1, 8)) -> np.ndarray:
    """A spike-input model's input: bool [batch, steps, n] at one of `RATES` (defined below),
    sometimes with no spike at all."""
    rate = draw(st.sampled_from((0.0, *RATES)))
    shape = (draw(st.integers(*batch)), steps, n)
    return random_spikes(shape, rate, draw(st.integers(0, 2**32 - 1)))


# ---------------------------------------------------------------- random LIF networks

#: Exponents: often 0..7 (so neurons fire), and anywhere in Lava's range.
WEIGHT_EXPS = st.one_of(st.integers(0, 7), st.integers(*PARAM_RANGES["weight_exp"]))
#: Thresholds: often small (so neurons fire), and anywhere in Lava's range.
THRESHOLDS = st.one_of(st.integers(0, 200), st.integers(*PARAM_RANGES["vth"]))
#: Input spike densities a network is driven at.
RATES = (0.05, 0.3, 0.8, 1.0)


@st.composite
def lif_layer(
    draw,
    n_in: int,
    n_out: int,
    rng: np.random.Generator,
    *,
    saturating: bool = False,
    density: float = 1.0,
) -> LifLayerParams:
    """Any valid Lava-form layer: weights (a fraction `density` of them non-zero) and biases
    from `rng`, the scalars drawn. With `saturating`, half the layers are extreme instead: no or
    full decay, largest weights, exponents and biases, so u wraps and v clips."""
    if saturating and draw(st.booleans()):
        return LifLayerParams(
            weights=2 * rng.choice([-128, 127], (n_out, n_in)),
            weight_exp=draw(st.integers(4, 7)),
            du=draw(st.sampled_from([0, 1, 4095])),
            dv=draw(st.sampled_from([0, 1, 4095])),
            vth=draw(st.sampled_from([0, (1 << 17) - 1])),
            bias_mant=rng.choice([-(1 << 12), (1 << 12) - 1], n_out),
            bias_exp=7,
        )
    weights = 2 * rng.integers(-128, 128, (n_out, n_in))
    if density < 1.0:
        weights = weights * (rng.random((n_out, n_in)) < density)
    return LifLayerParams(
        weights=weights,
        weight_exp=draw(WEIGHT_EXPS),
        du=draw(st.integers(*PARAM_RANGES["du"])),
        dv=draw(st.integers(*PARAM_RANGES["dv"])),
        vth=draw(THRESHOLDS),
        # full-range mantissas shifted right by 0..12: large and small biases alike
        bias_mant=rng.integers(*PARAM_RANGES["bias_mant"], endpoint=True, size=n_out)
        >> draw(st.integers(0, 12)),
        bias_exp=draw(st.integers(*PARAM_RANGES["bias_exp"])),
    )


def layer_widths(low: int = 1, high: int = 64, layers: tuple[int, int] = (1, 3)):
    """Widths of the input and of each of `layers` layers, each `low`..`high`."""
    return st.lists(st.integers(low, high), min_size=layers[0] + 1, max_size=layers[1] + 1)


@st.composite
def lif_layers(
    draw,
    widths=None,
    rng: np.random.Generator | None = None,
    *,
    saturating: bool = False,
    densities: tuple[float, ...] = (1.0,),
) -> list[LifLayerParams]:
    """Layers over `widths` (a list, or a strategy for one; default `layer_widths()`), all
    drawn with one weight density out of `densities`; see `lif_layer`."""
    widths = layer_widths() if widths is None else widths
    if isinstance(widths, st.SearchStrategy):
        widths = draw(widths)
    if rng is None:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    density = draw(st.sampled_from(densities))
    return [
        draw(lif_layer(n_in, n_out, rng, saturating=saturating, density=density))
        for n_in, n_out in itertools.pairwise(widths)
    ]


@st.composite
def lif_network(
    draw,
    widths=None,
    *,
    steps: tuple[int, int] = (1, 50),
    batch: tuple[int, int] = (1, 3),
    rates: tuple[float, ...] = RATES,
    saturating: bool = False,
    densities: tuple[float, ...] = (1.0,),
) -> tuple[list[LifLayerParams], np.ndarray, int]:
    """Layers (default: 1-3 of 1-64 neurons, see `lif_layers`), an input spike train
    [T, batch, n_in] with T in `steps` drawn at one of `rates`, and a step 0..T to split the
    run at (one window may be empty)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    layers = draw(lif_layers(widths, rng, saturating=saturating, densities=densities))
    n_steps = draw(st.integers(*steps))
    rate = draw(st.sampled_from(rates))
    spikes = rng.random((n_steps, draw(st.integers(*batch)), layers[0].n_in)) < rate
    return layers, spikes, draw(st.integers(0, n_steps))


# ---------------------------------------------------------------- float networks

#: Float current decays a SpikingLinear is drawn with: the integer extremes and a few between.
FLOAT_DUS = [1 / 4096, 1 / 64, 0.125, 0.5, 1.0]
#: Float voltage decays, likewise.
FLOAT_DVS = [0.0, 1 / 16, 0.25, 0.5, 4095 / 4096]


# ---------------------------------------------------------------- conv, pool and delay layers


def neuron_scalars(draw, rng: np.random.Generator, n_out: int, reset: str = "zero") -> dict:
    """The LIF half of a layer, drawn as `lif_layer` draws it (small thresholds often)."""
    return {
        "du": draw(st.integers(*PARAM_RANGES["du"])),
        "dv": draw(st.integers(*PARAM_RANGES["dv"])),
        "vth": draw(THRESHOLDS),
        "bias_mant": rng.integers(-(1 << 12), 1 << 12, n_out) >> draw(st.integers(0, 12)),
        "bias_exp": draw(st.integers(*PARAM_RANGES["bias_exp"])),
        "reset": reset,
    }


@st.composite
def conv_synapse(draw, max_side: int = 7):
    """Any Lava Conv over a small image: kernel, stride, padding, dilation, groups, exponent."""
    groups = draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride, padding, dilation = (
        tuple(draw(st.integers(low, high)) for _ in range(2))
        for low, high in ((1, 3), (0, 2), (1, 2))
    )
    sides = []
    for a in range(2):
        least = max(1, dilation[a] * (kernel[a] - 1) + 1 - 2 * padding[a])
        sides.append(draw(st.integers(least, max(least, max_side))))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return ConvSynapse(
        weights=rng.integers(-256, 256, (c_out, *kernel, c_in // groups)),
        input_shape=(sides[0], sides[1], c_in),
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        weight_exp=draw(st.integers(0, 7)),
    )


@st.composite
def pool_synapse(draw):
    """slayer's sum pool over an image the kernel tiles, with any integer weight."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    shape = (kernel[0] * draw(st.integers(1, 3)), kernel[1] * draw(st.integers(1, 3)))
    return PoolSynapse(kernel, draw(st.integers(-256, 255)), (*shape, draw(st.integers(1, 3))))


@st.composite
def conv_layer(draw, reset: str = "zero"):
    """A Conv or sum-pool synapse feeding a LIF population."""
    synapse = draw(st.one_of(conv_synapse(), pool_synapse()))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return ConvLayerParams(synapse, **neuron_scalars(draw, rng, synapse.n_out, reset))


@st.composite
def delay_layer(draw, n_in: int | None = None, n_out: int | None = None, reset: str = "zero"):
    """A DelayDense + LIF layer: Lava-form weights, a delay per synapse up to a drawn maximum."""
    n_in = n_in if n_in is not None else draw(st.integers(1, 10))
    n_out = n_out if n_out is not None else draw(st.integers(1, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    max_delay = draw(st.sampled_from([0, 1, 3, 62]))
    return LifLayerParams(
        weights=2 * rng.integers(-128, 128, (n_out, n_in)),
        weight_exp=draw(st.integers(-8, 3)),
        delays=rng.integers(0, max_delay, (n_out, n_in), endpoint=True),
        **neuron_scalars(draw, rng, n_out, reset),
    )


@st.composite
def kinds_network(draw, steps: tuple[int, int] = (1, 24)):
    """A network of every layer kind beyond Dense, as `lif_network` returns one: a conv or
    pool layer, then a pool over its output where the kernel tiles it, then a delay layer, each
    resetting to zero or by subtraction; the input spikes and a step to split the run at."""
    resets = st.sampled_from(["zero", "subtract"])
    layers = [draw(conv_layer(reset=draw(resets)))]
    x, y, channels = layers[0].synapse.output_shape
    if x % 2 == 0 and y % 2 == 0 and draw(st.booleans()):
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        pool = PoolSynapse((2, 2), draw(st.integers(1, 255)), (x, y, channels))
        layers.append(ConvLayerParams(pool, **neuron_scalars(draw, rng, pool.n_out, draw(resets))))
    layers.append(draw(delay_layer(n_in=layers[-1].n_out, reset=draw(resets))))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_steps = draw(st.integers(*steps))
    spikes = rng.random((n_steps, draw(st.integers(1, 2)), layers[0].n_in)) < draw(
        st.sampled_from(RATES)
    )
    return layers, spikes, draw(st.integers(0, n_steps))
