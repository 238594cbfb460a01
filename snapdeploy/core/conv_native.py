"""Lava's Conv compiled (`conv_int.cpp`): what `core.conv` specifies, event-driven.

`core.conv.ConvSynapse.sums` stays the readable specification (im2col, one BLAS product per
group); this kernel scatters each input spike's kernel slice instead, so its cost follows the
spikes, and it is bit-equal (tests/core/test_conv_native.py). `NativeConvLayer` runs a whole
window of a conv (or sum pool) + LIF layer in the kernel, the reference network's compiled
form of such a layer (`ConvLayerParams.native_layer`).
"""

from __future__ import annotations

import ctypes
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from snapdeploy.core.errors import SnapdeployError
from snapdeploy.core.lif_native import contiguous_state, subtracts
from snapdeploy.core.native import BASE_FLAGS, builds, load_library, pointer, threads
from snapdeploy.core.resources import package_path

if TYPE_CHECKING:
    from snapdeploy.core.conv import ConvLayerParams, ConvSynapse
    from snapdeploy.core.neuron import LayerState

SOURCE = package_path("snapdeploy.core", "conv_int.cpp")
#: The layer kernel sums in int32 (half the cache traffic of int64).
INT32_LIMIT = 1 << 31


class NativeConvError(SnapdeployError):
    """The compiled convolution could not be built or loaded."""


@cache
def kernel() -> ctypes.CDLL:
    lib = load_library(
        SOURCE, BASE_FLAGS, NativeConvError, "use ReferenceNetwork(native=False) (numpy)"
    )
    ptr, i64, cint = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    lib.conv_int_sums.argtypes = [i64, ptr, ptr, ptr, ptr, cint]
    lib.conv_int_sums.restype = None
    lib.conv_int_layer.argtypes = [i64, i64, ptr, ptr, ptr, i64, *[ptr] * 4, *[i64] * 4, ptr, cint]
    lib.conv_int_layer.restype = None
    return lib


@cache
def available() -> bool:
    """Whether the kernel builds here; if not, warn once with the reason and use numpy."""
    return builds(kernel, "conv layers run in numpy (slower)")


class NativeConv:
    """One conv synapse with its flipped kernel and geometry laid out once for the scatter."""

    def __init__(self, synapse: ConvSynapse):
        self.synapse = synapse
        groups, (kx, ky) = synapse.groups, synapse.kernel
        (x, y, c_in), (xo, yo, c_out) = synapse.input_shape, synapse.output_shape
        flipped = synapse.weights[:, ::-1, ::-1, :].reshape(
            groups, c_out // groups, kx, ky, c_in // groups
        )
        # [kx, ky, C_in, C_out / groups]: input channel g * C_in/g + c' meets group g's kernels
        self.layout = np.ascontiguousarray(
            flipped.transpose(2, 3, 0, 4, 1).reshape(kx, ky, c_in, c_out // groups),
            dtype=np.int32,
        )
        # conv_int.cpp's Geometry, field by field
        self.geometry = np.array(
            [x, y, c_in, kx, ky, c_in // groups, c_out // groups, *synapse.stride,
             *synapse.padding, *synapse.dilation, xo, yo],
            dtype=np.int64,
        )  # fmt: skip

    def sums(self, spikes: np.ndarray) -> np.ndarray:
        """`ConvSynapse.sums` compiled: int64 [..., n_out] from bool [..., n_in]."""
        syn = self.synapse
        lead = spikes.shape[:-1]
        images = np.ascontiguousarray(spikes, dtype=bool).reshape(-1, syn.n_in).view(np.uint8)
        out = np.empty((len(images), syn.n_out), dtype=np.int64)
        kernel().conv_int_sums(
            len(images), pointer(images), pointer(self.geometry), pointer(self.layout),
            pointer(out), threads(len(images), images.size),
        )  # fmt: skip
        return np.left_shift(out, syn.weight_exp).reshape(*lead, -1)


class NativeConvLayer:
    """One conv (or sum-pool) + LIF layer run a window at a time in the kernel: per step the
    LIF takes the pending activation, then this step's spikes scatter into the next one."""

    @staticmethod
    def takes(conv: ConvSynapse) -> bool:
        """Whether the kernel holds this conv exactly: its sums in int32 and a left shift (every
        validated conv's are; an unvalidated one beyond them runs in numpy instead)."""
        return conv.largest_sum < INT32_LIMIT and conv.weight_exp >= 0

    def __init__(self, params: ConvLayerParams, bias: np.ndarray):
        self.params = params
        self.conv = NativeConv(params.synapse.conv)
        self.bias = np.ascontiguousarray(bias, dtype=np.int64)

    def run(self, state: LayerState, spikes_in: np.ndarray) -> np.ndarray:
        """`core.neuron.run_layer` compiled: T steps in place; bool [T, batch, n_out]."""
        contiguous_state(state)
        spikes_in = np.ascontiguousarray(spikes_in, dtype=bool).view(np.uint8)
        steps, rows, _ = spikes_in.shape
        spikes = np.empty((steps, rows, self.params.n_out), dtype=np.uint8)
        p, conv = self.params, self.conv
        kernel().conv_int_layer(
            steps, rows, pointer(spikes_in), pointer(conv.geometry), pointer(conv.layout),
            conv.synapse.weight_exp, pointer(state.u), pointer(state.v), pointer(state.a_pending),
            pointer(self.bias), p.du, p.dv, p.vth, subtracts(p), pointer(spikes),
            threads(rows, rows * (p.n_in + p.n_out)),
        )  # fmt: skip
        return spikes.view(bool)
