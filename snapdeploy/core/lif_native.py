"""The integer neuron compiled (`lif_int.cpp`): what `core.neuron` specifies, 10-100x faster.

`core.neuron` stays the readable specification and the numpy path; this module runs the same
arithmetic in one compiled loop per step, bit-equal (tests/core/test_lif_native.py). Callers
pass the spec's own state and parameter objects; arrays are handed over by pointer, so they
must be C-contiguous int64 (states) and are updated in place.
"""

from __future__ import annotations

import ctypes
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from snapdeploy.core.errors import SnapdeployError
from snapdeploy.core.native import BASE_FLAGS, builds, load_library, pointer, threads
from snapdeploy.core.resources import package_path

if TYPE_CHECKING:
    from snapdeploy.core.neuron import LayerState, LifLayerParams

SOURCE = package_path("snapdeploy.core", "lif_int.cpp")


class NativeNeuronError(SnapdeployError):
    """The compiled integer neuron could not be built or loaded."""


@cache
def kernel() -> ctypes.CDLL:
    lib = load_library(
        SOURCE, BASE_FLAGS, NativeNeuronError, "use ReferenceNetwork(native=False) (numpy)"
    )
    ptr, i64, c_int = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    lib.lif_int_step.argtypes = [i64, i64, ptr, ptr, ptr, ptr, i64, i64, i64, i64, ptr, c_int]
    lib.lif_int_layer.argtypes = [i64] * 4 + [ptr, ptr, i64] + [ptr] * 4 + [i64] * 4 + [ptr, c_int]
    for entry in (lib.lif_int_step, lib.lif_int_layer):
        entry.restype = None
    return lib


@cache
def available() -> bool:
    """Whether the kernel builds here; if not, warn once with the reason and use numpy."""
    return builds(kernel, "the integer reference runs in numpy (slower)")


def contiguous_state(state: LayerState) -> None:
    """States are int64 and C-contiguous in place of whatever a caller assigned."""
    for name in ("u", "v", "a_pending"):
        setattr(state, name, np.ascontiguousarray(getattr(state, name), dtype=np.int64))


def subtracts(params: LifLayerParams) -> int:
    """The kernel's reset flag: 1 where the layer resets by subtracting its threshold."""
    return int(params.reset == "subtract")


def lif_step(
    state: LayerState, activation: np.ndarray, params: LifLayerParams, bias: np.ndarray
) -> np.ndarray:
    """`core.neuron.lif_step` compiled: one step in place; bool spikes [batch, n].

    `bias` is the layer's int64 [n] bias as `core.neuron.bias_value` gives it (computed once
    per layer by the caller, not per step).
    """
    contiguous_state(state)
    activation = np.ascontiguousarray(activation, dtype=np.int64)
    rows, n = state.u.shape
    spikes = np.empty((rows, n), dtype=np.uint8)
    kernel().lif_int_step(
        rows, n, pointer(state.u), pointer(state.v), pointer(activation), pointer(bias),
        params.du, params.dv, params.vth, subtracts(params), pointer(spikes),
        threads(rows, rows * n),
    )  # fmt: skip
    return spikes.view(bool)


class NativeLayer:
    """One Dense + LIF layer with its weights laid out once for the compiled window."""

    @staticmethod
    def takes(params: LifLayerParams) -> bool:
        """Whether the kernel holds these weights exactly: even and within [-256, 254], so
        their halves fit int8 (`LifLayerParams.validate` demands that; an unvalidated layer
        that breaks it runs in numpy instead), of a plain Dense layer (either reset)."""
        if not params.kinds <= {"dense", "subtract_reset"}:
            return False
        w = params.weights
        return w.size == 0 or bool(w.min() >= -256 and w.max() <= 254 and not np.any(w % 2))

    def __init__(self, params: LifLayerParams, bias: np.ndarray):
        self.params = params
        # weights are even (LifLayerParams.validate): halves fit int8, a quarter of int32's traffic
        self.half_weights_t = np.ascontiguousarray(params.weights.T // 2, dtype=np.int8)
        self.bias = np.ascontiguousarray(bias, dtype=np.int64)

    def run(self, state: LayerState, spikes_in: np.ndarray) -> np.ndarray:
        """`core.neuron.run_layer` compiled: T steps in place; bool [T, batch, n_out]."""
        contiguous_state(state)
        spikes_in = np.ascontiguousarray(spikes_in, dtype=bool).view(np.uint8)
        steps, rows, n_in = spikes_in.shape
        n_out = self.params.n_out
        spikes = np.empty((steps, rows, n_out), dtype=np.uint8)
        p = self.params
        kernel().lif_int_layer(
            steps, rows, n_in, n_out, pointer(spikes_in), pointer(self.half_weights_t), p.weight_exp,
            pointer(state.u), pointer(state.v), pointer(state.a_pending), pointer(self.bias),
            p.du, p.dv, p.vth, subtracts(p), pointer(spikes), threads(rows, rows * (n_in + n_out)),
        )  # fmt: skip
        return spikes.view(bool)
