"""The integer neuron every backend must reproduce bit for bit.

This is Lava 0.10.0's fixed-point current-based LIF (`lava.proc.lif`, `fixed_pt`) behind its
`Dense` synapse, written as vectorized numpy over batch and neurons. Per layer and step::

    a_accum = W @ s_in[t]                      # Dense: spikes that arrived this step
    a       = a_accum << weight_exp            # (>> -weight_exp when negative, arithmetic)
    # Dense sends the value it accumulated on the previous step: a spike lands one step later.
    u = wrap24(decay(u, du + 1) + (a_prev << 6))
    v = clip(decay(v, dv) + u + (bias_mant << bias_exp), -(2**23 - 1), 2**23 - 1)
    s = v > (vth << 6);  v[s] = 0              # u is not reset
    # (reset="subtract", snnTorch's default: v[s] -= vth << 6 instead)

with ``decay(x, d) = sign(x * (4096 - d)) * (|x * (4096 - d)| >> 12)`` (rounding toward
zero). ``wrap24`` is Lava's single conditional correction, not a modulo: above 2**23 it
subtracts 2**24, at or below -2**23 it adds 2**24. Sums are kept in int64 and never
truncated to the 16-bit port width, as Lava's simulator does.

Beyond Dense: per-synapse axonal delays as Lava's `DelayDense` (`delays` [n_out, n_in] in
steps; a spike over a synapse of delay d lands d steps later than over Dense; each delay's sum
is shifted by weight_exp on its own, as Lava does), and convolution and sum pooling
(`core.conv`). Every layer kind shares this LIF.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from snapdeploy.core import lif_native
from snapdeploy.core.errors import ParameterRangeError

if TYPE_CHECKING:
    from snapdeploy.core.conv import ConvLayerParams

DECAY_SHIFT = 12
DECAY_UNITY = 1 << DECAY_SHIFT
ACT_SHIFT = 6
VTH_SHIFT = 6
DU_OFFSET = 1
STATE_LIMIT = 1 << 23
V_MAX = STATE_LIMIT - 1
#: Largest |activation| allowed: a << 6 plus the states must stay inside Lava's int32.
ACTIVATION_LIMIT = 1 << 24

#: (low, high) inclusive ranges of each integer parameter, as Loihi/Lava hold them.
PARAM_RANGES: dict[str, tuple[int, int]] = {
    "weights": (-256, 254),
    "weight_exp": (-8, 7),
    "du": (0, DECAY_UNITY - 1),
    "dv": (0, DECAY_UNITY - 1),
    "vth": (0, (1 << 17) - 1),
    "bias_mant": (-(1 << 12), (1 << 12) - 1),
    "bias_exp": (0, 7),
    # Lava's DelayDense takes 0..63; netx builds it with a buffer of 62 and clamps to that
    "delays": (0, 62),
}

#: How a neuron resets on a spike: to zero (Lava's LIF) or by subtracting its threshold.
RESETS = ("zero", "subtract")

#: How each parameter can be brought into range, for error messages.
PARAM_FIXES: dict[str, str] = {
    "weights": "export with fewer weight bits or a larger weight_exp",
    "weight_exp": "rescale the layer's weights so an exponent in [-8, 7] suffices",
    "du": "use a current decay between 1/4096 and 1 (du_int = round(du * 4096) - 1)",
    "dv": "use a voltage decay between 0 and 4095/4096",
    "vth": "lower the threshold relative to the weights, or scale the weights down",
    "bias_mant": "use a larger bias_exp or a smaller bias",
    "bias_exp": "use a bias that fits 13 bits << 7",
    "delays": "keep every synaptic delay within 62 steps (Loihi's delay field)",
}


def check_range(layer: str, name: str, values: np.ndarray | int) -> None:
    """Refuse a parameter outside its Loihi width, naming layer, range and fix."""
    low, high = PARAM_RANGES[name]
    arr = np.asarray(values)
    if arr.size == 0:
        return
    lo_seen, hi_seen = int(arr.min()), int(arr.max())
    if lo_seen < low or hi_seen > high:
        raise ParameterRangeError(
            f"layer '{layer}': {name} spans [{lo_seen}, {hi_seen}] but must lie in "
            f"[{low}, {high}]; fix: {PARAM_FIXES[name]}"
        )


def validate_neuron(layer: str, params: LifLayerParams | ConvLayerParams) -> None:
    """Check the LIF half of any layer: bias shape, reset and every width."""
    if params.bias_mant.shape != (params.n_out,):
        raise ParameterRangeError(
            f"layer '{layer}': bias_mant has shape {params.bias_mant.shape}, expected "
            f"({params.n_out},); fix: give one bias per output neuron"
        )
    if params.reset not in RESETS:
        raise ParameterRangeError(
            f"layer '{layer}': reset '{params.reset}' is not one of {', '.join(RESETS)}"
        )
    for name in ("du", "dv", "vth", "bias_mant", "bias_exp"):
        check_range(layer, name, getattr(params, name))


def reset_kinds(reset: str) -> frozenset[str]:
    """The layer kind a reset adds: subtract reset is one a backend must declare."""
    return frozenset({"subtract_reset"}) if reset == "subtract" else frozenset()


@dataclass(frozen=True)
class LifLayerParams:
    """One spiking layer's integer parameters: a Dense synapse feeding a LIF population.

    With `delays` the synapse is Lava's DelayDense; `reset` picks the neuron's reset.
    """

    weights: np.ndarray  # int [n_out, n_in], even values in [-256, 254]
    weight_exp: int
    du: int
    dv: int
    vth: int
    bias_mant: np.ndarray  # int [n_out]
    bias_exp: int
    delays: np.ndarray | None = None  # int [n_out, n_in] in steps, 0..62
    reset: str = "zero"

    @property
    def kinds(self) -> frozenset[str]:
        """The layer kinds a backend must support to run this layer."""
        synapse = {"dense", "delay"} if self.delays is not None else {"dense"}
        return frozenset(synapse) | reset_kinds(self.reset)

    @property
    def synapses(self) -> int:
        """Non-zero weights: the synaptic events one spike of each input makes, summed."""
        return int(np.count_nonzero(self.weights))

    @property
    def delay_depth(self) -> int:
        """Columns of the synapse's delay buffer (Lava's max_delay + 1); 0 without delays."""
        return 0 if self.delays is None else int(self.delays.max(initial=0)) + 1

    def activations_fn(self, native: bool) -> Callable[[np.ndarray], np.ndarray]:
        """`activations` (a plain Dense layer's compiled form is `native_layer`)."""
        return self.activations

    def native_layer(self, bias: np.ndarray) -> lif_native.NativeLayer | None:
        """The layer compiled whole (`lif_native.NativeLayer`), where its weights allow."""
        return lif_native.NativeLayer(self, bias) if lif_native.NativeLayer.takes(self) else None

    def activations(self, spikes: np.ndarray) -> np.ndarray:
        """int64 [..., n_out] a Dense synapse sends (a delay line's: `delayed_activations`)."""
        return dense_activation(self.weights, spikes, self.weight_exp)

    def delayed_activations(self, spikes: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """Each delay its non-zero weights use, with the activation [..., n_out] of the
        synapses of that delay: each delay's sum shifted on its own, as Lava's DelayDense does."""
        for delay in np.unique(self.delays[self.weights != 0]).tolist():
            weights = np.where(self.delays == delay, self.weights, 0)
            yield delay, dense_activation(weights, spikes, self.weight_exp)

    @property
    def n_in(self) -> int:
        return int(self.weights.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weights.shape[0])

    def validate(self, layer: str) -> None:
        """Check shapes and every width; raises ParameterRangeError naming the layer."""
        if self.weights.ndim != 2:
            raise ParameterRangeError(
                f"layer '{layer}': weights must be 2-D [n_out, n_in], got shape "
                f"{self.weights.shape}; fix: flatten the synapse to a dense matrix"
            )
        validate_neuron(layer, self)
        check_range(layer, "weights", self.weights)
        check_range(layer, "weight_exp", self.weight_exp)
        if self.delays is not None:
            if self.delays.shape != self.weights.shape:
                raise ParameterRangeError(
                    f"layer '{layer}': delays have shape {self.delays.shape}, the weights "
                    f"{self.weights.shape}; fix: give one delay per synapse"
                )
            check_range(layer, "delays", self.delays)
        most, least = activation_extremes(self.weights, self.weight_exp)
        if max(most, -least) > ACTIVATION_LIMIT:
            raise ParameterRangeError(
                f"layer '{layer}': its inputs can sum to an activation of "
                f"{max(most, -least)}, beyond {ACTIVATION_LIMIT} (Lava computes a << 6 and "
                f"the state sums in 32 bits, so larger sums would wrap there); fix: lower "
                f"weight_exp or split the layer's fan-in"
            )
        if np.any(self.weights % 2):
            raise ParameterRangeError(
                f"layer '{layer}': weights must be even (Lava keeps 8-bit mixed-sign weights "
                f"as multiples of 2) but some are odd; fix: export them with snapdeploy, or "
                f"double them and lower weight_exp by one"
            )


@dataclass
class LayerState:
    """Per-layer state across steps: current, voltage, and the synapse's buffer.

    `a_pending` is what the synapse sends next step, [batch, n_out]; with delays it is Lava
    DelayDense's buffer [batch, n_out, depth], column k sent k + 1 steps from now.
    """

    u: np.ndarray  # int64 [batch, n_out]
    v: np.ndarray  # int64 [batch, n_out]
    a_pending: np.ndarray = field(repr=False)

    @classmethod
    def zeros(cls, batch: int, n: int, delay_depth: int = 0) -> LayerState:
        pending = (batch, n, delay_depth) if delay_depth else (batch, n)
        u, v = (np.zeros((batch, n), dtype=np.int64) for _ in range(2))
        return cls(u, v, np.zeros(pending, dtype=np.int64))

    @classmethod
    def for_layer(cls, batch: int, params: LifLayerParams | ConvLayerParams) -> LayerState:
        return cls.zeros(batch, params.n_out, getattr(params, "delay_depth", 0))


def shift(x: np.ndarray, exp: int) -> np.ndarray:
    """Left shift for exp >= 0, arithmetic right shift otherwise (numpy >> is arithmetic)."""
    return np.left_shift(x, exp) if exp >= 0 else np.right_shift(x, -exp)


def decay(x: np.ndarray, d: int) -> np.ndarray:
    """Multiply by (4096 - d) / 4096 rounding toward zero, in int64 as Lava does."""
    product = x.astype(np.int64) * (DECAY_UNITY - d)
    return np.sign(product) * np.right_shift(np.abs(product), DECAY_SHIFT)


def wrap24(u: np.ndarray) -> np.ndarray:
    """Lava's one-step 24-bit overflow correction of the current."""
    u = np.where(u > STATE_LIMIT, u - 2 * STATE_LIMIT, u)
    return np.where(u <= -STATE_LIMIT, u + 2 * STATE_LIMIT, u)


def dense_activation(weights: np.ndarray, spikes: np.ndarray, weight_exp: int) -> np.ndarray:
    """Dense synapse: int64 [..., n_out] activation from bool spikes [..., n_in].

    The product runs in float64 so numpy hands it to BLAS (an int64 matmul does not); it is
    exact, because every partial sum is an integer below 2**53 (|w| <= 256 per input).
    """
    accum = spikes.astype(np.float64) @ weights.T.astype(np.float64)
    return shift(accum.astype(np.int64), weight_exp)


def activation_extremes(weights: np.ndarray, weight_exp: int) -> tuple[int, int]:
    """The most positive and most negative activation any input pattern can give a neuron.

    Dense shifts the signed sum (an arithmetic right shift floors), so the extremes are the
    shifted sums of each row's positive and of its negative weights.
    """
    w = weights.astype(np.int64)
    most = shift(np.where(w > 0, w, 0).sum(axis=1), weight_exp).max(initial=0)
    least = shift(np.where(w < 0, w, 0).sum(axis=1), weight_exp).min(initial=0)
    return int(most), int(least)


def bias_value(bias_mant: np.ndarray, bias_exp: int) -> np.ndarray:
    """The bias added to v each step: mantissa << exponent (not shifted by 6)."""
    return shift(bias_mant.astype(np.int64), bias_exp)


def lif_step(state: LayerState, activation: np.ndarray, params: LifLayerParams) -> np.ndarray:
    """Advance one LIF step in place with this step's activation; return bool spikes."""
    state.u = wrap24(decay(state.u, params.du + DU_OFFSET) + np.left_shift(activation, ACT_SHIFT))
    v = decay(state.v, params.dv) + state.u + bias_value(params.bias_mant, params.bias_exp)
    v = np.clip(v, -V_MAX, V_MAX)
    threshold = params.vth << VTH_SHIFT
    spikes = v > threshold
    state.v = np.where(spikes, v - threshold if params.reset == "subtract" else 0, v)
    return spikes


def arrivals(state: LayerState, activations: np.ndarray) -> np.ndarray:
    """What reaches the neurons at each of T steps, given the synapse's activations then: a
    plain synapse sends the previous step's activation."""
    arrived = np.concatenate([state.a_pending[None], activations[:-1]])
    state.a_pending = activations[-1]
    return arrived


def delay_arrivals(
    state: LayerState, per_delay: Iterable[tuple[int, np.ndarray]], steps: int
) -> np.ndarray:
    """What reaches the neurons at each of T steps through a delay line.

    Lava's DelayDense sends its buffer's first column, shifts the rest one column forward
    and adds this step's activation of delay k to column k, so an activation of delay k
    computed at step t lands at t + 1 + k. Laid out on a timeline of the window and the
    buffer's depth: the buffer's column k lands at step k, and what lands past the window
    is the next buffer.
    """
    depth = state.a_pending.shape[-1]
    timeline = np.zeros((steps + depth, *state.u.shape), dtype=np.int64)
    timeline[:depth] += np.moveaxis(state.a_pending, -1, 0)
    for delay, activation in per_delay:
        timeline[1 + delay : 1 + delay + steps] += activation
    state.a_pending = np.ascontiguousarray(np.moveaxis(timeline[steps:], 0, -1))
    return timeline[:steps]


def run_layer(
    state: LayerState,
    spikes_in: np.ndarray,
    params: LifLayerParams,
    activations: Callable[[np.ndarray], np.ndarray] | None = None,
    step: Callable[[LayerState, np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """A window of T steps of one synapse + LIF layer; bool [T, batch, n_out].

    `activations` and `step` stand in for `params.activations` and `lif_step` (the reference
    network passes their compiled twins where they build).
    """
    steps = spikes_in.shape[0]
    out = np.zeros((steps, *state.u.shape), dtype=bool)
    if steps == 0:
        return out
    if state.a_pending.ndim == 3:  # a delay line (core's Dense alone has one)
        arrived = delay_arrivals(state, params.delayed_activations(spikes_in), steps)
    else:
        arrived = arrivals(state, (activations or params.activations)(spikes_in))
    for t in range(steps):
        out[t] = step(state, arrived[t]) if step else lif_step(state, arrived[t], params)
    return out


class ReferenceNetwork:
    """A chain of spiking layers (Dense, DelayDense, Conv, pool + LIF) run over time: the oracle every backend is tested against.

    Layer i+1 receives layer i's spikes of the same step (and, through its own Dense, sees
    them one step later), exactly as a chain of Lava processes does.

    With `native` (the default) Dense layers run the compiled kernel of `core.lif_native`,
    conv and pool layers that of `core.conv_native` (synapse and LIF in one window), and
    every other LIF the compiled step, all bit-equal to the numpy functions, which run when
    `native` is off, a kernel cannot be built here (with a warning saying why), for what has
    no compiled form (delay lines), or where a layer's weights are not in Lava's even 8-bit
    form or a conv's sums would not fit int32.
    """

    def __init__(self, layers: list[LifLayerParams | ConvLayerParams], native: bool = True):
        if not layers:
            raise ParameterRangeError("a spiking network needs at least one layer")
        for i, (prev, nxt) in enumerate(itertools.pairwise(layers)):
            if prev.n_out != nxt.n_in:
                raise ParameterRangeError(
                    f"layer {i + 1} expects {nxt.n_in} inputs but layer {i} has "
                    f"{prev.n_out} neurons; fix: make consecutive layer sizes agree"
                )
        self.layers = layers
        self.states: list[LayerState] = []
        compiled = native and lif_native.available()
        # per layer: the layer compiled whole, or None where it has no compiled form (delay
        # lines) or its weights need numpy's int64 (those get the compiled LIF step)
        self.native = (
            [p.native_layer(bias_value(p.bias_mant, p.bias_exp)) for p in layers]
            if compiled
            else None
        )
        self.runners = [
            self.native[i].run if self.native and self.native[i] else self.runner(p, native)
            for i, p in enumerate(layers)
        ]

    @staticmethod
    def runner(
        params: LifLayerParams | ConvLayerParams, native: bool
    ) -> Callable[[LayerState, np.ndarray], np.ndarray]:
        """`run_layer` for one layer, with its compiled synapse and LIF step where `native`
        asks and they build."""
        step = None
        if native and lif_native.available():
            bias = bias_value(params.bias_mant, params.bias_exp)
            step = functools.partial(lif_native.lif_step, params=params, bias=bias)
        return functools.partial(
            run_layer, params=params, activations=params.activations_fn(native), step=step
        )

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out

    def reset(self, batch: int) -> None:
        self.states = [LayerState.for_layer(batch, p) for p in self.layers]

    def advance(self, spikes_in: np.ndarray) -> list[np.ndarray]:
        """Run bool [T, batch, n_in] on from the current state; every layer's spikes.

        Layers are feed-forward, so each runs its whole window before the next (in numpy:
        one BLAS product per layer for all T steps, then the LIF loop over time). Equal to
        calling `step` T times.
        """
        per_layer = []
        spikes = spikes_in.astype(bool)
        for state, run in zip(self.states, self.runners):
            spikes = run(state, spikes)
            per_layer.append(spikes)
        return per_layer

    def step(self, spikes_in: np.ndarray) -> list[np.ndarray]:
        """Advance every layer one step; return each layer's bool spikes [batch, n_out]."""
        return [spikes[0] for spikes in self.advance(spikes_in[None])]

    def run(self, spikes_in: np.ndarray, record_all: bool = False) -> list[np.ndarray]:
        """Run bool [T, batch, n_in] from a fresh state.

        Returns the last layer's spikes [T, batch, n_out] in a one-item list, or every
        layer's when `record_all` is set.
        """
        if spikes_in.ndim != 3 or spikes_in.shape[2] != self.n_in:
            raise ParameterRangeError(
                f"input spikes must be [T, batch, {self.n_in}], got {spikes_in.shape}"
            )
        self.reset(spikes_in.shape[1])
        per_layer = self.advance(spikes_in)
        return per_layer if record_all else per_layer[-1:]
