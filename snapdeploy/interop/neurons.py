"""NIR's continuous-time neurons <-> our discrete LIF, by forward Euler with step dt.

NIR's LIF, `tau dv/dt = (v_leak - v) + r I`, one Euler step of dt is
`v += (dt/tau) (v_leak - v + r I)`; CubaLIF adds `tau_syn dI/dt = -I + w_in S`, stepped the
same way and used in v at its new value; IF is `dv/dt = r I`. Our LIF is
`u = u (1 - du) + a;  v = v (1 - dv) + u + bias` with `a` the synapse's output, so:

    dv = dt / tau_mem          (0 for IF)
    du = dt / tau_syn          (1 for LIF and IF: the current is the input)
    gain = dv r                (LIF)   |  dv r du w_in  (CubaLIF)  |  dt r  (IF)
    bias = dv v_leak           (v_leak must be 0 for IF, which has none)

where `gain` multiplies the weights into the neuron. Our du and dv are one per layer, so tau
must be shared by a layer's neurons; thresholds, r and v_leak may differ per neuron (they
fold into the weights and bias). v_reset must be 0 and spiking is `v > v_threshold`, as in
NIR; whether v is zeroed or the threshold subtracted NIR does not say (the reader's `reset`). Writing inverts these with gain 1, choosing tau and r so that
reading them back gives our du, dv and gain bit for bit (du, dv: within 1 float64 ulp
where no float tau divides to them exactly; see `preimage`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import nir
import numpy as np

from snapdeploy.core.errors import ParameterRangeError
from snapdeploy.interop.errors import UnsupportedNirNodeError
from snapdeploy.nn.lif import check_decays

NEURON_NODES = (nir.LIF, nir.CubaLIF, nir.IF)
#: Relative spread of tau across a layer that still counts as one shared value.
SHARED_TOLERANCE = 1e-9


def as_array(value: Any) -> np.ndarray:
    """A float64 numpy copy of a NIR parameter (files hold numpy; exporters may pass torch)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


@dataclass(frozen=True)
class DiscreteNeuron:
    """A layer of our LIF: shared decays, per-neuron input gain, threshold and bias."""

    du: float
    dv: float
    gain: np.ndarray
    vth: np.ndarray
    bias: np.ndarray


def per_neuron(name: str, field: str, value: Any, n: int) -> np.ndarray:
    """A parameter as a length-n vector; a single value is shared by every neuron."""
    array = as_array(value).reshape(-1)
    if array.size == 1:
        return np.full(n, array[0])
    if array.size != n:
        raise ParameterRangeError(
            f"NIR node '{name}': {field} has {array.size} values for {n} neurons; fix: give "
            f"one value per neuron or a single shared value"
        )
    return array


def shared(name: str, field: str, values: np.ndarray) -> float:
    """The one value a layer's neurons share, or an error naming the spread."""
    low, high = float(values.min()), float(values.max())
    if high - low > SHARED_TOLERANCE * max(abs(low), abs(high)):
        raise ParameterRangeError(
            f"NIR node '{name}': {field} ranges over [{low:.6g}, {high:.6g}], but snapdeploy's "
            f"LIF shares one decay per layer; fix: train with one {field} per layer "
            f"(e.g. the mean, {float(values.mean()):.6g})"
        )
    return float(values[0])


def checked_decays(name: str, du: float, dv: float) -> None:
    try:
        check_decays(du, dv)
    except ParameterRangeError as exc:
        raise ParameterRangeError(
            f"NIR node '{name}': {exc} (tau must be at least dt: is --dt right?)"
        ) from exc


def discretize(name: str, node: nir.NIRNode, n: int, dt: float) -> DiscreteNeuron:
    """A LIF, CubaLIF or IF node with n neurons as our LIF at time step dt."""
    vec = lambda field: per_neuron(name, field, getattr(node, field), n)
    reset = vec("v_reset")
    if np.any(reset != 0):
        raise UnsupportedNirNodeError(
            f"NIR node '{name}': v_reset is {reset.min():.4g}..{reset.max():.4g}, but our LIF "
            f"resets to 0; fix: reset to 0 (shift v_leak and v_threshold by -v_reset)"
        )
    if isinstance(node, nir.IF):
        du, dv = 1.0, 0.0
        gain, bias = dt * vec("r"), np.zeros(n)
    else:
        tau = vec("tau_mem" if isinstance(node, nir.CubaLIF) else "tau")
        dv = shared(name, "tau", dt / tau)
        gain, bias = dv * vec("r"), dv * vec("v_leak")
        du = 1.0
        if isinstance(node, nir.CubaLIF):
            du = shared(name, "tau_syn", dt / vec("tau_syn"))
            gain = gain * (du * vec("w_in"))
    checked_decays(name, du, dv)
    vth = vec("v_threshold")
    if np.any(gain <= 0) or np.any(vth <= 0):
        raise ParameterRangeError(
            f"NIR node '{name}': needs positive r, w_in and v_threshold (our threshold is a "
            f"positive bound on v); fix: retrain with positive thresholds"
        )
    return DiscreteNeuron(du, dv, gain, vth, bias)


def preimage(target: float, decode: Callable[[float], float], guess: float) -> float:
    """A float near `guess` that `decode` maps to `target` exactly, searching a few ulps.

    Floating division does not invert exactly (dt / (dt / dv) may be dv +- 1 ulp), so the
    writer picks, among the neighbours of the obvious value, one that reads back exactly.
    For about one value in eight none exists (the quotient skips it); then `guess`, which
    reads back within 1 ulp of float64, far below the float32 the LIF computes in.
    """
    low = high = guess
    for _ in range(64):
        for candidate in (low, high):
            if decode(candidate) == target:
                return candidate
        low, high = float(np.nextafter(low, -math.inf)), float(np.nextafter(high, math.inf))
    return guess


def continuous(du: float, dv: float, vth: np.ndarray, bias: np.ndarray, dt: float) -> nir.NIRNode:
    """Our LIF layer (gain 1) as the NIR node that `discretize` reads back to it exactly."""
    n = vth.size
    full = lambda value: np.full(n, value, dtype=np.float64)
    if dv == 0:
        if np.any(bias != 0) or du != 1:
            raise UnsupportedNirNodeError(
                "a layer with dv=0 and a bias or a current decay du<1 has no NIR node (IF has "
                "neither); fix: use a voltage decay dv>0"
            )
        return nir.IF(r=full(preimage(1.0, lambda r: dt * r, 1 / dt)), v_threshold=vth)
    if not math.isfinite(dt / dv) or (du < 1 and not math.isfinite(dt / du)):
        raise UnsupportedNirNodeError(
            f"decays du={du}, dv={dv} give an infinite tau at dt={dt}; fix: use dv=0 (IF) or "
            f"a decay of at least 1/4096"
        )
    tau = preimage(dv, lambda t: dt / t, dt / dv)
    r = preimage(1.0, lambda r: dv * r, 1 / dv)
    v_leak = bias.astype(np.float64) / dv
    if du == 1:
        return nir.LIF(tau=full(tau), r=full(r), v_leak=v_leak, v_threshold=vth, v_reset=full(0.0))
    return nir.CubaLIF(
        tau_syn=full(preimage(du, lambda t: dt / t, dt / du)),
        tau_mem=full(tau),
        r=full(r),
        v_leak=v_leak,
        v_threshold=vth,
        v_reset=full(0.0),
        w_in=full(preimage(1.0, lambda w: du * w, 1 / du)),
    )
