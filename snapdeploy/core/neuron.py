"""The integer neuron every backend must reproduce bit for bit.

This is Lava 0.10.0's fixed-point current-based LIF (`lava.proc.lif`, `fixed_pt`) behind its
`Dense` synapse, written as vectorized numpy over batch and neurons. Per layer and step::

    a_accum = W @ s_in[t]                      # Dense: spikes that arrived this step
    a       = a_accum << weight_exp            # (>> -weight_exp when negative, arithmetic)
    # Dense sends the value it accumulated on the previous step: a spike lands one step later.
    u = wrap24(decay(u, du + 1) + (a_prev << 6))
    v = clip(decay(v, dv) + u + (bias_mant << bias_exp), -(2**23 - 1), 2**23 - 1)
    s = v > (vth << 6);  v[s] = 0              # u is not reset

with ``decay(x, d) = sign(x * (4096 - d)) * (|x * (4096 - d)| >> 12)`` (rounding toward
zero). ``wrap24`` is Lava's single conditional correction, not a modulo: above 2**23 it
subtracts 2**24, at or below -2**23 it adds 2**24. Sums are kept in int64 and never
truncated to the 16-bit port width, as Lava's simulator does.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from snapdeploy.core import lif_native
from snapdeploy.core.errors import ParameterRangeError

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
}

#: How each parameter can be brought into range, for error messages.
PARAM_FIXES: dict[str, str] = {
    "weights": "export with fewer weight bits or a larger weight_exp",
    "weight_exp": "rescale the layer's weights so an exponent in [-8, 7] suffices",
    "du": "use a current decay between 1/4096 and 1 (du_int = round(du * 4096) - 1)",
    "dv": "use a voltage decay between 0 and 4095/4096",
    "vth": "lower the threshold relative to the weights, or scale the weights down",
    "bias_mant": "use a larger bias_exp or a smaller bias",
    "bias_exp": "use a bias that fits 13 bits << 7",
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


@dataclass(frozen=True)
class LifLayerParams:
    """One spiking layer's integer parameters: a Dense synapse feeding a LIF population."""

    weights: np.ndarray  # int [n_out, n_in], even values in [-256, 254]
    weight_exp: int
    du: int
    dv: int
    vth: int
    bias_mant: np.ndarray  # int [n_out]
    bias_exp: int

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
        if self.bias_mant.shape != (self.n_out,):
            raise ParameterRangeError(
                f"layer '{layer}': bias_mant has shape {self.bias_mant.shape}, expected "
                f"({self.n_out},); fix: give one bias per output neuron"
            )
        for name in PARAM_RANGES:
            check_range(layer, name, getattr(self, name))
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
    """Per-layer state across steps: current, voltage, and Dense's one-step buffer."""

    u: np.ndarray  # int64 [batch, n_out]
    v: np.ndarray  # int64 [batch, n_out]
    a_pending: np.ndarray = field(repr=False)  # int64 [batch, n_out], sent next step

    @classmethod
    def zeros(cls, batch: int, n: int) -> LayerState:
        return cls(*(np.zeros((batch, n), dtype=np.int64) for _ in range(3)))


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
    spikes = v > (params.vth << VTH_SHIFT)
    state.v = np.where(spikes, 0, v)
    return spikes


def run_layer(state: LayerState, spikes_in: np.ndarray, params: LifLayerParams) -> np.ndarray:
    """A window of T steps of one Dense + LIF layer; bool [T, batch, n_out]."""
    steps = spikes_in.shape[0]
    out = np.zeros((steps, *state.u.shape), dtype=bool)
    if steps == 0:
        return out
    activations = dense_activation(params.weights, spikes_in, params.weight_exp)
    arrived = np.concatenate([state.a_pending[None], activations[:-1]])
    state.a_pending = activations[-1]
    for t in range(steps):
        out[t] = lif_step(state, arrived[t], params)
    return out


class ReferenceNetwork:
    """A chain of Dense + LIF layers run over time: the oracle every backend is tested against.

    Layer i+1 receives layer i's spikes of the same step (and, through its own Dense, sees
    them one step later), exactly as a chain of Lava processes does.

    With `native` (the default) the layers run the compiled kernel of `core.lif_native`,
    bit-equal to this module's numpy functions, which run when `native` is off, the kernel
    cannot be built here (with a warning saying why), or a layer's weights are not in Lava's
    even 8-bit form (an unvalidated layer).
    """

    def __init__(self, layers: list[LifLayerParams], native: bool = True):
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
        # per layer: the compiled layer, or None where its weights need numpy's int64
        self.native = (
            [
                lif_native.NativeLayer(p, bias_value(p.bias_mant, p.bias_exp))
                if lif_native.NativeLayer.takes(p)
                else None
                for p in layers
            ]
            if native and lif_native.available()
            else None
        )

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out

    def reset(self, batch: int) -> None:
        self.states = [LayerState.zeros(batch, p.n_out) for p in self.layers]

    def advance(self, spikes_in: np.ndarray) -> list[np.ndarray]:
        """Run bool [T, batch, n_in] on from the current state; every layer's spikes.

        Layers are feed-forward, so each runs its whole window before the next (in numpy:
        one BLAS product per layer for all T steps, then the LIF loop over time). Equal to
        calling `step` T times.
        """
        per_layer = []
        spikes = spikes_in.astype(bool)
        for i, (state, params) in enumerate(zip(self.states, self.layers)):
            compiled = self.native[i] if self.native else None
            spikes = compiled.run(state, spikes) if compiled else run_layer(state, spikes, params)
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
